// The typed way to build IR (DESIGN decision 1): attribute constructors and views, one per op
// family, and a Builder that adds nodes to a Graph with dtype promotion, broadcasting and
// "unbroadcasting" (summing a cotangent over the dims its operand lacks) in one place. The
// tracer, linearize, autodiff and the tests build graphs through it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"

namespace phijit::ir {

namespace attrs {

struct PadWidth {
  std::string dim;
  int64_t lo = 0, hi = 0;
};
struct RenamePair {
  std::string from, to;
  DimType type = DimType::spatial;  // the type of the renamed dim
};

Attrs cast(DType to);
Attrs reduce(std::vector<std::string> dims);
Attrs shift(std::string dim, int64_t offset, const Extrapolation& e);
Attrs pad(const std::vector<PadWidth>& widths, const Extrapolation& e);
Attrs expand(Shape new_dims);
Attrs slice(std::string dim, int64_t start, int64_t stop, bool drop);
Attrs concat(std::string dim);
Attrs stack(Shape new_dim);
Attrs rename(const std::vector<RenamePair>& pairs);
Attrs matmul_sparse(std::shared_ptr<const SparseMatrixPayload> matrix);
Attrs solve_linear(std::shared_ptr<const LinearSolvePayload> solve);

// Views of the attributes of a node of that op.
struct ShiftView {
  const std::string& dim;
  int64_t offset;
  const Extrapolation& extrap;
};
struct SliceView {
  const std::string& dim;
  int64_t start, stop;
  bool drop;
};
ShiftView shift_of(const Attrs& a);
SliceView slice_of(const Attrs& a);
std::vector<PadWidth> pad_widths(const Attrs& a);
std::vector<RenamePair> rename_pairs(const Attrs& a);

}  // namespace attrs

class Builder {
 public:
  explicit Builder(Graph& g) : g_(&g) {}

  Graph& graph() const { return *g_; }
  const ValueType& type(Value v) const { return g_->type(v); }
  const Shape& shape(Value v) const { return g_->type(v).shape; }
  DType dtype(Value v) const { return g_->type(v).dtype; }

  // Any op; operands are first converted to the dtypes the op table asks for.
  Value op(Op op, std::vector<Value> operands, Attrs a = {});

  Value scalar(double value, DType dtype);
  // Arguments that describe types are taken by value: they may be read off this graph's
  // nodes, which adding a node can move.
  Value full(ValueType t, double value);  // a broadcast scalar: no buffer of t's size
  Value zeros(ValueType t) { return full(std::move(t), 0); }

  Value neg(Value a) { return op(Op::neg, {a}); }
  Value add(Value a, Value b) { return op(Op::add, {a, b}); }
  Value sub(Value a, Value b) { return op(Op::sub, {a, b}); }
  Value mul(Value a, Value b) { return op(Op::mul, {a, b}); }
  Value div(Value a, Value b) { return op(Op::div, {a, b}); }
  Value eq(Value a, Value b) { return op(Op::eq, {a, b}); }
  Value gt(Value a, Value b) { return op(Op::gt, {a, b}); }
  Value where(Value cond, Value a, Value b) { return op(Op::where, {cond, a, b}); }
  Value cast(Value v, DType to);  // v itself when it has that dtype
  Value sum(Value v, std::vector<std::string> dims);
  Value reduce(Op reduction, Value v, std::vector<std::string> dims);
  Value shift(Value v, const std::string& dim, int64_t offset, const Extrapolation& e);
  Value pad(Value v, const std::vector<attrs::PadWidth>& widths, const Extrapolation& e);
  Value expand(Value v, const Shape& new_dims);
  Value slice(Value v, const std::string& dim, int64_t start, int64_t stop, bool drop = false);
  Value concat(std::vector<Value> parts, const std::string& dim);
  Value stack(std::vector<Value> parts, const Shape& new_dim);
  Value rename(Value v, const std::vector<attrs::RenamePair>& pairs);
  // With `values` valid, they are the matrix's values (batch & entries).
  Value matmul_sparse(std::shared_ptr<const SparseMatrixPayload> matrix, Value x, Value values = {});

  // v given `d` (without its item names) as a dim of its own; v itself when it has one of that name.
  Value with_dim(Value v, const Dim& d);
  // v broadcast to `target`, a superset of its dims, with target's dim order and item names.
  Value broadcast_to(Value v, Shape target);
  // The reverse of broadcasting: v summed over the dims `target` lacks, cast to its dtype and
  // broadcast to its shape (dims it has but v lacks hold the same value everywhere).
  Value unbroadcast(Value v, ValueType target);
  // v placed at [start, start + its size) along `dim` of `full_dim`, zero elsewhere; v has `dim`.
  Value embed(Value v, Dim full_dim, int64_t start);

 private:
  Graph* g_;
};

}  // namespace phijit::ir
