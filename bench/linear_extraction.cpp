// bench_linear_extraction: extraction of the sparse matrix of a linear function with
// matrix_from_function (trace, linearize, pattern and values assembled afresh on every call),
// for the 5-point Laplace on 256² and 1024² grids and the 7-point Laplace on a 128³ grid,
// against Eigen's assembly of the same matrix from a triplet list (setFromTriplets).
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
#include "bench/linear_extraction_baselines.h"

using namespace phijit;

namespace {

struct Case {
  const char* name;
  std::vector<std::pair<std::string, int64_t>> dims;  // spatial dims, in canonical order
};

struct Result {
  const char* name;
  int64_t rows = 0, nnz = 0;
  double phijit_s = 0, eigen_s = 0, set_from_triplets_s = 0;
};

// The linear function; a lambda, as a user would write it.
const auto laplace_zero = [](const Tensor& x) { return laplace(x, extrapolation::ZERO); };

// Checks phijit's matrix against Eigen's once, outside the timing; false on a mismatch.
bool check(const Case& c, const Shape& shape, const Tensor& x, bench::EigenLaplace& eigen) {
  auto t0 = bench::Clock::now();
  auto [A, b] = matrix_from_function(laplace_zero, x);
  const double first_s = bench::seconds_since(t0);
  eigen.assemble_kept();
  const int64_t n = eigen.rows();
  const int64_t nnz_phijit = nnz(A), nnz_eigen = eigen.kept_nonzeros();

  Tensor v = random_normal(shape, 17);
  std::vector<double> v_values = v.to_vector();
  std::vector<double> y_phijit = matmul(A, v).to_vector();
  std::vector<double> y_eigen(static_cast<size_t>(n));
  eigen.multiply(v_values.data(), y_eigen.data());
  const double diff = static_cast<int64_t>(y_phijit.size()) == n
                          ? bench::max_abs_diff(y_phijit.data(), y_eigen.data(), n)
                          : INFINITY;
  double b_max = 0;
  for (double value : b.to_vector()) b_max = std::max(b_max, std::abs(value));

  std::printf(
      "%-15s check: A %s %s, nnz phijit %lld vs Eigen %lld, max |A v - A_eigen v| %.1e, max |b| %.1e;\n"
      "%-15s first extraction (untimed) %.1f ms\n",
      c.name, A.is_sparse() ? "sparse" : "DENSE", A.shape().str().c_str(), static_cast<long long>(nnz_phijit),
      static_cast<long long>(nnz_eigen), diff, b_max, "", first_s * 1e3);
  bool ok = A.is_sparse() && nnz_phijit == nnz_eigen && diff <= 1e-9 && b_max == 0;
  if (!ok) std::printf("FAILED: %s: phijit's matrix differs from Eigen's\n", c.name);
  return ok;
}

}  // namespace

int main() {
  bench::print_header("bench_linear_extraction");
  const int reps = bench::reps_from_env(7);
  const int warmup = 1;
  std::printf(
      "matrix_from_function(f, x) with f = laplace(x, ZERO): a full extraction per call (a fresh trace,\n"
      "linearize, pattern and values; no cache), f64. Baseline: Eigen SparseMatrix<double, RowMajor, int>\n"
      "assembled single-threaded from a triplet list (5-/7-point stencil, -2·ndim on the diagonal, +1 per\n"
      "neighbour inside the grid): \"Eigen assembly\" times building the triplet list + setFromTriplets,\n"
      "\"setFromTriplets\" times it alone on a prebuilt list. %d timed repetitions after %d warm-up,\n"
      "median; the variants run in interleaved rounds; phijit pool %s threads\n\n",
      reps, warmup, bench::env_or("PHIJIT_NUM_THREADS", "default").c_str());

  const std::vector<Case> cases = {
      {"2D 256x256", {{"x", 256}, {"y", 256}}},
      {"2D 1024x1024", {{"x", 1024}, {"y", 1024}}},
      {"3D 128x128x128", {{"x", 128}, {"y", 128}, {"z", 128}}},
  };

  std::vector<Result> results;
  bool all_ok = true;
  for (const Case& c : cases) {
    Shape shape = spatial(c.dims[0].first, c.dims[0].second);
    std::vector<int64_t> sizes;
    for (const auto& [dim, size] : c.dims) {
      if (sizes.size() > 0) shape = shape & spatial(dim, size);
      sizes.push_back(size);
    }
    Tensor x = zeros(shape);
    bench::EigenLaplace eigen(sizes);
    if (!check(c, shape, x, eigen)) {
      all_ok = false;
      continue;
    }

    std::vector<bench::Variant> variants;
    int64_t sink = 0;
    variants.push_back({"phijit matrix_from_function", [&] {
                          auto [A, b] = matrix_from_function(laplace_zero, x);
                          sink += nnz(A);
                        }});
    variants.push_back({"Eigen assembly", [&] { sink += eigen.assemble(); }});
    variants.push_back({"Eigen setFromTriplets", [&] { sink += eigen.set_from_triplets(); }});
    std::vector<bench::Timing> t = bench::time_interleaved(variants, warmup, reps);
    if (sink <= 0) std::abort();
    Result r{c.name, eigen.rows(), eigen.kept_nonzeros(), t[0].median, t[1].median, t[2].median};
    std::printf(
        "%-15s timed (median, min..max): phijit %.2f ms (%.2f..%.2f), Eigen assembly %.2f ms (%.2f..%.2f),\n"
        "%-15s setFromTriplets %.2f ms (%.2f..%.2f)\n\n",
        c.name, t[0].median * 1e3, t[0].min * 1e3, t[0].max * 1e3, t[1].median * 1e3, t[1].min * 1e3,
        t[1].max * 1e3, "", t[2].median * 1e3, t[2].min * 1e3, t[2].max * 1e3);
    results.push_back(r);
  }
  if (!all_ok) return 1;

  std::printf("%-15s %9s %10s %11s %8s %11s %8s %13s %10s %9s\n", "case", "rows", "nnz", "phijit ms",
              "ns/nnz", "Eigen ms", "ns/nnz", "setFromTr. ms", "phijit/Eig", "phijit/sFT");
  for (const Result& r : results) {
    std::printf("%-15s %9lld %10lld %11.2f %8.2f %11.2f %8.2f %13.2f %10.2f %9.2f\n", r.name,
                static_cast<long long>(r.rows), static_cast<long long>(r.nnz), r.phijit_s * 1e3,
                r.phijit_s * 1e9 / static_cast<double>(r.nnz), r.eigen_s * 1e3,
                r.eigen_s * 1e9 / static_cast<double>(r.nnz), r.set_from_triplets_s * 1e3,
                r.phijit_s / r.eigen_s, r.phijit_s / r.set_from_triplets_s);
  }
  std::printf(
      "(phijit/Eig: phijit over Eigen assembly (triplets + setFromTriplets); phijit/sFT: over "
      "setFromTriplets alone)\n\n");
  for (const Result& r : results) {
    std::printf("RATIO %s phijit/Eigen = %.2f\n", r.name, r.phijit_s / r.eigen_s);
  }
  for (const Result& r : results) {
    if (r.rows == 1024 * 1024)
      bench::print_goal("2D 1024x1024: phijit / Eigen assembly", r.phijit_s / r.eigen_s, 0.5, "x");
  }
  return 0;
}
