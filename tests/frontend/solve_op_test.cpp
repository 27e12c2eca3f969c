// solve_linear inside traces: the types the solution takes when f widens them, operands that
// f captures from the trace, and solves inside jit_compile_linear.
#include "test_helpers.h"

using namespace phijit;

namespace {
const Shape kX = spatial("x", 4);
Solve tight(const Tensor& x0) {
  return Solve{.method = "biCG-stab", .rel_tol = 1e-12, .abs_tol = 1e-12, .x0 = x0};
}
}  // namespace

TEST_CASE("solve op: f that widens the dtype or adds batch dims widens the solution") {
  Tensor y = tensor({1, 2, 4, 8}, kX).astype(DType::f32);
  Tensor k64 = tensor({1, 2, 4, 8}, kX);  // f64: f(x) = k·x is f64 for f32 x
  auto widen = jit_compile([&](const Tensor& y) {
    return solve_linear([&](const Tensor& x) { return k64 * x; }, y, tight(zeros(kX, DType::f32)));
  });
  Tensor x = widen(y);
  CHECK(x.dtype() == DType::f64);
  CHECK_VALUES(x, {1, 1, 1, 1});
  // k with a batch dim: one system per entry of b, though neither y nor x0 has b.
  Tensor kb = stack({k64, 2.0 * k64}, batch("b", 2));
  auto batched = jit_compile([&](const Tensor& y, const Tensor& k) {
    return solve_linear([](const Tensor& x, const Tensor& k) { return k * x; }, y, tight(zeros(kX)), k);
  });
  Tensor xb = batched(y.astype(DType::f64), kb);
  CHECK(xb.shape().contains("b"));
  CHECK_VALUES(xb.slice("b", 1), {0.5, 0.5, 0.5, 0.5});
}

TEST_CASE("solve op: f captures a tensor of the trace; the gradient reaches it with grad_for_f") {
  // x = y / k: dL/dk for L = Σ x is −y / k².
  auto loss = [](const Tensor& k) {
    Solve s = tight(zeros(kX));
    s.grad_for_f = true;
    return sum(solve_linear([&k](const Tensor& x) { return k * x; }, ones(kX), s));
  };
  CHECK_VALUES(gradient(loss)(tensor({1, 2, 4, 8}, kX))[1], {-1, -0.25, -0.0625, -0.015625});
}

TEST_CASE("solve op: inside jit_compile_linear, on values independent of x; on x an Error") {
  auto halve = [](const Tensor& v) { return 2.0 * v; };
  auto lin = jit_compile_linear([&](const Tensor& x, const Tensor& c) {
    return solve_linear(halve, c,
                        Solve{.method = "CG", .rel_tol = 1e-12, .abs_tol = 1e-12, .x0 = zeros(kX)}) *
           x;
  });
  CHECK_VALUES(lin(tensor({1, 1, 2, 2}, kX), tensor({2, 4, 6, 8}, kX)), {1, 2, 6, 8});
  auto bad = jit_compile_linear(
      [&](const Tensor& x) { return solve_linear(halve, x, Solve{.method = "CG", .x0 = zeros(kX)}); });
  CHECK_THROWS_MATCHES(bad(ones(kX)), NotLinearError,
                       message_contains({"solve_linear", "its inverse is dense"}));
}

TEST_CASE("solve op: dims of y that the operator does not act on are independent systems") {
  // f acts on x only; y has a channel `vector` that x0 lacks: one system per vector component.
  Tensor y = stack({tensor({1, 2, 3, 4}, kX), tensor({2, 4, 6, 8}, kX)}, channel("vector", 2));
  auto f = [](const Tensor& x) { return 2.0 * x - shift(x, "x", 1, extrapolation::ZERO); };
  // By hand: x_i = (y_i + x_{i+1}) / 2 from the last cell back: y = (1,2,3,4) → (1.625, 2.25, 2.5, 2).
  std::vector<double> want = {1.625, 3.25, 2.25, 4.5, 2.5, 5, 2, 4};  // (x, vector) order
  for (std::string method : {"biCG-stab", "direct"}) {
    INFO(method);
    Solve s{.method = method, .rel_tol = 1e-12, .abs_tol = 1e-12, .x0 = zeros(kX)};
    Tensor x = solve_linear(f, y, s);
    CHECK(x.shape() == (kX & channel("vector", 2)));
    CHECK_VALUES(x, want);
    CHECK_VALUES(solve_linear(jit_compile_linear(f), y, s), want);
    CHECK_VALUES(jit_compile([&](const Tensor& y) { return solve_linear(f, y, s); })(y), want);
    // dL/dy for L = Σ x: Aᵀ λ = 1 per component, λ = (0.5, 0.75, 0.875, 0.9375).
    CHECK_VALUES(gradient([&](const Tensor& y) { return sum(solve_linear(f, y, s)); })(y)[1],
                 {0.5, 0.5, 0.75, 0.75, 0.875, 0.875, 0.9375, 0.9375});
  }
}
