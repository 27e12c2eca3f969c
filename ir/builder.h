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

// How grid_sample weighs the two cells around a coordinate c along one sampled dim, with
// f = c - floor(c): the lower cell floor(c) by lo_const + lo_slope·f, the upper one by
// hi_const + hi_slope·f. Interpolation is (1 - f, f); autodiff differentiates it in c
// ((-1, 1)), linearize picks single cells. A cell with both numbers 0 is not read at all.
struct CellWeights {
  int64_t lo_const = 1, lo_slope = -1, hi_const = 0, hi_slope = 1;

  bool operator==(const CellWeights&) const = default;
  bool reads(bool upper) const {
    return upper ? hi_const != 0 || hi_slope != 0 : lo_const != 0 || lo_slope != 0;
  }
  bool reads_any() const { return reads(false) || reads(true); }
  CellWeights derivative() const { return {lo_slope, 0, hi_slope, 0}; }  // d/dc, as df/dc = 1
  CellWeights only(bool upper) const {
    return upper ? CellWeights{0, 0, hi_const, hi_slope} : CellWeights{lo_const, lo_slope, 0, 0};
  }
  static CellWeights cell(bool upper) { return upper ? CellWeights{0, 0, 1, 0} : CellWeights{1, 0, 0, 0}; }
  // The weight at f; every implementation computes it this way, so that they agree bit for bit.
  template <class T>
  static T weight(int64_t constant, int64_t slope, T f) {
    if (slope == 0) return static_cast<T>(constant);
    if (constant == 0) return slope == 1 ? f : static_cast<T>(slope) * f;
    return static_cast<T>(constant) + static_cast<T>(slope) * f;
  }
};
// Coordinates are floored and clamped to ±2^62 before they become cell indices, so that the
// index fits int64 (NaN becomes +2^62, as C's fmin and LLVM's minnum make it).
inline constexpr double kMaxSampleCell = 0x1p62;

Attrs cast(DType to);
Attrs reduce(std::vector<std::string> dims);
Attrs shift(std::string dim, int64_t offset, const Extrapolation& e);
Attrs pad(const std::vector<PadWidth>& widths, const Extrapolation& e);
Attrs expand(Shape new_dims);
Attrs slice(std::string dim, int64_t start, int64_t stop, bool drop);
Attrs concat(std::string dim);
Attrs stack(Shape new_dim);
Attrs rename(const std::vector<RenamePair>& pairs);
// Weights empty: interpolation along every dim.
Attrs grid_sample(std::vector<std::string> dims, const Extrapolation& e,
                  std::vector<CellWeights> weights = {});
// A constant extrapolation becomes ZERO: the transpose adds nothing outside the grid.
Attrs grid_sample_transpose(Shape grid, std::vector<std::string> dims, const Extrapolation& e,
                            std::vector<CellWeights> weights = {});
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
struct GridSampleView {
  const std::vector<std::string>& dims;  // the sampled dims, one per coordinate component
  const Extrapolation& extrap;
  std::vector<CellWeights> weights;  // one per sampled dim
};
ShiftView shift_of(const Attrs& a);
GridSampleView grid_sample_of(const Attrs& a);  // of grid_sample and grid_sample_transpose
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
  // grid sampled along `dims` at `coordinates` (whose kSampleVector components are `dims`).
  Value grid_sample(Value grid, Value coordinates, std::vector<std::string> dims, const Extrapolation& e,
                    std::vector<attrs::CellWeights> weights = {});
  // The transpose of grid_sample in its grid: ct·weights added into a grid of shape `grid`.
  Value grid_sample_transpose(Value ct, Value coordinates, Shape grid, std::vector<std::string> dims,
                              const Extrapolation& e, std::vector<attrs::CellWeights> weights = {});
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
