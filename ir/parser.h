// Reads the textual IR that print() writes (ir/graph.h) back into a Graph, so that
// print(parse(print(g))) == print(g), and reads hand-written IR (tests/passes/*.phir, phijit-opt).
//
// The format, one statement per line; `//` starts a comment to the end of the line, and blank
// lines are ignored:
//
//   %0 = input() {index=0} : float64 (bᵇ=2, xˢ=4)
//   %1 = constant() {value=2.5} : float64 ()
//   %2 = constant() {data=[1, -0, inf]} : float32 (vᶜ=[a, b, c])
//   %3 = constant() {data=@c3} : float64 (xˢ=100)      // a buffer of the ConstantTable
//   %4 = mul(%0, %1) : float64 (bᵇ=2, xˢ=4)
//   %5 = shift(%4) {dim=x, offset=1, extrapolation=zero} : float64 (bᵇ=2, xˢ=4)
//   %6 = sum(%5) {dims=[x]} : float64 (bᵇ=2)
//   return %6, %0
//
// statement  := value '=' op '(' [value {',' value}] ')' ['{' [attr {',' attr}] '}'] ':' type
//             | 'return' [value {',' value}]            (the last statement; exactly one)
// value      := '%' [A-Za-z0-9_]+   defined once, before its uses; any names, in any order
// type       := dtype shape          dtype: float32 float64 int32 int64 bool
// shape      := '(' [dim {',' dim}] ')'
// dim        := name dimtype '=' (size | '[' name {',' name} ']')   item names give the size
// dimtype    := ᵇ ᵈ ⁱ ˢ ᶜ (batch dual instance spatial channel), or ^b ^d ^i ^s ^c in ASCII
// name       := [A-Za-z_~][A-Za-z0-9_~]* | '"' chars '"'  (escapes \" \\ \xHH)
// extrap     := zero | one | periodic | zero-gradient | constant '(' real ')'
// real       := ['-'|'+'] (number | inf | nan | nan '(' 0x<bits> ')')
// Attributes by op (any order; those in brackets may be left out):
//   input          [index=N]  (must be the number of inputs before it); the type is the input's
//   constant       value=V (one element) | data=[V, ...] (all elements, in order) | data=@name;
//                  the written type is the constant's. V is a real for floats, an integer for
//                  int32/int64, true/false for bool
//   cast           dtype=D
//   sum, max, min  dims=[name, ...]
//   shift          dim=name, offset=N, [extrapolation=E]          (E defaults to zero)
//   pad            widths=[name=(lo, hi), ...], [extrapolation=E]
//   expand         dims=shape
//   slice          dim=name, start=N, stop=N, [drop]
//   concat         dim=name
//   stack          dim=shape (one dim)
//   rename         old->new dimtype, ...
//   grid_sample    dims=[name, ...], [extrapolation=E], [weights=[name=(lo=C±Sf, hi=C±Sf), ...]]
//   grid_sample_transpose   the same, and grid=shape
//   other ops      none
// The type after ':' is checked against the one the op table infers (for input and constant it
// is their definition). Identical statements are one node (the graph is hash-consed), and
// print() numbers values densely by node, so hand-written text comes back renumbered.
//
// Limits:
// - Host ops with payloads (matmul_sparse, solve_linear) print a description of their payload
//   (`payload="..."`) but cannot be read back: their sparse matrix or operator sub-graph and
//   solve settings are not in the text. parse() rejects them with a ParseError.
// - print(g, /*constant_values=*/false) writes `{param}` for constants (a cache key, not IR):
//   parse() rejects it.
// - Constants printed by reference (`data=@c3`, more than PrintOptions::max_literal_values
//   elements) need their buffers: parse(text, &referenced_constants(g)); without a buffer of
//   that name, or with one of another dtype or size, parse() throws a ParseError naming the
//   reference. PrintOptions{.max_literal_values = INT64_MAX} writes every value instead.
// - NaN payloads survive (`nan(0x7ff4000000000000)`); the sign and the exact bits of every
//   other float do too.
//
// Every error is a ParseError whose message starts with "line:column: " and says what was
// expected and what was found; errors of the op table (shapes that do not fit, wrong operand
// counts) carry its message. Reading never allocates in proportion to a size written in the
// text: buffers are only made from values written out (or given in the table).
#pragma once

#include <string_view>

#include "ir/graph.h"

namespace phijit::ir {

Graph parse(std::string_view text, const ConstantTable* constants = nullptr);

// The characters of a name written without quotes; print() quotes every other name.
constexpr bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '~';
}
constexpr bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
constexpr bool is_bare_name(std::string_view s) {
  if (s.empty() || !is_name_start(s[0])) return false;
  for (char c : s) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

}  // namespace phijit::ir
