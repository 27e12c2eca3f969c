// Baselines of bench_eager_ops (compiled -O3 -march=native -fopenmp).
#include "bench/eager_ops_baselines.h"

namespace bench {

void add_loop(const double* __restrict a, const double* __restrict b, double* __restrict c, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= (1 << 15))
  for (int64_t i = 0; i < n; ++i) c[i] = a[i] + b[i];
}

double sum_loop(const double* __restrict a, int64_t n) {
  double s = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : s) if (n >= (1 << 15))
  for (int64_t i = 0; i < n; ++i) s += a[i];
  return s;
}

}  // namespace bench
