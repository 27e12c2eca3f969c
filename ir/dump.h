// PHIJIT_DUMP (API §8): which dumps of compiled programs the user asked for.
#pragma once

#include <string_view>

namespace phijit::ir {

// Whether the comma-separated PHIJIT_DUMP names `what` ("ir", "llvm" or "asm").
bool dump_enabled(std::string_view what);

}  // namespace phijit::ir
