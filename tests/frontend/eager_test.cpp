// Eager math on tensors large enough for the compiled fast path (frontend/eager.h): values
// against hand-computed ones, and kernels compiled once per signature.
#include "frontend/eager.h"

#include <cmath>
#include <vector>

#include "codegen/jit_engine.h"
#include "test_helpers.h"

using namespace phijit;

namespace {

constexpr int64_t kN = 6000;  // above kEagerCompileFrom
static_assert(kN >= detail::kEagerCompileFrom);

std::vector<double> iota(int64_t n, double scale = 1) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = scale * static_cast<double>(i);
  return v;
}

}  // namespace

TEST_CASE("eager: large elementwise ops give the hand-computed values", "[eager]") {
  Tensor a = tensor(iota(kN), spatial("x", kN));
  Tensor b = tensor(iota(kN, 0.5), spatial("x", kN));
  std::vector<double> got = (a * b - a / 2.0 + 1.0).to_vector();
  for (int64_t i : {int64_t{0}, int64_t{1}, int64_t{4321}, kN - 1}) {
    double x = static_cast<double>(i);
    CHECK(got[static_cast<size_t>(i)] == x * 0.5 * x - x / 2 + 1);
  }
  Tensor f32 = a.astype(DType::f32) * 0.25;
  CHECK(f32.dtype() == DType::f32);
  CHECK(f32.to_vector()[5999] == 5999 * 0.25);
  Tensor flags = where(a > 2999.5, a, -a);
  CHECK(flags.to_vector()[2999] == -2999);
  CHECK(flags.to_vector()[3000] == 3000);
}

TEST_CASE("eager: large broadcasts and reductions give the hand-computed values", "[eager]") {
  Tensor x = tensor(iota(100), spatial("x", 100)), y = tensor(iota(80), spatial("y", 80));
  Tensor grid = x * 100.0 + y;  // (x, y): 8000 values, value 100 i + j
  REQUIRE(grid.shape() == (spatial("x", 100) & spatial("y", 80)));
  CHECK(grid.to_vector()[81] == 101);
  // sum_i sum_j (100 i + j) = 100 · 80 · 4950 + 100 · 3160
  CHECK(sum(grid).item() == 100.0 * 80 * 4950 + 100.0 * 3160);
  CHECK_VALUES(sum(grid, "x").slice("y", 0, 3), {495000, 495100, 495200});
  CHECK(max(grid).item() == 9979);
  CHECK(min(grid, "y").slice("x", 7).item() == 700);
  Tensor ints = grid.astype(DType::i32);
  Tensor total = sum(ints);
  CHECK(total.dtype() == DType::i64);
  CHECK(total.item() == 100.0 * 80 * 4950 + 100.0 * 3160);
  CHECK(mean(grid).item() == (100.0 * 80 * 4950 + 100.0 * 3160) / 8000);
}

TEST_CASE("eager: a flat kernel serves every size, and a second run compiles nothing", "[eager]") {
  Tensor a = tensor(iota(kN), spatial("x", kN));
  Tensor first = a * a - a;
  int before = detail::eager_kernel_count();
  int64_t compiles = codegen::JitEngine::instance().compile_count();
  Tensor again = a * a - a;
  Tensor c = tensor(iota(kN + 777), spatial("t", kN + 777));
  Tensor other_size = c * c - c;
  CHECK(detail::eager_kernel_count() == before);
  CHECK(codegen::JitEngine::instance().compile_count() == compiles);
  CHECK(again.to_vector()[100] == 9900);
  CHECK(other_size.to_vector()[kN + 776] == (kN + 776.0) * (kN + 776.0) - (kN + 776.0));
}

TEST_CASE("eager: laplace and spatial_gradient run fused and match their definitions", "[eager][stencil]") {
  Tensor u = random_normal(spatial("x", 90) & spatial("y", 70), 3);
  REQUIRE(u.shape().volume() >= detail::kEagerCompileFrom);
  std::vector<double> v = u.to_vector();
  auto at = [&](int64_t i, int64_t j) {
    return i < 0 || j < 0 || i >= 90 || j >= 70 ? 0.0 : v[static_cast<size_t>(i * 70 + j)];
  };
  std::vector<double> lap = laplace(u, extrapolation::ZERO, 0.5).to_vector();
  std::vector<double> grad = spatial_gradient(u, extrapolation::ZERO, 0.5).to_vector();
  for (auto [i, j] : {std::pair<int64_t, int64_t>{0, 0}, {45, 33}, {89, 69}, {0, 69}}) {
    double want = (at(i + 1, j) + at(i - 1, j) + at(i, j + 1) + at(i, j - 1) - 4 * at(i, j)) / 0.25;
    CHECK(lap[static_cast<size_t>(i * 70 + j)] == Approx(want).epsilon(1e-13).margin(1e-13));
    // gradient: channel dim last, (x, y) items
    CHECK(grad[static_cast<size_t>((i * 70 + j) * 2)] == Approx(at(i + 1, j) - at(i - 1, j)).margin(1e-13));
    CHECK(grad[static_cast<size_t>((i * 70 + j) * 2 + 1)] ==
          Approx(at(i, j + 1) - at(i, j - 1)).margin(1e-13));
  }
  // Another grid spacing reuses the compiled stencil; the periodic one is another program.
  int64_t compiles = codegen::JitEngine::instance().compile_count();
  CHECK(laplace(u, extrapolation::ZERO, 2.0).to_vector()[0] == Approx(lap[0] / 16).epsilon(1e-13));
  CHECK(codegen::JitEngine::instance().compile_count() == compiles);
  Tensor periodic = laplace(u, extrapolation::PERIODIC);
  double want = at(1, 0) + at(89, 0) + at(0, 1) + at(0, 69) - 4 * at(0, 0);
  CHECK(periodic.to_vector()[0] == Approx(want).epsilon(1e-13));
}
