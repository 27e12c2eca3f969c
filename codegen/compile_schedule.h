// Compiles all kernels of a scheduled graph into one native module.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "codegen/jit_engine.h"
#include "ir/graph.h"
#include "passes/schedule.h"

namespace phijit::codegen {

// One KernelFn per kernel of `s`, in order. The module is cached under the normalized IR
// (constant values left out: they reach kernels as buffers), so programs that differ only in
// the values of their constants share the compiled code.
LoadedObject compile_schedule(const ir::Graph& g, const passes::Schedule& s);

// The cache key: the graph printed with constants as placeholders, plus the codegen version.
std::string normalized_ir(const ir::Graph& g);

}  // namespace phijit::codegen
