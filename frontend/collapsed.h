// Tensors that are constant along some of their dims store their values once (issue 12): a
// concrete tensor's buffer holds only its `stored` dims. This file says how `apply` evaluates
// ops on the stored dims alone, and gives the consumers that need every value (to_vector, jit
// arguments, solves, traced constants) the tensor expanded.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "frontend/tensor.h"
#include "ir/graph.h"
#include "runtime/interpreter.h"

namespace phijit::detail {

// A concrete tensor of `shape` whose `values` hold only the dims `stored` (a part of `shape`,
// in its order); the values repeat along shape's other dims. A tensor without values (volume
// 0) or storing every dim is an ordinary dense tensor.
Tensor make_collapsed(runtime::BufferPtr values, const Shape& stored, Shape shape, bool weak = false);

// The dims whose values a concrete tensor's buffer holds, and how many values that is.
const Shape& stored_shape(const Tensor& t);
int64_t stored_volume(const Tensor& t);
// The stored values in stored order; each stands for volume / stored_volume values of t.
std::vector<double> stored_values(const Tensor& t);

// A concrete tensor's values over all its dims, in its shape's order. A collapsed tensor is
// expanded on first use and keeps the expansion, so repeated calls give the same buffer (the
// jit_compile_linear cache recognizes arguments by their buffer).
runtime::BufferPtr dense_buffer(const Tensor& t);
// A concrete tensor's values laid out in the dim order `order`, which holds every dim of t
// (with its size) and may hold more (broadcast). No intermediate dense copy is made.
runtime::BufferPtr values_in_order(const Tensor& t, const std::vector<Dim>& order);

// A concrete tensor as a value of `g`: a constant of its stored values, broadcast to its shape
// (the graph's constants stay as small as the tensor's buffer).
ir::Value constant_value(ir::Graph& g, const Tensor& t);

// How `apply` evaluates an op on concrete operands: with the op's attributes and types
// restricted to the dims the operands store where the op keeps the result constant along the
// others (elementwise ops, reductions, stencils and layout ops along stored dims, expand and
// slice/rename of unstored dims); other ops get every operand expanded.
struct StoredEvaluation {
  bool needed = true;  // false: the result's stored values are operand 0's, unchanged
  ir::Attrs attrs;
  ir::ValueType result;  // the result's type over the dims it stores
  std::vector<runtime::BufferPtr> buffers;
  std::vector<ir::ValueType> types;  // the buffers' types
  int64_t sum_repeats = 1;           // reduce_sum: how often each stored value counts
};
StoredEvaluation stored_evaluation(ir::Op op, const ir::Attrs& attrs, const std::vector<Tensor>& operands,
                                   const ir::ValueType& result);
// The tensor of type `result` whose stored values the evaluation gave as `values`.
Tensor stored_result(const StoredEvaluation& e, runtime::BufferPtr values, ir::ValueType result, bool weak);

}  // namespace phijit::detail
