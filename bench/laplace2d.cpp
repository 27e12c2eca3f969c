// bench_laplace2d: laplace(x) with ZERO padding on a 2048 × 2048 grid through jit_compile,
// against a hand-written OpenMP loop and the bandwidth of a copy with the same traffic.
#include <phijit/phijit.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/laplace2d_baselines.h"
#include "codegen/jit_engine.h"
#include "frontend/tensor_data.h"

using namespace phijit;

namespace {

constexpr int64_t kNx = 2048, kNy = 2048, kN = kNx * kNy;

const double* ptr(const Tensor& t) { return static_cast<const double*>(detail::dense_buffer(t)->data()); }

using bench::Array;
using bench::make_array;
using bench::max_abs_diff;

}  // namespace

int main() {
  bench::print_header("bench_laplace2d");
  const int reps = bench::reps_from_env(21);
  const int warmup = 3;
  std::printf(
      "laplace(x, ZERO) on spatial x=%lld, y=%lld (y fastest), f64, %.0f MiB per array; %d timed\n"
      "repetitions after %d warm-up, median; the variants run in interleaved rounds; phijit pool %s\n"
      "threads, OpenMP %d threads\n",
      static_cast<long long>(kNx), static_cast<long long>(kNy), kN * 8.0 / (1 << 20), reps, warmup,
      bench::env_or("PHIJIT_NUM_THREADS", "default").c_str(), bench::omp_threads());

  Tensor x = random_normal(spatial("x", kNx) & spatial("y", kNy), 7);
  auto f = jit_compile([](const Tensor& u) { return laplace(u, extrapolation::ZERO); });

  Array y_loop = make_array(kN), y_scale = make_array(kN);
  bench::laplace_loop(ptr(x), y_loop.get(), kNx, kNy);
  auto& engine = codegen::JitEngine::instance();
  const int64_t compiles0 = engine.compile_count(), hits0 = engine.disk_hit_count();
  auto t_first = bench::Clock::now();
  Tensor y = f(x);
  double first_call = bench::seconds_since(t_first);
  double diff = max_abs_diff(ptr(y), y_loop.get(), kN);
  // The eager (reference interpreter) result as a third opinion on the boundary handling.
  double diff_eager = max_abs_diff(ptr(laplace(x, extrapolation::ZERO)), y_loop.get(), kN);
  std::printf("check (max abs diff against the loop): phijit %.2e, eager interpreter %.2e\n", diff,
              diff_eager);
  if (!(diff <= 1e-12) || !(diff_eager <= 1e-12)) {
    std::printf("FAILED: results disagree by more than 1e-12\n");
    return 1;
  }
  std::printf(
      "phijit first call (trace + compile or disk-cache load + run): %.1f ms (%lld compiled, %lld from the\n"
      "disk cache%s)\n\n",
      first_call * 1e3, static_cast<long long>(engine.compile_count() - compiles0),
      static_cast<long long>(engine.disk_hit_count() - hits0),
      engine.cache_dir().empty() ? ", disabled" : (", " + engine.cache_dir()).c_str());
  y = Tensor();

  std::vector<bench::Variant> variants;
  auto run = [&](const char* name, std::function<void()> fn) { variants.push_back({name, std::move(fn)}); };
  run("phijit jit_compile", [&] { Tensor out = f(x); });
  run("loop -O3 -march=native (omp)", [&] { bench::laplace_loop(ptr(x), y_loop.get(), kNx, kNy); });
  run("scale y = s*x (roofline)", [&] { bench::scale(y_scale.get(), ptr(x), 0.5, kN); });

  struct Row {
    std::string name;
    bench::Timing t;
  };
  std::vector<Row> rows;
  std::vector<bench::Timing> timings = bench::time_interleaved(variants, warmup, reps);
  for (size_t k = 0; k < variants.size(); ++k) rows.push_back({variants[k].name, timings[k]});

  const double bytes = 2.0 * 8.0 * kN;  // x read once, y written once
  const double roof_gbs = bytes / rows.back().t.median / 1e9;
  const double phijit_s = rows[0].t.median;
  std::printf("%-34s %10s %10s %10s %9s %9s\n", "variant", "median ms", "min ms", "GB/s", "% scale",
              "phijit/x");
  for (const Row& r : rows) {
    double gbs = bytes / r.t.median / 1e9;
    std::printf("%-34s %10.3f %10.3f %10.1f %8.0f%% %9.2f\n", r.name.c_str(), r.t.median * 1e3, r.t.min * 1e3,
                gbs, 100 * gbs / roof_gbs, phijit_s / r.t.median);
  }
  std::printf("(GB/s counts 2 x 8 B x N: the grid read once, the result written once)\n\n");
  const double vs_loop = phijit_s / rows[1].t.median;
  std::printf("RATIO phijit/loop = %.2f\n", vs_loop);
  std::printf("RESULT phijit %.3f ms = %.1f GB/s (%.0f%% of scale %.1f GB/s)\n", phijit_s * 1e3,
              bytes / phijit_s / 1e9, 100 * bytes / phijit_s / 1e9 / roof_gbs, roof_gbs);
  bench::print_goal("phijit / hand loop", vs_loop, 1.10, "x");
  return 0;
}
