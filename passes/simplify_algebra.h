// Algebraic identities that hold exactly in IEEE arithmetic (x·1, x/1, x−0, −(−x), ...).
#pragma once

#include "ir/graph.h"

namespace phijit::passes {

// Replaces a node by its operand where the identity is exact for every input, NaN and −0
// included (so x+0 stays: −0 + 0 is +0), and only where the types agree.
ir::Graph run_simplify_algebra(const ir::Graph& g);

}  // namespace phijit::passes
