// Baselines of bench_laplace2d (compiled -O3 -march=native -fopenmp).
#include "bench/laplace2d_baselines.h"

#include <omp.h>

#include <cstddef>
#include <vector>

namespace bench {

void laplace_loop(const double* __restrict x, double* __restrict y, int64_t nx, int64_t ny) {
  // Rows outside the grid read this row of zeros; columns outside are peeled off.
  static const std::vector<double> zero_row(static_cast<std::size_t>(ny) + 64, 0.0);
  const double* zero = zero_row.data();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < nx; ++i) {
    const double* __restrict up = i > 0 ? x + (i - 1) * ny : zero;
    const double* __restrict dn = i + 1 < nx ? x + (i + 1) * ny : zero;
    const double* __restrict r = x + i * ny;
    double* __restrict o = y + i * ny;
    o[0] = (dn[0] - 2 * r[0] + up[0]) + (r[1] - 2 * r[0]);
#pragma omp simd
    for (int64_t j = 1; j < ny - 1; ++j) o[j] = (dn[j] - 2 * r[j] + up[j]) + (r[j + 1] - 2 * r[j] + r[j - 1]);
    o[ny - 1] = (dn[ny - 1] - 2 * r[ny - 1] + up[ny - 1]) + (-2 * r[ny - 1] + r[ny - 2]);
  }
}

void scale(double* __restrict y, const double* __restrict x, double s, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) y[i] = s * x[i];
}

int omp_threads() { return omp_get_max_threads(); }

}  // namespace bench
