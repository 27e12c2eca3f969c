#include "runtime/sparse_solvers.h"

#include <fmt/format.h>

#include <Eigen/Dense>
#include <Eigen/Sparse>
#include <Eigen/SparseCholesky>
#include <Eigen/SparseLU>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>
#include <type_traits>
#include <vector>

#include "ir/error.h"
#include "runtime/batched.h"
#include "runtime/thread_pool.h"

namespace phijit::runtime {

namespace {

// Elements (vector kernels) or rows (symmetry check) per block of work; below one block the
// work stays on the calling thread.
constexpr int64_t kChunk = 32768;
// A direct solve is accepted when ‖A x − y‖∞ ≤ this · (‖A‖∞ ‖x‖∞ + ‖y‖∞): far above rounding,
// far below an unusable answer. LDLT does not pivot, so its backward error must be checked.
const double kMaxBackwardError = std::sqrt(std::numeric_limits<double>::epsilon());

template <class Fn>
void dispatch_float(DType dtype, const char* what, Fn&& fn) {
  switch (dtype) {
    case DType::f32: fn(float{}); return;
    case DType::f64: fn(double{}); return;
    default: break;
  }
  throw Error(fmt::format("{}: expected float32 or float64 values, got {}", what, dtype_name(dtype)));
}

// The checks every entry point makes on its matrix: a valid pattern, float values, one value
// set of nnz entries per batch entry. The frontend lays out every matrix and vector it passes,
// so wrong counts are phijit's bug (InternalError); a dtype can be the user's choice (Error).
void check_matrix(const CsrMatrix& A, const char* what) {
  if (!A.pattern || !A.values)
    throw InternalError(fmt::format("{}: the matrix has no pattern or no values", what));
  validate(*A.pattern);
  dispatch_float(A.values->dtype(), what, [](auto) {});
  if (A.batch < 0 || A.values->count() != A.batch * A.pattern->nnz()) {
    throw InternalError(fmt::format("{}: expected {} × {} = {} matrix values (batch × nnz), got {}", what,
                                    A.batch, A.pattern->nnz(), A.batch * A.pattern->nnz(),
                                    A.values->count()));
  }
}

void check_square(const CsrPattern& p, const char* what) {
  if (p.rows != p.cols)
    throw Error(fmt::format("{}: expected a square matrix, got {} × {}", what, p.rows, p.cols));
}

void check_batch(std::span<const int64_t> a_batch, int64_t matrices, const char* what) {
  for (size_t b = 0; b < a_batch.size(); ++b) {
    if (a_batch[b] < 0 || a_batch[b] >= matrices) {
      throw InternalError(fmt::format("{}: a_batch[{}] = {} is outside the matrix batch [0, {})", what, b,
                                      a_batch[b], matrices));
    }
  }
}

// A vector argument: the matrix's dtype and `batch` vectors of n values each.
void check_vector(const Buffer& v, DType dtype, int64_t batch, int64_t n, const char* what,
                  const char* name) {
  if (v.dtype() != dtype) {
    throw Error(fmt::format("{}: expected {} of the matrix's dtype {}, got {}", what, name, dtype_name(dtype),
                            dtype_name(v.dtype())));
  }
  if (v.count() != batch * n) {
    throw InternalError(fmt::format("{}: expected {} to hold {} × {} = {} values (batch × size), got {}",
                                    what, name, batch, n, batch * n, v.count()));
  }
}

// The distinct matrix entries a batch uses, each factored once; slot[b] indexes
// entries for the solve's batch entry b.
struct Distinct {
  std::vector<int64_t> entries;
  std::vector<int64_t> slot;
};

Distinct distinct(std::span<const int64_t> a_batch) {
  Distinct d{{a_batch.begin(), a_batch.end()}, {}};
  std::sort(d.entries.begin(), d.entries.end());
  d.entries.erase(std::unique(d.entries.begin(), d.entries.end()), d.entries.end());
  for (int64_t m : a_batch)
    d.slot.push_back(std::lower_bound(d.entries.begin(), d.entries.end(), m) - d.entries.begin());
  return d;
}

// Runs fn(i) for i in [0, n) on the pool when the total work (n × cost each) is worth it.
template <class Fn>
void parallel(int64_t n, int64_t cost, Fn&& fn) {
  if (n <= 1 || n * cost <= kChunk) {
    for (int64_t i = 0; i < n; ++i) fn(i);
  } else {
    ThreadPool::instance().parallel_for(n, fn);
  }
}

// Whether the given matrix entries equal their transposes (see is_symmetric); A is checked.
bool symmetric_entries(const CsrMatrix& A, std::span<const int64_t> entries, double rel_tol) {
  const CsrPattern& p = *A.pattern;
  if (p.rows != p.cols) return false;
  const int64_t* rp = p.row_ptr->as<int64_t>();
  const int32_t* col = p.col->as<int32_t>();
  int64_t nnz = p.nnz();
  bool result = true;
  dispatch_float(A.values->dtype(), "is_symmetric", [&](auto tag) {
    using T = decltype(tag);
    const T* values = A.values->as<T>();
    std::vector<double> tol;
    for (int64_t m : entries) {
      double max_abs = 0;
      for (int64_t k = 0; k < nnz; ++k) max_abs = std::max(max_abs, double(std::abs(values[m * nnz + k])));
      tol.push_back(rel_tol * max_abs);
    }
    std::atomic<bool> ok{true};
    int64_t blocks = (p.rows + kChunk - 1) / kChunk;
    parallel(blocks, kChunk, [&](int64_t blk) {
      for (int64_t i = blk * kChunk; i < std::min(p.rows, (blk + 1) * kChunk) && ok.load(); ++i) {
        for (int64_t k = rp[i]; k < rp[i + 1]; ++k) {
          int32_t j = col[k];
          const int32_t* row_j_end = col + rp[j + 1];
          const int32_t* it = std::lower_bound(col + rp[j], row_j_end, static_cast<int32_t>(i));
          int64_t mirror = it != row_j_end && *it == i ? it - col : -1;
          // A pair stored on both sides is compared once, from its upper entry.
          if (j == i || (j < i && mirror >= 0)) continue;
          for (size_t e = 0; e < entries.size(); ++e) {
            const T* v = values + entries[e] * nnz;
            double other = mirror >= 0 ? double(v[mirror]) : 0.0;
            if (!(std::abs(double(v[k]) - other) <= tol[e])) ok.store(false);
          }
        }
      }
    });
    result = ok.load();
  });
  return result;
}

class CsrOperator final : public LinearOperator {
 public:
  CsrOperator(const CsrMatrix& A, std::vector<int64_t> a_batch) : A_(A), a_batch_(std::move(a_batch)) {
    x_batch_.resize(a_batch_.size());
    std::iota(x_batch_.begin(), x_batch_.end(), int64_t{0});
  }
  int64_t rows() const override { return A_.pattern->rows; }
  int64_t cols() const override { return A_.pattern->cols; }
  void apply(const Buffer& x, Buffer& y) const override {
    auto batch = static_cast<int64_t>(a_batch_.size());
    check_vector(x, A_.values->dtype(), batch, cols(), "csr_operator", "x");
    check_vector(y, A_.values->dtype(), batch, rows(), "csr_operator", "y");
    spmv(A_, x, y, a_batch_, x_batch_);
  }

 private:
  CsrMatrix A_;
  std::vector<int64_t> a_batch_, x_batch_;
};

// z[b] = r[b] * inv_diag[slot[b]], elementwise.
class Jacobi final : public Preconditioner {
 public:
  Jacobi(const CsrMatrix& A, std::span<const int64_t> a_batch)
      : n_(A.pattern->rows), dtype_(A.values->dtype()), d_(distinct(a_batch)) {
    const CsrPattern& p = *A.pattern;
    const int64_t* rp = p.row_ptr->as<int64_t>();
    const int32_t* col = p.col->as<int32_t>();
    dispatch_float(dtype_, "jacobi", [&](auto tag) {
      using T = decltype(tag);
      for (int64_t m : d_.entries) {
        const T* values = A.values->as<T>() + m * p.nnz();
        std::vector<double>& inv = inv_diag_.emplace_back(n_, 0.0);
        for (int64_t i = 0; i < n_; ++i) {
          const int32_t* it = std::lower_bound(col + rp[i], col + rp[i + 1], static_cast<int32_t>(i));
          double d = it != col + rp[i + 1] && *it == i ? double(values[it - col]) : 0.0;
          if (d == 0) {
            throw Error(fmt::format(
                "jacobi: the diagonal entry of row {} (matrix batch entry {}) is zero or missing", i, m));
          }
          inv[i] = 1.0 / d;
        }
      }
    });
  }

  void apply(const Buffer& r, Buffer& z) const override {
    auto batch = static_cast<int64_t>(d_.slot.size());
    check_vector(r, dtype_, batch, n_, "jacobi", "r");
    check_vector(z, dtype_, batch, n_, "jacobi", "z");
    dispatch_float(dtype_, "jacobi", [&](auto tag) {
      using T = decltype(tag);
      const T* pr = r.as<T>();
      T* pz = z.as<T>();
      BatchSpace(batch, n_).run([&](int64_t, int64_t b, int64_t i0, int64_t i1) {
        const double* inv = inv_diag_[d_.slot[b]].data();
        for (int64_t i = i0; i < i1; ++i) pz[b * n_ + i] = static_cast<T>(double(pr[b * n_ + i]) * inv[i]);
      });
    });
  }
  void apply_transposed(const Buffer& r, Buffer& z) const override { apply(r, z); }  // a diagonal

 private:
  int64_t n_;
  DType dtype_;
  Distinct d_;
  std::vector<std::vector<double>> inv_diag_;  // per distinct entry
};

// L (strictly lower part, unit diagonal implied) and U (diagonal and upper part) stored in
// A's pattern, in double whatever A's dtype: the substitutions amplify rounding.
class Ilu0 final : public Preconditioner {
 public:
  Ilu0(const CsrMatrix& A, std::span<const int64_t> a_batch)
      : pattern_(A.pattern), dtype_(A.values->dtype()), d_(distinct(a_batch)) {
    const CsrPattern& p = *pattern_;
    const int64_t* rp = p.row_ptr->as<int64_t>();
    const int32_t* col = p.col->as<int32_t>();
    for (int64_t i = 0; i < p.rows; ++i) {
      const int32_t* it = std::lower_bound(col + rp[i], col + rp[i + 1], static_cast<int32_t>(i));
      if (it == col + rp[i + 1] || *it != i) {
        throw Error(fmt::format("ilu0: row {} has no diagonal entry in the sparsity pattern", i));
      }
      diag_.push_back(it - col);
    }
    lu_.resize(d_.entries.size());
    dispatch_float(dtype_, "ilu0", [&](auto tag) {
      using T = decltype(tag);
      parallel(static_cast<int64_t>(lu_.size()), p.nnz(), [&](int64_t e) {
        const T* values = A.values->as<T>() + d_.entries[e] * p.nnz();
        lu_[e].assign(values, values + p.nnz());
        factor(lu_[e], d_.entries[e]);
        // The backward solve multiplies by 1/U_ii: no division in its dependency chain.
        for (int64_t d : diag_) lu_[e][static_cast<size_t>(d)] = 1.0 / lu_[e][static_cast<size_t>(d)];
      });
    });
  }

  void apply(const Buffer& r, Buffer& z) const override { run(r, z, false); }
  // (LU)ᵀ = Uᵀ Lᵀ from the same factors: no second factorization for an adjoint solve.
  void apply_transposed(const Buffer& r, Buffer& z) const override { run(r, z, true); }

 private:
  // IKJ elimination restricted to the pattern: row i subtracts multiples of the rows k < i it
  // touches, dropping every update that falls outside row i's own pattern.
  void factor(std::vector<double>& a, int64_t entry) const {
    const CsrPattern& p = *pattern_;
    const int64_t* rp = p.row_ptr->as<int64_t>();
    const int32_t* col = p.col->as<int32_t>();
    std::vector<int64_t> pos(p.cols, -1);  // column → its index in row i
    for (int64_t i = 0; i < p.rows; ++i) {
      for (int64_t k = rp[i]; k < rp[i + 1]; ++k) pos[col[k]] = k;
      for (int64_t k = rp[i]; k < diag_[i]; ++k) {
        int64_t r = col[k];
        a[k] /= a[diag_[r]];
        for (int64_t q = diag_[r] + 1; q < rp[r + 1]; ++q) {
          int64_t at = pos[col[q]];
          if (at >= 0) a[at] -= a[k] * a[q];
        }
      }
      double pivot = a[diag_[i]];
      if (pivot == 0 || !std::isfinite(pivot)) {
        throw Error(fmt::format("ilu0: the pivot of row {} (matrix batch entry {}) is {}", i, entry, pivot));
      }
      for (int64_t k = rp[i]; k < rp[i + 1]; ++k) pos[col[k]] = -1;
    }
  }

  void run(const Buffer& r, Buffer& z, bool transposed) const {
    int64_t n = pattern_->rows;
    auto batch = static_cast<int64_t>(d_.slot.size());
    check_vector(r, dtype_, batch, n, "ilu0", "r");
    check_vector(z, dtype_, batch, n, "ilu0", "z");
    dispatch_float(dtype_, "ilu0", [&](auto tag) {
      using T = decltype(tag);
      parallel(batch, pattern_->nnz(), [&](int64_t b) {
        const T* rb = r.as<T>() + b * n;
        T* zb = z.as<T>() + b * n;
        transposed ? solve_transposed(lu_[d_.slot[b]], rb, zb) : solve(lu_[d_.slot[b]], rb, zb);
      });
    });
  }

  // Uᵀ w = r forward, then Lᵀ z = w backward, both by columns of the stored rows: row i of U
  // is column i of Uᵀ.
  template <class T>
  void solve_transposed(const std::vector<double>& a, const T* r, T* z) const {
    const CsrPattern& p = *pattern_;
    const int64_t* rp = p.row_ptr->as<int64_t>();
    const int32_t* col = p.col->as<int32_t>();
    thread_local std::vector<double> w;
    w.assign(r, r + p.rows);
    for (int64_t i = 0; i < p.rows; ++i) {
      w[i] *= a[diag_[i]];  // 1 / U_ii
      for (int64_t k = diag_[i] + 1; k < rp[i + 1]; ++k) w[col[k]] -= a[k] * w[i];
    }
    for (int64_t i = p.rows; i-- > 0;) {
      for (int64_t k = rp[i]; k < diag_[i]; ++k) w[col[k]] -= a[k] * w[i];
      z[i] = static_cast<T>(w[i]);
    }
  }

  template <class T>
  void solve(const std::vector<double>& a, const T* r, T* z) const {
    const CsrPattern& p = *pattern_;
    const int64_t* rp = p.row_ptr->as<int64_t>();
    const int32_t* col = p.col->as<int32_t>();
    thread_local std::vector<double> w;  // reused: a fresh vector per apply costs page faults
    w.resize(static_cast<size_t>(p.rows));
    for (int64_t i = 0; i < p.rows; ++i) {
      double s = r[i];
      for (int64_t k = rp[i]; k < diag_[i]; ++k) s -= a[k] * w[col[k]];
      w[i] = s;
    }
    for (int64_t i = p.rows; i-- > 0;) {
      double s = w[i];
      for (int64_t k = diag_[i] + 1; k < rp[i + 1]; ++k) s -= a[k] * w[col[k]];
      w[i] = s * a[diag_[i]];
      z[i] = static_cast<T>(w[i]);
    }
  }

  std::shared_ptr<const CsrPattern> pattern_;
  DType dtype_;
  Distinct d_;
  std::vector<int64_t> diag_;            // index of each row's diagonal entry
  std::vector<std::vector<double>> lu_;  // per distinct entry
};

// The solve's batch entries that use each distinct matrix: their right-hand sides are solved
// together with one factorization.
std::vector<std::vector<int64_t>> members(const Distinct& d) {
  std::vector<std::vector<int64_t>> out(d.entries.size());
  for (size_t b = 0; b < d.slot.size(); ++b) out[d.slot[b]].push_back(static_cast<int64_t>(b));
  return out;
}

template <class T>
Eigen::MatrixXd gather(const Buffer& y, const std::vector<int64_t>& batch, int64_t n) {
  Eigen::MatrixXd Y(n, static_cast<Eigen::Index>(batch.size()));
  for (size_t c = 0; c < batch.size(); ++c) {
    Y.col(static_cast<Eigen::Index>(c)) =
        Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(y.as<T>() + batch[c] * n, n)
            .template cast<double>();
  }
  return Y;
}

// Writes the columns of X that `ok` accepts and are finite in T; returns per column whether
// it was written (failed entries keep their x).
template <class T>
std::vector<bool> scatter(const Eigen::MatrixXd& X, const std::vector<bool>& ok,
                          const std::vector<int64_t>& batch, Buffer& x) {
  std::vector<bool> written(batch.size(), false);
  for (size_t c = 0; c < batch.size(); ++c) {
    if (!ok[c]) continue;
    Eigen::Matrix<T, Eigen::Dynamic, 1> v = X.col(static_cast<Eigen::Index>(c)).template cast<T>();
    if (!v.allFinite()) continue;
    Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>(x.as<T>() + batch[c] * X.rows(), X.rows()) = v;
    written[c] = true;
  }
  return written;
}

// A pivot this small relative to the matrix's scale means a (numerically) singular matrix: the
// solution would be dominated by rounding.
bool pivots_ok(double min_abs, double scale, int64_t n) {
  return min_abs > static_cast<double>(n) * std::numeric_limits<double>::epsilon() * scale;
}

template <class T>
Eigen::SparseMatrix<double> to_eigen(const CsrMatrix& A, int64_t entry) {
  const CsrPattern& p = *A.pattern;
  Eigen::SparseMatrix<double, Eigen::RowMajor> rm(p.rows, p.cols);
  rm.resizeNonZeros(p.nnz());
  std::copy_n(p.row_ptr->as<int64_t>(), p.rows + 1, rm.outerIndexPtr());
  std::copy_n(p.col->as<int32_t>(), p.nnz(), rm.innerIndexPtr());
  std::copy_n(A.values->as<T>() + entry * p.nnz(), p.nnz(), rm.valuePtr());
  return Eigen::SparseMatrix<double>(rm);  // SparseLU needs column-major storage
}

// Per column: the solution is finite and solves S X = Y (Sᵀ X = Y with `transposed`) to
// kMaxBackwardError.
std::vector<bool> accepted(const Eigen::SparseMatrix<double>& S, double norm_inf, const Eigen::MatrixXd& X,
                           const Eigen::MatrixXd& Y, bool transposed) {
  Eigen::MatrixXd R = transposed ? Eigen::MatrixXd(S.transpose() * X - Y) : Eigen::MatrixXd(S * X - Y);
  std::vector<bool> ok(X.cols());
  for (Eigen::Index c = 0; c < X.cols(); ++c) {
    double x_norm = X.col(c).lpNorm<Eigen::Infinity>(), y_norm = Y.col(c).lpNorm<Eigen::Infinity>();
    ok[c] = X.col(c).allFinite() &&
            R.col(c).lpNorm<Eigen::Infinity>() <= kMaxBackwardError * (norm_inf * x_norm + y_norm);
  }
  return ok;
}

using SparseLu = Eigen::SparseLU<Eigen::SparseMatrix<double>, Eigen::COLAMDOrdering<int>>;

// A sparse LU whose pivots are all far from 0, or null (a singular matrix).
std::unique_ptr<SparseLu> sparse_lu(const Eigen::SparseMatrix<double>& S, double scale) {
  auto lu = std::make_unique<SparseLu>(S);
  if (lu->info() != Eigen::Success) return nullptr;
  // U's diagonal lives in the supernodes of L's storage (as in SparseLU::absDeterminant).
  const auto& L = lu->matrixL().m_mapL;
  double min_pivot = std::numeric_limits<double>::infinity(), max_pivot = 0;
  for (Eigen::Index j = 0; j < S.rows(); ++j) {
    double pivot = 0;
    for (typename std::decay_t<decltype(L)>::InnerIterator it(L, j); it; ++it) {
      if (it.index() == j) pivot = std::abs(it.value());
    }
    min_pivot = std::min(min_pivot, pivot);
    max_pivot = std::max(max_pivot, pivot);
  }
  return pivots_ok(min_pivot, std::max(scale, max_pivot), S.rows()) ? std::move(lu) : nullptr;
}

}  // namespace

std::unique_ptr<LinearOperator> csr_operator(const CsrMatrix& A, std::vector<int64_t> a_batch) {
  check_matrix(A, "csr_operator");
  check_batch(a_batch, A.batch, "csr_operator");
  return std::make_unique<CsrOperator>(A, std::move(a_batch));
}

bool is_symmetric(const CsrMatrix& A, double rel_tol) {
  check_matrix(A, "is_symmetric");
  std::vector<int64_t> all(A.batch);
  std::iota(all.begin(), all.end(), int64_t{0});
  return symmetric_entries(A, all, rel_tol);
}

std::shared_ptr<const Preconditioner> jacobi(const CsrMatrix& A, std::vector<int64_t> a_batch) {
  check_matrix(A, "jacobi");
  check_square(*A.pattern, "jacobi");
  check_batch(a_batch, A.batch, "jacobi");
  return std::make_shared<Jacobi>(A, a_batch);
}

std::shared_ptr<const Preconditioner> transposed(std::shared_ptr<const Preconditioner> m) {
  class Transposed final : public Preconditioner {
   public:
    explicit Transposed(std::shared_ptr<const Preconditioner> m) : m_(std::move(m)) {}
    void apply(const Buffer& r, Buffer& z) const override { m_->apply_transposed(r, z); }
    void apply_transposed(const Buffer& r, Buffer& z) const override { m_->apply(r, z); }

   private:
    std::shared_ptr<const Preconditioner> m_;
  };
  return std::make_shared<Transposed>(std::move(m));
}

std::shared_ptr<const Preconditioner> ilu0(const CsrMatrix& A, std::vector<int64_t> a_batch) {
  check_matrix(A, "ilu0");
  check_square(*A.pattern, "ilu0");
  check_batch(a_batch, A.batch, "ilu0");
  return std::make_shared<Ilu0>(A, a_batch);
}

// One matrix entry, factored: LDLᵀ for a symmetric sparse entry (LU as well when LDLᵀ's answer
// is not accepted: it does not pivot), LU otherwise; dense entries by LU with partial pivoting.
struct DirectSolver::Factorization {
  Eigen::SparseMatrix<double> S;  // sparse entries, for the backward-error check
  double norm_inf = 0, norm_one = 0, scale = 0;
  std::unique_ptr<Eigen::SimplicialLDLT<Eigen::SparseMatrix<double>>> ldlt;
  std::once_flag lu_once;
  std::unique_ptr<SparseLu> lu;
  std::unique_ptr<Eigen::PartialPivLU<Eigen::MatrixXd>> dense;
  bool dense_ok = false;

  SparseLu* sparse_lu_once() {
    std::call_once(lu_once, [&] { lu = sparse_lu(S, scale); });
    return lu.get();
  }

  // Per column of Y: whether X solves the system (A, or Aᵀ with `transposed`).
  std::vector<bool> solve(const Eigen::MatrixXd& Y, Eigen::MatrixXd& X, bool transposed) {
    if (dense) {
      X = transposed ? Eigen::MatrixXd(dense->transpose().solve(Y)) : Eigen::MatrixXd(dense->solve(Y));
      return std::vector<bool>(static_cast<size_t>(Y.cols()), dense_ok);
    }
    double norm = transposed ? norm_one : norm_inf;
    if (ldlt) {  // symmetric: Aᵀ = A
      X = ldlt->solve(Y);
      std::vector<bool> ok = accepted(S, norm, X, Y, false);
      if (std::find(ok.begin(), ok.end(), false) == ok.end()) return ok;
    }
    SparseLu* factors = sparse_lu_once();
    if (factors == nullptr) return std::vector<bool>(static_cast<size_t>(Y.cols()), false);
    X = transposed ? Eigen::MatrixXd(factors->transpose().solve(Y)) : Eigen::MatrixXd(factors->solve(Y));
    return accepted(S, norm, X, Y, transposed);
  }
};

DirectSolver::DirectSolver(CsrMatrix A) : A_(std::move(A)) {
  check_matrix(A_, "solve_direct");
  const CsrPattern& p = *A_.pattern;
  check_square(p, "solve_direct");
  if (std::max(p.rows, p.nnz()) > std::numeric_limits<int>::max()) {
    throw Error(fmt::format("solve_direct: {} rows and {} stored entries exceed Eigen's int indices", p.rows,
                            p.nnz()));
  }
  n_ = p.rows;
  entries_.resize(static_cast<size_t>(A_.batch));
  once_ = std::make_unique<std::once_flag[]>(static_cast<size_t>(A_.batch));
}

DirectSolver::DirectSolver(std::shared_ptr<const Buffer> dense, int64_t n) : dense_(true), n_(n) {
  const char* what = "solve_direct_dense";
  dispatch_float(dense->dtype(), what, [](auto) {});
  if (n < 0 || (n == 0 && dense->count() != 0) || (n > 0 && dense->count() % (n * n) != 0)) {
    throw Error(fmt::format("{}: expected the matrix buffer to hold whole {} × {} matrices, got {} values",
                            what, n, n, dense->count()));
  }
  A_.values = std::move(dense);
  A_.batch = n > 0 ? A_.values->count() / (n * n) : 0;
  entries_.resize(static_cast<size_t>(A_.batch));
  once_ = std::make_unique<std::once_flag[]>(static_cast<size_t>(A_.batch));
}

DirectSolver::~DirectSolver() = default;

DirectSolver::Factorization& DirectSolver::factorization(int64_t entry) const {
  std::call_once(once_[static_cast<size_t>(entry)], [&] {
    auto f = std::make_unique<Factorization>();
    dispatch_float(A_.values->dtype(), "solve_direct", [&](auto tag) {
      using T = decltype(tag);
      if (dense_) {
        using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
        Eigen::MatrixXd M =
            Eigen::Map<const RowMajor>(A_.values->as<T>() + entry * n_ * n_, n_, n_).template cast<double>();
        f->dense = std::make_unique<Eigen::PartialPivLU<Eigen::MatrixXd>>(M);
        Eigen::MatrixXd U = f->dense->matrixLU().template triangularView<Eigen::Upper>();
        f->dense_ok = pivots_ok(U.diagonal().cwiseAbs().minCoeff(), U.cwiseAbs().maxCoeff(), n_);
        return;
      }
      f->S = to_eigen<T>(A_, entry);
      f->scale = f->S.coeffs().size() > 0 ? f->S.coeffs().cwiseAbs().maxCoeff() : 0.0;
      Eigen::SparseMatrix<double> absS = f->S.cwiseAbs();
      f->norm_inf = (absS * Eigen::VectorXd::Ones(n_)).maxCoeff();
      f->norm_one = (absS.transpose() * Eigen::VectorXd::Ones(n_)).maxCoeff();
      int64_t one[] = {entry};
      if (!symmetric_entries(A_, one, 1e-12)) return;
      auto ldlt = std::make_unique<Eigen::SimplicialLDLT<Eigen::SparseMatrix<double>>>(f->S);
      if (ldlt->info() != Eigen::Success) return;
      Eigen::VectorXd d = ldlt->vectorD().cwiseAbs();
      if (pivots_ok(d.minCoeff(), std::max(f->scale, d.maxCoeff()), n_)) f->ldlt = std::move(ldlt);
    });
    entries_[static_cast<size_t>(entry)] = std::move(f);
  });
  return *entries_[static_cast<size_t>(entry)];
}

std::vector<bool> DirectSolver::solve(std::span<const int64_t> a_batch, const Buffer& y, Buffer& x,
                                      bool transposed) const {
  const char* what = dense_ ? "solve_direct_dense" : "solve_direct";
  check_batch(a_batch, A_.batch, what);
  auto batch = static_cast<int64_t>(a_batch.size());
  check_vector(y, A_.values->dtype(), batch, n_, what, "y");
  check_vector(x, A_.values->dtype(), batch, n_, what, "x");
  if (n_ == 0) return std::vector<bool>(a_batch.size(), true);
  Distinct d = distinct(a_batch);
  std::vector<std::vector<int64_t>> groups = members(d);
  std::vector<char> ok(a_batch.size(), 0);  // not vector<bool>: written from several threads
  int64_t cost = dense_ ? n_ * n_ * n_ : kChunk;
  dispatch_float(A_.values->dtype(), what, [&](auto tag) {
    using T = decltype(tag);
    parallel(static_cast<int64_t>(groups.size()), cost, [&](int64_t e) {
      const std::vector<int64_t>& group = groups[e];
      Eigen::MatrixXd Y = gather<T>(y, group, n_), X;
      std::vector<bool> good = factorization(d.entries[e]).solve(Y, X, transposed);
      std::vector<bool> written = scatter<T>(X, good, group, x);
      for (size_t c = 0; c < group.size(); ++c) ok[group[c]] = written[c];
    });
  });
  return {ok.begin(), ok.end()};
}

std::vector<bool> solve_direct(const CsrMatrix& A, std::span<const int64_t> a_batch, const Buffer& y,
                               Buffer& x) {
  return DirectSolver(A).solve(a_batch, y, x);
}

std::vector<bool> solve_direct_dense(const Buffer& A, int64_t n, std::span<const int64_t> a_batch,
                                     const Buffer& y, Buffer& x) {
  // A view: the solver keeps nothing after this call.
  return DirectSolver(std::shared_ptr<const Buffer>(std::shared_ptr<const Buffer>(), &A), n)
      .solve(a_batch, y, x);
}

}  // namespace phijit::runtime
