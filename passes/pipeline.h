// The pass pipeline that every traced program goes through before scheduling.
#pragma once

#include "ir/graph.h"

namespace phijit::passes {

// fold constants → algebraic identities → CSE → DCE, repeated until nothing changes.
// With PHIJIT_DUMP=ir the graph is printed after each pass (or "unchanged"), with its time.
ir::Graph run_pipeline(const ir::Graph& g);

// Whether PHIJIT_DUMP (comma-separated) names `what` (ir, llvm, asm).
bool dump_enabled(std::string_view what);

}  // namespace phijit::passes
