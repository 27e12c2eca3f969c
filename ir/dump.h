// PHIJIT_DUMP (API §8): which dumps of compiled programs the user asked for.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace phijit::ir {

// The dumps PHIJIT_DUMP can name, comma-separated.
inline constexpr std::array<std::string_view, 3> kDumps = {"ir", "llvm", "asm"};

// Whether PHIJIT_DUMP names `what` (one of kDumps).
bool dump_enabled(std::string_view what);

// The words of PHIJIT_DUMP that name no dump (the logger warns about them when it starts).
std::vector<std::string> unknown_dumps();

}  // namespace phijit::ir
