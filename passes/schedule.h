// Fusion and scheduling: which values live in memory, and the kernels that compute them.
#pragma once

#include <vector>

#include "ir/graph.h"

namespace phijit::passes {

// A kernel is one loop nest over `space` computing `root`. Every value it needs that is not
// materialized is computed inline (fused): elementwise, stencil and layout ops never touch
// memory between each other. A map kernel writes root over root's shape; a reduce kernel
// (root is a reduction) walks its operand's shape and accumulates.
// A host kernel is a host op (matmul_sparse, ...): the runtime runs it between the compiled
// kernels on its materialized operands (`loads`, in operand order).
struct Kernel {
  enum class Kind { map, reduce, host };
  Kind kind = Kind::map;
  ir::Value root;
  Shape space;
  std::vector<ir::Value> loads;  // materialized values it reads, in a fixed order
};

struct Schedule {
  std::vector<Kernel> kernels;     // in execution order
  std::vector<bool> materialized;  // per node: held in a buffer (inputs, constants, kernel roots)
  // Buffer slots for the results of map kernels that are not outputs: values whose lifetimes
  // do not overlap share a slot (-1 for everything else, which gets a buffer of its own).
  std::vector<int> slot;
  std::vector<int64_t> slot_bytes;
};

Schedule run_schedule(const ir::Graph& g);

// One line per kernel (`kernel 0: map %5 over (xˢ=4) loads %0, %2 slot 0`), then the stored
// values: the text the `schedule` analysis prints.
std::string str(const Schedule& s, const ir::Graph& g);

}  // namespace phijit::passes
