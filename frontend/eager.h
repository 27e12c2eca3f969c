// The eager fast path: an op on concrete tensors runs as a compiled kernel, one per op
// signature, kept in a cache (and in the disk cache under PHIJIT_CACHE_DIR), split over the
// thread pool. Small results and host ops go through the reference interpreter.
#pragma once

#include <span>

#include "frontend/jit.h"
#include "ir/graph.h"
#include "runtime/interpreter.h"

namespace phijit::detail {

// Results smaller than this are computed by the interpreter: its cost per op is below a
// kernel call's and it never compiles.
inline constexpr int64_t kEagerCompileFrom = int64_t{1} << 12;

// The value of `op` on concrete operands of the given types (dtypes already as the op table
// asks), as runtime::evaluate defines it.
runtime::BufferPtr evaluate_eager(ir::Op op, const ir::Attrs& attrs, const ir::ValueType& result,
                                  std::span<const runtime::BufferPtr> operands,
                                  std::span<const ir::ValueType> operand_types);

// An eager composite (laplace, spatial_gradient, ...) on concrete, large tensors runs as one
// compiled program traced once per `key` and argument types, so that its ops fuse into one
// kernel instead of one pass over memory each; otherwise (tracers, small tensors) `f` runs as
// it is. `core` is the composite's own cache (made with warn_on_retrace = false).
std::vector<Tensor> run_fused(JitCore& core, const std::string& key, const std::vector<Tensor>& args,
                              const JitCore::TraceFn& f);

// The same always through a compiled kernel, whatever the size (host ops run the runtime's own
// code); the differential tests compare it with the interpreter.
runtime::BufferPtr evaluate_compiled(ir::Op op, const ir::Attrs& attrs, const ir::ValueType& result,
                                     std::span<const runtime::BufferPtr> operands,
                                     std::span<const ir::ValueType> operand_types);

// How many distinct eager kernels have been compiled (or loaded from disk) by this process.
int eager_kernel_count();

}  // namespace phijit::detail
