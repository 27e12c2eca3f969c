// The baselines of bench_fused_expression, compiled with -O3 -march=native -fopenmp: the
// expression as hand-written OpenMP loops and as an Eigen array expression, and the triad.
#pragma once

#include <cstdint>

namespace bench {

// y = a*b + 0.5*sin(c) - d/(|a|+1) + min(max(c,-1),1) * where(a>0, s, -s) + 0.1*exp(-0.5*d*d),
// s = sqrt(|b*d|); `#pragma omp parallel for simd` over i.
void fused_loop(const double* a, const double* b, const double* c, const double* d, double* y, int64_t n);
// The same loop, tuned: its translation unit is compiled with -fno-math-errno too (sqrt needs
// no errno branch, which otherwise keeps GCC from vectorizing) and declares glibc's vector math
// (libmvec) variants of sin and exp, as <math.h> does under -ffast-math.
void fused_loop_libmvec(const double* a, const double* b, const double* c, const double* d, double* y,
                        int64_t n);
// The same expression on Eigen::ArrayXd maps, evaluated by Eigen on one thread.
void fused_eigen(const double* a, const double* b, const double* c, const double* d, double* y, int64_t n);
// The same Eigen expression on two (or OMP_NUM_THREADS) contiguous segments, one per thread.
void fused_eigen_omp(const double* a, const double* b, const double* c, const double* d, double* y,
                     int64_t n);
// out = b + s*c (STREAM triad), OpenMP parallel.
void triad(double* out, const double* b, const double* c, double s, int64_t n);
int omp_threads();

}  // namespace bench
