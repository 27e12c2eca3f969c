// Baseline of bench_linear_extraction (compiled -O3 -march=native -fopenmp): the Laplace matrix
// assembled by Eigen from a triplet list, single-threaded.
#include "bench/linear_extraction_baselines.h"

#include <Eigen/SparseCore>
#include <cstddef>
#include <utility>

namespace bench {

namespace {

using Matrix = Eigen::SparseMatrix<double, Eigen::RowMajor, int>;
using Triplet = Eigen::Triplet<double, int>;

std::vector<Triplet> laplace_triplets(const std::vector<int64_t>& dims) {
  const int ndim = static_cast<int>(dims.size());
  std::vector<int64_t> stride(dims.size(), 1);
  int64_t n = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    stride[static_cast<size_t>(d)] = n;
    n *= dims[static_cast<size_t>(d)];
  }
  std::vector<Triplet> t;
  t.reserve(static_cast<size_t>(n * (2 * ndim + 1)));
  std::vector<int64_t> idx(dims.size(), 0);  // the multi-index of row i
  const double diag = -2.0 * ndim;
  for (int64_t i = 0; i < n; ++i) {
    const int row = static_cast<int>(i);
    // Columns in increasing order: the lower neighbours from the slowest dim, the diagonal,
    // then the upper neighbours from the fastest dim.
    for (int d = 0; d < ndim; ++d) {
      if (idx[static_cast<size_t>(d)] > 0)
        t.emplace_back(row, static_cast<int>(i - stride[static_cast<size_t>(d)]), 1.0);
    }
    t.emplace_back(row, row, diag);
    for (int d = ndim - 1; d >= 0; --d) {
      if (idx[static_cast<size_t>(d)] + 1 < dims[static_cast<size_t>(d)])
        t.emplace_back(row, static_cast<int>(i + stride[static_cast<size_t>(d)]), 1.0);
    }
    for (int d = ndim - 1; d >= 0; --d) {  // advance the multi-index, last dim fastest
      if (++idx[static_cast<size_t>(d)] < dims[static_cast<size_t>(d)]) break;
      idx[static_cast<size_t>(d)] = 0;
    }
  }
  return t;
}

int64_t volume(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t s : dims) n *= s;
  return n;
}

}  // namespace

struct EigenLaplace::Impl {
  std::vector<int64_t> dims;
  int64_t n = 0;
  std::vector<Triplet> triplets;  // built once, for set_from_triplets
  Matrix kept;
};

EigenLaplace::EigenLaplace(std::vector<int64_t> dims) : impl_(std::make_unique<Impl>()) {
  impl_->n = volume(dims);
  impl_->dims = std::move(dims);
  impl_->triplets = laplace_triplets(impl_->dims);
}

EigenLaplace::~EigenLaplace() = default;

int64_t EigenLaplace::rows() const { return impl_->n; }

int64_t EigenLaplace::assemble() const {
  std::vector<Triplet> t = laplace_triplets(impl_->dims);
  const int n = static_cast<int>(impl_->n);
  Matrix A(n, n);
  A.setFromTriplets(t.begin(), t.end());
  return A.nonZeros();
}

int64_t EigenLaplace::set_from_triplets() const {
  const int n = static_cast<int>(impl_->n);
  Matrix A(n, n);
  A.setFromTriplets(impl_->triplets.begin(), impl_->triplets.end());
  return A.nonZeros();
}

void EigenLaplace::assemble_kept() {
  const int n = static_cast<int>(impl_->n);
  impl_->kept = Matrix(n, n);
  impl_->kept.setFromTriplets(impl_->triplets.begin(), impl_->triplets.end());
}

int64_t EigenLaplace::kept_nonzeros() const { return impl_->kept.nonZeros(); }

void EigenLaplace::multiply(const double* v, double* y) const {
  Eigen::Map<const Eigen::VectorXd> vv(v, impl_->n);
  Eigen::Map<Eigen::VectorXd> yy(y, impl_->n);
  yy.noalias() = impl_->kept * vv;
}

}  // namespace bench
