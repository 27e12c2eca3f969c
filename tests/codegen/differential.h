// Differential checking: runs a graph through a runner (compiled code) and through the
// reference interpreter and compares every output with a tolerance derived from the graph.
//
// The tolerance rule. For every float output o and element i:
//
//     |got_i − ref_i| <= 8·eps·depth_o·|ref_i| + 4·E_o
//
// eps is the machine epsilon of o's dtype, depth_o the longest chain of ops from a graph input
// or constant to o, and E_o a first-order bound of the absolute rounding error of o, propagated
// through the graph with the reference values' magnitudes (max-norms over each tensor):
//   - inputs, constants, layout and stencil ops, neg, abs, min/max, where, reduce_max/min and
//     multiplication by a power-of-two scalar add no error of their own;
//   - add/sub/mul/div add eps·max|result|, and carry their operands' errors through their
//     derivatives (|b|·E_a + |a|·E_b for mul, E_a/min|b| + max|a|·E_b/min|b|² for div);
//   - exp, log, sin, cos, tan, tanh, sqrt, pow add 4 ulps (4·eps·max|result|, the accuracy of
//     glibc's scalar and vector math) plus their operands' errors times the largest derivative
//     over the operand's range;
//   - reduce_sum over n terms gives n·E_term + n·eps·S, S = the largest sum of |terms| of one
//     output element (the classic bound for summation in any order);
//   - grid_sample adds its grid's error through the weights (Σ|w| <= B), its coordinates'
//     through the weights' slopes times the largest value, and the rounding of 2^d weighted
//     terms; weights that jump at cell faces (derivatives) need exact coordinates, else the
//     bound is infinite. Its transpose sums that over the points each cell can receive;
//   - sign, comparisons, casts to integers and where's condition are discontinuous: their
//     operand must be exact (E = 0), else the bound is infinite (random_graph never does that).
//     Exceptions, for gradient programs (autodiff compares inexact values): a comparison is
//     exact when, at every element, its operands are further apart than E_a + E_b (sign:
//     |a| > E_a) or exactly equal — a tie is taken as one value reached twice (a copy by a layout
//     op, the winner of a min/max), which any implementation reproduces; were a tie a
//     coincidence of two computations, the bound would be too small, never too large; and
//     where(eq(t, 0), 0, p) with p proportional to t (t·f, t/f: autodiff's guard against 0·inf)
//     has p's error: where rounding flips the condition, |t| <= E_t, so |p| <= E_p.
// Integer and boolean outputs must match exactly. E_o covers the rounding of the reference and
// of the compiled code alike; the 8·eps·depth·|ref_i| term is slack for relative rounding
// (e.g. an FMA or a different association inside one element).
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/interpreter.h"

namespace phijit::testing {

using Runner =
    std::function<std::vector<runtime::BufferPtr>(const ir::Graph&, std::span<const runtime::BufferPtr>)>;

// The reference interpreter as a runner (to test the generator and the checker themselves).
Runner interpreter_runner();

struct ErrorAnalysis {
  std::vector<double> bounds;  // E_o per output (absolute; infinite where an op is unstable)
  std::vector<int> depths;     // depth_o per output
};
ErrorAnalysis analyze_errors(const ir::Graph& g, std::span<const runtime::BufferPtr> inputs);

struct DiffResult {
  bool ok = true;
  std::string message;     // on a failure: which output, the first mismatch and the graph
  double worst_ratio = 0;  // max over float elements of |got − ref| / allowed (≤ 1 passes)
  int64_t differing = 0;   // float elements that are not bit-identical to the reference
};
// The positive integer in environment variable `variable`, else `fallback` (test sizes).
int count_from_env(const char* variable, int fallback);

DiffResult compare_to_reference(const ir::Graph& g, std::span<const runtime::BufferPtr> inputs,
                                const Runner& run);

}  // namespace phijit::testing
