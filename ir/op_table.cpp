#include "ir/op_table.h"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "ir/checked.h"
#include "ir/error.h"

namespace phijit::ir {

namespace {

// Integer arithmetic wraps (two's complement) instead of overflowing into undefined behaviour.
int64_t wrap_add(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
int64_t wrap_mul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}
int64_t wrap_neg(int64_t a) { return static_cast<int64_t>(0 - static_cast<uint64_t>(a)); }

// numpy semantics: minimum/maximum propagate NaN.
double real_min(double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b); }
double real_max(double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b); }
double real_sign(double a) { return std::isnan(a) ? a : static_cast<double>((a > 0) - (a < 0)); }

#define R1(expr) [](double a, double, double) -> double { return expr; }
#define R2(expr) [](double a, double b, double) -> double { return expr; }
#define I1(expr) [](int64_t a, int64_t, int64_t) -> int64_t { return expr; }
#define I2(expr) [](int64_t a, int64_t b, int64_t) -> int64_t { return expr; }

using K = OpKind;
using D = DTypeRule;

// clang-format off
// Attributes: input(ints[0]=index, shape, dtype); constant(data, shape, dtype); cast(dtype);
// reduce_*(names=dims); shift(names[0]=dim, ints[0]=offset, extrap);
// pad(names=dims, ints=lo0,hi0,lo1,hi1,..., extrap); expand(shape=dims to add);
// slice(names[0]=dim, ints=start,stop,drop); concat(names[0]=dim); stack(shape=new dim);
// rename(names=old0,new0,old1,new1,..., ints=DimType of each new dim; item names are dropped);
// grid_sample(names=sampled dims in the order of the coordinates' components, ints=4 cell
// weights per sampled dim (see attrs::CellWeights), extrap); grid_sample_transpose(the same,
// shape=the grid's shape).
constexpr std::array<OpInfo, kNumOps> kTable = {{
  {Op::input, "input", 0, K::source, D::none},
  {Op::constant, "constant", 0, K::source, D::none},
  {Op::neg, "neg", 1, K::elementwise, D::same, R1(-a), I1(wrap_neg(a))},
  {Op::exp, "exp", 1, K::elementwise, D::float_only, R1(std::exp(a))},
  {Op::log, "log", 1, K::elementwise, D::float_only, R1(std::log(a))},
  {Op::sin, "sin", 1, K::elementwise, D::float_only, R1(std::sin(a))},
  {Op::cos, "cos", 1, K::elementwise, D::float_only, R1(std::cos(a))},
  {Op::tan, "tan", 1, K::elementwise, D::float_only, R1(std::tan(a))},
  {Op::tanh, "tanh", 1, K::elementwise, D::float_only, R1(std::tanh(a))},
  {Op::sqrt, "sqrt", 1, K::elementwise, D::float_only, R1(std::sqrt(a))},
  {Op::abs, "abs", 1, K::elementwise, D::same, R1(std::fabs(a)), I1(a < 0 ? wrap_neg(a) : a)},
  {Op::sign, "sign", 1, K::elementwise, D::same, R1(real_sign(a)), I1((a > 0) - (a < 0))},
  {Op::isfinite, "isfinite", 1, K::elementwise, D::predicate, R1(std::isfinite(a) ? 1.0 : 0.0), I1(1)},
  {Op::cast, "cast", 1, K::elementwise, D::none, R1(a), I1(a)},
  {Op::add, "add", 2, K::elementwise, D::same, R2(a + b), I2(wrap_add(a, b))},
  {Op::sub, "sub", 2, K::elementwise, D::same, R2(a - b), I2(wrap_add(a, wrap_neg(b)))},
  {Op::mul, "mul", 2, K::elementwise, D::same, R2(a * b), I2(wrap_mul(a, b))},
  {Op::div, "div", 2, K::elementwise, D::float_only, R2(a / b)},
  {Op::pow, "pow", 2, K::elementwise, D::float_only, R2(std::pow(a, b))},
  {Op::minimum, "minimum", 2, K::elementwise, D::same, R2(real_min(a, b)), I2(std::min(a, b))},
  {Op::maximum, "maximum", 2, K::elementwise, D::same, R2(real_max(a, b)), I2(std::max(a, b))},
  {Op::lt, "lt", 2, K::elementwise, D::compare, R2(a < b ? 1.0 : 0.0), I2(a < b)},
  {Op::le, "le", 2, K::elementwise, D::compare, R2(a <= b ? 1.0 : 0.0), I2(a <= b)},
  {Op::gt, "gt", 2, K::elementwise, D::compare, R2(a > b ? 1.0 : 0.0), I2(a > b)},
  {Op::ge, "ge", 2, K::elementwise, D::compare, R2(a >= b ? 1.0 : 0.0), I2(a >= b)},
  {Op::eq, "eq", 2, K::elementwise, D::compare, R2(a == b ? 1.0 : 0.0), I2(a == b)},
  {Op::ne, "ne", 2, K::elementwise, D::compare, R2(a != b ? 1.0 : 0.0), I2(a != b)},
  {Op::where, "where", 3, K::elementwise, D::select,
   [](double c, double a, double b) { return c != 0 ? a : b; },
   [](int64_t c, int64_t a, int64_t b) { return c != 0 ? a : b; }},
  {Op::reduce_sum, "sum", 1, K::reduction, D::sum},
  {Op::reduce_max, "max", 1, K::reduction, D::same},
  {Op::reduce_min, "min", 1, K::reduction, D::same},
  {Op::shift, "shift", 1, K::stencil, D::same},
  {Op::pad, "pad", 1, K::stencil, D::same},
  {Op::grid_sample, "grid_sample", 2, K::gather, D::float_only},
  {Op::expand, "expand", 1, K::layout, D::same},
  {Op::slice, "slice", 1, K::layout, D::same},
  {Op::concat, "concat", -1, K::layout, D::same},
  {Op::stack, "stack", -1, K::layout, D::same},
  {Op::rename, "rename", 1, K::layout, D::same},
  {Op::matmul_sparse, "matmul_sparse", -1, K::host, D::same},
  {Op::solve_linear, "solve_linear", -1, K::host, D::none},
  {Op::grid_sample_transpose, "grid_sample_transpose", 2, K::host, D::float_only},
}};
// clang-format on

#undef R1
#undef R2
#undef I1
#undef I2

constexpr bool table_is_indexed_by_op() {
  for (int i = 0; i < kNumOps; ++i) {
    if (static_cast<int>(kTable[i].op) != i) return false;
  }
  return true;
}
static_assert(table_is_indexed_by_op(), "kTable must list the ops in the order of enum Op");

std::string shapes_str(std::span<const ValueType> in) {
  std::string s;
  for (size_t i = 0; i < in.size(); ++i) {
    s += (i > 0 ? " and " : "") + in[i].shape.str();
  }
  return s;
}

DType same_dtype(const OpInfo& info, std::span<const ValueType> in, size_t first = 0) {
  for (size_t i = first + 1; i < in.size(); ++i) {
    if (in[i].dtype != in[first].dtype) {
      throw Error(fmt::format("{}: operands must have one dtype, got {} and {}", info.name,
                              dtype_name(in[first].dtype), dtype_name(in[i].dtype)));
    }
  }
  return in.empty() ? DType::f64 : in[first].dtype;
}

DType result_dtype(const OpInfo& info, std::span<const ValueType> in, const Attrs& attrs) {
  switch (info.dtype_rule) {
    case D::none: return attrs.dtype;
    case D::same: return same_dtype(info, in);
    case D::float_only: {
      DType t = same_dtype(info, in);
      if (!is_float(t)) {
        throw Error(fmt::format("{}: needs float operands, got {}", info.name, dtype_name(t)));
      }
      return t;
    }
    case D::compare: same_dtype(info, in); return DType::boolean;
    case D::predicate: return DType::boolean;
    case D::sum: return sum_type(in[0].dtype);
    case D::select:
      if (in[0].dtype != DType::boolean) {
        throw Error(fmt::format("where: the condition must be bool, got {}", dtype_name(in[0].dtype)));
      }
      return same_dtype(info, in, 1);
  }
  return DType::f64;
}

const Dim& dim_of(const OpInfo& info, const Shape& s, const std::string& name) {
  int i = s.index_of(name);
  if (i < 0) {
    throw ShapeError(fmt::format("{}: dim '{}' is not in the operand's shape {}", info.name, name, s.str()));
  }
  return s.dims()[i];
}

// A dim listed twice in an op's attributes (sum over x, x; pad x twice) is a mistake: the op
// would act on it once or twice depending on the layer.
void check_distinct(const OpInfo& info, const std::vector<std::string>& names) {
  for (size_t k = 0; k < names.size(); ++k) {
    for (size_t j = 0; j < k; ++j) {
      if (names[j] == names[k]) throw Error(fmt::format("{}: dim '{}' is listed twice", info.name, names[k]));
    }
  }
}

void check_extrapolable(const OpInfo& info, const Dim& d, const Extrapolation& e) {
  if (d.size == 0 && e.kind() != Extrapolation::Kind::constant) {
    throw ShapeError(fmt::format("{}: {} extrapolation needs a non-empty dim, '{}' has size 0", info.name,
                                 e.str(), d.name));
  }
}

// A·x contracts x's dims that are A's columns; x's other dims and A's batch dims stay, A's rows
// come last: (x's other dims & A's batch) & A's rows, as the eager product orders them.
// A second operand holds the matrix's values: one per stored entry and batch entry.
Shape matmul_sparse_shape(std::span<const ValueType> in, const Attrs& a) {
  const ValueType& x = in[0];
  const auto* m = dynamic_cast<const SparseMatrixPayload*>(a.payload.get());
  if (m == nullptr) throw Error("matmul_sparse: needs a sparse matrix payload");
  if (in.size() > 2)
    throw Error(fmt::format("matmul_sparse: expects x and the values, got {} operands", in.size()));
  if (in.size() == 2) {
    Shape want = m->batch() & Shape({m->entries()});
    if (in[1].shape.rank() != want.rank() || in[1].shape.without(want.names()).rank() != 0 ||
        in[1].dtype != x.dtype) {
      throw ShapeError(fmt::format("matmul_sparse: the values must be {} {}, got {} {}", dtype_name(x.dtype),
                                   want.str(), dtype_name(in[1].dtype), in[1].shape.str()));
    }
  }
  if (m->dtype() != x.dtype) {
    throw Error(fmt::format("matmul_sparse: the matrix holds {} values but the vector is {}",
                            dtype_name(m->dtype()), dtype_name(x.dtype)));
  }
  for (const Dim& c : m->cols().dims()) {
    if (!x.shape.contains(c.name) || x.shape.size(c.name) != c.size) {
      throw ShapeError(fmt::format("matmul: the sparse matrix's columns {} do not match the vector {}",
                                   m->cols().str(), x.shape.str()));
    }
  }
  Shape extras = x.shape.without(m->cols().names());
  for (const Dim& d : extras.dims()) {
    if (m->rows().contains(d.name)) {
      throw ShapeError(
          fmt::format("matmul: the vector {} has dim '{}' which is also a row dim of the matrix {}",
                      x.shape.str(), d.name, m->rows().str()));
    }
  }
  return (extras & m->batch()) & m->rows();
}

// y, x0 and the operator's operands; the payload fixed the solution's type when it was traced.
const ValueType& solve_linear_type(std::span<const ValueType> in, const Attrs& a) {
  const auto* s = dynamic_cast<const LinearSolvePayload*>(a.payload.get());
  if (s == nullptr) throw Error("solve_linear: needs a linear solve payload");
  if (in.size() < 2) throw Error(fmt::format("solve_linear: needs y and x0, got {} operands", in.size()));
  if (!(in[1] == s->result_type()) || a.dtype != s->result_type().dtype) {
    throw ShapeError(fmt::format("solve_linear: x0 must be {} {} (the solution's type), got {} {}",
                                 dtype_name(s->result_type().dtype), s->result_type().shape.str(),
                                 dtype_name(in[1].dtype), in[1].shape.str()));
  }
  return s->result_type();
}

// The sampled dims of grid_sample and its transpose: dims of the grid, each once and not empty
// (every sample reads two cells), with four cell weights each.
void check_sampled_dims(const OpInfo& info, const Shape& grid, const Attrs& a) {
  if (a.names.empty()) throw Error(fmt::format("{}: needs at least one sampled dim", info.name));
  if (a.ints.size() != 4 * a.names.size()) {
    throw Error(fmt::format("{}: needs 4 cell weights per sampled dim, got {} for dims {}", info.name,
                            a.ints.size(), fmt::join(a.names, ",")));
  }
  for (size_t k = 0; k < a.names.size(); ++k) {
    const Dim& d = dim_of(info, grid, a.names[k]);
    if (d.size == 0) {
      throw ShapeError(
          fmt::format("{}: cannot sample the empty dim '{}' of the grid {}", info.name, d.name, grid.str()));
    }
    for (size_t j = 0; j < k; ++j) {
      if (a.names[j] == d.name) throw Error(fmt::format("{}: dim '{}' is sampled twice", info.name, d.name));
    }
  }
}

// The coordinates' dims other than their channel dim kSampleVector, which must hold one
// component per sampled dim: the dims that say where to sample.
Shape sample_points(const OpInfo& info, const Shape& coordinates, const Attrs& a) {
  int i = coordinates.index_of(kSampleVector);
  if (i < 0 || coordinates.dims()[static_cast<size_t>(i)].type != DimType::channel ||
      coordinates.dims()[static_cast<size_t>(i)].size != static_cast<int64_t>(a.names.size())) {
    throw ShapeError(
        fmt::format("{}: the coordinates {} need a channel dim '{}' of size {} (one component per "
                    "sampled dim {})",
                    info.name, coordinates.str(), kSampleVector, a.names.size(), fmt::join(a.names, ",")));
  }
  return coordinates.without({kSampleVector});
}

// Sample points broadcast by name with the grid's unsampled dims (batch and channel dims, say).
Shape grid_sample_shape(const OpInfo& info, std::span<const ValueType> in, const Attrs& a) {
  const Shape& grid = in[0].shape;
  check_sampled_dims(info, grid, a);
  Shape points = sample_points(info, in[1].shape, a);
  try {
    return points & grid.without(a.names);
  } catch (const ShapeError& e) {
    throw ShapeError(
        fmt::format("{}: the coordinates {} do not broadcast with the grid {} (sampled dims {}): {}",
                    info.name, in[1].shape.str(), grid.str(), fmt::join(a.names, ","), e.what()));
  }
}

// (ct, coordinates) → the grid's shape (attrs.shape); ct's dims broadcast with the points and
// the grid's unsampled dims as grid_sample's result does.
Shape grid_sample_transpose_shape(const OpInfo& info, std::span<const ValueType> in, const Attrs& a) {
  const Shape& grid = a.shape;
  check_sampled_dims(info, grid, a);
  Shape points = sample_points(info, in[1].shape, a);
  try {
    (void)(in[0].shape & points & grid.without(a.names));
  } catch (const ShapeError& e) {
    throw ShapeError(
        fmt::format("{}: the cotangent {} does not broadcast with the coordinates {} and the grid {}: {}",
                    info.name, in[0].shape.str(), in[1].shape.str(), grid.str(), e.what()));
  }
  return grid;
}

Shape infer_shape(const OpInfo& info, std::span<const ValueType> in, const Attrs& a) {
  switch (info.op) {
    case Op::input:
    case Op::constant: return a.shape;
    case Op::reduce_sum:
    case Op::reduce_max:
    case Op::reduce_min: {
      check_distinct(info, a.names);
      bool empty = false;
      for (const std::string& n : a.names) empty = empty || dim_of(info, in[0].shape, n).size == 0;
      if (empty && info.op != Op::reduce_sum) {
        throw ShapeError(fmt::format("{}: cannot reduce over empty dims {} of shape {}", info.name,
                                     fmt::join(a.names, ","), in[0].shape.str()));
      }
      return in[0].shape.without(a.names);
    }
    case Op::shift:
      if (a.names.size() != 1 || a.ints.size() != 1) throw Error("shift: needs one dim and one offset");
      check_extrapolable(info, dim_of(info, in[0].shape, a.names[0]), a.extrap);
      return in[0].shape;
    case Op::pad: {
      if (a.ints.size() != 2 * a.names.size()) throw Error("pad: needs two widths per dim");
      check_distinct(info, a.names);
      Shape s = in[0].shape;
      for (size_t k = 0; k < a.names.size(); ++k) {
        const Dim& d = dim_of(info, s, a.names[k]);
        if (a.ints[2 * k] < 0 || a.ints[2 * k + 1] < 0) {
          throw ShapeError(fmt::format("pad: widths must be >= 0, got ({}, {}) for dim '{}'", a.ints[2 * k],
                                       a.ints[2 * k + 1], d.name));
        }
        check_extrapolable(info, d, a.extrap);
        auto too_large = [&] {
          return fmt::format("pad: dim '{}' of size {} padded by ({}, {}) is too large for int64", d.name,
                             d.size, a.ints[2 * k], a.ints[2 * k + 1]);
        };
        int64_t size =
            checked_add(checked_add(d.size, a.ints[2 * k], too_large), a.ints[2 * k + 1], too_large);
        s = s.with_size(d.name, size);
      }
      return s;
    }
    case Op::expand: return in[0].shape & a.shape;
    case Op::slice: {
      if (a.names.size() != 1 || a.ints.size() != 3) throw Error("slice: needs a dim and start, stop, drop");
      const Dim& d = dim_of(info, in[0].shape, a.names[0]);
      int64_t start = a.ints[0], stop = a.ints[1];
      if (start < 0 || stop > d.size || start > stop) {
        throw ShapeError(
            fmt::format("slice: range [{}, {}) is outside dim '{}' of size {}", start, stop, d.name, d.size));
      }
      if (a.ints[2] != 0) {
        // stop - start: start + 1 overflows for start = INT64_MAX, which parsed IR can give.
        if (stop - start != 1) throw Error("slice: dropping a dim needs a range of one index");
        return in[0].shape.without({d.name});
      }
      Shape s = in[0].shape.with_size(d.name, stop - start);
      if (!d.item_names.empty()) {
        std::vector<Dim> dims = s.dims();
        Dim& nd = dims[s.index_of(d.name)];
        nd.item_names.assign(d.item_names.begin() + start, d.item_names.begin() + stop);
        s = Shape(dims);
      }
      return s;
    }
    case Op::concat: {
      if (a.names.size() != 1) throw Error("concat: needs one dim");
      const std::string& name = a.names[0];
      int64_t total = 0;
      std::vector<std::string> items;
      bool all_named = true;
      for (const ValueType& v : in) {
        const Dim& d = dim_of(info, v.shape, name);
        if (v.shape.without({name}) != in[0].shape.without({name}) || d.type != in[0].shape.type(name)) {
          throw ShapeError(
              fmt::format("concat along '{}': the other dims must agree, got {}", name, shapes_str(in)));
        }
        total = checked_add(total, d.size, [&] {
          return fmt::format("concat along '{}': the total size of {} is too large for int64", name,
                             shapes_str(in));
        });
        all_named = all_named && !d.item_names.empty();
        items.insert(items.end(), d.item_names.begin(), d.item_names.end());
      }
      std::vector<Dim> dims = in[0].shape.dims();
      Dim& d = dims[in[0].shape.index_of(name)];
      d.size = total;
      d.item_names = all_named ? items : std::vector<std::string>{};
      return Shape(dims);
    }
    case Op::stack: {
      if (a.shape.rank() != 1) throw Error("stack: needs exactly one new dim");
      const Dim& nd = a.shape.dims()[0];
      if (nd.size != static_cast<int64_t>(in.size())) {
        throw ShapeError(fmt::format("stack: new dim {} has size {} but {} tensors were given", a.shape.str(),
                                     nd.size, in.size()));
      }
      Shape s;
      for (const ValueType& v : in) {
        if (v.shape.contains(nd.name)) {
          throw ShapeError(fmt::format("stack: new dim '{}' is already in {}", nd.name, v.shape.str()));
        }
        s = s & v.shape;
      }
      return s & a.shape;
    }
    case Op::rename: {
      if (a.names.size() != 2 * a.ints.size())
        throw Error("rename: needs (old, new) pairs and a type per pair");
      std::vector<std::string> old_names;
      for (size_t k = 0; k < a.ints.size(); ++k) old_names.push_back(a.names[2 * k]);
      check_distinct(info, old_names);
      std::vector<Dim> dims = in[0].shape.without(old_names).dims();
      for (size_t k = 0; k < a.ints.size(); ++k) {
        Dim d = dim_of(info, in[0].shape, a.names[2 * k]);
        d.name = a.names[2 * k + 1];
        d.type = static_cast<DimType>(a.ints[k]);
        d.item_names.clear();  // a renamed dim is a new dim: it meets others by size alone
        for (const Dim& e : dims) {
          if (e.name == d.name) {
            throw ShapeError(
                fmt::format("rename: new name '{}' is already in {}", d.name, in[0].shape.str()));
          }
        }
        dims.push_back(d);
      }
      return Shape(dims);
    }
    case Op::grid_sample: return grid_sample_shape(info, in, a);
    case Op::grid_sample_transpose: return grid_sample_transpose_shape(info, in, a);
    case Op::matmul_sparse: return matmul_sparse_shape(in, a);
    case Op::solve_linear: return solve_linear_type(in, a).shape;
    default: break;
  }
  // elementwise: broadcast by name
  Shape s;
  try {
    for (const ValueType& v : in) s = s & v.shape;
  } catch (const ShapeError& e) {
    throw ShapeError(fmt::format("{}: cannot broadcast {}: {}", info.name, shapes_str(in), e.what()));
  }
  return s;
}

}  // namespace

const OpInfo& op_info(Op op) { return kTable[static_cast<int>(op)]; }
std::string_view op_name(Op op) { return op_info(op).name; }

bool op_from_name(std::string_view name, Op* out) {
  for (const OpInfo& info : kTable) {
    if (info.name == name) {
      *out = info.op;
      return true;
    }
  }
  return false;
}

std::vector<DType> operand_dtypes(Op op, std::span<const DType> in, const std::vector<bool>& weak) {
  const OpInfo& info = op_info(op);
  std::vector<DType> out(in.begin(), in.end());
  size_t first = info.dtype_rule == D::select ? 1 : 0;
  if (info.dtype_rule == D::select) out[0] = DType::boolean;
  if (info.dtype_rule == D::same || info.dtype_rule == D::float_only || info.dtype_rule == D::compare ||
      info.dtype_rule == D::select) {
    // Promote pairwise; a weak scalar only matters against non-weak operands.
    DType t = in[first];
    bool t_weak = weak[first];
    for (size_t i = first + 1; i < in.size(); ++i) {
      t = promote(t, in[i], t_weak, weak[i]);
      t_weak = t_weak && weak[i];
    }
    if (info.dtype_rule == D::float_only) t = float_type(t);
    for (size_t i = first; i < in.size(); ++i) out[i] = t;
  }
  return out;
}

ValueType infer_type(Op op, std::span<const ValueType> in, const Attrs& attrs) {
  const OpInfo& info = op_info(op);
  if (info.arity >= 0 && static_cast<int>(in.size()) != info.arity) {
    throw Error(fmt::format("{}: expects {} operands, got {}", info.name, info.arity, in.size()));
  }
  if (info.arity < 0 && in.empty()) throw Error(fmt::format("{}: expects at least one operand", info.name));
  ValueType t{infer_shape(info, in, attrs), result_dtype(info, in, attrs)};
  if (op == Op::constant) {
    if (!attrs.data || attrs.data->count() != attrs.shape.volume() || attrs.data->dtype() != attrs.dtype) {
      throw Error(
          fmt::format("constant: data does not match {} {}", dtype_name(attrs.dtype), attrs.shape.str()));
    }
  }
  return t;
}

void missing_rule(Op op, std::string_view rule) {
  throw InternalError(fmt::format("op '{}' has no {} rule", op_name(op), rule));
}

bool Attrs::operator==(const Attrs& o) const {
  if (names != o.names || ints != o.ints || dtype != o.dtype || !(shape == o.shape) ||
      !(extrap == o.extrap) || payload != o.payload) {
    return false;
  }
  if (data == o.data) return true;
  if (!data || !o.data) return false;
  // Scalars are equal by value (bit pattern, so NaN == NaN and 0.0 != -0.0); tensors by identity.
  return data->count() == 1 && o.data->count() == 1 && data->dtype() == o.data->dtype() &&
         std::memcmp(data->data(), o.data->data(), data->bytes()) == 0;
}

size_t Attrs::hash() const {
  size_t h = std::hash<int>()(static_cast<int>(dtype));
  auto mix = [&h](size_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
  for (const std::string& n : names) mix(std::hash<std::string>()(n));
  for (int64_t i : ints) mix(std::hash<int64_t>()(i));
  for (const Dim& d : shape.dims()) mix(std::hash<std::string>()(d.name) ^ static_cast<size_t>(d.size));
  mix(std::hash<double>()(extrap.value()) + static_cast<size_t>(extrap.kind()));
  if (payload) mix(std::hash<const void*>()(payload.get()));
  if (data) {
    if (data->count() == 1) {
      uint64_t bits = 0;
      std::memcpy(&bits, data->data(), data->bytes());
      mix(bits);
    } else {
      mix(std::hash<const void*>()(data.get()));
    }
  }
  return h;
}

}  // namespace phijit::ir
