// Constant folding: elementwise ops on scalar constants become constants.
#pragma once

#include "ir/graph.h"

namespace phijit::passes {

// Folds scalar elementwise arithmetic with the op table's scalar meaning. Tensor-valued
// constant expressions are left to the compiled kernels, which compute them just as fast.
ir::Graph run_fold_constants(const ir::Graph& g);

}  // namespace phijit::passes
