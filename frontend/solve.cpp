#include "frontend/solve.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "frontend/math.h"
#include "frontend/matrices.h"
#include "frontend/print.h"
#include "frontend/solve_result.h"
#include "frontend/tensor_data.h"
#include "runtime/layout.h"
#include "runtime/linear_solve.h"
#include "runtime/log.h"
#include "runtime/odometer.h"
#include "runtime/petsc_solve.h"
#include "runtime/sparse_solvers.h"

namespace phijit {

namespace detail {

using runtime::BufferPtr;

// `t` converted to dtype and laid out in the dim order `order` (missing dims broadcast), as a
// buffer of its own (the solvers write into it).
std::shared_ptr<Buffer> owned_layout(const Tensor& t, DType dtype, const std::vector<Dim>& order) {
  BufferPtr b = values_in_order(t.astype(dtype), order);
  auto out = std::make_shared<Buffer>(dtype, b->count(), Buffer::Uninitialized{});
  std::memcpy(out->data(), b->data(), b->bytes());
  return out;
}

// A buffer laid out in `order` as a tensor, whose Shape may order the same dims otherwise (a
// Shape groups dims by type: a channel dim the solve treats as a batch dim comes after x's).
Tensor tensor_in_order(BufferPtr b, const std::vector<Dim>& order) {
  Shape shape(order);
  return make_tensor(runtime::relayout(std::move(b), order, shape.dims()), shape);
}

namespace {

// A matrix-free operator: f applied to the whole batch, its offset subtracted.
class FunctionOperator final : public runtime::LinearOperator {
 public:
  FunctionOperator(const std::function<Tensor(const Tensor&)>& f, std::vector<Dim> x_order,
                   std::vector<Dim> y_order, BufferPtr offset)
      : f_(f),
        x_order_(std::move(x_order)),
        y_order_(std::move(y_order)),
        offset_(std::move(offset)),
        n_(volume_of(x_order_)),
        m_(volume_of(y_order_)) {}
  int64_t rows() const override { return rows_; }
  int64_t cols() const override { return cols_; }
  void set_batch(int64_t batch) {
    rows_ = m_ / std::max<int64_t>(batch, 1);
    cols_ = n_ / std::max<int64_t>(batch, 1);
  }
  void apply(const Buffer& x, Buffer& y) const override {
    // A view of x (no copy): the aliasing shared_ptr owns nothing.
    BufferPtr view(BufferPtr(), &x);
    Tensor out = f_(tensor_in_order(view, x_order_));
    BufferPtr r = values_in_order(out.astype(y.dtype()), y_order_);
    if (offset_ == nullptr) {
      std::memcpy(y.data(), r->data(), y.bytes());
      return;
    }
    if (y.dtype() == DType::f32) {
      subtract<float>(*r, y);
    } else {
      subtract<double>(*r, y);
    }
  }

 private:
  template <class T>
  void subtract(const Buffer& r, Buffer& y) const {
    const T* a = r.as<T>();
    const T* o = offset_->as<T>();
    T* out = y.as<T>();
    for (int64_t i = 0; i < y.count(); ++i) out[i] = a[i] - o[i];
  }
  const std::function<Tensor(const Tensor&)>& f_;
  std::vector<Dim> x_order_, y_order_;
  BufferPtr offset_;
  int64_t n_ = 1, m_ = 1, rows_ = 0, cols_ = 0;
};

bool any_nonzero(const Tensor& t) {
  std::vector<double> v = t.to_vector();
  return std::any_of(v.begin(), v.end(), [](double e) { return e != 0; });
}

// The same dims, or a ShapeError naming both shapes.
void check_same_dims(const Shape& a, const Shape& b, const std::string& what) {
  if (!same_dims(a, b)) throw ShapeError(fmt::format("solve_linear: {}: {} vs {}", what, a.str(), b.str()));
}

// The matrix's dims: rows (primal non-batch), columns (the primal names of its dual dims).
struct MatrixDims {
  Shape batch, rows, cols;
};
MatrixDims matrix_dims(const Tensor& A, const Tensor& x0) {
  if (A.is_sparse()) {
    const SparseData& s = *A.data().sparse;
    return {s.batch, s.rows, s.cols};
  }
  std::vector<Dim> cols;
  Shape duals = A.shape().dual();
  for (const Dim& d : duals.dims()) {
    std::string name = d.name.substr(1);
    DimType type = x0.shape().contains(name) ? x0.shape().type(name) : DimType::channel;
    cols.push_back(Dim{name, d.size, type, {}});
  }
  if (cols.empty()) {
    throw ShapeError(
        fmt::format("solve_linear: the matrix {} has no dual (column) dims ~n", A.shape().str()));
  }
  return {A.shape().batch(), A.shape().non_batch().without(A.shape().dual().names()), Shape(cols)};
}

bool symmetric(const SparseData* cached, const runtime::CsrMatrix& csr) {
  if (cached == nullptr) return runtime::is_symmetric(csr);
  SolverCache& cache = *cached->cache;
  std::lock_guard lock(cache.mutex);
  if (!cache.symmetric) cache.symmetric = runtime::is_symmetric(csr);
  return *cache.symmetric;
}

std::shared_ptr<const runtime::Preconditioner> preconditioner(const SparseData* cached,
                                                              const runtime::CsrMatrix& csr,
                                                              runtime::PreconditionerKind kind,
                                                              const std::vector<int64_t>& a_batch) {
  auto build = [&] {
    return kind == runtime::PreconditionerKind::jacobi ? runtime::jacobi(csr, a_batch)
                                                       : runtime::ilu0(csr, a_batch);
  };
  if (cached == nullptr) return build();
  SolverCache& cache = *cached->cache;
  std::string key = fmt::format("{}:{}:{}", runtime::preconditioner_name(kind),
                                dtype_name(csr.values->dtype()), fmt::join(a_batch, ","));
  if (std::shared_ptr<SolverCache> original = cache.transpose_of.lock()) {
    std::lock_guard lock(original->mutex);
    auto it = original->preconditioners.find(key);
    if (it != original->preconditioners.end()) return runtime::transposed(it->second);
  }
  std::lock_guard lock(cache.mutex);
  auto& slot = cache.preconditioners[key];
  if (!slot) slot = build();
  return slot;
}

// The factorizations of a sparse matrix, kept with it; for a transpose, its original's
// (solving transposed) when it has them. Null: made for one solve.
std::pair<std::shared_ptr<const runtime::DirectSolver>, bool> direct_solver(const SparseData* cached,
                                                                            const runtime::CsrMatrix& csr) {
  if (cached == nullptr) return {nullptr, false};
  SolverCache& cache = *cached->cache;
  std::string key(dtype_name(csr.values->dtype()));
  if (std::shared_ptr<SolverCache> original = cache.transpose_of.lock()) {
    std::lock_guard lock(original->mutex);
    auto it = original->direct.find(key);
    if (it != original->direct.end()) return {it->second, true};
  }
  std::lock_guard lock(cache.mutex);
  auto& slot = cache.direct[key];
  if (!slot) slot = std::make_shared<runtime::DirectSolver>(csr);
  return {slot, false};
}

// The matrix that the solve's matrix is the transpose of, while it is alive (nullopt otherwise).
std::optional<runtime::CsrMatrix> original_of_transpose(const SparseData* cached) {
  if (cached == nullptr) return std::nullopt;
  SolverCache& cache = *cached->cache;
  std::shared_ptr<const runtime::CsrPattern> pattern = cache.original_pattern.lock();
  std::shared_ptr<const Buffer> values = cache.original_values.lock();
  if (!pattern || !values) return std::nullopt;
  return runtime::CsrMatrix{std::move(pattern), std::move(values), cached->csr.batch};
}

// For each row in `order`'s layout, the row of the `rows` layout it is (the same dims).
std::vector<int64_t> row_order(const Shape& rows, const Shape& order) {
  int64_t n = rows.volume();
  auto iota = std::make_shared<Buffer>(DType::i64, n, Buffer::Uninitialized{});
  for (int64_t i = 0; i < n; ++i) iota->as<int64_t>()[i] = i;
  BufferPtr from = runtime::relayout(iota, rows.dims(), order.dims());
  return {from->as<int64_t>(), from->as<int64_t>() + n};
}

}  // namespace

bool extracts_own_rows(const Solve& solve) {
  return runtime::is_petsc(runtime::parse_solve_method(solve.method)) && runtime::petsc_processes() > 1;
}

bool is_symmetric(const Tensor& A) {
  const SparseData& s = *A.data().sparse;
  return symmetric(&s, s.csr);
}

bool same_dims(const Shape& a, const Shape& b) {
  bool same = a.rank() == b.rank();
  for (const Dim& d : a.dims()) same = same && b.contains(d.name) && b.size(d.name) == d.size;
  return same;
}

Shape y_dims_besides(const Tensor& y, const Shape& rows) {
  return y.shape().non_batch().without(rows.names());
}
Shape matrix_rows(const Tensor& A, const Tensor& x0) { return matrix_dims(A, x0).rows; }

bool needs_matrix(std::string_view kind, const Solve& solve) {
  runtime::SolveMethod method = runtime::parse_solve_method(solve.method);
  return runtime::needs_matrix(method, runtime::parse_preconditioner(solve.preconditioner)) ||
         (runtime::is_petsc(method) && kind != "function");
}

const Tensor& require_x0(const Solve& solve, std::string_view what) {
  if (!solve.x0 || !solve.x0->defined()) {
    throw Error(
        fmt::format("{} needs an initial guess: set Solve::x0 (it also gives the solution's dims), e.g. "
                    "Solve{{.x0 = zeros(shape)}}",
                    what));
  }
  return *solve.x0;
}

namespace {

// Settings a solve cannot run with; `where` is how the user spells them ("Solve::" or
// "Solve::gradient_solve->").
void check_settings(const Solve& s, std::string_view what, const std::string& where) {
  if (s.max_iterations < 0) {
    throw Error(fmt::format("{}: {}max_iterations must be >= 0, got {}", what, where, s.max_iterations));
  }
  for (auto [field, value] : {std::pair{"rel_tol", s.rel_tol}, std::pair{"abs_tol", s.abs_tol}}) {
    if (!(value >= 0)) {  // NaN too
      throw Error(fmt::format("{}: {}{} must be a number >= 0, got {}", what, where, field, value));
    }
  }
}

}  // namespace

void validate_settings(const Solve& solve, std::string_view what) {
  check_settings(solve, what, "Solve::");
  // One level only: an adjoint solve's own gradient_solve is never used.
  if (solve.gradient_solve) check_settings(*solve.gradient_solve, what, "Solve::gradient_solve->");
}

namespace {

// amg exists in PETSc only, and a direct solve takes no preconditioner.
void check_method_and_preconditioner(runtime::SolveMethod method, runtime::PreconditionerKind pre) {
  if (pre == runtime::PreconditionerKind::amg && !runtime::is_petsc(method)) {
    throw Error(fmt::format(
        "solve_linear: the preconditioner 'amg' (algebraic multigrid) runs in PETSc; use method petsc-CG, "
        "petsc-GMRES or petsc-biCG-stab instead of '{}'",
        runtime::solve_method_name(method)));
  }
  if (method == runtime::SolveMethod::petsc_direct && pre != runtime::PreconditionerKind::none) {
    throw Error(
        fmt::format("solve_linear: petsc-direct factorizes the matrix and takes no preconditioner, got '{}'",
                    runtime::preconditioner_name(pre)));
  }
}

// The solve on flat buffers: the vector spaces, dtype, matrix and method that solve_linear's
// arguments make.
struct Layout {
  Shape batch, x_cols, y_rows;  // x and y: batch × x_cols and batch × y_rows, in these dim orders
  DType dtype = DType::f64;
  std::optional<MatrixDims> matrix;
  std::optional<runtime::CsrMatrix> csr;  // the matrix in the solve's dtype and y_rows' row order
  std::vector<int64_t> a_batch;           // the matrix entry of each batch entry
  const SparseData* cached = nullptr;     // where symmetry and preconditioners are kept
  int64_t first_row = -1;                 // csr holds rows [first_row, …) only (PETSc under MPI)
  bool csr_transposed = false;            // the system is csr's transpose (a block's adjoint)
  bool matrix_free = false;
  runtime::SolveMethod method = runtime::SolveMethod::automatic;
};

// The matrix as CSR in the solve's dtype. When its rows are x's dims in another order, they are
// permuted into x's order: the methods pair y's element i with x's element i.
void lay_out_matrix(const Tensor& A, Layout& l) {
  const MatrixDims& md = *l.matrix;
  l.a_batch = runtime::element_offsets(l.batch, md.batch);
  bool permute = same_dims(md.rows, md.cols) && md.rows.names() != md.cols.names();
  if (permute) l.y_rows = md.cols;
  if (!A.is_sparse()) {
    std::vector<Dim> order = runtime::concat_dims(md.batch, l.y_rows);
    Shape duals = dual_of(md.cols);
    order.insert(order.end(), duals.dims().begin(), duals.dims().end());
    BufferPtr values = values_in_order(A.astype(l.dtype), order);
    l.csr = runtime::dense_as_csr(values, l.y_rows.volume(), md.cols.volume(), md.batch.volume());
    return;
  }
  l.csr = runtime::with_values_dtype(A.data().sparse->csr, l.dtype);  // once for this solve
  if (permute) {
    l.csr = runtime::permute_rows(*l.csr, row_order(md.rows, md.cols));
  } else {
    l.cached = A.data().sparse.get();
  }
}

// Such dims of y (and of x0, when it has them) become batch dims of the solve.
void treat_as_batch(const Shape& dims, Layout& l) {
  l.y_rows = l.y_rows.without(dims.names());
  l.x_cols = l.x_cols.without(dims.names());
  l.batch = l.batch & dims;
}

// The matrix's dims and dtype, and how error messages show it: of the matrix, or of the
// block of rows this process extracted.
struct MatrixInfo {
  MatrixDims dims;
  DType dtype;
  std::string shape;
};
MatrixInfo matrix_info(const LinearSystem& sys, const Tensor& x0) {
  if (sys.matrix) return {matrix_dims(*sys.matrix, x0), sys.matrix->dtype(), sys.matrix->shape().str()};
  const RowBlock& b = *sys.own_rows;
  if (sys.own_rows_transposed)
    return {{b.batch, b.cols, b.rows}, b.csr.values->dtype(), (b.batch & b.cols & dual_of(b.rows)).str()};
  return {{b.batch, b.rows, b.cols}, b.csr.values->dtype(), (b.batch & b.rows & dual_of(b.cols)).str()};
}

// This process's block of rows as the solve's CSR. Rows that would be permuted into x's
// order take the whole matrix instead (a block holds rows in the matrix's own order).
bool lay_out_own_rows(LinearSystem& sys, Layout& l) {
  const RowBlock& b = *sys.own_rows;
  if (same_dims(b.rows, b.cols) && b.rows.names() != b.cols.names()) return false;
  l.a_batch = runtime::element_offsets(l.batch, b.batch);
  l.csr = runtime::with_values_dtype(b.csr, l.dtype);
  l.first_row = b.first;
  l.csr_transposed = sys.own_rows_transposed;
  return true;
}

Layout lay_out(LinearSystem& sys, const Tensor& y, const Tensor& x0, const Solve& solve) {
  Layout l;
  l.method = runtime::parse_solve_method(solve.method);
  if (sys.own_rows && !sys.matrix && !runtime::is_petsc(l.method))
    throw InternalError("solve_linear: a block of rows for a solve that is not PETSc's");
  bool matrix_needed = needs_matrix(sys.kind, solve) || !sys.apply;
  if (matrix_needed && !sys.matrix && !sys.own_rows && sys.build_matrix) {
    auto [A, b] = sys.build_matrix();
    sys.matrix = A;
    if (sys.offset_unknown && any_nonzero(b)) sys.offset = b;
    sys.offset_unknown = false;
  }
  // PETSc applies f itself only where it takes no matrix (a plain callable's Krylov solve).
  l.matrix_free = sys.apply && l.method != runtime::SolveMethod::direct &&
                  (!runtime::is_petsc(l.method) || !matrix_needed);

  // The vector spaces: x's non-batch dims in the matrix's column order, y's in its row order.
  l.x_cols = x0.shape().non_batch();
  l.y_rows = y.shape().non_batch();
  l.batch = y.shape().batch() & x0.shape().batch();
  l.dtype = promote(y.dtype(), x0.dtype());
  if (sys.matrix || sys.own_rows) {
    MatrixInfo info = matrix_info(sys, x0);
    const MatrixDims& md = *(l.matrix = info.dims);
    treat_as_batch(y_dims_besides(y, md.rows), l);
    check_same_dims(md.cols, l.x_cols,
                    fmt::format("the matrix {} has columns {} but x0 has", info.shape, md.cols.str()));
    check_same_dims(
        md.rows, l.y_rows,
        fmt::format("the matrix {} has rows {} but y {} has", info.shape, md.rows.str(), y.shape().str()));
    l.x_cols = md.cols;
    l.y_rows = md.rows;
    l.batch = l.batch & md.batch;
    l.dtype = promote(l.dtype, info.dtype);
  }
  l.dtype = float_type(l.dtype);
  if (l.matrix_free) {
    Tensor out = sys.apply(x0.astype(l.dtype));
    treat_as_batch(y_dims_besides(y, out.shape().non_batch()), l);
    check_same_dims(out.shape().non_batch(), l.y_rows,
                    fmt::format("f returned other dims than y {} has: f(x0)", y.shape().str()));
    l.batch = l.batch & out.shape().batch();
    l.dtype = float_type(promote(l.dtype, out.dtype()));
    if (sys.offset_unknown) {
      Tensor f0 = sys.apply(zeros(x0.shape(), l.dtype));
      if (any_nonzero(f0)) sys.offset = f0;
    }
  }
  // A square system on the same dims: y in x's dim order, so that the methods' vectors (r, p = r)
  // and x line up element by element. (A matrix fixes its own row order.)
  if (!l.matrix && same_dims(l.y_rows, l.x_cols)) l.y_rows = l.x_cols;
  if (l.x_cols.volume() != l.y_rows.volume()) {
    throw Error(fmt::format("solve_linear needs a square system: x has {} values {} but y has {} values {}",
                            l.x_cols.volume(), l.x_cols.str(), l.y_rows.volume(), l.y_rows.str()));
  }
  if (!sys.matrix && sys.own_rows && !lay_out_own_rows(sys, l)) sys.matrix = sys.build_matrix().first;
  if (sys.matrix) lay_out_matrix(*sys.matrix, l);
  if (l.method == runtime::SolveMethod::automatic) {
    if (sys.matrix && !sys.matrix->is_sparse()) {
      l.method = runtime::SolveMethod::direct;
    } else if (sys.matrix) {
      l.method = symmetric(l.cached, *l.csr) ? runtime::SolveMethod::cg : runtime::SolveMethod::bicgstab;
    } else {
      l.method = runtime::SolveMethod::bicgstab;
    }
  }
  return l;
}

// The runtime's result as SolveInfo: tensors with the solve's dims, and the message.
SolveInfo solve_info(const Layout& l, const Solve& solve, runtime::KrylovResult& r, BufferPtr x) {
  std::string method(runtime::solve_method_name(l.method));
  SolveInfo info;
  info.solve = solve;
  info.method = method;
  std::vector<Dim> x_order = runtime::concat_dims(l.batch, l.x_cols);
  info.x = tensor_in_order(x, x_order);
  info.residual = tensor_in_order(r.residual, runtime::concat_dims(l.batch, l.y_rows));
  info.iterations = integers(r.iterations, l.batch);
  info.function_evaluations = integers(r.function_evaluations, l.batch);
  info.converged = booleans(r.converged, l.batch);
  info.diverged = booleans(r.diverged, l.batch);
  if (!r.trajectory.empty()) info.trajectory = trajectory_tensor(r.trajectory, x->dtype(), x_order);
  bool diverged = std::find(r.diverged.begin(), r.diverged.end(), true) != r.diverged.end();
  bool converged = std::find(r.converged.begin(), r.converged.end(), false) == r.converged.end();
  double max_res = 0;
  for (double v : r.residual_norm) max_res = std::isnan(v) ? v : std::max(max_res, v);
  int64_t max_it = r.iterations.empty() ? 0 : *std::max_element(r.iterations.begin(), r.iterations.end());
  if (diverged && l.method == runtime::SolveMethod::direct) {
    info.message = fmt::format("{} diverged: the matrix is singular or y holds non-finite values",
                               describe(solve, method));
  } else if (diverged) {
    info.message = fmt::format(
        "{} diverged: non-finite values or a breakdown after {} iterations (max residual {:.3g}); x holds "
        "the last finite estimate",
        describe(solve, method), max_it, max_res);
  } else if (!converged) {
    info.message = fmt::format("{} did not converge within {} iterations. Max residual: {:.3g}",
                               describe(solve, method), solve.max_iterations, max_res);
  } else {
    info.message = fmt::format("{} converged in {} iterations (max residual {:.3g})", describe(solve, method),
                               max_it, max_res);
  }
  return info;
}

}  // namespace

namespace {

// Per batch entry of `b` (batch × n values): max|b|, or 1 where that is 0 or not finite.
std::vector<double> entry_scales(const Buffer& b, int64_t batch) {
  int64_t n = batch > 0 ? b.count() / batch : 0;
  std::vector<double> out;
  for (int64_t e = 0; e < batch; ++e) {
    double m = 0;
    for (int64_t i = e * n; i < (e + 1) * n; ++i) m = std::max(m, std::abs(b.get_real(i)));
    out.push_back(m > 0 && std::isfinite(m) ? m : 1.0);
  }
  return out;
}
// Multiplies (or with `divide`, divides) each batch entry of b by its scale.
void scale_entries(Buffer& b, const std::vector<double>& scales, bool divide) {
  auto batch = static_cast<int64_t>(scales.size());
  int64_t n = batch > 0 ? b.count() / batch : 0;
  for (int64_t e = 0; e < batch; ++e) {
    double s = divide ? 1 / scales[static_cast<size_t>(e)] : scales[static_cast<size_t>(e)];
    for (int64_t i = e * n; i < (e + 1) * n; ++i) b.set_real(i, b.get_real(i) * s);
  }
}
void unscale_result(runtime::KrylovResult& r, const std::vector<double>& scales) {
  auto residual = std::make_shared<Buffer>(r.residual->dtype(), r.residual->count(), Buffer::Uninitialized{});
  std::memcpy(residual->data(), r.residual->data(), r.residual->bytes());
  scale_entries(*residual, scales, false);
  r.residual = residual;
  for (size_t b = 0; b < scales.size(); ++b) r.residual_norm[b] *= scales[b];
  for (BufferPtr& t : r.trajectory) {
    auto scaled = std::make_shared<Buffer>(t->dtype(), t->count(), Buffer::Uninitialized{});
    std::memcpy(scaled->data(), t->data(), t->bytes());
    scale_entries(*scaled, scales, false);
    t = scaled;
  }
}

}  // namespace

Tensor solve_linear_system(LinearSystem& sys, const Tensor& y, const Solve& solve, bool normalize_rhs) {
  auto t0 = std::chrono::steady_clock::now();
  const Tensor& x0 = require_x0(solve);
  validate_settings(solve);
  runtime::PreconditionerKind pre_kind = runtime::parse_preconditioner(solve.preconditioner);
  check_method_and_preconditioner(runtime::parse_solve_method(solve.method), pre_kind);
  if (y.is_sparse() || x0.is_sparse()) throw Error("solve_linear: y and x0 must be dense tensors");
  Layout l = lay_out(sys, y, x0, solve);

  std::vector<Dim> x_order = runtime::concat_dims(l.batch, l.x_cols),
                   y_order = runtime::concat_dims(l.batch, l.y_rows);
  int64_t batch = l.batch.volume();
  std::shared_ptr<Buffer> yb = owned_layout(sys.offset ? y - *sys.offset : y, l.dtype, y_order);
  std::shared_ptr<Buffer> xb = owned_layout(x0, l.dtype, x_order);

  runtime::LinearSolveRequest request;
  request.method = l.method;
  request.max_iterations = solve.max_iterations;
  std::vector<double> scales;
  if (normalize_rhs) {
    scales = entry_scales(*yb, batch);
    scale_entries(*yb, scales, true);
    scale_entries(*xb, scales, true);
  }
  std::shared_ptr<Buffer> given_y = owned_layout(y, DType::f64, y_order);  // tolerances are from it
  if (normalize_rhs) scale_entries(*given_y, scales, true);
  request.tolerance = runtime::residual_tolerances(*given_y, batch, solve.rel_tol, solve.abs_tol);
  request.record_trajectory = trajectories_requested();
  std::unique_ptr<runtime::LinearOperator> op;
  if (l.matrix_free) {
    BufferPtr offset;  // subtracted inside the operator: f(x) − f(0) is the linear part
    if (sys.offset) offset = owned_layout(*sys.offset, l.dtype, y_order);
    auto fop = std::make_unique<FunctionOperator>(sys.apply, x_order, y_order, offset);
    fop->set_batch(batch);
    op = std::move(fop);
  } else if (l.csr) {
    op = runtime::csr_operator(*l.csr, l.a_batch);
  }
  request.op = op.get();
  if (l.csr) {
    request.matrix = &*l.csr;
    request.dense_matrix = sys.matrix && !sys.matrix->is_sparse();
    request.first_row = l.first_row;
    request.matrix_transposed = l.csr_transposed;
    request.matrix_of_entry = l.a_batch;
  }
  std::optional<runtime::CsrMatrix> original =
      runtime::is_petsc(l.method) ? original_of_transpose(l.cached) : std::nullopt;
  if (original) request.transpose_of = &*original;
  std::shared_ptr<const runtime::DirectSolver> direct;
  if (l.method == runtime::SolveMethod::direct) {
    std::tie(direct, request.transposed) = direct_solver(l.cached, *l.csr);
    request.direct = direct.get();
  }
  std::shared_ptr<const runtime::Preconditioner> pre;
  // PETSc builds its own preconditioners from the matrix.
  if (pre_kind != runtime::PreconditionerKind::none && l.method != runtime::SolveMethod::direct &&
      !runtime::is_petsc(l.method)) {
    pre = preconditioner(l.cached, *l.csr, pre_kind, l.a_batch);
  }
  request.preconditioner = pre.get();
  request.preconditioner_kind = pre_kind;
  runtime::KrylovResult r = runtime::solve_linear_system(request, *yb, *xb, batch);
  if (normalize_rhs) {
    scale_entries(*xb, scales, false);
    unscale_result(r, scales);
  }

  SolveInfo info = solve_info(l, solve, r, xb);
  runtime::logger().debug("solve_linear ({}{}, x {}, batch {}): {}; {:.3f} ms", sys.kind,
                          l.matrix_free ? ", matrix-free" : "", l.x_cols.str(), l.batch.str(), info.message,
                          runtime::ms_since(t0));
  return finish_solve(info);
}

}  // namespace detail

}  // namespace phijit
