// Linear extraction by abstract interpretation (DESIGN decision 4): every value of a traced
// function is constant or affine in its first input x, and an affine value is a sum of
// terms `coef[i] · x[col[i]]` plus a bias. Stencil ops keep the term count (a 5-point
// Laplace is five terms); sums over dims fold into a term's per-row entry list.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace phijit::passes {

struct LinearTerm {
  int col = -1;   // output of LinearForm::pattern: int32 flat index into x, -1 for no entry
  int coef = -1;  // output of LinearForm::values: the coefficients, broadcast like col
  // Dims of col/coef that do not belong to the output: each output element sums over them.
  std::vector<std::string> summed;
};

struct LinearForm {
  // No inputs; its outputs are the column index arrays. They depend on shapes only, never on
  // argument values, so they are evaluated once per trace.
  ir::Graph pattern;
  // Inputs: the traced graph's inputs after x, in order. Outputs: coefficient arrays, and the
  // bias f(0) when it is not zero.
  ir::Graph values;
  std::vector<LinearTerm> terms;
  int bias = -1;         // output of `values`, -1 when f(0) = 0
  ir::ValueType x;       // the input the function is linear in
  ir::ValueType output;  // the function's result
};

// `g` has x as input 0 and the function's result as output 0. Throws NotLinearError naming
// the first op that uses x nonlinearly, with its operand shapes.
LinearForm run_linearize(const ir::Graph& g);

// The form as text: its terms (pattern and value outputs, summed dims), the bias, then the
// pattern and values graphs; the `linearize` analysis prints it.
std::string str(const LinearForm& form);

}  // namespace phijit::passes
