// From an IR graph to native code: the pass pipeline, scheduling into fused kernels, LLVM
// code generation and the executor that runs them.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "ir/graph.h"
#include "runtime/interpreter.h"

namespace phijit {

class CompiledGraph {
 public:
  virtual ~CompiledGraph() = default;
  // One buffer per graph input (dtype and size as the input node says); returns the outputs.
  virtual std::vector<runtime::BufferPtr> run(std::span<const runtime::BufferPtr> inputs) const = 0;
  virtual const ir::Graph& optimized_graph() const = 0;
};

// Optimizes, schedules and compiles `g` (never interprets it).
std::shared_ptr<const CompiledGraph> compile_graph(const ir::Graph& g);

}  // namespace phijit
