#include "frontend/compiler.h"

#include <fmt/format.h>

#include <chrono>

#include "codegen/compile_schedule.h"
#include "codegen/emit_kernel.h"
#include "ir/dump.h"
#include "passes/pipeline.h"
#include "passes/schedule.h"
#include "runtime/log.h"
#include "runtime/program.h"

namespace phijit {

namespace {

class NativeGraph final : public CompiledGraph {
 public:
  explicit NativeGraph(runtime::Program program) : program_(std::move(program)) {}
  std::vector<runtime::BufferPtr> run(std::span<const runtime::BufferPtr> inputs) const override {
    return program_.run(inputs);
  }
  const ir::Graph& optimized_graph() const override { return program_.graph(); }

 private:
  runtime::Program program_;
};

}  // namespace

std::shared_ptr<const CompiledGraph> compile_graph(const ir::Graph& g) {
  auto t0 = std::chrono::steady_clock::now();
  ir::Graph optimized = passes::run_pipeline(g);
  passes::Schedule schedule = passes::run_schedule(optimized);
  double passes_ms = runtime::ms_since(t0);
  auto t1 = std::chrono::steady_clock::now();
  codegen::CompiledSchedule code = codegen::compile_schedule(optimized, schedule);
  double codegen_ms = runtime::ms_since(t1);
  if (ir::dump_enabled("ir")) {
    fmt::print(stderr,
               "=== schedule: {} kernels ({} distinct); passes {:.3f} ms, LLVM compile {:.3f} ms ===\n",
               schedule.kernels.size(), code.distinct_kernels, passes_ms, codegen_ms);
  }
  std::vector<runtime::KernelCall> calls;
  for (size_t k = 0; k < schedule.kernels.size(); ++k) {
    const passes::Kernel& kernel = schedule.kernels[k];
    runtime::KernelCall c;
    c.fn = code.kernels[k].fn;
    c.root = kernel.root;
    c.reduce = kernel.kind == passes::Kernel::Kind::reduce;
    c.host = kernel.kind == passes::Kernel::Kind::host;
    if (c.reduce)
      c.accumulator = codegen::accumulator_dtype(optimized.type(optimized.node(kernel.root).inputs[0]).dtype);
    c.space_volume = kernel.space.volume();
    c.loads = std::move(code.kernels[k].params);
    calls.push_back(std::move(c));
  }
  return std::make_shared<NativeGraph>(
      runtime::Program(std::move(optimized), std::move(calls), std::move(schedule.slot),
                       std::move(schedule.slot_bytes), std::move(code.keep_alive)));
}

}  // namespace phijit
