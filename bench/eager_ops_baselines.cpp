// Baselines of bench_eager_ops (compiled -O3 -march=native): plain loops split into blocks over
// phijit's own thread pool (the threads the eager ops use; an OpenMP team next to the pool
// makes both wait for each other's spinning threads on a 2-core machine).
#include "bench/eager_ops_baselines.h"

#include <algorithm>
#include <vector>

#include "runtime/thread_pool.h"

namespace bench {

namespace {
constexpr int64_t kInline = 1 << 15;  // below this, one thread (waking the pool costs more)

template <class Body>
void blocks(int64_t n, Body body) {
  auto& pool = phijit::runtime::ThreadPool::instance();
  int64_t count = n < kInline ? 1 : pool.size();
  if (count == 1) {
    body(0, 0, n);
    return;
  }
  pool.parallel_for(count, [&](int64_t k) { body(k, n * k / count, n * (k + 1) / count); });
}
}  // namespace

void add_loop(const double* __restrict a, const double* __restrict b, double* __restrict c, int64_t n) {
  blocks(n, [&](int64_t, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) c[i] = a[i] + b[i];
  });
}

double sum_loop(const double* __restrict a, int64_t n) {
  std::vector<double> partial(64, 0.0);
  blocks(n, [&](int64_t k, int64_t i0, int64_t i1) {
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // independent sums for the vector lanes
    int64_t i = i0;
    for (; i + 8 <= i1; i += 8) {
      for (int q = 0; q < 8; ++q) s[q] += a[i + q];
    }
    for (; i < i1; ++i) s[0] += a[i];
    partial[static_cast<size_t>(k)] = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  });
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace bench
