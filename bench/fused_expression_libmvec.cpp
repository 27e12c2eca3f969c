// The tuned hand loop of bench_fused_expression (compiled -O3 -march=native -fopenmp
// -fno-math-errno): glibc's vector math library is made visible to GCC. <math.h> declares these
// simd variants only under -ffast-math; declaring them here gives the loop vectorized sin/exp
// (as phijit's kernels get them) without fast-math's other effects.
#include <algorithm>
#include <cmath>

#include "bench/fused_expression_baselines.h"

extern "C" {
__attribute__((__simd__("notinbranch"))) double sin(double) noexcept;
__attribute__((__simd__("notinbranch"))) double exp(double) noexcept;
}

namespace bench {

void fused_loop_libmvec(const double* __restrict a, const double* __restrict b, const double* __restrict c,
                        const double* __restrict d, double* __restrict y, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    double s = std::sqrt(std::abs(b[i] * d[i]));
    y[i] = a[i] * b[i] + 0.5 * std::sin(c[i]) - d[i] / (std::abs(a[i]) + 1.0) +
           std::min(std::max(c[i], -1.0), 1.0) * (a[i] > 0.0 ? s : -s) + 0.1 * std::exp(-0.5 * d[i] * d[i]);
  }
}

}  // namespace bench
