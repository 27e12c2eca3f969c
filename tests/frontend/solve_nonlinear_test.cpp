// solve_nonlinear (API §7): Newton's method and the minimize methods on f(x) = y.
#include <cmath>
#include <vector>

#include "test_helpers.h"

using namespace phijit;

namespace {

Tensor cube(const Tensor& x) { return x * x * x; }

// −laplace(u) + u³ on a ZERO-padded grid.
Tensor nonlinear_poisson(const Tensor& u) { return -laplace(u) + u * u * u; }

std::vector<double> residual_of(const Tensor& u, const Tensor& y) {
  return (y - nonlinear_poisson(u)).to_vector();
}

}  // namespace

TEST_CASE("solve_nonlinear: x³ = [8, 27] by Newton and by each minimize method", "[nonlinear]") {
  Tensor y = tensor({8, 27}, spatial("x", 2));
  for (const char* method : {"auto", "Newton", "L-BFGS-B", "BFGS", "GD"}) {
    INFO(method);
    SolveTape tape;
    bool gd = std::string(method) == "GD";
    Tensor x = solve_nonlinear(cube, y,
                               Solve{.method = method,
                                     .rel_tol = gd ? 1e-6 : 1e-10,
                                     .abs_tol = 0,
                                     .x0 = ones(spatial("x", 2)),
                                     .max_iterations = 100000});
    double tol = gd ? 1e-6 : 1e-9;
    CHECK_THAT(x.to_vector(), Catch::Matchers::Approx(std::vector<double>{2, 3}).margin(tol));
    REQUIRE(tape.size() >= 1);
    CHECK(tape[0].method == (std::string(method) == "auto" ? "Newton" : method));
    // The residual rule: ‖y − f(x)‖ ≤ rel_tol ‖y‖.
    CHECK(std::sqrt(sum(tape[0].residual * tape[0].residual).item()) <=
          (gd ? 1e-6 : 1e-10) * std::sqrt(64 + 729));
    if (std::string(method) == "Newton") CHECK(tape[0].iterations.item() <= 10);
  }
}

TEST_CASE("solve_nonlinear: the nonlinear Poisson problem at 32² converges in at most 10 Newton steps",
          "[nonlinear]") {
  const Shape grid = spatial("x", 32) & spatial("y", 32);
  // Diffusion-dominated (small u: a first-order method needs over a thousand steps here) and
  // reaction-dominated.
  for (Tensor y : {0.01 * random_uniform(grid, 0, 1, 3), 10.0 + random_uniform(grid, 0, 5, 3)}) {
    SolveTape tape;
    Tensor u = solve_nonlinear(nonlinear_poisson, y, Solve{.rel_tol = 1e-8, .abs_tol = 0, .x0 = zeros(grid)});
    REQUIRE(tape[0].method == "Newton");
    CHECK(tape[0].converged.item() == 1);
    CHECK(tape[0].iterations.item() <= 10);
    double y_norm = std::sqrt(sum(y * y).item());
    double r = 0;
    for (double v : residual_of(u, y)) r += v * v;
    CHECK(std::sqrt(r) <= 1e-8 * y_norm);
    // Each Newton step ran a linear solve, recorded after the nonlinear solve that started first.
    REQUIRE(tape.size() == 1 + static_cast<size_t>(tape[0].iterations.item()));
    CHECK(tape[1].method != "Newton");
  }
}

TEST_CASE("solve_nonlinear: batches of independent problems and a batched y", "[nonlinear]") {
  // Entry 0 solves x³ = 8, entry 1 x³ = −27, entry 2 starts at its root (no step).
  Tensor y = tensor({8, -27, 1}, batch("b", 3));
  Tensor x0 = tensor({1, 1, 1}, batch("b", 3));
  SolveTape tape;
  Tensor x = solve_nonlinear(cube, y, Solve{.rel_tol = 1e-12, .abs_tol = 0, .x0 = x0});
  CHECK_THAT(x.to_vector(), Catch::Matchers::Approx(std::vector<double>{2, -3, 1}).margin(1e-10));
  std::vector<double> iterations = tape[0].iterations.to_vector();
  CHECK(iterations[2] == 0);
  CHECK(iterations[0] > 0);
  CHECK(tape[0].function_evaluations.to_vector()[2] == 1);
  // y's batch dim is added to an x0 without it.
  Tensor shared = solve_nonlinear(cube, y, Solve{.rel_tol = 1e-12, .abs_tol = 0, .x0 = tensor({1}, Shape())});
  CHECK_THAT(shared.to_vector(), Catch::Matchers::Approx(std::vector<double>{2, -3, 1}).margin(1e-10));
}

TEST_CASE("solve_nonlinear: a user's linear solve for the Newton steps; failures", "[nonlinear]") {
  Tensor y = tensor({8, 27}, spatial("x", 2));
  auto direct = std::make_shared<const Solve>(Solve{.method = "direct"});
  SolveTape tape;
  Tensor x = solve_nonlinear(
      cube, y, Solve{.rel_tol = 1e-10, .abs_tol = 0, .x0 = ones(spatial("x", 2)), .linear_solve = direct});
  CHECK_THAT(x.to_vector(), Catch::Matchers::Approx(std::vector<double>{2, 3}).margin(1e-9));
  CHECK(tape[1].method == "direct");

  // x² = −1 has no real root: Newton stalls; the result stays finite.
  try {
    solve_nonlinear([](const Tensor& v) { return v * v; }, tensor({-1}, spatial("x", 1)),
                    Solve{.rel_tol = 1e-8, .abs_tol = 0, .x0 = ones(spatial("x", 1)), .max_iterations = 30});
    FAIL("expected a ConvergenceException");
  } catch (const ConvergenceException& e) {
    CHECK(std::isfinite(e.result.x.item()));
  }
  // NotConverged at max_iterations.
  CHECK_THROWS_AS(
      solve_nonlinear(
          cube, y, Solve{.rel_tol = 1e-12, .abs_tol = 0, .x0 = ones(spatial("x", 2)), .max_iterations = 1}),
      NotConverged);
}

TEST_CASE("solve_nonlinear: bad input is a clear error", "[nonlinear][errors]") {
  Tensor y = tensor({8, 27}, spatial("x", 2));
  CHECK_THROWS_MATCHES(solve_nonlinear(cube, y, Solve{}), Error, message_contains({"solve_nonlinear", "x0"}));
  CHECK_THROWS_MATCHES(solve_nonlinear(cube, y, Solve{.method = "CG", .x0 = ones(spatial("x", 2))}), Error,
                       message_contains({"'CG'", "Newton", "L-BFGS-B"}));
  CHECK_THROWS_MATCHES(solve_nonlinear(cube, y, Solve{.x0 = ones(spatial("x", 2), DType::i32)}), Error,
                       message_contains({"floating-point", "int32"}));
}
