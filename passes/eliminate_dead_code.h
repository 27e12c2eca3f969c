// Dead-code elimination and common-subexpression elimination.
#pragma once

#include "ir/graph.h"

namespace phijit::passes {

// Drops nodes no output depends on (inputs always stay: they are the signature).
ir::Graph run_eliminate_dead_code(const ir::Graph& g);

// Merges structurally equal nodes; rebuilding through the hash-consing Graph::add does it.
ir::Graph run_cse(const ir::Graph& g);

}  // namespace phijit::passes
