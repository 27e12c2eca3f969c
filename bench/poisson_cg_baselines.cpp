// Baselines of bench_poisson_cg (compiled -O3 -march=native -fopenmp): Eigen's
// ConjugateGradient (row-major sparse matrix, Lower|Upper, identity preconditioner; Eigen runs
// the sparse matrix-vector product with OpenMP) and the STREAM triad.
#include "bench/poisson_cg_baselines.h"

#include <omp.h>

#include <Eigen/Core>
#include <Eigen/IterativeLinearSolvers>
#include <Eigen/SparseCore>
#include <vector>

namespace bench {

namespace {

using Matrix = Eigen::SparseMatrix<double, Eigen::RowMajor, int>;
using Triplet = Eigen::Triplet<double, int>;
using Solver = Eigen::ConjugateGradient<Matrix, Eigen::Lower | Eigen::Upper, Eigen::IdentityPreconditioner>;

std::vector<Triplet> poisson_triplets(int64_t n) {
  std::vector<Triplet> t;
  t.reserve(static_cast<size_t>(5 * n * n));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      const int row = static_cast<int>(i * n + j);
      if (i > 0) t.emplace_back(row, row - static_cast<int>(n), -1.0);
      if (j > 0) t.emplace_back(row, row - 1, -1.0);
      t.emplace_back(row, row, 4.0);
      if (j + 1 < n) t.emplace_back(row, row + 1, -1.0);
      if (i + 1 < n) t.emplace_back(row, row + static_cast<int>(n), -1.0);
    }
  }
  return t;
}

}  // namespace

struct EigenPoissonCG::Impl {
  int64_t rows = 0;
  Matrix A;
  Solver cg;
};

EigenPoissonCG::EigenPoissonCG(int64_t n) : impl_(std::make_unique<Impl>()) {
  impl_->rows = n * n;
  const int rows = static_cast<int>(impl_->rows);
  std::vector<Triplet> t = poisson_triplets(n);
  impl_->A = Matrix(rows, rows);
  impl_->A.setFromTriplets(t.begin(), t.end());
  impl_->A.makeCompressed();
  impl_->cg.compute(impl_->A);
}

EigenPoissonCG::~EigenPoissonCG() = default;

int64_t EigenPoissonCG::rows() const { return impl_->rows; }
int64_t EigenPoissonCG::nonzeros() const { return impl_->A.nonZeros(); }

void EigenPoissonCG::multiply(const double* v, double* y) const {
  Eigen::Map<const Eigen::VectorXd> vv(v, impl_->rows);
  Eigen::Map<Eigen::VectorXd> yy(y, impl_->rows);
  yy.noalias() = impl_->A * vv;
}

int64_t EigenPoissonCG::solve(const double* b, double* x, int max_iterations, double tolerance) const {
  Solver& cg = impl_->cg;
  cg.setMaxIterations(max_iterations);
  cg.setTolerance(tolerance);
  Eigen::Map<const Eigen::VectorXd> bb(b, impl_->rows);
  Eigen::Map<Eigen::VectorXd> xx(x, impl_->rows);
  xx = cg.solve(bb);  // starts from x = 0
  return cg.iterations();
}

double EigenPoissonCG::last_error() const { return impl_->cg.error(); }

int set_threads(int n) {
  omp_set_num_threads(n);
  Eigen::setNbThreads(n);
  return Eigen::nbThreads();
}

int eigen_threads() { return Eigen::nbThreads(); }

void triad(double* __restrict a, const double* __restrict b, const double* __restrict c, double s,
           int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
}

}  // namespace bench
