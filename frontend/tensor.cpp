#include "frontend/tensor.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "frontend/collapsed.h"
#include "frontend/eager.h"
#include "frontend/math.h"
#include "frontend/matrices.h"
#include "frontend/sparse_math.h"
#include "frontend/tensor_data.h"
#include "ir/builder.h"

namespace phijit {

using detail::apply;
using detail::make_tensor;
using detail::TensorData;

namespace {

std::shared_ptr<Buffer> filled(DType dtype, const Shape& shape, double value) {
  auto b = std::make_shared<Buffer>(dtype, shape);
  if (value != 0) {
    for (int64_t i = 0; i < b->count(); ++i) b->set_real(i, value);
  }
  return b;
}

// Counter-based generator: element i depends only on (seed, i), so values do not depend on
// the order or the thread that computes them.
uint64_t splitmix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
double uniform01(uint64_t seed, uint64_t i) {  // in [0, 1)
  return static_cast<double>(splitmix(splitmix(seed) ^ i) >> 11) * 0x1.0p-53;
}

int64_t normalize_index(const Shape& s, std::string_view dim, int64_t i, bool end) {
  int64_t n = s.size(dim);
  int64_t j = i < 0 ? i + n : i;
  if (j < 0 || j > n || (!end && j == n)) {
    throw ShapeError(fmt::format("slice: index {} is outside dim '{}' of size {} in {}", i, dim, n, s.str()));
  }
  return j;
}

Tensor slice_op(const Tensor& t, std::string_view dim, int64_t start, int64_t stop, bool drop) {
  return apply(ir::Op::slice, {t}, ir::attrs::slice(t.shape().dim(dim).name, start, stop, drop));
}

}  // namespace

Tensor::Tensor() = default;
Tensor::Tensor(double scalar)
    : data_(detail::make_tensor(filled(DType::f64, Shape(), scalar), Shape(), true).data_) {}
Tensor::Tensor(std::shared_ptr<const detail::TensorData> data) : data_(std::move(data)) {}

const TensorData& Tensor::data() const {
  if (!data_) throw Error("This Tensor is empty: it was default-constructed and never assigned a value");
  return *data_;
}

const Shape& Tensor::shape() const { return data().type.shape; }
DType Tensor::dtype() const { return data().type.dtype; }
bool Tensor::is_sparse() const { return data().sparse != nullptr; }

namespace {
// Every value in shape order; sparse matrices give their dense values.
std::shared_ptr<const Buffer> values_of(const Tensor& t, const char* what) {
  if (t.is_sparse()) return detail::dense_buffer(dense(t));
  if (detail::is_tracer(t)) {
    throw Error(
        fmt::format("{} needs the values of a tensor, but this {} tensor is being traced by jit_compile: "
                    "return it from the function instead of reading it inside",
                    what, t.shape().str()));
  }
  // Not dense_buffer: a collapsed tensor keeps no expansion made for one read.
  return detail::values_in_order(t, t.shape().dims());
}
}  // namespace

double Tensor::item() const {
  // The volume first: a large collapsed or sparse tensor is not expanded only to be rejected.
  if (!detail::is_tracer(*this) && shape().volume() != 1) {
    throw ShapeError(
        fmt::format("item() needs a tensor with exactly one value, got shape {}", shape().str()));
  }
  return values_of(*this, "item()")->get_real(0);
}

std::vector<double> Tensor::to_vector() const {
  std::shared_ptr<const Buffer> b = values_of(*this, "to_vector()");
  std::vector<double> out(static_cast<size_t>(b->count()));
  for (int64_t i = 0; i < b->count(); ++i) out[static_cast<size_t>(i)] = b->get_real(i);
  return out;
}

Tensor Tensor::slice(std::string_view dim, int64_t index) const {
  int64_t i = normalize_index(shape(), dim, index, false);
  return slice_op(*this, dim, i, i + 1, true);
}

Tensor Tensor::slice(std::string_view dim, int64_t start, int64_t stop) const {
  int64_t a = normalize_index(shape(), dim, start, true);
  int64_t b = normalize_index(shape(), dim, stop, true);
  if (b < a) {
    throw ShapeError(
        fmt::format("slice: stop {} is before start {} along '{}' in {}", stop, start, dim, shape().str()));
  }
  return slice_op(*this, dim, a, b, false);
}

Tensor Tensor::astype(DType dtype) const {
  if (dtype == this->dtype()) return *this;
  return apply(ir::Op::cast, {*this}, ir::attrs::cast(dtype));
}

Tensor tensor(std::vector<double> values, Shape shape, DType dtype) {
  if (static_cast<int64_t>(values.size()) != shape.volume()) {
    throw ShapeError(
        fmt::format("tensor: shape {} needs {} values, got {}", shape.str(), shape.volume(), values.size()));
  }
  auto b = std::make_shared<Buffer>(dtype, shape);
  for (size_t i = 0; i < values.size(); ++i) b->set_real(static_cast<int64_t>(i), values[i]);
  return make_tensor(std::move(b), std::move(shape));
}

// One value, repeated along every dim (stored once: issue 12).
Tensor full(Shape shape, double value, DType dtype) {
  return detail::make_collapsed(filled(dtype, Shape(), value), Shape(), std::move(shape));
}
Tensor zeros(Shape shape, DType dtype) { return full(std::move(shape), 0, dtype); }
Tensor ones(Shape shape, DType dtype) { return full(std::move(shape), 1, dtype); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype()); }

Tensor random_uniform(Shape shape, double low, double high, uint64_t seed) {
  auto b = std::make_shared<Buffer>(DType::f64, shape);
  for (int64_t i = 0; i < b->count(); ++i) {
    b->as<double>()[i] = low + (high - low) * uniform01(seed, static_cast<uint64_t>(i));
  }
  return make_tensor(std::move(b), std::move(shape));
}

Tensor random_normal(Shape shape, uint64_t seed) {
  auto b = std::make_shared<Buffer>(DType::f64, shape);
  for (int64_t i = 0; i < b->count(); ++i) {
    // Box–Muller on two independent uniforms; 1 - u keeps the logarithm finite.
    double u1 = 1.0 - uniform01(seed, 2 * static_cast<uint64_t>(i));
    double u2 = uniform01(seed, 2 * static_cast<uint64_t>(i) + 1);
    b->as<double>()[i] = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }
  return make_tensor(std::move(b), std::move(shape));
}

Tensor linspace(double start, double stop, Shape one_dim) {
  if (one_dim.rank() != 1) {
    throw ShapeError(fmt::format("linspace needs a shape with exactly one dim, got {}", one_dim.str()));
  }
  int64_t n = one_dim.volume();
  auto b = std::make_shared<Buffer>(DType::f64, one_dim);
  for (int64_t i = 0; i < n; ++i) {
    b->as<double>()[i] =
        n == 1 ? start : start + (stop - start) * static_cast<double>(i) / static_cast<double>(n - 1);
  }
  return make_tensor(std::move(b), std::move(one_dim));
}

Tensor stack(const std::vector<Tensor>& values, Shape new_dim) {
  if (values.empty())
    throw ShapeError(fmt::format("stack needs at least one tensor for new dim {}", new_dim.str()));
  return apply(ir::Op::stack, values, ir::attrs::stack(std::move(new_dim)));
}

Tensor concat(const std::vector<Tensor>& values, std::string_view dim) {
  if (values.empty()) throw ShapeError(fmt::format("concat needs at least one tensor along '{}'", dim));
  // A batch dim that only some operands have is broadcast to the others (as stack does): each
  // operand gets every batch dim, in one order.
  Shape batch;
  for (const Tensor& v : values) batch = batch & v.shape().batch();
  std::vector<Tensor> operands;
  for (const Tensor& v : values) {
    Shape target = batch & v.shape().non_batch();
    operands.push_back(v.shape() == target ? v : zeros(target, v.dtype()) + v);
  }
  return apply(ir::Op::concat, std::move(operands), ir::attrs::concat(std::string(dim)));
}

namespace detail {

Tensor make_tensor(std::shared_ptr<const Buffer> buffer, Shape shape, bool weak) {
  auto d = std::make_shared<TensorData>();
  d->type = ir::ValueType{std::move(shape), buffer->dtype()};
  d->stored = d->type.shape;
  d->stored_buffer = std::move(buffer);
  d->weak = weak;
  return Tensor(std::move(d));
}

Shape dual_of(const Shape& cols) {
  std::vector<Dim> dims;
  for (const Dim& d : cols.dims()) dims.push_back(Dim{"~" + d.name, d.size, DimType::dual, {}});
  return Shape(dims);
}

Tensor make_sparse(SparseData sparse) {
  auto d = std::make_shared<TensorData>();
  d->type = ir::ValueType{sparse.batch & sparse.rows & dual_of(sparse.cols), sparse.csr.values->dtype()};
  sparse.operand =
      std::make_shared<runtime::SparseOperand>(sparse.csr, sparse.batch, sparse.rows, sparse.cols);
  d->sparse = std::make_shared<const SparseData>(std::move(sparse));
  return Tensor(std::move(d));
}

Tensor make_traced_sparse(SparseData sparse, const Tensor& values) {
  auto d = std::make_shared<TensorData>();
  d->type = ir::ValueType{sparse.batch & sparse.rows & dual_of(sparse.cols), values.dtype()};
  sparse.operand = std::make_shared<runtime::SparseOperand>(sparse.csr, sparse.batch, sparse.rows,
                                                            sparse.cols, values.dtype());
  sparse.traced_values = values;
  d->trace = values.data().trace;
  d->value = values.data().value;
  d->sparse = std::make_shared<const SparseData>(std::move(sparse));
  return Tensor(std::move(d));
}

bool is_tracer(const Tensor& t) { return t.defined() && t.data().trace != nullptr; }

Tensor make_tracer(const std::shared_ptr<TraceState>& trace, ir::Value v, bool weak) {
  auto d = std::make_shared<TensorData>();
  d->type = trace->graph.type(v);
  d->weak = weak;
  d->trace = trace;
  d->value = v;
  return Tensor(std::move(d));
}

ir::Value trace_value(TraceState& trace, const Tensor& t) {
  const TensorData& d = t.data();
  if (d.sparse != nullptr) {
    throw Error(
        fmt::format("A sparse matrix {} was used in a traced function by an op that needs dense values; "
                    "call dense(A) on it or pass the matrix to matmul",
                    d.type.shape.str()));
  }
  if (d.trace == nullptr) return constant_value(trace.graph, t);
  if (d.trace.get() == &trace) return d.value;
  if (trace.parent == nullptr) {
    throw Error(
        "A tensor traced by one jit_compile call was used inside another; pass it as an argument instead");
  }
  // A tensor of an enclosing trace: its value there (captured level by level), as an input here.
  ir::Value outer = trace_value(*trace.parent, t);
  for (const TraceState::Capture& c : trace.captures) {
    if (c.outer == outer) return c.inner;
  }
  ir::Value inner = trace.graph.add_input(d.type.shape, d.type.dtype);
  trace.captures.push_back({outer, inner});
  return inner;
}

namespace {
int depth(const TraceState* t) {
  int d = 0;
  for (; t != nullptr; t = t->parent.get()) ++d;
  return d;
}
}  // namespace

std::shared_ptr<TraceState> innermost_trace(const std::vector<Tensor>& ts) {
  std::shared_ptr<TraceState> inner;
  for (const Tensor& t : ts) {
    if (t.defined() && depth(t.data().trace.get()) > depth(inner.get())) inner = t.data().trace;
  }
  return inner;
}

Tensor apply(ir::Op op, std::vector<Tensor> operands, ir::Attrs attrs, const char* caller) {
  if (any_sparse(operands)) return apply_sparse(op, operands, attrs);
  std::vector<DType> dtypes;
  std::vector<bool> weak;
  for (const Tensor& t : operands) {
    dtypes.push_back(t.dtype());
    weak.push_back(t.data().weak);
  }
  std::shared_ptr<TraceState> trace = innermost_trace(operands);
  std::vector<DType> want = ir::operand_dtypes(op, dtypes, weak);
  std::vector<ir::ValueType> types;
  for (size_t i = 0; i < operands.size(); ++i) {
    if (want[i] != dtypes[i]) operands[i] = operands[i].astype(want[i]);
    types.push_back(operands[i].data().type);
  }
  // Arithmetic among plain doubles stays weak; a cast or anything structural makes it strong.
  bool result_weak = ir::op_info(op).kind == ir::OpKind::elementwise && op != ir::Op::cast &&
                     std::all_of(weak.begin(), weak.end(), [](bool w) { return w; });
  if (trace != nullptr) {
    std::vector<ir::Value> values;
    for (const Tensor& t : operands) values.push_back(trace_value(*trace, t));
    ir::OriginScope origin(caller);
    return make_tracer(trace, ir::Builder(trace->graph).op(op, std::move(values), std::move(attrs)),
                       result_weak);
  }
  ir::ValueType result = ir::infer_type(op, types, attrs);
  // Evaluated over the dims the operands store (collapsed.h); one evaluation at most.
  StoredEvaluation s = stored_evaluation(op, attrs, operands, result);
  runtime::BufferPtr values =
      s.needed ? evaluate_eager(op, s.attrs, s.result, s.buffers, s.types) : s.buffers[0];
  return stored_result(s, std::move(values), std::move(result), result_weak);
}

}  // namespace detail

}  // namespace phijit
