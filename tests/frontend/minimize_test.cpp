// minimize (API §7): the methods on classic test functions, batches of independent problems,
// the convergence rule, failures, tapes and bad input.
#include <cmath>
#include <vector>

#include "test_helpers.h"

using namespace phijit;

namespace {

Tensor rosenbrock(const Tensor& p) {
  Tensor a = p.slice("vector", 0), b = p.slice("vector", 1);
  return (1.0 - a) * (1.0 - a) + 100.0 * (b - a * a) * (b - a * a);
}

Tensor point(double a, double b) { return tensor({a, b}, channel("vector", {"a", "b"})); }

double gradient_norm(const SolveInfo& info) { return std::sqrt(sum(info.residual * info.residual).item()); }

}  // namespace

TEST_CASE("minimize: Rosenbrock from (-1.2, 1) with every method", "[minimize]") {
  for (const char* method : {"auto", "L-BFGS-B", "BFGS", "GD"}) {
    INFO(method);
    SolveTape tape;
    bool gd = std::string(method) == "GD";
    Tensor x = minimize(rosenbrock, Solve{.method = method,
                                          .rel_tol = 0,
                                          .abs_tol = 1e-6,
                                          .x0 = point(-1.2, 1),
                                          .max_iterations = gd ? 100000 : 1000});
    CHECK_THAT(x.to_vector(), Catch::Matchers::Approx(std::vector<double>{1, 1}).margin(1e-5));
    REQUIRE(tape.size() == 1);
    CHECK(tape[0].method == (std::string(method) == "auto" ? "L-BFGS-B" : method));
    CHECK(gradient_norm(tape[0]) <= 1e-6);
    if (!gd) CHECK(tape[0].iterations.item() <= 60);
    CHECK(tape[0].function_evaluations.item() >= tape[0].iterations.item());
  }
}

TEST_CASE("minimize: a batch of starts advances in lockstep; one at the optimum takes no step",
          "[minimize]") {
  Tensor starts = stack({point(-1.2, 1), point(1, 1), point(2, -1)}, batch("start", 3));
  SolveTape tape;
  int calls = 0;
  auto counted = [&calls](const Tensor& p) {
    ++calls;
    return rosenbrock(p);
  };
  Tensor x = minimize(counted, Solve{.rel_tol = 0, .abs_tol = 1e-7, .x0 = starts});
  CHECK(calls == 1);  // traced once: every evaluation runs the compiled program
  CHECK_THAT(x.to_vector(), Catch::Matchers::Approx(std::vector<double>(6, 1.0)).margin(1e-6));
  std::vector<double> iterations = tape[0].iterations.to_vector();
  std::vector<double> evaluations = tape[0].function_evaluations.to_vector();
  CHECK(iterations[1] == 0);
  CHECK(evaluations[1] == 1);
  CHECK(iterations[0] > 10);
  CHECK(iterations[2] > 5);
  CHECK(tape[0].converged.to_vector() == std::vector<double>{1, 1, 1});
}

TEST_CASE("minimize: Matyas, Himmelblau and a badly scaled quadratic", "[minimize]") {
  Solve s{.rel_tol = 0, .abs_tol = 1e-8};
  s.x0 = point(1, -0.5);
  Tensor m = minimize(
      [](const Tensor& p) {
        Tensor a = p.slice("vector", 0), b = p.slice("vector", 1);
        return 0.26 * (a * a + b * b) - 0.48 * a * b;
      },
      s);
  CHECK_THAT(m.to_vector(), Catch::Matchers::Approx(std::vector<double>{0, 0}).margin(1e-6));

  // Himmelblau from four starts reaches its four minima.
  s.x0 = stack({point(2, 2), point(-2, 2), point(-3, -3), point(3, -2)}, batch("start", 4));
  Tensor h = minimize(
      [](const Tensor& p) {
        Tensor a = p.slice("vector", 0), b = p.slice("vector", 1);
        Tensor u = a * a + b - 11.0, v = a + b * b - 7.0;
        return u * u + v * v;
      },
      s);
  CHECK_THAT(h.to_vector(), Catch::Matchers::Approx(std::vector<double>{3, 2, -2.805118, 3.131312, -3.779310,
                                                                        -3.283186, 3.584428, -1.848126})
                                .margin(1e-5));

  s.x0 = point(1, 1);
  Tensor q = minimize(
      [](const Tensor& p) {
        Tensor a = p.slice("vector", 0) * 1e4, b = p.slice("vector", 1);
        return a * a + b * b;
      },
      Solve{.rel_tol = 1e-10, .abs_tol = 0, .x0 = point(1, 1)});
  CHECK(std::abs(q.to_vector()[0]) <= 1e-12);
  CHECK(std::abs(q.to_vector()[1]) <= 1e-8);
}

TEST_CASE("minimize: rel_tol is relative to the gradient at x0", "[minimize]") {
  SolveTape tape;
  Tensor x0 = point(-1.2, 1);
  minimize(rosenbrock,
           Solve{.method = "GD", .rel_tol = 1e-2, .abs_tol = 0, .x0 = x0, .max_iterations = 100000});
  minimize(rosenbrock,
           Solve{.method = "GD", .rel_tol = 1e-4, .abs_tol = 0, .x0 = x0, .max_iterations = 100000});
  // ∇f(−1.2, 1) = (−215.6, −88)
  double g0 = std::sqrt(215.6 * 215.6 + 88.0 * 88.0);
  CHECK(gradient_norm(tape[0]) <= 1e-2 * g0);
  CHECK(gradient_norm(tape[1]) <= 1e-4 * g0);
  CHECK(tape[0].iterations.item() < tape[1].iterations.item());
}

TEST_CASE("minimize: NotConverged and Diverged carry a finite x; suppress returns it", "[minimize]") {
  Solve s{.rel_tol = 0, .abs_tol = 1e-12, .x0 = point(-1.2, 1), .max_iterations = 2};
  try {
    minimize(rosenbrock, s);
    FAIL("expected NotConverged");
  } catch (const NotConverged& e) {
    CHECK(e.result.iterations.item() == 2);
    for (double v : e.result.x.to_vector()) CHECK(std::isfinite(v));
    CHECK_THAT(std::string(e.what()), Catch::Contains("did not converge within 2 iterations"));
  }
  s.suppress = {Failure::not_converged};
  CHECK(minimize(rosenbrock, s).shape() == channel("vector", {"a", "b"}));

  // f = −a − b has no minimum.
  Solve unbounded{.x0 = point(0, 0), .max_iterations = 200};
  try {
    minimize([](const Tensor& p) { return -sum(p); }, unbounded);
    FAIL("expected a ConvergenceException");
  } catch (const ConvergenceException& e) {
    for (double v : e.result.x.to_vector()) CHECK(std::isfinite(v));
    CHECK(e.result.x.to_vector()[0] > 0);
  }
}

TEST_CASE("minimize: float32 problems keep float32 results", "[minimize]") {
  Tensor x0 = point(-1.2, 1).astype(DType::f32);
  SolveTape tape;
  Tensor x = minimize(rosenbrock, Solve{.rel_tol = 0, .abs_tol = 1e-2, .x0 = x0});
  CHECK(x.dtype() == DType::f32);
  CHECK(tape[0].residual.dtype() == DType::f32);
  CHECK_THAT(x.to_vector(), Catch::Matchers::Approx(std::vector<double>{1, 1}).margin(2e-3));
}

TEST_CASE("minimize: a loss that solves a linear system; the tape records the minimize first",
          "[minimize][solve]") {
  // Find the source q whose Poisson solution u = solve(−laplace, q) is close to the target.
  Tensor target = tensor({1, 2, 1}, spatial("x", 3));
  auto loss = [&](const Tensor& q) {
    Tensor u =
        solve_linear([](const Tensor& v) { return -laplace(v); }, q,
                     Solve{.method = "CG", .rel_tol = 1e-12, .abs_tol = 1e-12, .x0 = zeros(spatial("x", 3))});
    return l2_loss(u - target);
  };
  SolveTape tape;
  Tensor q = minimize(loss, Solve{.rel_tol = 0, .abs_tol = 1e-9, .x0 = zeros(spatial("x", 3))});
  // −laplace(target) with ZERO padding: (2·1 − 2, 2·2 − 1 − 1, 2·1 − 2) = (0, 2, 0)
  CHECK_THAT(q.to_vector(), Catch::Matchers::Approx(std::vector<double>{0, 2, 0}).margin(1e-6));
  REQUIRE(tape.size() >= 3);
  CHECK(tape[0].method == "L-BFGS-B");
  CHECK(tape[1].method == "CG");
}

TEST_CASE("minimize: bad input is a clear error", "[minimize][errors]") {
  CHECK_THROWS_MATCHES(minimize(rosenbrock, Solve{}), Error, message_contains({"minimize", "x0"}));
  CHECK_THROWS_MATCHES(minimize([](const Tensor& p) { return p * p; }, Solve{.x0 = point(1, 2)}), ShapeError,
                       message_contains({"minimize", "per batch entry", "vectorᶜ"}));
  CHECK_THROWS_MATCHES(minimize(rosenbrock, Solve{.x0 = point(1, 2).astype(DType::i32)}), Error,
                       message_contains({"floating-point", "int32"}));
  CHECK_THROWS_MATCHES(minimize(rosenbrock, Solve{.method = "Nelder-Mead", .x0 = point(1, 2)}), Error,
                       message_contains({"Nelder-Mead", "L-BFGS-B", "BFGS", "GD"}));
}
