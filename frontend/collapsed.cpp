#include "frontend/collapsed.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <string>

#include "frontend/tensor_data.h"
#include "ir/builder.h"
#include "runtime/layout.h"

namespace phijit::detail {

namespace {

bool is_collapsed(const TensorData& d) { return d.stored.rank() != d.type.shape.rank(); }

// The buffer of a concrete dense tensor; tracers and sparse matrices have none.
const Buffer& stored_buffer_of(const TensorData& d, const char* what) {
  if (d.stored_buffer == nullptr) {
    throw InternalError(
        fmt::format("{}: the tensor {} has no values of its own (a tracer or a sparse matrix)", what,
                    d.type.shape.str()));
  }
  return *d.stored_buffer;
}

void add_name(std::vector<std::string>& names, const std::string& n) {
  if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
}

bool all_stored(const TensorData& d, const std::vector<std::string>& dims) {
  return std::all_of(dims.begin(), dims.end(), [&d](const std::string& n) { return d.stored.contains(n); });
}

// Every operand over all its dims.
StoredEvaluation expanded(const ir::Attrs& attrs, const std::vector<Tensor>& operands,
                          const ir::ValueType& result) {
  StoredEvaluation e{true, attrs, result};
  for (const Tensor& t : operands) {
    e.buffers.push_back(dense_buffer(t));
    e.types.push_back(t.data().type);
  }
  return e;
}

// Every operand over its stored dims; the result stores the dims `stored_names` of its shape.
StoredEvaluation on_stored(bool needed, const ir::Attrs& attrs, const std::vector<Tensor>& operands,
                           const ir::ValueType& result, const std::vector<std::string>& stored_names) {
  StoredEvaluation e{needed, attrs, {result.shape.only(stored_names), result.dtype}};
  for (const Tensor& t : operands) {
    e.buffers.push_back(t.data().stored_buffer);
    e.types.push_back({t.data().stored, t.dtype()});
  }
  return e;
}

// Broadcasting by name: the result is constant along a dim that no operand stores.
StoredEvaluation elementwise(const ir::Attrs& attrs, const std::vector<Tensor>& operands,
                             const ir::ValueType& result) {
  std::vector<std::string> names;
  for (const Tensor& t : operands) {
    for (const Dim& d : t.data().stored.dims()) add_name(names, d.name);
  }
  return on_stored(true, attrs, operands, result, names);
}

// Reduces the requested stored dims; a sum over an unstored dim counts each value that often,
// and max/min over it change nothing (a collapsed tensor has no empty dims).
StoredEvaluation reduction(ir::Op op, const ir::Attrs& attrs, const std::vector<Tensor>& operands,
                           const ir::ValueType& result) {
  const TensorData& d = operands[0].data();
  std::vector<std::string> reduced;
  int64_t repeats = 1;
  const Shape requested = d.type.shape.only(attrs.names);  // each dim once
  for (const Dim& dim : requested.dims()) {
    if (d.stored.contains(dim.name)) {
      reduced.push_back(dim.name);
    } else {
      repeats *= dim.size;
    }
  }
  ir::Attrs stored_attrs = reduced.size() == attrs.names.size() ? attrs : ir::attrs::reduce(reduced);
  StoredEvaluation e =
      on_stored(!reduced.empty(), stored_attrs, operands, result, d.stored.without(attrs.names).names());
  if (op == ir::Op::reduce_sum) e.sum_repeats = repeats;
  return e;
}

// Renames the stored dims among the renamed ones; the others are renamed in the shape alone.
StoredEvaluation rename(const ir::Attrs& attrs, const std::vector<Tensor>& operands,
                        const ir::ValueType& result) {
  const TensorData& d = operands[0].data();
  std::vector<ir::attrs::RenamePair> pairs;
  for (const ir::attrs::RenamePair& p : ir::attrs::rename_pairs(attrs)) {
    if (d.stored.contains(p.from)) pairs.push_back(p);
  }
  std::vector<std::string> names = d.stored.names();
  for (std::string& n : names) {
    for (const ir::attrs::RenamePair& p : pairs) {
      if (p.from == n) {
        n = p.to;
        break;
      }
    }
  }
  return on_stored(!pairs.empty(), ir::attrs::rename(pairs), operands, result, names);
}

StoredEvaluation slice(const ir::Attrs& attrs, const std::vector<Tensor>& operands,
                       const ir::ValueType& result) {
  const TensorData& d = operands[0].data();
  const ir::attrs::SliceView s = ir::attrs::slice_of(attrs);
  std::vector<std::string> names = d.stored.names();
  if (s.drop) std::erase(names, s.dim);
  return on_stored(d.stored.contains(s.dim), attrs, operands, result, names);
}

// Shift and pad read along their own dims only: along stored dims the result stays constant
// along the others. Along an unstored dim the boundary makes values differ: expand first.
StoredEvaluation stencil(const ir::Attrs& attrs, const std::vector<Tensor>& operands,
                         const ir::ValueType& result) {
  const TensorData& d = operands[0].data();
  if (!all_stored(d, attrs.names)) return expanded(attrs, operands, result);
  return on_stored(true, attrs, operands, result, d.stored.names());
}

// Each value of `in` times `repeats`, in `dtype`: the sum of that many copies, with the op
// table's product (integers wrap as repeated addition does; floats multiply in double).
runtime::BufferPtr repeated_sum(const Buffer& in, int64_t repeats, DType dtype) {
  const ir::OpInfo& mul = ir::op_info(ir::Op::mul);
  auto out = std::make_shared<Buffer>(dtype, in.count(), Buffer::Uninitialized{});
  for (int64_t i = 0; i < in.count(); ++i) {
    if (is_float(dtype)) {
      out->set_real(i, mul.real(in.get_real(i), static_cast<double>(repeats), 0));
    } else {
      out->set_int(i, mul.integer(in.get_int(i), repeats, 0));
    }
  }
  return out;
}

}  // namespace

Tensor make_collapsed(runtime::BufferPtr values, const Shape& stored, Shape shape, bool weak) {
  if (values == nullptr || values->count() != stored.volume()) {
    throw InternalError(fmt::format("make_collapsed: {} values for the stored dims {} of {}",
                                    values ? values->count() : 0, stored.str(), shape.str()));
  }
  if (shape.volume() == 0 && stored.rank() != shape.rank()) {
    values = std::make_shared<Buffer>(values->dtype(), 0);  // nothing to repeat: dense and empty
    return make_tensor(std::move(values), std::move(shape), weak);
  }
  auto d = std::make_shared<TensorData>();
  d->type = ir::ValueType{std::move(shape), values->dtype()};
  d->stored = d->type.shape.only(stored.names());  // in the shape's order, with its item names
  d->stored_buffer = std::move(values);
  if (is_collapsed(*d)) d->expansion = std::make_shared<TensorData::Expansion>();
  d->weak = weak;
  return Tensor(std::move(d));
}

const Shape& stored_shape(const Tensor& t) { return t.data().stored; }
int64_t stored_volume(const Tensor& t) { return t.data().stored.volume(); }

std::vector<double> stored_values(const Tensor& t) {
  const Buffer& b = stored_buffer_of(t.data(), "stored_values");
  std::vector<double> out(static_cast<size_t>(b.count()));
  for (int64_t i = 0; i < b.count(); ++i) out[static_cast<size_t>(i)] = b.get_real(i);
  return out;
}

runtime::BufferPtr dense_buffer(const Tensor& t) {
  const TensorData& d = t.data();
  if (d.expansion == nullptr) return d.stored_buffer;  // it holds every dim already
  std::call_once(d.expansion->once, [&d] {
    d.expansion->buffer = runtime::relayout(d.stored_buffer, d.stored.dims(), d.type.shape.dims());
  });
  return d.expansion->buffer;
}

runtime::BufferPtr values_in_order(const Tensor& t, const std::vector<Dim>& order) {
  const TensorData& d = t.data();
  stored_buffer_of(d, "values_in_order");
  // relayout checks the stored dims; the unstored ones must be in `order` too.
  for (const Dim& dim : d.type.shape.dims()) {
    bool found = std::any_of(order.begin(), order.end(),
                             [&dim](const Dim& o) { return o.name == dim.name && o.size == dim.size; });
    if (!found) {
      throw ShapeError(fmt::format("relayout: the target {} lacks dim '{}' (size {}) of {}", dims_str(order),
                                   dim.name, dim.size, d.type.shape.str()));
    }
  }
  return runtime::relayout(d.stored_buffer, d.stored.dims(), order);
}

ir::Value constant_value(ir::Graph& g, const Tensor& t) {
  const TensorData& d = t.data();
  ir::Value v = g.add_constant(d.stored_buffer, d.stored);
  return is_collapsed(d) ? ir::Builder(g).broadcast_to(v, d.type.shape) : v;
}

StoredEvaluation stored_evaluation(ir::Op op, const ir::Attrs& attrs, const std::vector<Tensor>& operands,
                                   const ir::ValueType& result) {
  switch (ir::op_info(op).kind) {
    case ir::OpKind::elementwise: return elementwise(attrs, operands, result);
    case ir::OpKind::reduction: return reduction(op, attrs, operands, result);
    case ir::OpKind::stencil: return stencil(attrs, operands, result);
    case ir::OpKind::layout:
      if (op == ir::Op::expand)
        return on_stored(false, attrs, operands, result, stored_shape(operands[0]).names());
      if (op == ir::Op::slice) return slice(attrs, operands, result);
      if (op == ir::Op::rename) return rename(attrs, operands, result);
      return expanded(attrs, operands, result);  // concat, stack
    case ir::OpKind::gather:                     // reads at computed indices: every operand over all its dims
    case ir::OpKind::source:
    case ir::OpKind::host: return expanded(attrs, operands, result);
  }
  throw InternalError(fmt::format("stored_evaluation: op '{}' has an unknown kind", ir::op_name(op)));
}

Tensor stored_result(const StoredEvaluation& e, runtime::BufferPtr values, ir::ValueType result, bool weak) {
  if (e.sum_repeats != 1 || values->dtype() != result.dtype) {
    values = repeated_sum(*values, e.sum_repeats, result.dtype);
  }
  return make_collapsed(std::move(values), e.result.shape, std::move(result.shape), weak);
}

}  // namespace phijit::detail
