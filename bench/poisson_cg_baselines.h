// The baselines of bench_poisson_cg, compiled with -O3 -march=native -fopenmp: Eigen's
// ConjugateGradient on the 5-point Poisson matrix and a STREAM triad for the bandwidth roof.
// Eigen stays inside the baselines' translation unit (the phijit side is compiled with other flags).
#pragma once

#include <cstdint>
#include <memory>

namespace bench {

// −laplace with zero boundary on an n × n grid (row-major, second index fastest): 4 on the
// diagonal, −1 for every neighbour inside the grid, as Eigen::SparseMatrix<double, RowMajor, int>
// assembled with setFromTriplets, and Eigen::ConjugateGradient<..., Lower|Upper,
// IdentityPreconditioner> on it (Lower|Upper: the full matrix, whose row-major product Eigen
// runs with OpenMP).
class EigenPoissonCG {
 public:
  explicit EigenPoissonCG(int64_t n);
  ~EigenPoissonCG();
  EigenPoissonCG(const EigenPoissonCG&) = delete;
  EigenPoissonCG& operator=(const EigenPoissonCG&) = delete;

  int64_t rows() const;
  int64_t nonzeros() const;
  // y = A·v (both rows() long).
  void multiply(const double* v, double* y) const;
  // CG from x = 0 for b, at most max_iterations iterations, stopping once ‖r‖ ≤ tolerance·‖b‖
  // (0: never); x receives the result. Returns the iterations Eigen ran.
  int64_t solve(const double* b, double* x, int max_iterations, double tolerance) const;
  // Eigen's estimate of ‖r‖/‖b‖ after the last solve.
  double last_error() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Sets the OpenMP (and Eigen) thread count; returns the count in effect.
int set_threads(int n);
int eigen_threads();

// a[i] = b[i] + s·c[i] (STREAM triad), OpenMP over i, static schedule.
void triad(double* a, const double* b, const double* c, double s, int64_t n);

}  // namespace bench
