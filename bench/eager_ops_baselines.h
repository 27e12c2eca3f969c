// The baselines of bench_eager_ops: hand-written loops split over phijit's thread pool,
// compiled -O3 -march=native.
#pragma once

#include <cstdint>

namespace bench {

void add_loop(const double* a, const double* b, double* c, int64_t n);  // c = a + b
double sum_loop(const double* a, int64_t n);

}  // namespace bench
