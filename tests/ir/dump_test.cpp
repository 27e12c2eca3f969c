// PHIJIT_DUMP's words: which dumps they name, and which name none (the logger warns about those).
#include "ir/dump.h"

#include <catch2/catch.hpp>
#include <cstdlib>

using namespace phijit;

TEST_CASE("PHIJIT_DUMP: known words enable their dump, unknown ones are listed") {
  ::setenv("PHIJIT_DUMP", " llvm, bogus ,asm,,IR", 1);
  CHECK(ir::dump_enabled("llvm"));
  CHECK(ir::dump_enabled("asm"));
  CHECK_FALSE(ir::dump_enabled("ir"));  // names are case-sensitive
  CHECK(ir::unknown_dumps() == std::vector<std::string>{"bogus", "IR"});
  ::unsetenv("PHIJIT_DUMP");
  CHECK(ir::unknown_dumps().empty());
  CHECK_FALSE(ir::dump_enabled("llvm"));
}
