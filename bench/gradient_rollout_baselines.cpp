// Baselines of bench_gradient_rollout (compiled -O3 -march=native -fopenmp).
#include "bench/gradient_rollout_baselines.h"

#include <algorithm>
#include <cstring>

namespace bench {

namespace {

// out = u + 0.1·laplace(u) + c·w·u·u·v: the forward step is (w = u, v = u, c = −0.01) and the
// adjoint step (w = u_k, v = λ, c = −0.03) have the same shape, since the zero-gradient
// Laplacian is symmetric (Lᵀ = L).
void step(const double* __restrict u, const double* __restrict w, double c, double* __restrict out,
          int64_t nx, int64_t ny) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < nx; ++i) {
    const double* __restrict up = u + std::max<int64_t>(i - 1, 0) * ny;
    const double* __restrict dn = u + std::min(i + 1, nx - 1) * ny;
    const double* __restrict r = u + i * ny;
    const double* __restrict wr = w + i * ny;
    double* __restrict o = out + i * ny;
    auto cell = [&](int64_t j, double left, double right) {
      double lap = dn[j] + up[j] + left + right - 4 * r[j];
      o[j] = r[j] + 0.1 * lap + c * wr[j] * wr[j] * r[j];
    };
    cell(0, r[0], r[1]);
#pragma omp simd
    for (int64_t j = 1; j < ny - 1; ++j) {
      double lap = dn[j] + up[j] + r[j - 1] + r[j + 1] - 4 * r[j];
      o[j] = r[j] + 0.1 * lap + c * wr[j] * wr[j] * r[j];
    }
    cell(ny - 1, r[ny - 2], r[ny - 1]);
  }
}

double half_square_sum(const double* u, int64_t n) {
  double s = 0;
#pragma omp parallel for simd reduction(+ : s) schedule(static)
  for (int64_t i = 0; i < n; ++i) s += u[i] * u[i];
  return s / 2;
}

}  // namespace

double rollout_loss(const double* u0, int64_t nx, int64_t ny, int steps, double* a, double* b) {
  const double* u = u0;
  for (int k = 0; k < steps; ++k) {
    double* out = k % 2 == 0 ? a : b;
    step(u, u, -0.01, out, nx, ny);
    u = out;
  }
  return half_square_sum(u, nx * ny);
}

double rollout_loss_and_gradient(const double* u0, int64_t nx, int64_t ny, int steps, double* states,
                                 double* lambda, double* work) {
  int64_t n = nx * ny;
  std::memcpy(states, u0, static_cast<size_t>(n) * sizeof(double));
  for (int k = 0; k < steps; ++k) step(states + k * n, states + k * n, -0.01, states + (k + 1) * n, nx, ny);
  const double* last = states + static_cast<int64_t>(steps) * n;
  double loss = half_square_sum(last, n);
  std::memcpy(lambda, last, static_cast<size_t>(n) * sizeof(double));  // d(½|u|²)/du = u
  for (int k = steps - 1; k >= 0; --k) {
    step(lambda, states + k * n, -0.03, work, nx, ny);
    std::swap(lambda, work);
  }
  if (steps % 2 == 1) std::memcpy(work, lambda, static_cast<size_t>(n) * sizeof(double));
  return loss;
}

}  // namespace bench
