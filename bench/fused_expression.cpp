// bench_fused_expression: a 23-op elementwise expression over four 2^24-element f64 arrays,
// through jit_compile, against hand-written OpenMP loops, Eigen and the triad bandwidth.
#include <phijit/phijit.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/fused_expression_baselines.h"
#include "codegen/jit_engine.h"
#include "frontend/tensor_data.h"

using namespace phijit;

namespace {

constexpr int64_t kN = int64_t{1} << 24;
// Same order of operations as the baselines in fused_expression_baselines.cpp.
constexpr const char* kOps =
    "y = a*b + 0.5*sin(c) - d/(abs(a)+1) + minimum(maximum(c,-1),1) * where(a>0, s, -s) + "
    "0.1*exp(-0.5*d*d),\n"
    "    s = sqrt(abs(b*d))\n"
    "23 ops: 8 mul, 4 add, 1 sub, 1 div, 2 abs, 1 sqrt, 1 maximum, 1 minimum, 1 greater, 1 neg, 1 where,\n"
    "        1 sin, 1 exp (2 transcendentals)";

Tensor expression(const Tensor& a, const Tensor& b, const Tensor& c, const Tensor& d) {
  Tensor s = sqrt(abs(b * d));
  return a * b + 0.5 * sin(c) - d / (abs(a) + 1.0) + minimum(maximum(c, -1.0), 1.0) * where(a > 0.0, s, -s) +
         0.1 * exp(-0.5 * d * d);
}

const double* ptr(const Tensor& t) { return static_cast<const double*>(detail::dense_buffer(t)->data()); }

using bench::Array;
using bench::make_array;
using bench::max_abs_diff;

}  // namespace

int main() {
  bench::print_header("bench_fused_expression");
  const int reps = bench::reps_from_env(11);
  const int warmup = 2;
  std::printf(
      "N = 2^24 = %lld doubles per array (%.0f MiB), %d timed repetitions after %d warm-up, median;\n"
      "the variants run in interleaved rounds\n",
      static_cast<long long>(kN), kN * 8.0 / (1 << 20), reps, warmup);
  std::printf("expression:\n%s\n", kOps);
  std::printf(
      "threads: phijit pool %s, OpenMP %d; Eigen runs single-threaded (plus an informative variant on\n"
      "%d contiguous OpenMP segments); its double sin has no SIMD packet in Eigen 3.4, so the whole\n"
      "expression is evaluated by Eigen's scalar path\n\n",
      bench::env_or("PHIJIT_NUM_THREADS", "default").c_str(), bench::omp_threads(), bench::omp_threads());

  Shape shape = spatial("x", kN);
  Tensor a = random_normal(shape, 1), b = random_normal(shape, 2), c = random_normal(shape, 3),
         d = random_normal(shape, 4);
  auto f = jit_compile(expression);

  // Correctness first: every variant against the plain loop.
  Array y_loop = make_array(kN), y_tuned = make_array(kN), y_eigen = make_array(kN),
        y_eigen_omp = make_array(kN), y_triad = make_array(kN);
  bench::fused_loop(ptr(a), ptr(b), ptr(c), ptr(d), y_loop.get(), kN);
  bench::fused_loop_libmvec(ptr(a), ptr(b), ptr(c), ptr(d), y_tuned.get(), kN);
  bench::fused_eigen(ptr(a), ptr(b), ptr(c), ptr(d), y_eigen.get(), kN);
  bench::fused_eigen_omp(ptr(a), ptr(b), ptr(c), ptr(d), y_eigen_omp.get(), kN);
  auto& engine = codegen::JitEngine::instance();
  const int64_t compiles0 = engine.compile_count(), hits0 = engine.disk_hit_count();
  auto t_first = bench::Clock::now();
  Tensor y = f(a, b, c, d);
  double first_call = bench::seconds_since(t_first);
  double diffs[4] = {max_abs_diff(ptr(y), y_loop.get(), kN), max_abs_diff(y_tuned.get(), y_loop.get(), kN),
                     max_abs_diff(y_eigen.get(), y_loop.get(), kN),
                     max_abs_diff(y_eigen_omp.get(), y_loop.get(), kN)};
  std::printf(
      "check (max abs diff against the plain loop): phijit %.2e, tuned loop %.2e, Eigen %.2e, "
      "Eigen/omp %.2e\n",
      diffs[0], diffs[1], diffs[2], diffs[3]);
  for (double diff : diffs) {
    if (!(diff <= 1e-10)) {
      std::printf("FAILED: results disagree by more than 1e-10\n");
      return 1;
    }
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
  run("phijit jit_compile", [&] { Tensor out = f(a, b, c, d); });
  run("loop -O3 -march=native (omp simd)",
      [&] { bench::fused_loop(ptr(a), ptr(b), ptr(c), ptr(d), y_loop.get(), kN); });
  run("loop tuned (+no-math-errno, libmvec)",
      [&] { bench::fused_loop_libmvec(ptr(a), ptr(b), ptr(c), ptr(d), y_tuned.get(), kN); });
  run("loop tuned, aligned_alloc per call", [&] {
    auto* out = static_cast<double*>(std::aligned_alloc(64, kN * sizeof(double)));
    bench::fused_loop_libmvec(ptr(a), ptr(b), ptr(c), ptr(d), out, kN);
    std::free(out);
  });
  run("Eigen ArrayXd (1 thread)",
      [&] { bench::fused_eigen(ptr(a), ptr(b), ptr(c), ptr(d), y_eigen.get(), kN); });
  run("Eigen ArrayXd (omp segments)",
      [&] { bench::fused_eigen_omp(ptr(a), ptr(b), ptr(c), ptr(d), y_eigen_omp.get(), kN); });
  run("triad a = b + s*c (roofline)", [&] { bench::triad(y_triad.get(), ptr(b), ptr(c), 0.5, kN); });

  struct Row {
    std::string name;
    bench::Timing t;
  };
  std::vector<Row> rows;
  std::vector<bench::Timing> timings = bench::time_interleaved(variants, warmup, reps);
  for (size_t k = 0; k < variants.size(); ++k) rows.push_back({variants[k].name, timings[k]});

  const double bytes = 5.0 * 8.0 * kN;  // 4 arrays read + 1 written
  const double triad_bytes = 3.0 * 8.0 * kN;
  const double triad_gbs = triad_bytes / rows.back().t.median / 1e9;
  const double phijit_s = rows[0].t.median;
  std::printf("%-40s %10s %10s %10s %9s %9s\n", "variant", "median ms", "min ms", "GB/s", "% triad",
              "phijit/x");
  for (const Row& r : rows) {
    bool is_triad = &r == &rows.back();
    double gbs = (is_triad ? triad_bytes : bytes) / r.t.median / 1e9;
    std::printf("%-40s %10.2f %10.2f %10.1f %8.0f%% %9.2f\n", r.name.c_str(), r.t.median * 1e3, r.t.min * 1e3,
                gbs, 100 * gbs / triad_gbs, phijit_s / r.t.median);
  }
  std::printf(
      "(GB/s counts 5 x 8 B x N for the expression, 3 x 8 B x N for the triad; write-allocate not "
      "counted)\n\n");
  const double vs_loop = phijit_s / rows[1].t.median, vs_tuned = phijit_s / rows[2].t.median;
  const double vs_best = phijit_s / std::min(rows[1].t.median, rows[2].t.median);
  const double vs_eigen = phijit_s / rows[4].t.median;
  std::printf(
      "RATIO phijit/loop -O3 = %.2f, phijit/tuned loop = %.2f, phijit/Eigen = %.2f, phijit/Eigen-omp = "
      "%.2f\n",
      vs_loop, vs_tuned, vs_eigen, phijit_s / rows[5].t.median);
  std::printf("RESULT phijit %.2f ms = %.1f GB/s (%.0f%% of triad %.1f GB/s)\n", phijit_s * 1e3,
              bytes / phijit_s / 1e9, 100 * bytes / phijit_s / 1e9 / triad_gbs, triad_gbs);
  // DESIGN.md: a phijit kernel matches g++ -O3 -march=native; 10% is the noise allowance.
  bench::print_goal("phijit / best preallocated hand loop", vs_best, 1.10, "x");
  return 0;
}
