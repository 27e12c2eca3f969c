// A pass written outside the library: pow(x, 2) becomes x * x, which is exact (both are the
// correctly rounded square) and cheaper than a call to pow.
#pragma once

#include <phijit/compiler.h>

namespace square_pow {

// The pass: a copy of g in which every pow whose exponent is the constant 2 is a product.
phijit::ir::Graph run(const phijit::ir::Graph& g);
// How many pow nodes run() has rewritten so far (in this process).
int rewrites();
// Registers run() as the pass "square_pow".
void register_pass();

}  // namespace square_pow
