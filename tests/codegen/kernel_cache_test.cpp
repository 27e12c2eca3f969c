// Compile once per distinct kernel (DESIGN 9): kernels are cut out of their program and keyed
// by their own IR, so identical steps of a rollout, and one kernel shared by two programs,
// compile once; the results still match the interpreter.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "codegen/jit_engine.h"
#include "codegen/kernel_graph.h"
#include "differential.h"
#include "frontend/compiler.h"
#include "passes/pipeline.h"
#include "passes/schedule.h"
#include "common/random_graph.h"

namespace fs = std::filesystem;
namespace ir = phijit::ir;
namespace passes = phijit::passes;
using ir::Op;
using ir::Value;
using phijit::Buffer;
using phijit::DType;
using phijit::Extrapolation;
using phijit::Shape;
using phijit::codegen::extract_kernel;
using phijit::codegen::JitEngine;
using phijit::codegen::KernelGraph;

namespace {

Shape grid(int64_t nx, int64_t ny) {
  return Shape({{"x", nx, phijit::DimType::spatial}, {"y", ny, phijit::DimType::spatial}});
}

Value scalar(ir::Graph& g, double value) {
  auto b = std::make_shared<Buffer>(DType::f64, 1);
  b->set_real(0, value);
  return g.add_constant(std::move(b), Shape());
}

Value shift(ir::Graph& g, Value u, const std::string& dim, int64_t offset,
            const Extrapolation& e = phijit::extrapolation::ZERO) {
  ir::Attrs a;
  a.names = {dim};
  a.ints = {offset};
  a.extrap = e;
  return g.add(Op::shift, {u}, std::move(a));
}

Value sum_all(ir::Graph& g, Value u) {
  ir::Attrs a;
  a.names = g.type(u).shape.names();
  return g.add(Op::reduce_sum, {u}, std::move(a));
}

// One explicit step u + rate·Δu − sink·u³, Δ the 5-point Laplacian with boundary `e`.
Value heat_step(ir::Graph& g, Value u, double rate, double sink,
                const Extrapolation& e = phijit::extrapolation::ZERO) {
  Value neighbours = g.add(Op::add, {g.add(Op::add, {shift(g, u, "x", 1, e), shift(g, u, "x", -1, e)}),
                                     g.add(Op::add, {shift(g, u, "y", 1, e), shift(g, u, "y", -1, e)})});
  Value laplace = g.add(Op::sub, {neighbours, g.add(Op::mul, {scalar(g, 4), u})});
  Value cube = g.add(Op::mul, {g.add(Op::mul, {u, u}), u});
  return g.add(Op::sub, {g.add(Op::add, {u, g.add(Op::mul, {scalar(g, rate), laplace})}),
                         g.add(Op::mul, {scalar(g, sink), cube})});
}

ir::Graph rollout(const Shape& shape, int steps, double rate = 0.1) {
  ir::Graph g;
  Value u = g.add_input(shape, DType::f64);
  for (int i = 0; i < steps; ++i) u = heat_step(g, u, rate, 0.01);
  g.add_output(u);
  return g;
}

int64_t compiles() { return JitEngine::instance().compile_count(); }

using Program = std::shared_ptr<const phijit::CompiledGraph>;

// Compiles `g`, runs it on random inputs and checks the result against the interpreter. The
// program is returned: its kernels stay in the memory cache as long as it lives.
Program compile_and_check(const ir::Graph& g, uint64_t seed) {
  auto inputs = phijit::testing::random_inputs(g, seed);
  Program program;
  auto r = phijit::testing::compare_to_reference(g, inputs, [&](const ir::Graph& graph, auto in) {
    program = phijit::compile_graph(graph);
    return program->run(in);
  });
  INFO(r.message);
  CHECK(r.ok);
  return program;
}

struct ScheduledProgram {
  ir::Graph graph;
  passes::Schedule schedule;
};

ScheduledProgram schedule(const ir::Graph& g) {
  ScheduledProgram p{passes::run_pipeline(g), {}};
  p.schedule = passes::run_schedule(p.graph);
  return p;
}

std::vector<KernelGraph> cut_all(const ScheduledProgram& p) {
  std::vector<KernelGraph> kernels;
  for (const passes::Kernel& k : p.schedule.kernels)
    kernels.push_back(extract_kernel(p.graph, p.schedule, k));
  return kernels;
}

// The key of the only kernel of `g` after the pipeline.
std::string only_key(const ir::Graph& g) {
  std::vector<KernelGraph> kernels = cut_all(schedule(g));
  REQUIRE(kernels.size() == 1);
  return kernels[0].key;
}

}  // namespace

TEST_CASE("kernels: identical steps of a rollout cut to equal graphs with equal keys", "[kernels]") {
  ScheduledProgram p = schedule(rollout(grid(12, 9), 4));
  REQUIRE(p.schedule.kernels.size() == 4);
  std::vector<KernelGraph> kernels = cut_all(p);
  for (size_t k = 0; k < kernels.size(); ++k) {
    INFO("kernel " << k << "\n" << kernels[k].key);
    CHECK(kernels[k].key == kernels[0].key);
    // The parameters map back to the program: the previous step's result comes first (it is
    // reached first from the root), then the three scalars (rate, 4 and sink).
    REQUIRE(kernels[k].params.size() == 4);
    REQUIRE(kernels[k].graph.inputs().size() == 4);
    const Value previous = k == 0 ? p.graph.inputs()[0] : p.schedule.kernels[k - 1].root;
    CHECK(kernels[k].params[0] == previous);
    for (size_t i = 0; i < kernels[k].params.size(); ++i) {
      CHECK(kernels[k].graph.type(kernels[k].graph.inputs()[i]) == p.graph.type(kernels[k].params[i]));
    }
  }
  // The cut graph holds the kernel's nodes and nothing of the rest of the program.
  CHECK(kernels[0].graph.size() < p.graph.size() / 3);
  CHECK(kernels[0].graph.outputs().size() == 1);
  REQUIRE(kernels[0].schedule.kernels.size() == 1);
  CHECK(kernels[0].schedule.kernels[0].loads == kernels[0].graph.inputs());
}

TEST_CASE("kernels: the key holds what the code depends on, and not constant values", "[kernels]") {
  const std::string key = only_key(rollout(grid(12, 9), 1));
  CHECK(key.find("phijit-codegen-v") == 0);
  CHECK_THAT(key, Catch::Contains("kernel map over (xˢ=12, yˢ=9)"));
  // Scalars reach kernels as buffers: another rate is the same kernel.
  CHECK(only_key(rollout(grid(12, 9), 1, 0.2)) == key);
  CHECK(only_key(rollout(grid(12, 10), 1)) != key);
  {
    ir::Graph periodic;
    Value u = periodic.add_input(grid(12, 9), DType::f64);
    periodic.add_output(heat_step(periodic, u, 0.1, 0.01, phijit::extrapolation::PERIODIC));
    CHECK(only_key(periodic) != key);
  }
  {
    // A constant boundary value is compiled into the code, so it is part of the key.
    ir::Graph two, three;
    for (auto [g, value] : {std::pair{&two, 2.0}, std::pair{&three, 3.0}}) {
      Value u = g->add_input(grid(12, 9), DType::f64);
      g->add_output(heat_step(*g, u, 0.1, 0.01, phijit::extrapolation::constant(value)));
    }
    CHECK(only_key(two) != only_key(three));
  }
  {
    ir::Graph f32;
    Value u = f32.add_input(grid(12, 9), DType::f32);
    f32.add_output(f32.add(Op::add, {u, u}));
    ir::Graph f64;
    Value v = f64.add_input(grid(12, 9), DType::f64);
    f64.add_output(f64.add(Op::add, {v, v}));
    CHECK(only_key(f32) != only_key(f64));
  }
  {
    // A reduction over the same space is another kind of kernel.
    ir::Graph reduce;
    Value u = reduce.add_input(grid(12, 9), DType::f64);
    reduce.add_output(sum_all(reduce, reduce.add(Op::add, {u, u})));
    CHECK_THAT(only_key(reduce), Catch::Contains("kernel reduce over (xˢ=12, yˢ=9)"));
  }
}

TEST_CASE("kernels: a rollout of N identical steps compiles its kernel once", "[kernels]") {
  const int64_t before = compiles();
  const Program one = compile_and_check(rollout(grid(37, 23), 1), 1);
  CHECK(compiles() == before + 1);
  // 20 more steps on the same grid: the step is in the memory cache already (`one` uses it).
  compile_and_check(rollout(grid(37, 23), 20), 2);
  CHECK(compiles() == before + 1);
  // On a new grid, 20 identical steps compile one kernel.
  compile_and_check(rollout(grid(37, 24), 20), 3);
  CHECK(compiles() == before + 2);
}

TEST_CASE("kernels: programs that share kernels compile each of them once", "[kernels]") {
  const Shape shape = grid(41, 19);
  // `steps` steps, the last one fused into a reduction of kind `op` over the whole grid.
  auto rollout_and_reduce = [&](int steps, Op op) {
    ir::Graph g;
    Value u = g.add_input(shape, DType::f64);
    for (int i = 0; i < steps; ++i) u = heat_step(g, u, 0.1, 0.01);
    ir::Attrs all;
    all.names = shape.names();
    g.add_output(g.add(op, {u}, std::move(all)));
    return g;
  };
  const int64_t before = compiles();
  // Kernels: the step (twice) and the sum with the third step fused into it.
  ir::Graph three = rollout_and_reduce(3, Op::reduce_sum);
  REQUIRE(schedule(three).schedule.kernels.size() == 3);
  const Program first = compile_and_check(three, 4);
  CHECK(compiles() == before + 2);
  // Another program made of the same two kernels compiles nothing (while `first` keeps them).
  compile_and_check(rollout_and_reduce(5, Op::reduce_sum), 5);
  compile_and_check(rollout(shape, 2), 6);
  CHECK(compiles() == before + 2);
  // One that shares the step and adds a kernel of its own compiles that one alone.
  compile_and_check(rollout_and_reduce(2, Op::reduce_max), 7);
  CHECK(compiles() == before + 3);
}

TEST_CASE("kernels: programs compiled from many threads at once compile each kernel once",
          "[kernels][threads]") {
  // Eight programs of 1..8 steps on one new grid, each also returning the sum of its result
  // shifted with another boundary value: the step and the eight sums are 9 distinct kernels,
  // however the threads interleave.
  const Shape shape = grid(29, 31);
  std::vector<ir::Graph> programs;
  for (int t = 0; t < 8; ++t) {
    ir::Graph g = rollout(shape, t + 1);
    Value last = g.outputs()[0];
    Extrapolation e = phijit::extrapolation::constant(static_cast<double>(t + 2));
    g.add_output(sum_all(g, shift(g, last, "x", 1, e)));
    programs.push_back(std::move(g));
  }
  const int64_t before = compiles();
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  // Kept until every thread is done, so that a kernel shared by two programs is not unloaded in
  // between (and loaded again).
  std::vector<Program> compiled(programs.size());
  for (size_t t = 0; t < programs.size(); ++t) {
    threads.emplace_back([&, t] {
      auto inputs = phijit::testing::random_inputs(programs[t], t);
      auto r =
          phijit::testing::compare_to_reference(programs[t], inputs, [&](const ir::Graph& graph, auto in) {
            compiled[t] = phijit::compile_graph(graph);
            return compiled[t]->run(in);
          });
      if (!r.ok) ++wrong;
    });
  }
  for (std::thread& t : threads) t.join();
  CHECK(wrong == 0);
  CHECK(compiles() == before + 9);
}

namespace {

// Runs tests/tools/cache_probe (a fresh process: an empty memory cache) with `args` on the
// disk cache in `dir`; returns what it printed.
std::string run_probe(const fs::path& dir, const std::string& args) {
  const std::string cmd =
      "PHIJIT_CACHE_DIR='" + dir.string() + "' " + PHIJIT_CACHE_PROBE + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = pclose(p);
  INFO(out);
  REQUIRE(status == 0);
  return out;
}

int count_objects(const fs::path& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().extension() == ".o" ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("kernels: the disk cache holds one object per distinct kernel", "[kernels][disk]") {
  const fs::path dir = fs::temp_directory_path() / ("phijit_kernel_cache_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  // Six identical steps and a sum: two distinct kernels, compiled once each and then loaded.
  CHECK_THAT(run_probe(dir, "rollout"), Catch::Contains("compiles=2 disk_hits=0"));
  CHECK(count_objects(dir) == 2);
  CHECK_THAT(run_probe(dir, "rollout"), Catch::Contains("compiles=0 disk_hits=2"));
  // Another program's kernel is another object beside them.
  CHECK_THAT(run_probe(dir, ""), Catch::Contains("compiles=1 disk_hits=0"));
  CHECK(count_objects(dir) == 3);
  CHECK_THAT(run_probe(dir, "rollout"), Catch::Contains("compiles=0 disk_hits=2"));
  fs::remove_all(dir);
}
