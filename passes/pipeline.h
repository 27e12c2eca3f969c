// The pass pipeline that every traced program goes through before scheduling.
#pragma once

#include "ir/graph.h"

namespace phijit::passes {

// The passes of pipeline() (passes/registry.h: by default fold constants → algebraic identities
// → DCE; each rebuild also merges equal nodes), cycled until every pass has run without a change
// since the last change. With PHIJIT_DUMP=ir the graph is printed after each pass (or
// "unchanged"), with its time.
ir::Graph run_pipeline(const ir::Graph& g);

}  // namespace phijit::passes
