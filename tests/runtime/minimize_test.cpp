// The batched minimizers and line searches of runtime/, on problems with hand-written gradients.
#include "runtime/minimize.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "ir/error.h"
#include "runtime/line_search.h"

using namespace phijit;
using namespace phijit::runtime;

namespace {

// Rosenbrock (1 − a)² + 100 (b − a²)² per entry of 2 unknowns; counts the batched calls.
struct Rosenbrock {
  int calls = 0;
  void operator()(const Buffer& x, std::vector<double>& f, Buffer& g) {
    ++calls;
    int64_t batch = x.count() / 2;
    for (int64_t e = 0; e < batch; ++e) {
      double a = x.as<double>()[2 * e], b = x.as<double>()[2 * e + 1];
      f[static_cast<size_t>(e)] = (1 - a) * (1 - a) + 100 * (b - a * a) * (b - a * a);
      g.as<double>()[2 * e] = -2 * (1 - a) - 400 * a * (b - a * a);
      g.as<double>()[2 * e + 1] = 200 * (b - a * a);
    }
  }
};

Buffer start_points(const std::vector<double>& values) {
  Buffer x(DType::f64, static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size(); ++i) x.as<double>()[i] = values[i];
  return x;
}

}  // namespace

TEST_CASE("line search: strong Wolfe on a quadratic accepts a step meeting both conditions", "[minimize]") {
  // φ(α) = (α − 3)², φ(0) = 9, φ'(0) = −6: the exact minimum at 3 is reached by interpolation.
  auto phi = [](double a) { return (a - 3) * (a - 3); };
  auto dphi = [](double a) { return 2 * (a - 3); };
  WolfeSearch s(9, -6, 1);
  SearchState state = SearchState::evaluate;
  int evaluations = 0;
  while (state == SearchState::evaluate) {
    state = s.observe(phi(s.alpha()), dphi(s.alpha()));
    ++evaluations;
  }
  REQUIRE(state == SearchState::accept);
  CHECK(phi(s.alpha()) <= 9 + WolfeSearch::kC1 * s.alpha() * -6);
  CHECK(std::abs(dphi(s.alpha())) <= WolfeSearch::kC2 * 6);
  CHECK(evaluations <= 3);
  // A step into non-finite values is too far: the search comes back.
  WolfeSearch t(9, -6, 100);
  state = t.observe(INFINITY, NAN);
  REQUIRE(state == SearchState::evaluate);
  CHECK(t.alpha() < 100);
}

TEST_CASE("line search: backtracking shrinks until sufficient decrease", "[minimize]") {
  BacktrackingSearch s(9, -6, 10);  // φ(10) = 49 fails
  REQUIRE(s.observe(49) == SearchState::evaluate);
  // The parabola through φ(0) = 9, φ'(0) = −6, φ(10) = 49 has its minimum at 3 (exact here).
  CHECK(s.alpha() == Approx(3));
  CHECK(s.observe(0) == SearchState::accept);
}

TEST_CASE("minimize: every method solves a batch of Rosenbrock problems in lockstep", "[minimize]") {
  for (MinimizeMethod method : {MinimizeMethod::lbfgs, MinimizeMethod::bfgs, MinimizeMethod::gd}) {
    INFO(minimize_method_name(method));
    // Entry 1 starts at the optimum: converged before any step, one evaluation.
    Buffer x = start_points({-1.2, 1, 1, 1, 2, 3});
    Rosenbrock f;
    MinimizeSettings s{.method = method, .rel_tol = 0, .abs_tol = 1e-6, .max_iterations = 20000};
    MinimizeResult r = minimize(std::ref(f), x, 3, s);
    for (int e : {0, 2}) {
      INFO("entry " << e);
      CHECK(r.status.converged[static_cast<size_t>(e)]);
      CHECK(x.as<double>()[2 * e] == Approx(1).margin(1e-5));
      CHECK(x.as<double>()[2 * e + 1] == Approx(1).margin(1e-5));
      CHECK(r.status.function_evaluations[static_cast<size_t>(e)] <= f.calls);
    }
    CHECK(r.status.converged[1]);
    CHECK(r.status.iterations[1] == 0);
    CHECK(r.status.function_evaluations[1] == 1);
    CHECK(x.as<double>()[2] == 1);
    // The gradient returned is the one at x.
    CHECK(std::abs(r.gradient->as<double>()[0]) <= 1e-6);
    if (method != MinimizeMethod::gd) {
      CHECK(r.status.iterations[0] <= 60);
      CHECK(r.status.function_evaluations[0] <= 100);
    }
  }
}

TEST_CASE("minimize: max_iterations stops with a finite x; an unbounded f fails finitely", "[minimize]") {
  Buffer x = start_points({-1.2, 1});
  Rosenbrock f;
  MinimizeResult r = minimize(std::ref(f), x, 1, {.abs_tol = 1e-10, .max_iterations = 2});
  CHECK(r.stop[0] == MinimizeStop::max_iterations);
  CHECK(r.status.iterations[0] == 2);
  CHECK_FALSE(r.status.converged[0]);
  CHECK(std::isfinite(x.as<double>()[0]));

  // f = −x: no minimum. Every line search extrapolates; the run ends in a failure, x finite.
  Buffer y = start_points({0.5});
  auto linear = [](const Buffer& xb, std::vector<double>& fv, Buffer& g) {
    fv[0] = -xb.as<double>()[0];
    g.as<double>()[0] = -1;
  };
  MinimizeResult u = minimize(linear, y, 1, {.max_iterations = 50});
  CHECK_FALSE(u.status.converged[0]);
  CHECK(std::isfinite(y.as<double>()[0]));
  CHECK(y.as<double>()[0] > 0.5);
}

TEST_CASE("minimize: a badly scaled quadratic and the residual rule", "[minimize]") {
  // f = (1e4 a)² + b²
  auto scaled = [](const Buffer& xb, std::vector<double>& fv, Buffer& g) {
    double a = xb.as<double>()[0], b = xb.as<double>()[1];
    fv[0] = 1e8 * a * a + b * b;
    g.as<double>()[0] = 2e8 * a;
    g.as<double>()[1] = 2 * b;
  };
  Buffer x = start_points({1, 1});
  MinimizeResult r = minimize(scaled, x, 1, {.rel_tol = 1e-10, .abs_tol = 0});
  CHECK(r.status.converged[0]);
  CHECK(std::abs(x.as<double>()[0]) <= 1e-12);
  CHECK(std::abs(x.as<double>()[1]) <= 1e-6);
  // With a residual tolerance the rule is √(2f) ≤ tol.
  Buffer y = start_points({1, 1});
  MinimizeResult q = minimize(scaled, y, 1, {.residual_tolerance = {1e-3}});
  CHECK(q.status.converged[0]);
  CHECK(std::sqrt(2 * q.f[0]) <= 1e-3);
}

TEST_CASE("minimize: unknown methods and oversized BFGS are clear errors", "[minimize]") {
  CHECK_THROWS_WITH(parse_minimize_method("Newton"), Catch::Contains("L-BFGS-B"));
  Buffer x(DType::f64, kMaxBfgsUnknowns + 1);
  auto zero = [](const Buffer&, std::vector<double>& f, Buffer&) { f[0] = 0; };
  CHECK_THROWS_WITH(minimize(zero, x, 1, {.method = MinimizeMethod::bfgs}), Catch::Contains("L-BFGS-B"));
}
