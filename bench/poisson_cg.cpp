// bench_poisson_cg: conjugate gradients on the 2D Poisson problem −laplace(x) = y with zero
// boundary on 512² and 1024² grids (f64), against Eigen's ConjugateGradient on the same matrix:
// (a) 200 fixed iterations on the CSR matrix, (b) the same through the jit_compile_linear
// function (matrix-free: the stencil runs as compiled kernels), with the achieved bandwidth
// against a STREAM triad, (c) the time to rel_tol 1e-6 without and with an ILU(0) preconditioner.
#include <phijit/phijit.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "bench/bench_util.h"
#include "bench/poisson_cg_baselines.h"

using namespace phijit;

namespace {

constexpr int kIterations = 200;
constexpr int kThreads = 2;
// The triad's arrays: 8 Mi doubles = 64 MiB each.
constexpr int64_t kTriadN = int64_t{8} << 20;

// The operator; a lambda, as a user would write it.
const auto neg_laplace = [](const Tensor& x) { return -laplace(x, extrapolation::ZERO); };
using LinearF = decltype(jit_compile_linear(neg_laplace));

struct Result {
  int64_t n = 0, rows = 0, nnz = 0;
  double csr_s = 0, mf_s = 0, eigen_s = 0, triad_s = 0;  // medians, seconds per solve / per triad
  double csr_bytes = 0, mf_bytes = 0, eigen_bytes = 0;   // modelled bytes per iteration
  // (c): time to rel_tol 1e-6
  double none_s = 0, ilu_extract_s = 0, ilu_first_s = 0, ilu_cached_s = 0, eigen_tol_s = 0;
  int64_t none_it = 0, ilu_it = 0, eigen_tol_it = 0;
};

double norm(const std::vector<double>& v) {
  double s = 0;
  for (double e : v) s += e * e;
  return std::sqrt(s);
}

double rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return std::sqrt(s) / norm(b);
}

// The solution as a flat vector in x0's dim order (x slowest, y fastest), or empty if the
// solve returned its dims in another order.
std::vector<double> flat(const Tensor& x, const Shape& shape) {
  if (x.shape().names() != shape.names()) {
    std::printf("FAILED: the solution has dims %s, expected %s\n", x.shape().str().c_str(),
                shape.str().c_str());
    return {};
  }
  return x.to_vector();
}

// Runs one solve under a SolveTape; returns the recorded info (the last solve on the tape).
template <class Fn>
SolveInfo taped(Fn&& fn) {
  SolveTape tape;
  fn();
  if (tape.size() == 0) {
    std::printf("FAILED: the solve recorded nothing on the SolveTape\n");
    std::exit(1);
  }
  return tape[tape.size() - 1];
}

// Eigen's time to 1e-6 with its iterations, or "-" where it was not run.
std::string eigen_to_tol_str(const Result& r) {
  if (std::isnan(r.eigen_tol_s)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f ms (%lld it)", r.eigen_tol_s * 1e3,
                static_cast<long long>(r.eigen_tol_it));
  return buf;
}

int64_t iterations(const SolveInfo& info) { return static_cast<int64_t>(info.iterations.item()); }

// The checks of one grid, outside the timing: phijit's matrix against Eigen's, 200 iterations
// done by each variant, and their solutions after 200 iterations against Eigen's.
bool check(int64_t n, const Shape& shape, const LinearF& f, const Tensor& A, const Tensor& y,
           const Solve& fixed, const bench::EigenPoissonCG& eigen, const std::vector<double>& b) {
  const int64_t rows = eigen.rows();
  Tensor v = random_normal(shape, 17);
  std::vector<double> v_values = v.to_vector();
  std::vector<double> av_phijit = matmul(A, v).to_vector(), av_eigen(static_cast<size_t>(rows));
  eigen.multiply(v_values.data(), av_eigen.data());
  double a_diff = static_cast<int64_t>(av_phijit.size()) == rows
                      ? bench::max_abs_diff(av_phijit.data(), av_eigen.data(), rows)
                      : INFINITY;
  std::vector<double> fv = f(v).to_vector();
  double f_diff = static_cast<int64_t>(fv.size()) == rows
                      ? bench::max_abs_diff(fv.data(), av_eigen.data(), rows)
                      : INFINITY;

  SolveInfo csr = taped([&] { solve_linear(A, y, fixed); });
  SolveInfo mf = taped([&] { solve_linear(f, y, fixed); });
  std::vector<double> x_eigen(static_cast<size_t>(rows));
  int64_t eigen_it = eigen.solve(b.data(), x_eigen.data(), kIterations, 0.0);
  std::vector<double> x_csr = flat(csr.x, shape), x_mf = flat(mf.x, shape);
  double d_csr = rel_diff(x_csr, x_eigen), d_mf = rel_diff(x_mf, x_eigen);
  double r_csr = norm(csr.residual.to_vector()) / norm(b), r_mf = norm(mf.residual.to_vector()) / norm(b);

  std::printf(
      "n=%lld check: A %s, nnz phijit %lld vs Eigen %lld, max |A v - A_eigen v| %.1e, max |f(v) - A_eigen v| "
      "%.1e\n",
      static_cast<long long>(n), A.is_sparse() ? "sparse" : "DENSE", static_cast<long long>(nnz(A)),
      static_cast<long long>(eigen.nonzeros()), a_diff, f_diff);
  std::printf(
      "n=%lld check: iterations phijit CSR %lld (%s), matrix-free %lld (%s), Eigen %lld; |r|/|y| after %d: "
      "phijit CSR %.3e, matrix-free %.3e, Eigen %.3e\n",
      static_cast<long long>(n), static_cast<long long>(iterations(csr)), csr.method.c_str(),
      static_cast<long long>(iterations(mf)), mf.method.c_str(), static_cast<long long>(eigen_it),
      kIterations, r_csr, r_mf, eigen.last_error());
  std::printf(
      "n=%lld check: |x - x_eigen| / |x_eigen| after %d iterations: phijit CSR %.2e, matrix-free %.2e\n",
      static_cast<long long>(n), kIterations, d_csr, d_mf);
  bool ok = A.is_sparse() && nnz(A) == eigen.nonzeros() && a_diff <= 1e-12 && f_diff <= 1e-12 &&
            iterations(csr) == kIterations && iterations(mf) == kIterations && eigen_it == kIterations &&
            csr.method == "CG" && mf.method == "CG" && d_csr <= 1e-8 && d_mf <= 1e-8;
  if (!ok) std::printf("FAILED: n=%lld: the checks above do not hold\n", static_cast<long long>(n));
  return ok;
}

}  // namespace

int main() {
  bench::print_header("bench_poisson_cg");
  const int reps = bench::reps_from_env(5);
  const int warmup = 1;
  const int eigen_threads = bench::set_threads(kThreads);
  std::printf(
      "CG on -laplace(x, ZERO) = y (5-point, 4 on the diagonal), n x n grid, f64,\n"
      "y = random_normal(seed 42), x0 = 0.\n"
      "(a) %d iterations (rel_tol = abs_tol = 0) with the CSR matrix of jit_compile_linear(f).matrix;\n"
      "(b) the same through the jit_compile_linear function (matrix-free);\n"
      "    baseline: Eigen ConjugateGradient<SparseMatrix<double, RowMajor>, Lower|Upper,\n"
      "    IdentityPreconditioner> with setTolerance(0) on the same matrix;\n"
      "(c) CG to rel_tol 1e-6 through the function, without and with preconditioner \"ilu\".\n"
      "(a)/(b): %d timed repetitions after %d warm-up, median; the variants (and a STREAM triad on\n"
      "3 x 64 MiB) run in interleaved rounds. (c): median of 3 solves at n=512, one solve at n=1024\n"
      "(Eigen's time to 1e-6 as a reference at n=512 only). phijit pool %s threads, Eigen/OpenMP %d "
      "threads.\n\n",
      kIterations, reps, warmup, bench::env_or("PHIJIT_NUM_THREADS", "default").c_str(), eigen_threads);

  bench::Array ta = bench::make_array(kTriadN), tb = bench::make_array(kTriadN),
               tc = bench::make_array(kTriadN);
  for (int64_t i = 0; i < kTriadN; ++i) {
    tb[i] = 1.0 + static_cast<double>(i % 7);
    tc[i] = 0.5 * static_cast<double>(i % 5);
  }

  std::vector<Result> results;
  bool all_ok = true;
  for (int64_t n : {int64_t{512}, int64_t{1024}}) {
    Shape shape = spatial("x", n) & spatial("y", n);
    Tensor x0 = zeros(shape);
    Tensor y = random_normal(shape, 42);
    std::vector<double> b = y.to_vector();
    auto f = jit_compile_linear(neg_laplace);
    auto t_extract = bench::Clock::now();
    Tensor A = f.matrix(x0).first;
    const double extract_s = bench::seconds_since(t_extract);
    bench::EigenPoissonCG eigen(n);
    std::printf("n=%lld: %lld unknowns, first matrix extraction (untimed) %.1f ms\n",
                static_cast<long long>(n), static_cast<long long>(n * n), extract_s * 1e3);

    const Solve fixed{.method = "CG",
                      .rel_tol = 0,
                      .abs_tol = 0,
                      .x0 = x0,
                      .max_iterations = kIterations,
                      .suppress = {Failure::not_converged}};
    if (!check(n, shape, f, A, y, fixed, eigen, b)) {
      all_ok = false;
      continue;
    }

    // (a), (b): fixed iterations, interleaved with the triad.
    std::vector<double> x_eigen(static_cast<size_t>(n * n));
    std::vector<bench::Variant> variants;
    double sink = 0;
    variants.push_back({"phijit CSR", [&] { sink += solve_linear(A, y, fixed).shape().volume(); }});
    variants.push_back({"phijit matrix-free", [&] { sink += solve_linear(f, y, fixed).shape().volume(); }});
    variants.push_back({"Eigen CG", [&] {
                          sink +=
                              static_cast<double>(eigen.solve(b.data(), x_eigen.data(), kIterations, 0.0));
                        }});
    variants.push_back({"triad", [&] { bench::triad(ta.get(), tb.get(), tc.get(), 0.5, kTriadN); }});
    std::vector<bench::Timing> t = bench::time_interleaved(variants, warmup, reps);
    if (!(sink > 0)) std::abort();

    Result r;
    r.n = n;
    r.rows = n * n;
    r.nnz = eigen.nonzeros();
    r.csr_s = t[0].median;
    r.mf_s = t[1].median;
    r.eigen_s = t[2].median;
    r.triad_s = t[3].median;
    const auto N = static_cast<double>(r.rows), nz = static_cast<double>(r.nnz);
    // phijit cg(), per iteration: the operator, p·Ap (16 B), x += αp & r −= αAp with r·r
    // (read x, p, r, Ap, write x, r: 48 B), p = r + βp (24 B) — 88 B of vector passes.
    // Matrix-free operator: reads p, writes Ap (16 B). CSR: 12 B per entry (f64 value, i32
    // column), an i64 row pointer per row, p read once (ideal caching), Ap written.
    r.mf_bytes = (16 + 88) * N;
    r.csr_bytes = 12 * nz + 8 * (N + 1) + 16 * N + 88 * N;
    // Eigen's loop: A·p (i32 outer index), p·tmp 16, x += αp 24, r −= α·tmp 24, r·r 8,
    // z = r (identity preconditioner: a copy) 16, r·z 16, p = z + βp 24 — 128 B.
    r.eigen_bytes = 12 * nz + 4 * (N + 1) + 16 * N + 128 * N;
    std::printf(
        "n=%lld timed (median, min..max ms per %d-iteration solve): phijit CSR %.1f (%.1f..%.1f), "
        "matrix-free "
        "%.1f (%.1f..%.1f), Eigen %.1f (%.1f..%.1f); triad %.2f ms\n",
        static_cast<long long>(n), kIterations, t[0].median * 1e3, t[0].min * 1e3, t[0].max * 1e3,
        t[1].median * 1e3, t[1].min * 1e3, t[1].max * 1e3, t[2].median * 1e3, t[2].min * 1e3, t[2].max * 1e3,
        t[3].median * 1e3);

    // (c): to rel_tol 1e-6 through the function.
    const Solve to_tol{.method = "CG", .rel_tol = 1e-6, .abs_tol = 0, .x0 = x0, .max_iterations = 100000};
    Solve to_tol_ilu = to_tol;
    to_tol_ilu.preconditioner = "ilu";
    std::vector<double> none_s, extract, first, cached, eigen_tol;
    const int reps_tol = n <= 512 ? 3 : 1;  // a solve at n=1024 takes tens of seconds
    const bool eigen_to_tol = n <= 512;
    for (int k = 0; k < reps_tol; ++k) {
      bench::settle();
      auto t0 = bench::Clock::now();
      SolveInfo none = taped([&] { solve_linear(f, y, to_tol); });
      none_s.push_back(bench::seconds_since(t0));
      r.none_it = iterations(none);
      // A fresh function: its matrix is extracted anew, and its ILU factorization is built by
      // the first solve and kept with the matrix for the second.
      auto g = jit_compile_linear(neg_laplace);
      bench::settle();
      t0 = bench::Clock::now();
      Tensor Ag = g.matrix(x0).first;
      extract.push_back(bench::seconds_since(t0));
      bench::settle();
      t0 = bench::Clock::now();
      SolveInfo ilu1 = taped([&] { solve_linear(g, y, to_tol_ilu); });
      first.push_back(bench::seconds_since(t0));
      bench::settle();
      t0 = bench::Clock::now();
      SolveInfo ilu2 = taped([&] { solve_linear(g, y, to_tol_ilu); });
      cached.push_back(bench::seconds_since(t0));
      r.ilu_it = iterations(ilu2);
      bool converged = none.converged.item() != 0 && ilu1.converged.item() != 0 &&
                       ilu2.converged.item() != 0 && iterations(ilu1) == iterations(ilu2);
      if (!converged) {
        std::printf("FAILED: n=%lld: a solve to 1e-6 did not converge (or the ILU solves differ)\n",
                    static_cast<long long>(n));
        all_ok = false;
      }
      if (eigen_to_tol) {
        bench::settle();
        t0 = bench::Clock::now();
        r.eigen_tol_it = eigen.solve(b.data(), x_eigen.data(), 100000, 1e-6);
        eigen_tol.push_back(bench::seconds_since(t0));
      }
    }
    r.none_s = bench::median(none_s);
    r.ilu_extract_s = bench::median(extract);
    r.ilu_first_s = bench::median(first);
    r.ilu_cached_s = bench::median(cached);
    r.eigen_tol_s = eigen_to_tol ? bench::median(eigen_tol) : NAN;
    std::printf(
        "n=%lld to rel_tol 1e-6 (median ms): CG %.1f (%lld it), CG+ilu first %.1f / cached %.1f (%lld it; "
        "extraction before it %.1f), Eigen CG %s\n\n",
        static_cast<long long>(n), r.none_s * 1e3, static_cast<long long>(r.none_it), r.ilu_first_s * 1e3,
        r.ilu_cached_s * 1e3, static_cast<long long>(r.ilu_it), r.ilu_extract_s * 1e3,
        eigen_to_tol_str(r).c_str());
    results.push_back(r);
  }
  if (!all_ok) return 1;

  std::printf("(a), (b): %d CG iterations; ms/it = solve time / %d (setup and the final residual included)\n",
              kIterations, kIterations);
  std::printf("%-6s %10s %10s %10s %8s %8s %9s %9s %9s %9s\n", "n", "CSR ms/it", "m-free", "Eigen", "CSR/Eig",
              "mf/Eig", "CSR GB/s", "mf GB/s", "Eig GB/s", "triad");
  for (const Result& r : results) {
    auto gbs = [&](double bytes, double s) { return bytes * kIterations / s / 1e9; };
    std::printf("%-6lld %10.3f %10.3f %10.3f %8.2f %8.2f %9.1f %9.1f %9.1f %9.1f\n",
                static_cast<long long>(r.n), r.csr_s / kIterations * 1e3, r.mf_s / kIterations * 1e3,
                r.eigen_s / kIterations * 1e3, r.csr_s / r.eigen_s, r.mf_s / r.eigen_s,
                gbs(r.csr_bytes, r.csr_s), gbs(r.mf_bytes, r.mf_s), gbs(r.eigen_bytes, r.eigen_s),
                24.0 * kTriadN / r.triad_s / 1e9);
  }
  std::printf(
      "(GB/s from modelled bytes per iteration: matrix-free 104 B/unknown (operator 16 + 88 of vector "
      "passes),\n"
      " CSR 12 B/entry + 8 B/row + 16 + 88, Eigen 12 B/entry + 4 B/row + 16 + 128; triad counts 24 "
      "B/element)\n\n");

  std::printf("(c) to rel_tol 1e-6, through the function (matrix-free operator):\n");
  std::printf("%-6s %10s %6s %8s %14s %14s %6s %8s %11s   %s\n", "n", "CG ms", "it", "ms/it", "ilu first ms",
              "ilu cached ms", "it", "ms/it", "extract ms", "Eigen CG to 1e-6");
  for (const Result& r : results) {
    std::printf("%-6lld %10.1f %6lld %8.3f %14.1f %14.1f %6lld %8.3f %11.1f   %s\n",
                static_cast<long long>(r.n), r.none_s * 1e3, static_cast<long long>(r.none_it),
                r.none_s * 1e3 / static_cast<double>(r.none_it), r.ilu_first_s * 1e3, r.ilu_cached_s * 1e3,
                static_cast<long long>(r.ilu_it), r.ilu_cached_s * 1e3 / static_cast<double>(r.ilu_it),
                r.ilu_extract_s * 1e3, eigen_to_tol_str(r).c_str());
  }
  std::printf(
      "(ilu first: the first solve on a fresh jit_compile_linear function whose matrix was extracted just\n"
      " before (extract ms), so it includes the ILU(0) factorization; ilu cached: a second solve reusing "
      "it)\n\n");

  for (const Result& r : results) {
    std::printf("RATIO n=%lld phijit CSR/Eigen = %.2f, matrix-free/Eigen = %.2f, ilu cached/CG = %.2f\n",
                static_cast<long long>(r.n), r.csr_s / r.eigen_s, r.mf_s / r.eigen_s,
                r.ilu_cached_s / r.none_s);
  }
  for (const Result& r : results) {
    std::string what = "n=" + std::to_string(r.n) + ": phijit CSR CG / Eigen CG";
    bench::print_goal(what.c_str(), r.csr_s / r.eigen_s, 1.0, "x");
    what = "n=" + std::to_string(r.n) + ": phijit matrix-free CG / Eigen CG";
    bench::print_goal(what.c_str(), r.mf_s / r.eigen_s, 0.6, "x");
  }
  return 0;
}
