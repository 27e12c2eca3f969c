#include "runtime/interpreter.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "ir/builder.h"
#include "ir/error.h"
#include "runtime/odometer.h"
#include "runtime/sparse_operand.h"

namespace phijit::runtime {

using ir::Attrs;
using ir::Op;
using ir::ValueType;

namespace {

// For each dim of `out`, the stride of the dim of `in` that `in_name_of` maps it to (0 where
// `in` has no such dim, which broadcasts).
template <class NameMap>
std::vector<int64_t> strides_for(const Shape& in, const Shape& out, NameMap in_name_of) {
  std::vector<int64_t> in_strides = strides_of(in);
  std::vector<int64_t> st;
  for (const Dim& d : out.dims()) {
    int i = in.index_of(in_name_of(d.name));
    st.push_back(i < 0 ? 0 : in_strides[static_cast<size_t>(i)]);
  }
  return st;
}

std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  return strides_for(in, out, [](const std::string& n) { return n; });
}

// dst[dst_base + idx·dst_strides] = src[src_base + idx·src_strides] for every idx of `shape`.
void copy_strided(const Buffer& src, int64_t src_base, std::vector<int64_t> src_strides, Buffer& dst,
                  int64_t dst_base, std::vector<int64_t> dst_strides, const Shape& shape) {
  size_t es = dtype_size(src.dtype());
  const auto* s = static_cast<const char*>(src.data());
  auto* d = static_cast<char*>(dst.data());
  Odometer it(shape, {std::move(src_strides), std::move(dst_strides)}, {src_base, dst_base});
  for (int64_t i = 0, n = shape.volume(); i < n; ++i, it.next()) {
    std::memcpy(d + it.offset(1) * es, s + it.offset(0) * es, es);
  }
}

std::shared_ptr<Buffer> make_buffer(const ValueType& t) { return std::make_shared<Buffer>(t.dtype, t.shape); }

// Elementwise ops apply the op table's scalar function to broadcast operands, in the real
// domain when the operands are floats and in the integer domain otherwise.
BufferPtr elementwise(const ir::OpInfo& info, const ValueType& result, std::span<const BufferPtr> in,
                      std::span<const ValueType> in_types) {
  auto out = make_buffer(result);
  std::vector<std::vector<int64_t>> strides;
  for (const ValueType& t : in_types) strides.push_back(broadcast_strides(t.shape, result.shape));
  bool real = is_float(in_types.back().dtype);
  Odometer it(result.shape, strides);
  for (int64_t i = 0, n = result.shape.volume(); i < n; ++i, it.next()) {
    if (real) {
      double a[3] = {0, 0, 0};
      for (size_t k = 0; k < in.size(); ++k) a[k] = in[k]->get_real(it.offset(k));
      out->set_real(i, info.real(a[0], a[1], a[2]));
    } else {
      int64_t a[3] = {0, 0, 0};
      for (size_t k = 0; k < in.size(); ++k) a[k] = in[k]->get_int(it.offset(k));
      out->set_int(i, info.integer(a[0], a[1], a[2]));
    }
  }
  return out;
}

// sum/max/min over attrs.names; floats accumulate in double, integers in int64.
BufferPtr reduce(Op op, const Attrs& attrs, const ValueType& result, const Buffer& in,
                 const Shape& in_shape) {
  int64_t n_out = result.shape.volume();
  bool real = is_float(in.dtype());
  double real_init = op == Op::reduce_sum   ? 0.0
                     : op == Op::reduce_max ? -std::numeric_limits<double>::infinity()
                                            : std::numeric_limits<double>::infinity();
  int64_t int_init = op == Op::reduce_sum   ? 0
                     : op == Op::reduce_max ? std::numeric_limits<int64_t>::min()
                                            : std::numeric_limits<int64_t>::max();
  std::vector<double> racc(static_cast<size_t>(n_out), real_init);
  std::vector<int64_t> iacc(static_cast<size_t>(n_out), int_init);
  // Walk the operand; each element lands in the output cell with the same non-reduced index.
  std::vector<int64_t> out_strides =
      strides_for(result.shape, in_shape, [](const std::string& n) { return n; });
  Odometer it(in_shape, {out_strides});
  for (int64_t i = 0, n = in_shape.volume(); i < n; ++i, it.next()) {
    auto o = static_cast<size_t>(it.offset(0));
    if (real) {
      double v = in.get_real(i);
      if (op == Op::reduce_sum) {
        racc[o] += v;
      } else if (std::isnan(v) || std::isnan(racc[o])) {
        racc[o] = NAN;  // NaN propagates, as in numpy
      } else {
        racc[o] = op == Op::reduce_max ? std::max(racc[o], v) : std::min(racc[o], v);
      }
    } else {
      int64_t v = in.get_int(i);
      iacc[o] = op == Op::reduce_sum
                    ? static_cast<int64_t>(static_cast<uint64_t>(iacc[o]) + static_cast<uint64_t>(v))
                : op == Op::reduce_max ? std::max(iacc[o], v)
                                       : std::min(iacc[o], v);
    }
  }
  (void)attrs;
  auto out = make_buffer(result);
  for (int64_t o = 0; o < n_out; ++o) {
    if (real) {
      out->set_real(o, racc[static_cast<size_t>(o)]);
    } else {
      out->set_int(o, iacc[static_cast<size_t>(o)]);
    }
  }
  return out;
}

// result[i] = in[i + offset[d] along every dim d], outside values from the extrapolation.
// Shift and pad are both this gather.
// out[i] = in[source(i + offsets)] per dim, or the extrapolation's constant outside. The
// last dim's sources are found once, the other dims' once per row; inside the input each row
// is one contiguous copy.
BufferPtr extrapolated_gather(const Buffer& in, const Shape& in_shape, const ValueType& result,
                              const std::vector<int64_t>& offsets, const Extrapolation& e) {
  auto out = make_buffer(result);
  int64_t n = result.shape.volume();
  if (n == 0) return out;
  Buffer constant(in.dtype(), 1);
  constant.set_real(0, e.value());
  auto es = static_cast<int64_t>(dtype_size(in.dtype()));
  const auto* src = static_cast<const char*>(in.data());
  auto* dst = static_cast<char*>(out->data());
  std::vector<int64_t> in_strides = strides_of(in_shape);
  size_t rank = offsets.size();
  int64_t inner = rank == 0 ? 1 : result.shape.dims().back().size;
  int64_t inner_in = rank == 0 ? 1 : in_shape.dims().back().size;
  int64_t shift = rank == 0 ? 0 : offsets.back();
  // The inner indices j whose source is simply j + shift.
  int64_t lo = std::clamp<int64_t>(-shift, 0, inner), hi = std::clamp<int64_t>(inner_in - shift, lo, inner);
  std::vector<int64_t> edge_src(static_cast<size_t>(inner), 0);
  for (int64_t j = 0; rank > 0 && j < inner; ++j)
    edge_src[static_cast<size_t>(j)] = e.source_index(j + shift, inner_in);
  std::vector<int64_t> outer_sizes;
  for (size_t d = 0; d + 1 < rank; ++d) outer_sizes.push_back(result.shape.dims()[d].size);
  Odometer rows(outer_sizes, {});
  for (int64_t row = 0; row < n / inner; ++row, rows.next()) {
    int64_t base = 0;
    bool outside = false;
    for (size_t d = 0; d + 1 < rank && !outside; ++d) {
      int64_t s = e.source_index(rows.index(d) + offsets[d], in_shape.dims()[d].size);
      outside = s < 0;
      base += s * in_strides[d];
    }
    char* o = dst + row * inner * es;
    for (int64_t j = 0; j < inner; ++j) {
      if (!outside && j == lo && hi > lo) {
        std::memcpy(o + lo * es, src + (base + lo + shift) * es, static_cast<size_t>((hi - lo) * es));
        j = hi - 1;
        continue;
      }
      int64_t s = edge_src[static_cast<size_t>(j)];
      const char* from = outside || s < 0 ? static_cast<const char*>(constant.data()) : src + (base + s) * es;
      std::memcpy(o + j * es, from, static_cast<size_t>(es));
    }
  }
  return out;
}

BufferPtr slice(const Attrs& a, const ValueType& result, const Buffer& in, const Shape& in_shape) {
  const std::string& dim = a.names[0];
  int64_t base = a.ints[0] * strides_of(in_shape)[static_cast<size_t>(in_shape.index_of(dim))];
  auto out = make_buffer(result);
  copy_strided(in, base, broadcast_strides(in_shape, result.shape), *out, 0, strides_of(result.shape),
               result.shape);
  return out;
}

BufferPtr concat(const Attrs& a, const ValueType& result, std::span<const BufferPtr> in,
                 std::span<const ValueType> in_types) {
  const std::string& dim = a.names[0];
  auto out = make_buffer(result);
  int64_t dim_stride = strides_of(result.shape)[static_cast<size_t>(result.shape.index_of(dim))];
  int64_t start = 0;
  for (size_t k = 0; k < in.size(); ++k) {
    const Shape& s = in_types[k].shape;
    copy_strided(*in[k], 0, strides_of(s), *out, start * dim_stride, broadcast_strides(result.shape, s), s);
    start += s.size(dim);
  }
  return out;
}

BufferPtr stack(const Attrs& a, const ValueType& result, std::span<const BufferPtr> in,
                std::span<const ValueType> in_types) {
  const std::string& dim = a.shape.dims()[0].name;
  auto out = make_buffer(result);
  Shape cell = result.shape.without({dim});
  int64_t dim_stride = strides_of(result.shape)[static_cast<size_t>(result.shape.index_of(dim))];
  for (size_t k = 0; k < in.size(); ++k) {
    copy_strided(*in[k], 0, broadcast_strides(in_types[k].shape, cell), *out,
                 static_cast<int64_t>(k) * dim_stride, broadcast_strides(result.shape, cell), cell);
  }
  return out;
}

BufferPtr rename(const Attrs& a, const ValueType& result, const Buffer& in, const Shape& in_shape) {
  auto old_name = [&a](const std::string& n) {
    for (size_t k = 0; k < a.ints.size(); ++k) {
      if (a.names[2 * k + 1] == n) return a.names[2 * k];
    }
    return n;
  };
  auto out = make_buffer(result);
  copy_strided(in, 0, strides_for(in_shape, result.shape, old_name), *out, 0, strides_of(result.shape),
               result.shape);
  return out;
}

// ---- grid_sample and its transpose ------------------------------------------------------

// The two cells around a coordinate along one sampled dim (-1: the extrapolation's constant)
// and the fraction f of the way from the lower to the upper one.
template <class T>
struct Cells {
  int64_t lo, hi;
  T f;
};

template <class T>
Cells<T> cells_around(T c, int64_t n, const Extrapolation& e) {
  const T floor = std::floor(c);
  const auto limit = static_cast<T>(ir::attrs::kMaxSampleCell);
  const auto i = static_cast<int64_t>(std::fmax(-limit, std::fmin(floor, limit)));
  return {e.source_index(i, n), e.source_index(i + 1, n), c - floor};
}

// How grid_sample and its transpose walk their points: the sampled dims of the grid and where
// a point's coordinates are.
struct SampleLayout {
  ir::attrs::GridSampleView view;
  std::vector<int64_t> sizes, strides;  // per sampled dim, in the grid
  int64_t component_stride = 0;         // of kSampleVector in the coordinates

  SampleLayout(const Attrs& a, const Shape& grid, const Shape& coordinates)
      : view(ir::attrs::grid_sample_of(a)) {
    std::vector<int64_t> grid_strides = strides_of(grid);
    for (const std::string& d : view.dims) {
      sizes.push_back(grid.size(d));
      strides.push_back(grid_strides[static_cast<size_t>(grid.index_of(d))]);
    }
    component_stride = strides_of(coordinates)[static_cast<size_t>(coordinates.index_of(ir::kSampleVector))];
  }
  // Strides of a walk over `walk` into the grid: its sampled dims are not walked (the walk's
  // dims of those names are the points'), the others by name.
  std::vector<int64_t> grid_strides(const Shape& grid, const Shape& walk) const {
    return strides_for(grid, walk, [this](const std::string& n) {
      return std::find(view.dims.begin(), view.dims.end(), n) == view.dims.end() ? n : std::string();
    });
  }
  // Strides into the coordinates; kSampleVector is their component, not a dim of the walk.
  static std::vector<int64_t> coordinate_strides(const Shape& coordinates, const Shape& walk) {
    return strides_for(coordinates, walk,
                       [](const std::string& n) { return n == ir::kSampleVector ? "" : n; });
  }
  template <class T>
  void locate(const T* coordinates, std::vector<Cells<T>>& cells) const {
    for (size_t k = 0; k < sizes.size(); ++k)
      cells[k] = cells_around(coordinates[static_cast<int64_t>(k) * component_stride], sizes[k], view.extrap);
  }
  // Calls fn(offset from the grid point's base, weight) for the 2^d corners around `cells` in
  // order (bit k: dim k's upper cell), skipping cells the weights do not read; offset -1 for a
  // corner outside a constant extrapolation.
  template <class T, class Fn>
  void corners(const std::vector<Cells<T>>& cells, Fn fn) const {
    const size_t d = sizes.size();
    for (uint32_t corner = 0; corner < (1U << d); ++corner) {
      T weight = 0;
      int64_t offset = 0;
      bool read = true;
      for (size_t k = 0; k < d && read; ++k) {
        bool upper = ((corner >> k) & 1U) != 0;
        const ir::attrs::CellWeights& w = view.weights[k];
        read = w.reads(upper);
        T wk = upper ? w.weight(w.hi_const, w.hi_slope, cells[k].f)
                     : w.weight(w.lo_const, w.lo_slope, cells[k].f);
        weight = k == 0 ? wk : weight * wk;
        int64_t cell = upper ? cells[k].hi : cells[k].lo;
        offset = offset < 0 || cell < 0 ? -1 : offset + cell * strides[k];
      }
      if (read) fn(offset, weight);
    }
  }
};

// out[p] = Σ over the corners around p's coordinates of weight · grid value (the constant
// outside a constant extrapolation), in corner order.
template <class T>
BufferPtr grid_sample(const Attrs& a, const ValueType& result, const Buffer& grid, const Shape& grid_shape,
                      const Buffer& coordinates, const Shape& coordinate_shape) {
  const SampleLayout layout(a, grid_shape, coordinate_shape);
  auto out = make_buffer(result);
  const T* g = grid.as<T>();
  const T* c = coordinates.as<T>();
  T* o = out->as<T>();
  const auto outside = static_cast<T>(layout.view.extrap.value());
  std::vector<Cells<T>> cells(layout.sizes.size());
  Odometer it(result.shape, {layout.grid_strides(grid_shape, result.shape),
                             SampleLayout::coordinate_strides(coordinate_shape, result.shape)});
  for (int64_t i = 0, n = result.shape.volume(); i < n; ++i, it.next()) {
    layout.locate(c + it.offset(1), cells);
    const T* base = g + it.offset(0);
    T acc = 0;
    bool first = true;
    layout.corners(cells, [&](int64_t offset, T weight) {
      T term = weight * (offset < 0 ? outside : base[offset]);
      acc = first ? term : acc + term;
      first = false;
    });
    o[i] = acc;
  }
  return out;
}

// The transpose: each point's ct · weight added to the cells it reads (none outside), over the
// points and every dim of ct; serially, in the order of that walk.
template <class T>
BufferPtr grid_sample_transpose(const Attrs& a, const ValueType& result, const Buffer& ct,
                                const Shape& ct_shape, const Buffer& coordinates,
                                const Shape& coordinate_shape) {
  const Shape& grid_shape = result.shape;
  const SampleLayout layout(a, grid_shape, coordinate_shape);
  const Shape walk = ct_shape & coordinate_shape.without({ir::kSampleVector}) & grid_shape.without(a.names);
  auto out = make_buffer(result);  // zero-filled
  const T* v = ct.as<T>();
  const T* c = coordinates.as<T>();
  T* o = out->as<T>();
  std::vector<Cells<T>> cells(layout.sizes.size());
  Odometer it(
      walk, {layout.grid_strides(grid_shape, walk), SampleLayout::coordinate_strides(coordinate_shape, walk),
             broadcast_strides(ct_shape, walk)});
  for (int64_t i = 0, n = walk.volume(); i < n; ++i, it.next()) {
    layout.locate(c + it.offset(1), cells);
    T* base = o + it.offset(0);
    const T value = v[it.offset(2)];
    layout.corners(cells, [&](int64_t offset, T weight) {
      if (offset >= 0) base[offset] += value * weight;
    });
  }
  return out;
}

BufferPtr grid_sample_op(Op op, const Attrs& a, const ValueType& result, std::span<const BufferPtr> in,
                         std::span<const ValueType> types) {
  bool f32 = types[0].dtype == DType::f32;
  if (op == Op::grid_sample) {
    return f32 ? grid_sample<float>(a, result, *in[0], types[0].shape, *in[1], types[1].shape)
               : grid_sample<double>(a, result, *in[0], types[0].shape, *in[1], types[1].shape);
  }
  return f32 ? grid_sample_transpose<float>(a, result, *in[0], types[0].shape, *in[1], types[1].shape)
             : grid_sample_transpose<double>(a, result, *in[0], types[0].shape, *in[1], types[1].shape);
}

}  // namespace

BufferPtr evaluate(Op op, const Attrs& attrs, const ValueType& result, std::span<const BufferPtr> in,
                   std::span<const ValueType> in_types) {
  const ir::OpInfo& info = ir::op_info(op);
  switch (op) {
    case Op::input: throw Error("interpreter: an input has no value of its own");
    case Op::constant: return attrs.data;
    case Op::neg:
    case Op::exp:
    case Op::log:
    case Op::sin:
    case Op::cos:
    case Op::tan:
    case Op::tanh:
    case Op::sqrt:
    case Op::abs:
    case Op::sign:
    case Op::isfinite:
    case Op::cast:
    case Op::add:
    case Op::sub:
    case Op::mul:
    case Op::div:
    case Op::pow:
    case Op::minimum:
    case Op::maximum:
    case Op::lt:
    case Op::le:
    case Op::gt:
    case Op::ge:
    case Op::eq:
    case Op::ne:
    case Op::where: return elementwise(info, result, in, in_types);
    case Op::reduce_sum:
    case Op::reduce_max:
    case Op::reduce_min: return reduce(op, attrs, result, *in[0], in_types[0].shape);
    case Op::shift: {
      const Shape& s = in_types[0].shape;
      std::vector<int64_t> offsets(static_cast<size_t>(s.rank()), 0);
      offsets[static_cast<size_t>(s.index_of(attrs.names[0]))] = attrs.ints[0];
      return extrapolated_gather(*in[0], s, result, offsets, attrs.extrap);
    }
    case Op::pad: {
      const Shape& s = in_types[0].shape;
      std::vector<int64_t> offsets(static_cast<size_t>(s.rank()), 0);
      for (size_t k = 0; k < attrs.names.size(); ++k) {
        offsets[static_cast<size_t>(s.index_of(attrs.names[k]))] = -attrs.ints[2 * k];
      }
      return extrapolated_gather(*in[0], s, result, offsets, attrs.extrap);
    }
    case Op::grid_sample:
    case Op::grid_sample_transpose: return grid_sample_op(op, attrs, result, in, in_types);
    case Op::expand: {
      auto out = make_buffer(result);
      copy_strided(*in[0], 0, broadcast_strides(in_types[0].shape, result.shape), *out, 0,
                   strides_of(result.shape), result.shape);
      return out;
    }
    case Op::slice: return slice(attrs, result, *in[0], in_types[0].shape);
    case Op::concat: return concat(attrs, result, in, in_types);
    case Op::stack: return stack(attrs, result, in, in_types);
    case Op::rename: return rename(attrs, result, *in[0], in_types[0].shape);
    case Op::matmul_sparse: {
      const auto* A = dynamic_cast<const SparseOperand*>(attrs.payload.get());
      if (A == nullptr) throw InternalError("matmul_sparse: the payload is not a runtime::SparseOperand");
      if (in.size() == 2)
        return sparse_matmul(*A, *in[0], in_types[0].shape, result.shape, in[1].get(), in_types[1].shape);
      return sparse_matmul(*A, *in[0], in_types[0].shape, result.shape);
    }
    case Op::solve_linear:
      return dynamic_cast<const ir::LinearSolvePayload&>(*attrs.payload).compute(in, in_types);
  }
  ir::missing_rule(op, "interpreter");
}

std::vector<BufferPtr> interpret(const ir::Graph& g, std::span<const BufferPtr> inputs) {
  if (inputs.size() != g.inputs().size()) {
    throw Error(
        fmt::format("interpreter: the graph takes {} inputs, got {}", g.inputs().size(), inputs.size()));
  }
  // Free each intermediate after its last use.
  std::vector<int> last_use(static_cast<size_t>(g.size()), -1);
  for (int i = 0; i < g.size(); ++i) {
    for (ir::Value v : g.nodes()[static_cast<size_t>(i)].inputs) last_use[static_cast<size_t>(v.id)] = i;
  }
  for (ir::Value v : g.outputs()) last_use[static_cast<size_t>(v.id)] = g.size();

  std::vector<BufferPtr> values(static_cast<size_t>(g.size()));
  for (int i = 0; i < g.size(); ++i) {
    const ir::Node& n = g.nodes()[static_cast<size_t>(i)];
    if (n.op == Op::input) {
      auto k = static_cast<size_t>(n.attrs.ints[0]);
      const BufferPtr& b = inputs[k];
      if (!b || b->dtype() != n.type.dtype || b->count() != n.type.shape.volume()) {
        throw Error(fmt::format("interpreter: input {} must be {} {}", k, dtype_name(n.type.dtype),
                                n.type.shape.str()));
      }
      values[static_cast<size_t>(i)] = b;
    } else {
      std::vector<BufferPtr> in;
      std::vector<ValueType> types;
      for (ir::Value v : n.inputs) {
        in.push_back(values[static_cast<size_t>(v.id)]);
        types.push_back(g.type(v));
      }
      values[static_cast<size_t>(i)] = evaluate(n.op, n.attrs, n.type, in, types);
    }
    for (ir::Value v : n.inputs) {
      if (last_use[static_cast<size_t>(v.id)] == i) values[static_cast<size_t>(v.id)].reset();
    }
  }
  std::vector<BufferPtr> out;
  for (ir::Value v : g.outputs()) out.push_back(values[static_cast<size_t>(v.id)]);
  return out;
}

}  // namespace phijit::runtime
