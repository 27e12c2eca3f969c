// The eager fast path (frontend/eager.h) against the reference interpreter: every node of random
// graphs evaluated one op at a time by a compiled eager kernel, as eager math runs them.
#include <catch2/catch.hpp>
#include <span>
#include <vector>

#include "differential.h"
#include "frontend/eager.h"
#include "common/random_graph.h"

namespace ir = phijit::ir;
namespace runtime = phijit::runtime;
using phijit::testing::compare_to_reference;

namespace {

// Evaluates g node by node, each op through evaluate_compiled (flat or shaped kernels).
std::vector<runtime::BufferPtr> run_eagerly(const ir::Graph& g, std::span<const runtime::BufferPtr> inputs) {
  std::vector<runtime::BufferPtr> values(static_cast<size_t>(g.size()));
  for (size_t k = 0; k < inputs.size(); ++k) values[static_cast<size_t>(g.inputs()[k].id)] = inputs[k];
  for (size_t i = 0; i < values.size(); ++i) {
    const ir::Node& n = g.nodes()[i];
    if (n.op == ir::Op::input) continue;
    if (n.op == ir::Op::constant) {
      values[i] = n.attrs.data;
      continue;
    }
    std::vector<runtime::BufferPtr> operands;
    std::vector<ir::ValueType> types;
    for (ir::Value v : n.inputs) {
      operands.push_back(values[static_cast<size_t>(v.id)]);
      types.push_back(g.type(v));
    }
    values[i] = phijit::detail::evaluate_compiled(n.op, n.attrs, n.type, operands, types);
  }
  std::vector<runtime::BufferPtr> out;
  for (ir::Value v : g.outputs()) out.push_back(values[static_cast<size_t>(v.id)]);
  return out;
}

}  // namespace

TEST_CASE("eager kernels match the interpreter op by op on random graphs", "[eager][differential]") {
  // Each distinct op signature compiles once; later seeds mostly reuse the kernels.
  int seeds = phijit::testing::count_from_env("PHIJIT_EAGER_DIFF_SEEDS", 40);
  for (int s = 0; s < seeds; ++s) {
    auto seed = static_cast<uint64_t>(1000 + s);
    ir::Graph g = phijit::testing::random_graph(seed);
    auto inputs = phijit::testing::random_inputs(g, seed);
    auto r = compare_to_reference(g, inputs, run_eagerly);
    INFO("seed " << seed);
    CHECK(r.ok);
    if (!r.ok) FAIL_CHECK(r.message);
  }
}
