#include "frontend/solve.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "frontend/math.h"
#include "frontend/matrices.h"
#include "frontend/print.h"
#include "frontend/tensor_data.h"
#include "runtime/krylov.h"
#include "runtime/layout.h"
#include "runtime/log.h"
#include "runtime/odometer.h"
#include "runtime/sparse_solvers.h"

namespace phijit {

namespace {
thread_local std::vector<SolveTape*> active_tapes;
}  // namespace

SolveTape::SolveTape(bool record_trajectories) : record_trajectories_(record_trajectories) {
  active_tapes.push_back(this);
}
SolveTape::~SolveTape() { std::erase(active_tapes, this); }
const SolveInfo& SolveTape::operator[](size_t i) const {
  if (i >= infos_.size()) {
    throw Error(
        fmt::format("SolveTape: index {} is out of range, the tape holds {} solves", i, infos_.size()));
  }
  return infos_[i];
}

namespace detail {

namespace {

using runtime::BufferPtr;

const std::vector<std::string> kMethods = {"auto", "CG", "CG-adaptive", "biCG-stab", "GMRES", "direct"};
const std::vector<std::string> kPreconditioners = {"", "jacobi", "ilu"};

std::vector<Dim> concat_dims(const Shape& a, const Shape& b) {
  std::vector<Dim> out = a.dims();
  out.insert(out.end(), b.dims().begin(), b.dims().end());
  return out;
}

// For each entry of `batch`, the flat index of the matching entry of `sub` (its dims ⊆ batch's).
std::vector<int64_t> batch_map(const Shape& batch, const Shape& sub) {
  std::vector<int64_t> all = runtime::strides_of(sub), st;
  for (const Dim& d : batch.dims()) {
    int i = sub.index_of(d.name);
    st.push_back(i < 0 ? 0 : all[static_cast<size_t>(i)]);
  }
  std::vector<int64_t> out(static_cast<size_t>(batch.volume()));
  runtime::Odometer it(batch, {st});
  for (int64_t& o : out) {
    o = it.offset(0);
    it.next();
  }
  return out;
}

// `t` converted to dtype and laid out in the dim order `order` (missing dims broadcast), as a
// buffer of its own (the solvers write into it).
std::shared_ptr<Buffer> owned_layout(const Tensor& t, DType dtype, const std::vector<Dim>& order) {
  BufferPtr b = runtime::relayout(t.astype(dtype).data().buffer, t.shape().dims(), order);
  auto out = std::make_shared<Buffer>(dtype, b->count(), Buffer::Uninitialized{});
  std::memcpy(out->data(), b->data(), b->bytes());
  return out;
}

// A matrix-free operator: f applied to the whole batch, its offset subtracted.
class FunctionOperator final : public runtime::LinearOperator {
 public:
  FunctionOperator(const std::function<Tensor(const Tensor&)>& f, std::vector<Dim> x_order,
                   std::vector<Dim> y_order, BufferPtr offset)
      : f_(f), x_order_(std::move(x_order)), y_order_(std::move(y_order)), offset_(std::move(offset)) {
    for (size_t k = 0; k < x_order_.size(); ++k) n_ *= x_order_[k].size;
    for (size_t k = 0; k < y_order_.size(); ++k) m_ *= y_order_[k].size;
  }
  int64_t rows() const override { return rows_; }
  int64_t cols() const override { return cols_; }
  void set_batch(int64_t batch) {
    rows_ = m_ / std::max<int64_t>(batch, 1);
    cols_ = n_ / std::max<int64_t>(batch, 1);
  }
  void apply(const Buffer& x, Buffer& y) const override {
    // A view of x (no copy): the aliasing shared_ptr owns nothing.
    BufferPtr view(BufferPtr(), &x);
    Tensor out = f_(make_tensor(view, Shape(x_order_)));
    BufferPtr r = runtime::relayout(out.astype(y.dtype()).data().buffer, out.shape().dims(), y_order_);
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

// A dense matrix as CSR with every entry stored, laid out [batch][rows][cols].
runtime::CsrMatrix dense_as_csr(const Tensor& A, const Shape& batch, const Shape& rows, const Shape& cols,
                                DType dtype) {
  std::vector<Dim> order = concat_dims(batch, rows);
  Shape duals = dual_of(cols);
  order.insert(order.end(), duals.dims().begin(), duals.dims().end());
  BufferPtr values = runtime::relayout(A.astype(dtype).data().buffer, A.shape().dims(), order);
  int64_t n_rows = rows.volume(), n_cols = cols.volume();
  auto row_ptr = std::make_shared<Buffer>(DType::i64, n_rows + 1);
  auto col = std::make_shared<Buffer>(DType::i32, n_rows * n_cols);
  for (int64_t r = 0; r <= n_rows; ++r) row_ptr->as<int64_t>()[r] = r * n_cols;
  for (int64_t k = 0; k < n_rows * n_cols; ++k) col->as<int32_t>()[k] = static_cast<int32_t>(k % n_cols);
  auto pattern = std::make_shared<runtime::CsrPattern>(runtime::CsrPattern{n_rows, n_cols, row_ptr, col});
  return runtime::CsrMatrix{pattern, values, batch.volume()};
}

bool any_nonzero(const Tensor& t) {
  std::vector<double> v = t.to_vector();
  return std::any_of(v.begin(), v.end(), [](double e) { return e != 0; });
}

std::string list(const std::vector<std::string>& names) {
  std::vector<std::string> quoted;
  for (const std::string& n : names) quoted.push_back("'" + n + "'");
  return fmt::format("{}", fmt::join(quoted, ", "));
}

void check_name(const std::string& what, const std::string& value, const std::vector<std::string>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
    throw Error(fmt::format("solve_linear: unknown {} '{}'; expected one of {}", what, value, list(allowed)));
  }
}

// The same dims (names and sizes, any order), or a ShapeError naming both shapes.
bool same_dims(const Shape& a, const Shape& b) {
  bool same = a.rank() == b.rank();
  for (const Dim& d : a.dims()) same = same && b.contains(d.name) && b.size(d.name) == d.size;
  return same;
}
void check_same_dims(const Shape& a, const Shape& b, const std::string& what) {
  if (!same_dims(a, b)) throw ShapeError(fmt::format("solve_linear: {}: {} vs {}", what, a.str(), b.str()));
}

Tensor integers(const std::vector<int64_t>& v, const Shape& batch) {
  std::vector<double> d(v.begin(), v.end());
  return tensor(d, batch, DType::i64);
}
Tensor booleans(const std::vector<bool>& v, const Shape& batch) {
  std::vector<double> d;
  for (bool b : v) d.push_back(b ? 1 : 0);
  return tensor(d, batch, DType::boolean);
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
                                                              const std::string& name,
                                                              const std::vector<int64_t>& a_batch) {
  auto build = [&] { return name == "jacobi" ? runtime::jacobi(csr, a_batch) : runtime::ilu0(csr, a_batch); };
  if (cached == nullptr) return build();
  SolverCache& cache = *cached->cache;
  std::string key = fmt::format("{}:{}:{}", name, dtype_name(csr.values->dtype()), fmt::join(a_batch, ","));
  std::lock_guard lock(cache.mutex);
  auto& slot = cache.preconditioners[key];
  if (!slot) slot = build();
  return slot;
}

// A with its rows (laid out in `rows` order) reordered into the order of `order` (same dims).
runtime::CsrMatrix permute_rows(const runtime::CsrMatrix& A, const Shape& rows, const Shape& order) {
  int64_t n = rows.volume();
  auto iota = std::make_shared<Buffer>(DType::i64, n, Buffer::Uninitialized{});
  for (int64_t i = 0; i < n; ++i) iota->as<int64_t>()[i] = i;
  BufferPtr from = runtime::relayout(iota, rows.dims(), order.dims());  // new row → old row
  const int64_t* src = from->as<int64_t>();
  const int64_t* rp = A.pattern->row_ptr->as<int64_t>();
  auto row_ptr = std::make_shared<Buffer>(DType::i64, n + 1);
  auto col = std::make_shared<Buffer>(DType::i32, A.pattern->nnz(), Buffer::Uninitialized{});
  auto values = std::make_shared<Buffer>(A.values->dtype(), A.values->count(), Buffer::Uninitialized{});
  int64_t* nrp = row_ptr->as<int64_t>();
  auto es = static_cast<int64_t>(dtype_size(A.values->dtype()));
  int64_t nnz = A.pattern->nnz();
  for (int64_t r = 0; r < n; ++r) {
    int64_t b = rp[src[r]], len = rp[src[r] + 1] - b;
    nrp[r + 1] = nrp[r] + len;
    std::copy_n(A.pattern->col->as<int32_t>() + b, len, col->as<int32_t>() + nrp[r]);
    for (int64_t v = 0; v < A.batch; ++v) {
      std::memcpy(static_cast<char*>(values->data()) + (v * nnz + nrp[r]) * es,
                  static_cast<const char*>(A.values->data()) + (v * nnz + b) * es,
                  static_cast<size_t>(len * es));
    }
  }
  auto pattern = std::make_shared<runtime::CsrPattern>(runtime::CsrPattern{n, A.pattern->cols, row_ptr, col});
  return runtime::CsrMatrix{pattern, values, A.batch};
}

std::string describe(const Solve& s, const std::string& method) {
  return fmt::format("{} with rel_tol={}, abs_tol={}, max_iterations={}{}", method, s.rel_tol, s.abs_tol,
                     s.max_iterations,
                     s.preconditioner.empty() ? "" : ", preconditioner " + s.preconditioner);
}

}  // namespace

const Tensor& require_x0(const Solve& solve) {
  if (!solve.x0 || !solve.x0->defined()) {
    throw Error(
        "solve_linear needs an initial guess: set Solve::x0 (it also gives the solution's dims), e.g. "
        "Solve{.x0 = zeros(shape)}");
  }
  return *solve.x0;
}

void reject_traced(const std::vector<Tensor>& ts) {
  if (any_tracer(ts)) {
    throw Error(
        "solve_linear cannot run inside jit_compile, jit_compile_linear or gradient yet: its right-hand "
        "side, "
        "x0, matrix or f's arguments are being traced. Call it outside the traced function");
  }
}

Tensor solve_linear_system(LinearSystem& sys, const Tensor& y, const Solve& solve) {
  auto t0 = std::chrono::steady_clock::now();
  const Tensor& x0 = require_x0(solve);
  check_name("method", solve.method, kMethods);
  check_name("preconditioner", solve.preconditioner, kPreconditioners);
  if (y.is_sparse() || x0.is_sparse()) throw Error("solve_linear: y and x0 must be dense tensors");

  std::string method = solve.method;
  bool needs_matrix = method == "direct" || !solve.preconditioner.empty() || !sys.apply;
  if (needs_matrix && !sys.matrix && sys.build_matrix) {
    auto [A, b] = sys.build_matrix();
    sys.matrix = A;
    if (sys.offset_unknown && any_nonzero(b)) sys.offset = b;
    sys.offset_unknown = false;
  }
  bool matrix_free = sys.apply && method != "direct";

  // The vector spaces: x's non-batch dims in the matrix's column order, y's in its row order.
  Shape x_cols = x0.shape().non_batch(), y_rows = y.shape().non_batch();
  Shape batch = y.shape().batch() & x0.shape().batch();
  DType dtype = promote(y.dtype(), x0.dtype());
  std::optional<MatrixDims> md;
  if (sys.matrix) {
    md = matrix_dims(*sys.matrix, x0);
    check_same_dims(
        md->cols, x_cols,
        fmt::format("the matrix {} has columns {} but x0 has", sys.matrix->shape().str(), md->cols.str()));
    check_same_dims(
        md->rows, y_rows,
        fmt::format("the matrix {} has rows {} but y has", sys.matrix->shape().str(), md->rows.str()));
    x_cols = md->cols;
    y_rows = md->rows;
    batch = batch & md->batch;
    dtype = promote(dtype, sys.matrix->dtype());
  }
  dtype = float_type(dtype);
  if (matrix_free) {
    Tensor out = sys.apply(x0.astype(dtype));
    check_same_dims(out.shape().non_batch(), y_rows, "f returned other dims than y has: f(x0)");
    batch = batch & out.shape().batch();
    dtype = float_type(promote(dtype, out.dtype()));
    if (sys.offset_unknown) {
      Tensor f0 = sys.apply(zeros(x0.shape(), dtype));
      if (any_nonzero(f0)) sys.offset = f0;
    }
  }
  // A square system on the same dims: y in x's dim order, so that the methods' vectors (r, p = r)
  // and x line up element by element. (A matrix fixes its own row order.)
  if (!md && same_dims(y_rows, x_cols)) y_rows = x_cols;
  if (x_cols.volume() != y_rows.volume()) {
    throw Error(fmt::format("solve_linear needs a square system: x has {} values {} but y has {} values {}",
                            x_cols.volume(), x_cols.str(), y_rows.volume(), y_rows.str()));
  }
  // The matrix as CSR in the solve's dtype. When its rows are x's dims in another order, the rows
  // are permuted into x's order: the methods pair y's element i with x's element i.
  std::optional<runtime::CsrMatrix> csr;
  std::vector<int64_t> a_batch;
  const SparseData* cached = nullptr;  // where symmetry and preconditioners are kept
  if (sys.matrix) {
    const Tensor& A = *sys.matrix;
    a_batch = batch_map(batch, md->batch);
    bool permute = same_dims(md->rows, md->cols) && md->rows.names() != md->cols.names();
    if (permute) y_rows = md->cols;
    if (A.is_sparse()) {
      csr = A.data().sparse->csr;
      if (csr->values->dtype() != dtype) {  // convert the values once for this solve
        auto v = std::make_shared<Buffer>(dtype, csr->values->count(), Buffer::Uninitialized{});
        for (int64_t i = 0; i < v->count(); ++i) v->set_real(i, csr->values->get_real(i));
        csr->values = v;
      }
      if (permute) {
        csr = permute_rows(*csr, md->rows, md->cols);
      } else {
        cached = A.data().sparse.get();
      }
    } else {
      csr = dense_as_csr(A, md->batch, y_rows, md->cols, dtype);
    }
  }
  if (method == "auto") {
    if (sys.matrix && !sys.matrix->is_sparse()) {
      method = "direct";
    } else if (sys.matrix) {
      method = symmetric(cached, *csr) ? "CG" : "biCG-stab";
    } else {
      method = "biCG-stab";
    }
  }

  std::vector<Dim> x_order = concat_dims(batch, x_cols), y_order = concat_dims(batch, y_rows);
  int64_t B = batch.volume(), n = x_cols.volume();
  Tensor rhs = sys.offset ? y - *sys.offset : y;
  std::shared_ptr<Buffer> yb = owned_layout(rhs, dtype, y_order);
  std::shared_ptr<Buffer> xb = owned_layout(x0, dtype, x_order);
  // Tolerances from the given y (per batch entry).
  std::vector<double> tol(static_cast<size_t>(B));
  {
    std::shared_ptr<Buffer> yu = owned_layout(y, DType::f64, y_order);
    for (int64_t b = 0; b < B; ++b) {
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += yu->as<double>()[b * n + i] * yu->as<double>()[b * n + i];
      tol[static_cast<size_t>(b)] = std::max(solve.rel_tol * std::sqrt(s), solve.abs_tol);
    }
  }

  SolveInfo info;
  info.solve = solve;
  info.method = method;
  bool record = std::any_of(active_tapes.begin(), active_tapes.end(),
                            [](const SolveTape* t) { return t->record_trajectories(); });
  runtime::KrylovResult r;
  if (method == "direct") {
    // A dense matrix's CSR values are its row-major entries: dense LU takes them as they are.
    std::vector<bool> ok = sys.matrix->is_sparse()
                               ? runtime::solve_direct(*csr, a_batch, *yb, *xb)
                               : runtime::solve_direct_dense(*csr->values, n, a_batch, *yb, *xb);
    auto op = runtime::csr_operator(*csr, a_batch);
    auto res = std::make_shared<Buffer>(dtype, B * n, Buffer::Uninitialized{});
    op->apply(*xb, *res);
    r.residual_norm.assign(static_cast<size_t>(B), 0.0);
    for (int64_t b = 0; b < B; ++b) {
      double s = 0;
      for (int64_t i = b * n; i < (b + 1) * n; ++i) {
        double v = yb->get_real(i) - res->get_real(i);
        res->set_real(i, v);
        s += v * v;
      }
      r.residual_norm[static_cast<size_t>(b)] = std::sqrt(s);
      bool good = ok[static_cast<size_t>(b)] && std::isfinite(s);
      r.converged.push_back(good);
      r.diverged.push_back(!good);
    }
    r.residual = res;
    r.iterations.assign(static_cast<size_t>(B), 0);
    r.function_evaluations.assign(static_cast<size_t>(B), 1);
    if (record) r.trajectory = {owned_layout(x0, dtype, x_order), xb};
  } else {
    std::unique_ptr<runtime::LinearOperator> op;
    if (matrix_free) {
      BufferPtr offset;  // subtracted inside the operator: f(x) − f(0) is the linear part
      if (sys.offset) offset = owned_layout(*sys.offset, dtype, y_order);
      auto fop = std::make_unique<FunctionOperator>(sys.apply, x_order, y_order, offset);
      fop->set_batch(B);
      op = std::move(fop);
    } else {
      op = runtime::csr_operator(*csr, a_batch);
    }
    std::shared_ptr<const runtime::Preconditioner> pre;
    if (!solve.preconditioner.empty()) pre = preconditioner(cached, *csr, solve.preconditioner, a_batch);
    runtime::KrylovSettings settings{method, tol, solve.max_iterations, pre.get(), record};
    r = runtime::solve_krylov(*op, *yb, *xb, B, settings);
  }

  Shape x_shape(x_order);
  info.x = make_tensor(xb, x_shape);
  info.residual = make_tensor(r.residual, Shape(y_order));
  info.iterations = integers(r.iterations, batch);
  info.function_evaluations = integers(r.function_evaluations, batch);
  info.converged = booleans(r.converged, batch);
  info.diverged = booleans(r.diverged, batch);
  if (record) {
    auto k = static_cast<int64_t>(r.trajectory.size());
    auto traj = std::make_shared<Buffer>(dtype, k * B * n, Buffer::Uninitialized{});
    for (int64_t i = 0; i < k; ++i) {
      std::memcpy(static_cast<char*>(traj->data()) + i * xb->bytes(),
                  r.trajectory[static_cast<size_t>(i)]->data(), xb->bytes());
    }
    info.trajectory = make_tensor(traj, phijit::batch("trajectory", k) & x_shape);
  }
  bool diverged = std::find(r.diverged.begin(), r.diverged.end(), true) != r.diverged.end();
  bool converged = std::find(r.converged.begin(), r.converged.end(), false) == r.converged.end();
  double max_res = 0;
  for (double v : r.residual_norm) max_res = std::isnan(v) ? v : std::max(max_res, v);
  int64_t max_it = r.iterations.empty() ? 0 : *std::max_element(r.iterations.begin(), r.iterations.end());
  if (diverged && method == "direct") {
    info.message = fmt::format("{} diverged: the matrix is singular or y holds non-finite values",
                               describe(solve, method));
  } else if (diverged) {
    info.message = fmt::format(
        "{} diverged: non-finite values or a breakdown after {} iterations (max residual {:.3g}); x holds "
        "the last "
        "finite estimate",
        describe(solve, method), max_it, max_res);
  } else if (!converged) {
    info.message = fmt::format("{} did not converge within {} iterations. Max residual: {:.3g}",
                               describe(solve, method), solve.max_iterations, max_res);
  } else {
    info.message = fmt::format("{} converged in {} iterations (max residual {:.3g})", describe(solve, method),
                               max_it, max_res);
  }
  runtime::logger().debug("solve_linear ({}{}, x {}, batch {}): {}; {:.3f} ms", sys.kind,
                          matrix_free ? ", matrix-free" : "", x_cols.str(), batch.str(), info.message,
                          runtime::ms_since(t0));
  for (SolveTape* tape : active_tapes) tape->add(info);
  auto suppressed = [&](Failure f) {
    return std::find(solve.suppress.begin(), solve.suppress.end(), f) != solve.suppress.end();
  };
  if (diverged && !suppressed(Failure::diverged)) throw Diverged(info, info.message);
  if (!diverged && !converged && !suppressed(Failure::not_converged)) throw NotConverged(info, info.message);
  return info.x;
}

}  // namespace detail

}  // namespace phijit
