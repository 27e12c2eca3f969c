// Compiles the kernels of a scheduled graph to native code, one module per distinct kernel.
#pragma once

#include <memory>
#include <vector>

#include "codegen/jit_engine.h"
#include "ir/graph.h"
#include "passes/schedule.h"

namespace phijit::codegen {

// A kernel of a program, compiled: its function and the program's values to pass as
// params[1..] of it, in order (see KernelGraph::params; not passes::Kernel::loads' order).
struct CompiledKernel {
  KernelFn fn = nullptr;  // null for host kernels (the runtime runs their op)
  std::vector<ir::Value> params;
};

struct CompiledSchedule {
  std::vector<CompiledKernel> kernels;  // one per kernel of the schedule, in its order
  int distinct_kernels = 0;             // how many different functions `kernels` holds
  std::shared_ptr<void> keep_alive;     // the code of all of them lives as long as this does
};

// Compiles every distinct kernel of `s` once: kernels with equal keys (KernelGraph::key), in
// this program or in any other compiled before, share one function. Distinct kernels not in
// the memory cache compile in parallel on the thread pool (loading from the disk cache when
// it has them).
CompiledSchedule compile_schedule(const ir::Graph& g, const passes::Schedule& s);

}  // namespace phijit::codegen
