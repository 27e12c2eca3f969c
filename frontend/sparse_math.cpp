#include "frontend/sparse_math.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "frontend/collapsed.h"
#include "frontend/matrices.h"
#include "frontend/tensor_data.h"
#include "runtime/odometer.h"

namespace phijit::detail {

namespace {

using ir::Op;
using runtime::CsrPattern;

constexpr const char* kSupported =
    "sparse matrices support matmul, dense, nnz, transpose, astype, + and - of two sparse matrices, "
    "+ and - with dense tensors (dense result), * and / by scalars or tensors along the matrix's dims, "
    "-A, abs, sign, sqrt, sin, tan, tanh, sum, mean, max, min and comparisons (dense result)";

[[noreturn]] void unsupported(Op op, const Tensor& A) {
  throw Error(fmt::format("{}: not defined for the sparse matrix {}; {}. Convert it with dense(A) first",
                          ir::op_name(op), A.shape().str(), kSupported));
}

const Tensor& first_sparse(const std::vector<Tensor>& operands) {
  return *std::find_if(operands.begin(), operands.end(), [](const Tensor& t) { return t.is_sparse(); });
}

// The dim along which a matrix's stored entries lie in a tensor of its values.
Shape entries_shape(int64_t nnz) { return Shape({Dim{ir::kSparseEntries, nnz, DimType::instance, {}}}); }

// The stored values as a tensor of shape batch & entries (a tracer when computed in a trace):
// elementwise math on them is math on the matrix's stored entries.
Tensor entry_values(const SparseData& s) {
  if (s.traced_values.defined()) return s.traced_values;
  return make_tensor(s.csr.values, s.batch & entries_shape(s.csr.pattern->nnz()));
}

// The matrix with `pattern`, rows and cols whose stored values are `values` (batch dims &
// entries, in that layout), concrete or traced.
Tensor on_pattern(std::shared_ptr<const CsrPattern> pattern, const Shape& rows, const Shape& cols,
                  const Tensor& values) {
  Shape batch = values.shape().batch();
  if (is_tracer(values)) {
    return make_traced_sparse(
        SparseData{runtime::CsrMatrix{std::move(pattern), nullptr, batch.volume()}, batch, rows, cols},
        values);
  }
  return make_sparse(SparseData{runtime::CsrMatrix{std::move(pattern), dense_buffer(values), batch.volume()},
                                batch, rows, cols});
}

Tensor with_entry_values(const SparseData& s, const Tensor& values) {
  return on_pattern(s.csr.pattern, s.rows, s.cols, values);
}

// Ops with f(0) = 0 keep the pattern: they apply to the stored values alone.
Tensor on_stored_values(Op op, const Tensor& A, const ir::Attrs& attrs) {
  const SparseData& s = *A.data().sparse;
  return with_entry_values(s, apply(op, {entry_values(s)}, attrs));
}

// The op on dense(A) for every sparse operand: for results that are dense by nature.
Tensor on_dense(Op op, const std::vector<Tensor>& operands, const ir::Attrs& attrs) {
  std::vector<Tensor> dense_operands;
  for (const Tensor& t : operands) dense_operands.push_back(dense(t));
  return apply(op, std::move(dense_operands), attrs);
}

// A tensor that scales a sparse matrix entry by entry has only the matrix's row, column (~n)
// and batch dims, or batch dims of its own.
void check_scale_dims(Op op, const Tensor& A, const Tensor& t) {
  for (const Dim& d : t.shape().dims()) {
    if (A.shape().contains(d.name) && A.shape().dim(d.name).size == d.size &&
        A.shape().type(d.name) == d.type) {
      continue;
    }
    if (!A.shape().contains(d.name) && d.type == DimType::batch) continue;
    throw ShapeError(
        fmt::format("{}: dim '{}' of the tensor {} does not fit the sparse matrix {}; a tensor that scales "
                    "a sparse matrix may have only the matrix's row, column (~) and batch dims, with their "
                    "sizes, and batch dims of its own",
                    ir::op_name(op), d.name, t.shape().str(), A.shape().str()));
  }
}

// t's values at the matrix's stored entries: a tensor of shape t's batch dims & entries.
Tensor at_entries(Op op, const SparseData& s, const Tensor& t) {
  Shape own = t.shape().non_batch();
  if (own.rank() == 0) return t;  // broadcasts over the entries by itself
  if (is_tracer(t)) {
    throw Error(
        fmt::format("{}: scaling a sparse matrix by a traced tensor {} along the matrix's dims is not "
                    "supported; a traced scalar or batch tensor works, or dense(A)",
                    ir::op_name(op), t.shape().str()));
  }
  // t is laid out batch dims first (canonical order), then `own`.
  std::vector<int64_t> row_offset = runtime::element_offsets(s.rows, own);
  std::vector<int64_t> col_offset = runtime::element_offsets(s.cols, own, dual_of(s.cols).names());
  runtime::BufferPtr values = runtime::gather_entries(
      *s.csr.pattern, *dense_buffer(t), t.shape().batch().volume(), own.volume(), row_offset, col_offset);
  return make_tensor(values, t.shape().batch() & entries_shape(s.csr.pattern->nnz()), t.data().weak);
}

// A * t, t * A or A / t for a sparse A and a dense t: the same pattern, each stored entry
// scaled by t's value there.
Tensor scale(Op op, const Tensor& A, const Tensor& t, bool matrix_first) {
  check_scale_dims(op, A, t);
  const SparseData& s = *A.data().sparse;
  Tensor v = entry_values(s), w = at_entries(op, s, t);
  return with_entry_values(s, matrix_first ? apply(op, {v, w}) : apply(op, {w, v}));
}

// Same dims with the same sizes, in any order.
bool same_dims(const Shape& a, const Shape& b) {
  return a.rank() == b.rank() && std::all_of(a.dims().begin(), a.dims().end(), [&](const Dim& d) {
           return b.contains(d.name) && b.size(d.name) == d.size;
         });
}

bool same_pattern(const CsrPattern& p, const CsrPattern& q) {
  if (&p == &q) return true;
  return p.rows == q.rows && p.cols == q.cols && p.nnz() == q.nnz() &&
         std::memcmp(p.row_ptr->data(), q.row_ptr->data(), p.row_ptr->bytes()) == 0 &&
         std::memcmp(p.col->data(), q.col->data(), p.col->bytes()) == 0;
}

// A batch dim of one matrix is a batch dim of the same size in the other, or absent there:
// the result has one matrix per batch entry.
void check_batch_dims(std::string_view what, const Tensor& A, const Tensor& B) {
  for (const auto& [P, Q] : {std::pair(&A, &B), std::pair(&B, &A)}) {
    Shape batch = P->shape().batch();
    for (const Dim& d : batch.dims()) {
      if (!Q->shape().contains(d.name)) continue;
      if (Q->shape().type(d.name) == DimType::batch && Q->shape().size(d.name) == d.size) continue;
      throw ShapeError(fmt::format("{}: batch dim '{}' (size {}) of {} does not match dim '{}' of {}", what,
                                   d.name, d.size, P->shape().str(), d.name, Q->shape().str()));
    }
  }
}

// B with A's numbering of rows and columns (B may list the same dims in another order).
Tensor numbered_like(const SparseData& a, const Tensor& B, Op op) {
  const SparseData& b = *B.data().sparse;
  if (a.rows == b.rows && a.cols == b.cols) return B;
  require_concrete_values(B, ir::op_name(op));
  runtime::CsrMatrix csr = runtime::renumber(b.csr, runtime::element_offsets(a.rows, b.rows),
                                             runtime::element_offsets(b.cols, a.cols));
  return make_sparse(SparseData{std::move(csr), b.batch, a.rows, a.cols});
}

// The stored values of s moved onto a larger pattern of `nnz` entries (zeros where s stores nothing).
Tensor spread(const SparseData& s, const std::vector<int64_t>& at, int64_t nnz) {
  runtime::BufferPtr values = runtime::spread_values(*s.csr.values, s.csr.batch, at, nnz);
  return make_tensor(values, s.batch & entries_shape(nnz));
}

// A + B or A − B of two sparse matrices with the same row and column dims: on the union of
// their patterns (entries that cancel stay stored, as zeros); batch dims broadcast.
Tensor combine(Op op, const Tensor& A, const Tensor& B) {
  const SparseData& a = *A.data().sparse;
  if (!same_dims(a.rows, B.data().sparse->rows) || !same_dims(a.cols, B.data().sparse->cols)) {
    throw ShapeError(fmt::format("{}: sparse matrices {} and {} need the same row and column dims",
                                 ir::op_name(op), A.shape().str(), B.shape().str()));
  }
  check_batch_dims(ir::op_name(op), A, B);
  Tensor renumbered = numbered_like(a, B, op);
  const SparseData& b = *renumbered.data().sparse;
  if (same_pattern(*a.csr.pattern, *b.csr.pattern)) {
    return with_entry_values(a, apply(op, {entry_values(a), entry_values(b)}));
  }
  require_concrete_values(A, ir::op_name(op));
  require_concrete_values(B, ir::op_name(op));
  runtime::PatternUnion u = runtime::pattern_union(*a.csr.pattern, *b.csr.pattern);
  int64_t nnz = u.pattern->nnz();
  return on_pattern(u.pattern, a.rows, a.cols, apply(op, {spread(a, u.a_at, nnz), spread(b, u.b_at, nnz)}));
}

// +, − and * / between a sparse operand and whatever the other one is.
Tensor add_or_sub(Op op, const std::vector<Tensor>& operands, const ir::Attrs& attrs) {
  if (operands[0].is_sparse() && operands[1].is_sparse()) return combine(op, operands[0], operands[1]);
  return on_dense(op, operands, attrs);  // a sparse plus a dense tensor is dense (PhiML does so too)
}

Tensor mul_or_div(Op op, const std::vector<Tensor>& operands) {
  const Tensor &x = operands[0], &y = operands[1];
  if (x.is_sparse() && !y.is_sparse()) return scale(op, x, y, true);
  // t / A would divide by the zeros that are not stored.
  if (op == Op::mul && y.is_sparse() && !x.is_sparse()) return scale(op, y, x, false);
  unsupported(op, first_sparse(operands));
}

bool only_batch_dims(const SparseData& s, const std::vector<std::string>& dims) {
  return std::all_of(dims.begin(), dims.end(), [&](const std::string& d) { return s.batch.contains(d); });
}

// sum/max/min over rows or columns: dense by nature. max and min count the unstored zeros.
Tensor reduce_to_dense(Op op, const Tensor& A, const std::vector<std::string>& dims) {
  require_concrete_values(A, ir::op_name(op));
  Tensor M = op == Op::reduce_sum ? A.astype(sum_type(A.dtype())) : A;
  const SparseData& s = *M.data().sparse;
  Shape out_shape = A.shape().without(dims);
  auto out = std::make_shared<Buffer>(M.dtype(), out_shape);
  std::vector<int64_t> batch_offset = runtime::element_offsets(s.batch, out_shape);
  std::vector<int64_t> row_offset = runtime::element_offsets(s.rows, out_shape);
  std::vector<int64_t> col_offset = runtime::element_offsets(s.cols, out_shape, dual_of(s.cols).names());
  if (op == Op::reduce_sum) {
    runtime::scatter_dense(s.csr, batch_offset, row_offset, col_offset, *out);
  } else {
    int64_t folded = A.shape().only(dims).volume();  // matrix elements per result element
    auto kind = op == Op::reduce_max ? runtime::Extremum::max : runtime::Extremum::min;
    runtime::fold_extremum(s.csr, batch_offset, row_offset, col_offset, kind, folded, *out);
  }
  return make_tensor(std::move(out), std::move(out_shape));
}

Tensor reduce(Op op, const Tensor& A, const ir::Attrs& attrs) {
  const SparseData& s = *A.data().sparse;
  // Over batch dims alone the result keeps the pattern (every batch entry has it).
  if (only_batch_dims(s, attrs.names)) return on_stored_values(op, A, attrs);
  return reduce_to_dense(op, A, attrs.names);
}

// A's dual dims must be exactly B's primal dims, with their sizes.
void check_contraction(const Tensor& A, const SparseData& a, const Tensor& B, const SparseData& b) {
  for (const Dim& d : a.cols.dims()) {
    if (!b.rows.contains(d.name) || b.rows.size(d.name) != d.size) {
      throw ShapeError(
          fmt::format("matmul: dual dim '~{}' (size {}) of the sparse matrix {} needs a primal dim "
                      "'{}' of that size in the sparse matrix {}",
                      d.name, d.size, A.shape().str(), d.name, B.shape().str()));
    }
  }
  for (const Dim& d : b.rows.dims()) {
    if (!a.cols.contains(d.name)) {
      throw ShapeError(
          fmt::format("matmul: primal dim '{}' of the sparse matrix {} is not contracted by a dual "
                      "dim '~{}' of the sparse matrix {}",
                      d.name, B.shape().str(), d.name, A.shape().str()));
    }
  }
}

}  // namespace

Tensor sparse_product(const Tensor& A, const Tensor& B) {
  require_concrete_values(A, "matmul of two sparse matrices");
  require_concrete_values(B, "matmul of two sparse matrices");
  const SparseData& a = *A.data().sparse;
  const SparseData& b = *B.data().sparse;
  check_contraction(A, a, B, b);
  check_batch_dims("matmul", A, B);
  Shape batch = a.batch & b.batch;
  DType dtype = promote(A.dtype(), B.dtype());
  if (dtype == DType::boolean) dtype = DType::i64;  // as matmul with a dense vector
  runtime::CsrMatrix ac = runtime::with_values_dtype(a.csr, dtype);
  runtime::CsrMatrix bc = runtime::with_values_dtype(b.csr, dtype);
  // B's rows in the order of A's columns.
  if (!(a.cols == b.rows)) bc = runtime::permute_rows(bc, runtime::element_offsets(a.cols, b.rows));
  runtime::CsrMatrix c = runtime::multiply(ac, bc, runtime::element_offsets(batch, a.batch),
                                           runtime::element_offsets(batch, b.batch));
  return make_sparse(SparseData{std::move(c), batch, a.rows, b.cols});
}

bool any_sparse(const std::vector<Tensor>& operands) {
  return std::any_of(operands.begin(), operands.end(),
                     [](const Tensor& t) { return t.defined() && t.is_sparse(); });
}

void require_concrete_values(const Tensor& A, std::string_view what) {
  if (A.data().sparse->traced_values.defined()) {
    throw Error(fmt::format(
        "{}: the values of this sparse matrix {} are computed in a traced function; only matmul with a dense "
        "vector, solve_linear, scaling by scalars or batch tensors, -A and the other ops that keep 0 at 0, "
        "astype, + and - with a matrix of the same pattern, and reductions over batch dims take such a "
        "matrix",
        what, A.shape().str()));
  }
}

Tensor apply_sparse(Op op, const std::vector<Tensor>& operands, const ir::Attrs& attrs) {
  switch (op) {
    case Op::neg:
    case Op::abs:
    case Op::sign:
    case Op::sqrt:
    case Op::sin:
    case Op::tan:
    case Op::tanh:
    case Op::cast: return on_stored_values(op, operands[0], attrs);
    case Op::add:
    case Op::sub: return add_or_sub(op, operands, attrs);
    case Op::mul:
    case Op::div: return mul_or_div(op, operands);
    case Op::lt:
    case Op::le:
    case Op::gt:
    case Op::ge:
    case Op::eq:
    case Op::ne: return on_dense(op, operands, attrs);
    case Op::reduce_sum:
    case Op::reduce_max:
    case Op::reduce_min: return reduce(op, operands[0], attrs);
    // f(0) ≠ 0, or not elementwise: no sparse meaning here.
    case Op::input:
    case Op::constant:
    case Op::exp:
    case Op::log:
    case Op::cos:
    case Op::isfinite:
    case Op::pow:
    case Op::minimum:
    case Op::maximum:
    case Op::where:
    case Op::shift:
    case Op::pad:
    case Op::expand:
    case Op::slice:
    case Op::concat:
    case Op::stack:
    case Op::rename:
    case Op::grid_sample:
    case Op::grid_sample_transpose:
    case Op::matmul_sparse:
    case Op::solve_linear: break;
  }
  unsupported(op, first_sparse(operands));
}

}  // namespace phijit::detail
