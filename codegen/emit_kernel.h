// Lowers the kernels of a schedule to LLVM IR functions with the KernelFn signature.
#pragma once

#include <string>

#include "ir/graph.h"
#include "passes/schedule.h"

namespace llvm {
class Module;
}

namespace phijit::codegen {

// Adds one function named `name` computing `kernel` (see passes::Kernel) to `m`.
// Parameters: params[0] is the output (a map kernel's result, laid out in its shape's
// row-major order; a reduce kernel's partial results, one row of the output's volume per
// block, in accumulator type: f64 for floats, i64 otherwise); params[1 + i] is kernel.loads[i].
void emit_kernel(llvm::Module& m, const ir::Graph& g, const passes::Schedule& s, const passes::Kernel& kernel,
                 const std::string& name);

// The dtype a reduce kernel accumulates its partial results in.
DType accumulator_dtype(DType value_dtype);

}  // namespace phijit::codegen
