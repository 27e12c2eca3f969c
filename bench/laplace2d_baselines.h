// The baselines of bench_laplace2d, compiled with -O3 -march=native -fopenmp.
#pragma once

#include <cstdint>

namespace bench {

// y = laplace(x) on an nx × ny row-major grid (y fastest), zero outside the grid, dx = 1:
// (x[i+1,j] - 2x[i,j] + x[i-1,j]) + (x[i,j+1] - 2x[i,j] + x[i,j-1]). OpenMP over rows.
void laplace_loop(const double* x, double* y, int64_t nx, int64_t ny);
// y = s*x (STREAM scale): the same memory traffic as the stencil, 1 read and 1 write stream.
void scale(double* y, const double* x, double s, int64_t n);
int omp_threads();

}  // namespace bench
