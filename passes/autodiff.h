// Reverse-mode autodiff as a graph transform (DESIGN decision 5): the vector-Jacobian product
// is built into the graph with one rule per op, so it goes through the normal pipeline and the
// fuser decides what is stored and what is recomputed.
#pragma once

#include <span>
#include <vector>

#include "ir/graph.h"

namespace phijit::passes {

// Appends to `g` the vector-Jacobian product of `outputs` at `cotangents` (one per output, of
// its type) with respect to the float values `wrt`. Returns one value per entry of `wrt`, of
// its type: zeros where it does not reach the outputs.
std::vector<ir::Value> vjp(ir::Graph& g, std::span<const ir::Value> outputs,
                           std::span<const ir::Value> cotangents, std::span<const ir::Value> wrt);

// Makes `g` its gradient program: its inputs and outputs, then the gradient of output 0 (one
// scalar per batch entry, summed over the batch) with respect to each input listed in `wrt`.
void add_gradient(ir::Graph& g, std::span<const int> wrt);

// The VJP of a one-output graph as a graph: inputs (f's inputs..., ct), outputs the gradients
// with respect to f's inputs listed in `wrt` (indices), each of that input's type.
ir::Graph vjp_graph(const ir::Graph& f, std::span<const int> wrt);

// The transpose of a function linear in its first input: for `f` with inputs (x, rest...) and
// one output, a graph with inputs (ct, rest...) whose output is (∂f/∂x)ᵀ ct, of x's type. An
// offset of f drops out. The adjoint of a matrix-free solve applies it.
ir::Graph transpose_linear(const ir::Graph& f);

// The same as a pass: a copy of `g` with the gradient added.
ir::Graph run_gradient(const ir::Graph& g, std::span<const int> wrt);

}  // namespace phijit::passes
