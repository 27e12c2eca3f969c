#include "ir/builder.h"

#include <fmt/format.h>

#include <utility>

#include "ir/error.h"

namespace phijit::ir {

namespace attrs {

Attrs cast(DType to) {
  Attrs a;
  a.dtype = to;
  return a;
}

Attrs reduce(std::vector<std::string> dims) {
  Attrs a;
  a.names = std::move(dims);
  return a;
}

Attrs shift(std::string dim, int64_t offset, const Extrapolation& e) {
  Attrs a;
  a.names = {std::move(dim)};
  a.ints = {offset};
  a.extrap = e;
  return a;
}

Attrs pad(const std::vector<PadWidth>& widths, const Extrapolation& e) {
  Attrs a;
  for (const PadWidth& w : widths) {
    a.names.push_back(w.dim);
    a.ints.push_back(w.lo);
    a.ints.push_back(w.hi);
  }
  a.extrap = e;
  return a;
}

Attrs expand(Shape new_dims) {
  Attrs a;
  a.shape = std::move(new_dims);
  return a;
}

Attrs slice(std::string dim, int64_t start, int64_t stop, bool drop) {
  Attrs a;
  a.names = {std::move(dim)};
  a.ints = {start, stop, drop ? 1 : 0};
  return a;
}

Attrs concat(std::string dim) {
  Attrs a;
  a.names = {std::move(dim)};
  return a;
}

Attrs stack(Shape new_dim) {
  Attrs a;
  a.shape = std::move(new_dim);
  return a;
}

Attrs rename(const std::vector<RenamePair>& pairs) {
  Attrs a;
  for (const RenamePair& p : pairs) {
    a.names.push_back(p.from);
    a.names.push_back(p.to);
    a.ints.push_back(static_cast<int64_t>(p.type));
  }
  return a;
}

Attrs grid_sample(std::vector<std::string> dims, const Extrapolation& e, std::vector<CellWeights> weights) {
  if (weights.empty()) weights.resize(dims.size());
  Attrs a;
  a.names = std::move(dims);
  for (const CellWeights& w : weights)
    a.ints.insert(a.ints.end(), {w.lo_const, w.lo_slope, w.hi_const, w.hi_slope});
  a.extrap = e;
  return a;
}

Attrs grid_sample_transpose(Shape grid, std::vector<std::string> dims, const Extrapolation& e,
                            std::vector<CellWeights> weights) {
  // Only cells inside the grid receive anything: a constant's value plays no part.
  const Extrapolation inside_only = e.kind() == Extrapolation::Kind::constant ? extrapolation::ZERO : e;
  Attrs a = grid_sample(std::move(dims), inside_only, std::move(weights));
  a.shape = std::move(grid);
  return a;
}

Attrs matmul_sparse(std::shared_ptr<const SparseMatrixPayload> matrix) {
  Attrs a;
  a.payload = std::move(matrix);
  return a;
}

Attrs solve_linear(std::shared_ptr<const LinearSolvePayload> solve) {
  Attrs a;
  a.dtype = solve->result_type().dtype;
  a.payload = std::move(solve);
  return a;
}

ShiftView shift_of(const Attrs& a) { return {a.names.at(0), a.ints.at(0), a.extrap}; }

GridSampleView grid_sample_of(const Attrs& a) {
  GridSampleView v{a.names, a.extrap, {}};
  for (size_t k = 0; k < a.names.size(); ++k) {
    v.weights.push_back({a.ints.at(4 * k), a.ints.at(4 * k + 1), a.ints.at(4 * k + 2), a.ints.at(4 * k + 3)});
  }
  return v;
}

SliceView slice_of(const Attrs& a) { return {a.names.at(0), a.ints.at(0), a.ints.at(1), a.ints.at(2) != 0}; }

std::vector<PadWidth> pad_widths(const Attrs& a) {
  std::vector<PadWidth> out;
  for (size_t k = 0; k < a.names.size(); ++k)
    out.push_back({a.names[k], a.ints.at(2 * k), a.ints.at(2 * k + 1)});
  return out;
}

std::vector<RenamePair> rename_pairs(const Attrs& a) {
  std::vector<RenamePair> out;
  for (size_t k = 0; k < a.ints.size(); ++k) {
    out.push_back({a.names.at(2 * k), a.names.at(2 * k + 1), static_cast<DimType>(a.ints[k])});
  }
  return out;
}

}  // namespace attrs

Value Builder::op(Op op, std::vector<Value> operands, Attrs a) {
  std::vector<DType> have;
  for (Value v : operands) have.push_back(dtype(v));
  std::vector<DType> want = operand_dtypes(op, have, std::vector<bool>(operands.size(), false));
  for (size_t i = 0; i < operands.size(); ++i) operands[i] = cast(operands[i], want[i]);
  return g_->add(op, std::move(operands), std::move(a));
}

Value Builder::scalar(double value, DType dtype) {
  auto b = std::make_shared<Buffer>(dtype, 1);
  b->set_real(0, value);
  return g_->add_constant(std::move(b), Shape());
}

Value Builder::full(ValueType t, double value) {
  Value s = scalar(value, t.dtype);
  return t.shape.rank() == 0 ? s : expand(s, t.shape);
}

Value Builder::cast(Value v, DType to) {
  if (dtype(v) == to) return v;
  return g_->add(Op::cast, {v}, attrs::cast(to));
}

Value Builder::sum(Value v, std::vector<std::string> dims) {
  return reduce(Op::reduce_sum, v, std::move(dims));
}

Value Builder::reduce(Op reduction, Value v, std::vector<std::string> dims) {
  if (dims.empty()) return reduction == Op::reduce_sum ? cast(v, sum_type(dtype(v))) : v;
  return g_->add(reduction, {v}, attrs::reduce(std::move(dims)));
}

Value Builder::shift(Value v, const std::string& dim, int64_t offset, const Extrapolation& e) {
  return g_->add(Op::shift, {v}, attrs::shift(dim, offset, e));
}

Value Builder::pad(Value v, const std::vector<attrs::PadWidth>& widths, const Extrapolation& e) {
  return g_->add(Op::pad, {v}, attrs::pad(widths, e));
}

Value Builder::expand(Value v, const Shape& new_dims) {
  return g_->add(Op::expand, {v}, attrs::expand(new_dims));
}

Value Builder::slice(Value v, const std::string& dim, int64_t start, int64_t stop, bool drop) {
  return g_->add(Op::slice, {v}, attrs::slice(dim, start, stop, drop));
}

Value Builder::concat(std::vector<Value> parts, const std::string& dim) {
  return parts.size() == 1 ? parts[0] : g_->add(Op::concat, std::move(parts), attrs::concat(dim));
}

Value Builder::stack(std::vector<Value> parts, const Shape& new_dim) {
  return g_->add(Op::stack, std::move(parts), attrs::stack(new_dim));
}

Value Builder::rename(Value v, const std::vector<attrs::RenamePair>& pairs) {
  return pairs.empty() ? v : g_->add(Op::rename, {v}, attrs::rename(pairs));
}

Value Builder::grid_sample(Value grid, Value coordinates, std::vector<std::string> dims,
                           const Extrapolation& e, std::vector<attrs::CellWeights> weights) {
  return op(Op::grid_sample, {grid, coordinates}, attrs::grid_sample(std::move(dims), e, std::move(weights)));
}

Value Builder::grid_sample_transpose(Value ct, Value coordinates, Shape grid, std::vector<std::string> dims,
                                     const Extrapolation& e, std::vector<attrs::CellWeights> weights) {
  return op(Op::grid_sample_transpose, {ct, coordinates},
            attrs::grid_sample_transpose(std::move(grid), std::move(dims), e, std::move(weights)));
}

Value Builder::matmul_sparse(std::shared_ptr<const SparseMatrixPayload> matrix, Value x, Value values) {
  std::vector<Value> operands{x};
  if (values.valid()) operands.push_back(values);
  return g_->add(Op::matmul_sparse, std::move(operands), attrs::matmul_sparse(std::move(matrix)));
}

Value Builder::with_dim(Value v, const Dim& d) {
  if (shape(v).contains(d.name)) return v;
  return expand(v, Shape({Dim{d.name, d.size, d.type, {}}}));
}

Value Builder::broadcast_to(Value v, Shape target) {
  if (shape(v) == target) return v;
  std::vector<std::string> missing;
  for (const Dim& d : shape(v).dims()) {
    if (!target.contains(d.name)) missing.push_back(d.name);
  }
  if (!missing.empty()) {
    // The Builder is public (<phijit/compiler.h>): a pass that asks this is the caller's mistake.
    throw ShapeError(fmt::format("broadcast_to: {} has dims {} that the target {} lacks", shape(v).str(),
                                 fmt::join(missing, ","), target.str()));
  }
  std::vector<Dim> added;
  for (const Dim& d : target.dims()) {
    if (!shape(v).contains(d.name)) added.push_back(d);
  }
  Value expanded = added.empty() ? v : expand(v, Shape(added));
  if (shape(expanded) == target) return expanded;
  // An elementwise op's result takes its first operand's dim order: adding v to zeros of the
  // target shape reorders v at no cost once fused (x + 0 is kept, unlike an expand).
  return g_->add(Op::add, {full(ValueType{target, dtype(v)}, 0), v});
}

Value Builder::unbroadcast(Value v, ValueType target) {
  std::vector<std::string> extra;
  for (const Dim& d : shape(v).dims()) {
    if (!target.shape.contains(d.name)) extra.push_back(d.name);
  }
  Value summed = extra.empty() ? v : sum(v, extra);
  return broadcast_to(cast(summed, target.dtype), target.shape);
}

Value Builder::embed(Value v, Dim full_dim, int64_t start) {
  const Dim have = shape(v).dim(full_dim.name);  // a copy: adding nodes can move the graph
  int64_t stop = start + have.size;
  if (start == 0 && stop == full_dim.size && have.item_names == full_dim.item_names) return v;
  if (have.size == 1) {
    // One cell: selected by a mask along the dim. A pad this wide would run mostly in the
    // kernels' checked boundary code.
    auto mask = std::make_shared<Buffer>(DType::boolean, full_dim.size);
    mask->set_real(start, 1);
    Value cell = slice(v, full_dim.name, 0, 1, /*drop=*/true);
    Value placed = where(g_->add_constant(std::move(mask), Shape({full_dim})), cell, scalar(0, dtype(v)));
    std::vector<Dim> dims = shape(v).dims();
    dims[static_cast<size_t>(shape(v).index_of(full_dim.name))] = full_dim;
    return broadcast_to(placed, Shape(dims));
  }
  if (full_dim.item_names.empty()) {
    return pad(v, {{full_dim.name, start, full_dim.size - stop}}, extrapolation::ZERO);
  }
  // Pad would drop the item names; concat keeps them when every part has its share.
  auto part = [&](int64_t lo, int64_t hi) {
    std::vector<Dim> dims = shape(v).dims();
    Dim& d = dims[static_cast<size_t>(shape(v).index_of(full_dim.name))];
    d.size = hi - lo;
    d.item_names.assign(full_dim.item_names.begin() + lo, full_dim.item_names.begin() + hi);
    return dims;
  };
  std::vector<Value> parts;
  if (start > 0) parts.push_back(zeros(ValueType{Shape(part(0, start)), dtype(v)}));
  parts.push_back(g_->add(Op::add, {zeros(ValueType{Shape(part(start, stop)), dtype(v)}), v}));
  if (stop < full_dim.size) parts.push_back(zeros(ValueType{Shape(part(stop, full_dim.size)), dtype(v)}));
  return concat(std::move(parts), full_dim.name);
}

}  // namespace phijit::ir
