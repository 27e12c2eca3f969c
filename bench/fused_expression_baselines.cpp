// Baselines of bench_fused_expression (compiled -O3 -march=native -fopenmp). Keep the
// expression in the same order of operations as the phijit version in fused_expression.cpp.
#include "bench/fused_expression_baselines.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>

namespace bench {

void fused_loop(const double* __restrict a, const double* __restrict b, const double* __restrict c,
                const double* __restrict d, double* __restrict y, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    double s = std::sqrt(std::abs(b[i] * d[i]));
    y[i] = a[i] * b[i] + 0.5 * std::sin(c[i]) - d[i] / (std::abs(a[i]) + 1.0) +
           std::min(std::max(c[i], -1.0), 1.0) * (a[i] > 0.0 ? s : -s) + 0.1 * std::exp(-0.5 * d[i] * d[i]);
  }
}

namespace {
template <class A>
auto eigen_expression(const A& a, const A& b, const A& c, const A& d) {
  auto s = (b * d).abs().sqrt();
  return a * b + 0.5 * c.sin() - d / (a.abs() + 1.0) + c.max(-1.0).min(1.0) * (a > 0.0).select(s, -s) +
         0.1 * (-0.5 * d * d).exp();
}
}  // namespace

void fused_eigen(const double* a, const double* b, const double* c, const double* d, double* y, int64_t n) {
  using Map = Eigen::Map<const Eigen::ArrayXd, Eigen::Aligned64>;
  Eigen::Map<Eigen::ArrayXd, Eigen::Aligned64> out(y, n);
  out = eigen_expression(Map(a, n), Map(b, n), Map(c, n), Map(d, n));
}

void fused_eigen_omp(const double* a, const double* b, const double* c, const double* d, double* y,
                     int64_t n) {
  using Map = Eigen::Map<const Eigen::ArrayXd>;
#pragma omp parallel
  {
    int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t lo = n * t / nt, len = n * (t + 1) / nt - lo;
    Eigen::Map<Eigen::ArrayXd> out(y + lo, len);
    out = eigen_expression(Map(a + lo, len), Map(b + lo, len), Map(c + lo, len), Map(d + lo, len));
  }
}

void triad(double* __restrict out, const double* __restrict b, const double* __restrict c, double s,
           int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = b[i] + s * c[i];
}

int omp_threads() { return omp_get_max_threads(); }

}  // namespace bench
