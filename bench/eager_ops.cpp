// bench_eager_ops: eager tensor math (one op per call, no jit_compile) against hand-written
// threaded loops on the same data, and the figures numpy 1.24 gave on this machine (issue 12).
#include <phijit/phijit.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/eager_ops_baselines.h"
#include "bench/laplace2d_baselines.h"
#include "frontend/collapsed.h"
#include "frontend/eager.h"
#include "frontend/tensor_data.h"

using namespace phijit;

namespace {

const double* ptr(const Tensor& t) { return static_cast<const double*>(detail::dense_buffer(t)->data()); }

struct Case {
  std::string name;
  double numpy_ms;  // numpy 1.24, single-threaded, measured on this machine (issue 12); 0: none
  double goal;      // phijit / loop; 0: no goal
  double bytes;     // values read and written, in bytes
  std::function<void()> phijit, loop;
  std::function<double()> check;  // max abs difference of the results
  int calls_per_sample = 1;
};

bool report(const Case& c, const bench::Timing& p, const bench::Timing& l) {
  double ratio = p.median / l.median;
  std::printf("%-28s phijit %9.3f ms  loop %9.3f ms  ratio %5.2f", c.name.c_str(), p.median * 1e3,
              l.median * 1e3, ratio);
  if (c.numpy_ms > 0)
    std::printf("  numpy %7.3f ms (%.1fx phijit)", c.numpy_ms, c.numpy_ms / (p.median * 1e3));
  std::printf("\n");
  // Traffic of the op (each value read or written once) against the time: the bandwidth reached.
  std::printf("%-28s %.1f GB/s\n", "", c.bytes / p.median * 1e-9);
  if (c.goal <= 0) return true;  // reported only: small ops, where the call itself is most of the time
  return bench::print_goal(("eager " + c.name + " / loop").c_str(), ratio, c.goal, "x");
}

}  // namespace

int main() {
  bench::print_header("bench_eager_ops");
  const int reps = bench::reps_from_env(11);
  std::printf(
      "f64, one eager op per call; %d timed repetitions after 2 warm-up, median; phijit and the\n"
      "hand loop (blocks over the same thread pool) in interleaved rounds; the loop writes into a\n"
      "preallocated array; laplace's loop is bench_laplace2d's (OpenMP)\n\n",
      reps);
  std::vector<Case> cases;
  for (int64_t n : {int64_t{8192}, int64_t{131072}, int64_t{1} << 20}) {
    Tensor a = random_normal(spatial("x", n), 1), b = random_normal(spatial("x", n), 2);
    auto c = std::make_shared<std::vector<double>>(static_cast<size_t>(n));
    auto result = std::make_shared<Tensor>();
    double numpy = n == 8192 ? 0.005 : n == 131072 ? 0.13 : 2.1;
    cases.push_back({fmt::format("a + b, {} values", n), numpy, n >= 131072 ? 1.3 : 0.0, 24.0 * n,
                     [=] { *result = a + b; }, [=] { bench::add_loop(ptr(a), ptr(b), c->data(), n); },
                     [=] {
                       *result = a + b;
                       bench::add_loop(ptr(a), ptr(b), c->data(), n);
                       return bench::max_abs_diff(ptr(*result), c->data(), n);
                     },
                     static_cast<int>(std::max<int64_t>(1, (int64_t{1} << 22) / n))});
  }
  {
    const int64_t n = int64_t{1} << 20;
    Tensor a = random_normal(spatial("x", n), 3);
    auto s = std::make_shared<double>(0);
    cases.push_back({"sum(a), 2^20 values", 0.88, 1.3, 8.0 * n, [=] { *s = sum(a).item(); },
                     [=] { *s = bench::sum_loop(ptr(a), n); },
                     [=] { return std::abs(sum(a).item() - bench::sum_loop(ptr(a), n)) / n; }});
  }
  {
    const int64_t nx = 1024, ny = 1024;
    Tensor x = random_normal(spatial("x", nx) & spatial("y", ny), 4);
    auto y = std::make_shared<std::vector<double>>(static_cast<size_t>(nx * ny));
    auto result = std::make_shared<Tensor>();
    cases.push_back({"laplace 2D, 1024^2 cells", 30, 1.5, 16.0 * nx * ny, [=] { *result = laplace(x); },
                     [=] { bench::laplace_loop(ptr(x), y->data(), nx, ny); },
                     [=] {
                       *result = laplace(x);
                       bench::laplace_loop(ptr(x), y->data(), nx, ny);
                       return bench::max_abs_diff(ptr(*result), y->data(), nx * ny);
                     }});
  }

  bool ok = true;
  for (const Case& c : cases) {
    double diff = c.check();
    if (!(diff <= 1e-12)) {
      std::printf("FAILED: %s differs from the loop by %.2e\n", c.name.c_str(), diff);
      ok = false;
      continue;
    }
    // Small ops are timed in runs of many calls: a single call after the pause between variants
    // would time the wake-up of caches and threads.
    auto repeated = [n = c.calls_per_sample](const std::function<void()>& f) {
      return [n, f] {
        for (int i = 0; i < n; ++i) f();
      };
    };
    std::vector<bench::Timing> t =
        bench::time_interleaved({{"phijit", repeated(c.phijit)}, {"loop", repeated(c.loop)}}, 2, reps);
    for (bench::Timing& x : t) x.median /= c.calls_per_sample;
    ok &= report(c, t[0], t[1]);
  }

  // The cost of an op beyond its arithmetic: a + b on one element, many times.
  Tensor one = tensor({1.5}, Shape()), two = tensor({2.5}, Shape());
  const int calls = 100000;
  std::vector<double> per_op;
  for (int r = 0; r < reps; ++r) {
    auto t0 = bench::Clock::now();
    Tensor acc;
    for (int i = 0; i < calls; ++i) acc = one + two;
    per_op.push_back(bench::seconds_since(t0) / calls);
  }
  double overhead_us = bench::median(per_op) * 1e6;
  std::printf("\nper-op overhead, a + b on 1 element: %.3f us (median of %d runs of %d ops)\n", overhead_us,
              reps, calls);
  ok &= bench::print_goal("eager per-op overhead, 1 element", overhead_us, 2.0, "us");
  std::printf("eager kernels compiled or loaded: %d\n", detail::eager_kernel_count());
  return ok ? 0 : 1;
}
