// One kernel of a schedule cut out of its program into a standalone graph: the unit that is
// compiled and cached. Its key and its code both come from that graph, so they cannot disagree.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/schedule.h"

namespace phijit::codegen {

struct KernelGraph {
  // The nodes fused into the kernel. Its inputs are the kernel's parameters (the materialized
  // values it reads: program inputs, constants, results of other kernels), numbered in the
  // order a depth-first walk from the root first reaches them; its one output is the root.
  ir::Graph graph;
  // One kernel over `graph`, with the kind and index space of the kernel it was cut from.
  passes::Schedule schedule;
  // The program's values behind graph.inputs(), in the same order: what the caller passes as
  // params[1..] of the compiled function.
  std::vector<ir::Value> params;
  // The compile and cache key: codegen version, kernel kind and space, and `graph` printed.
  // Kernels equal up to the numbering of their program's values have equal keys.
  std::string key;
};

// Cuts `kernel` (one of `s.kernels`) out of `g`.
KernelGraph extract_kernel(const ir::Graph& g, const passes::Schedule& s, const passes::Kernel& kernel);

}  // namespace phijit::codegen
