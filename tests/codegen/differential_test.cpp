// Differential tests: compiled code against the reference interpreter on random graphs, and
// the tests of the generator and the checker themselves.
#include "differential.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "frontend/compiler.h"
#include "ir/error.h"
#include "common/random_graph.h"

using phijit::testing::compare_to_reference;
using phijit::testing::random_graph;
using phijit::testing::random_inputs;
using phijit::testing::Runner;
namespace ir = phijit::ir;
namespace runtime = phijit::runtime;

namespace {

// PHIJIT_DIFF_SEEDS overrides how many seeds the differential test runs.
int seed_count(int fallback) { return phijit::testing::count_from_env("PHIJIT_DIFF_SEEDS", fallback); }

Runner compiled_runner() {
  return [](const ir::Graph& g, std::span<const runtime::BufferPtr> inputs) {
    return phijit::compile_graph(g)->run(inputs);
  };
}

// Runs `run` on seeds [0, n): reports the first few failures in full and lists all failing seeds.
void differential(const Runner& run, int n) {
  std::vector<uint64_t> failing;
  for (int s = 0; s < n; ++s) {
    auto seed = static_cast<uint64_t>(s);
    ir::Graph g = random_graph(seed);
    auto inputs = random_inputs(g, seed);
    auto r = compare_to_reference(g, inputs, run);
    if (!r.ok) {
      if (failing.size() < 5) {
        INFO("seed " << seed);
        FAIL_CHECK(r.message);
      }
      failing.push_back(seed);
    }
  }
  std::string seeds;
  for (uint64_t s : failing) seeds += (seeds.empty() ? "" : " ") + std::to_string(s);
  INFO("failing seeds: " << seeds);
  CHECK(failing.empty());
}

std::string op_key(const ir::Node& n) {
  std::string name(ir::op_name(n.op));
  if (n.op == ir::Op::shift || n.op == ir::Op::pad) name += "/" + n.attrs.extrap.str().substr(0, 8);
  if (n.op == ir::Op::cast) name += std::string("/") + std::string(phijit::dtype_name(n.attrs.dtype));
  return name;
}

// How many nodes of each op (stencils split by extrapolation) the first n graphs contain.
std::map<std::string, int> op_histogram(int n) {
  std::map<std::string, int> counts;
  for (int s = 0; s < n; ++s) {
    ir::Graph g = random_graph(static_cast<uint64_t>(s));
    for (const ir::Node& node : g.nodes()) ++counts[op_key(node)];
    counts[std::string("graph/") + std::string(phijit::dtype_name(g.type(g.inputs()[0]).dtype))]++;
  }
  return counts;
}

}  // namespace

TEST_CASE("random graphs are valid and deterministic", "[codegen][random_graph]") {
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    INFO("seed " << seed);
    ir::Graph g = random_graph(seed);
    REQUIRE_NOTHROW(ir::verify(g));
    CHECK(g.inputs().size() >= 1);
    CHECK(g.inputs().size() <= 4);
    CHECK(g.outputs().size() >= 1);
    CHECK(g.outputs().size() <= 3);
    if (seed % 50 == 0) {
      CHECK(ir::print(random_graph(seed)) == ir::print(g));
      auto a = random_inputs(g, seed), b = random_inputs(g, seed);
      REQUIRE(a.size() == g.inputs().size());
      for (size_t k = 0; k < a.size(); ++k) {
        CHECK(std::memcmp(a[k]->data(), b[k]->data(), a[k]->bytes()) == 0);
      }
    }
  }
  CHECK(ir::print(random_graph(1)) != ir::print(random_graph(2)));
}

TEST_CASE("random graphs have finite error bounds and pass against the interpreter",
          "[codegen][random_graph]") {
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    ir::Graph g = random_graph(seed);
    auto inputs = random_inputs(g, seed);
    auto analysis = phijit::testing::analyze_errors(g, inputs);
    for (size_t o = 0; o < analysis.bounds.size(); ++o) {
      INFO("seed " << seed << ", output " << o << "\n" << ir::print(g));
      CHECK(std::isfinite(analysis.bounds[o]));
    }
    // Values stay bounded: no output element is NaN or infinite.
    auto out = runtime::interpret(g, inputs);
    for (size_t o = 0; o < out.size(); ++o) {
      for (int64_t i = 0; i < out[o]->count(); ++i) {
        if (!std::isfinite(out[o]->get_real(i))) {
          INFO("seed " << seed << ", output " << o << "\n" << ir::print(g));
          FAIL_CHECK("non-finite output");
          break;
        }
      }
    }
  }
  differential(phijit::testing::interpreter_runner(), 300);
}

TEST_CASE("the checker finds wrong results", "[codegen][random_graph]") {
  auto perturbed = [](double rel, int64_t at) -> Runner {
    return [rel, at](const ir::Graph& g, std::span<const runtime::BufferPtr> inputs) {
      auto out = runtime::interpret(g, inputs);
      auto b = std::make_shared<phijit::Buffer>(out[0]->dtype(), out[0]->count());
      double amax = 0;
      for (int64_t i = 0; i < b->count(); ++i) amax = std::max(amax, std::fabs(out[0]->get_real(i)));
      for (int64_t i = 0; i < b->count(); ++i) {
        double v = out[0]->get_real(i);
        b->set_real(i, i == at % b->count() ? v + rel * (amax + 1) : v);
      }
      out[0] = b;
      return out;
    };
  };
  int caught = 0, tried = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    ir::Graph g = random_graph(seed);
    if (!phijit::is_float(g.type(g.outputs()[0]).dtype)) continue;
    auto inputs = random_inputs(g, seed);
    ++tried;
    auto r = compare_to_reference(g, inputs, perturbed(1e-3, static_cast<int64_t>(seed)));
    caught += !r.ok;
    if (!r.ok && seed == 0) {
      CHECK(r.message.find("output 0") != std::string::npos);
      CHECK(r.message.find("input") != std::string::npos);  // the graph is printed
    }
  }
  // A 0.1% error is found in nearly every graph (a few f32 graphs with long sums are looser).
  CHECK(caught >= tried * 9 / 10);

  ir::Graph g = random_graph(3);
  auto inputs = random_inputs(g, 3);
  Runner throws = [](const ir::Graph&,
                     std::span<const runtime::BufferPtr>) -> std::vector<runtime::BufferPtr> {
    throw phijit::Error("no kernel");
  };
  auto r = compare_to_reference(g, inputs, throws);
  CHECK_FALSE(r.ok);
  CHECK(r.message.find("no kernel") != std::string::npos);
  Runner too_few = [](const ir::Graph&, std::span<const runtime::BufferPtr>) {
    return std::vector<runtime::BufferPtr>{};
  };
  CHECK_FALSE(compare_to_reference(g, inputs, too_few).ok);
}

TEST_CASE("random graphs cover every op and extrapolation", "[codegen][random_graph]") {
  auto counts = op_histogram(2000);
  std::set<std::string> ops;
  for (const auto& [key, n] : counts) ops.insert(key.substr(0, key.find('/')));
  for (int i = 0; i < ir::kNumOps; ++i) {
    // Host ops carry runtime payloads; tests/frontend/sparse_host_test.cpp covers them.
    if (ir::op_info(static_cast<ir::Op>(i)).kind == ir::OpKind::host) continue;
    std::string name(ir::op_name(static_cast<ir::Op>(i)));
    INFO(name);
    CHECK(ops.count(name) == 1);
  }
  for (const char* key :
       {"shift/zero", "shift/one", "shift/periodic", "shift/zero-gra", "shift/constant", "pad/zero",
        "pad/one", "pad/periodic", "pad/zero-gra", "pad/constant", "graph/float32", "graph/float64"}) {
    INFO(key);
    CHECK(counts[key] >= 20);
  }
}

TEST_CASE("random graph op histogram", "[.][codegen][coverage]") {
  int n = seed_count(2000);
  auto counts = op_histogram(n);
  std::string text = "nodes per op over " + std::to_string(n) + " graphs:\n";
  for (const auto& [key, count] : counts) text += "  " + key + ": " + std::to_string(count) + "\n";
  WARN(text);
  CHECK(!counts.empty());
}

// How close compiled results come to the tolerance (run by hand: `test_codegen [tolerance]`).
TEST_CASE("differential tolerance margins", "[.][codegen][tolerance]") {
  int n = seed_count(500), inexact_graphs = 0;
  int64_t differing = 0;
  double worst = 0;
  uint64_t worst_seed = 0;
  for (int s = 0; s < n; ++s) {
    ir::Graph g = random_graph(static_cast<uint64_t>(s));
    auto inputs = random_inputs(g, static_cast<uint64_t>(s));
    auto r = compare_to_reference(g, inputs, compiled_runner());
    CHECK(r.ok);
    inexact_graphs += r.differing > 0;
    differing += r.differing;
    if (r.worst_ratio > worst) {
      worst = r.worst_ratio;
      worst_seed = static_cast<uint64_t>(s);
    }
  }
  WARN(n << " graphs: " << inexact_graphs << " with results not bit-identical to the interpreter ("
         << differing << " elements); the largest |got - ref| / allowed is " << worst << " (seed "
         << worst_seed << ")");
}

TEST_CASE("compiled graphs match the interpreter", "[codegen][differential]") {
  differential(compiled_runner(), seed_count(500));
}
