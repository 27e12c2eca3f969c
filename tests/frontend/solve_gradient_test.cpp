// Gradients through solve_linear (API §6, §7) and solves inside jit_compile. The pullback of
// x = A⁻¹ y is an adjoint solve Aᵀ λ = dL/dx, giving dL/dy = λ and, with grad_for_f, dL/dθ =
// −(∂f/∂θ at x)ᵀ λ. Every answer is independent of the code under test: hand-computed, a dense
// Gaussian elimination in this file on a matrix probed from f with unit vectors (eager ops), or
// central finite differences of eager solves at tight tolerances.
#include <phijit/phijit.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "linear_helpers.h"
#include "test_helpers.h"

using namespace phijit;

namespace {

using Matrix = std::vector<std::vector<double>>;  // row-major M[i][j]

Solve solve_with(const std::string& method, const Tensor& x0, double rel_tol = 1e-12, double abs_tol = 0,
                 int max_iterations = 1000) {
  return Solve{
      .method = method, .rel_tol = rel_tol, .abs_tol = abs_tol, .x0 = x0, .max_iterations = max_iterations};
}

double norm(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

// ‖a − ref‖₂ / ‖ref‖₂ over the values in shape order.
double rel_error(const Tensor& a, const std::vector<double>& ref) {
  std::vector<double> x = a.to_vector(), d(ref.size());
  REQUIRE(x.size() == ref.size());
  for (size_t i = 0; i < x.size(); ++i) d[i] = x[i] - ref[i];
  return norm(d) / norm(ref);
}
double rel_error(const Tensor& a, const Tensor& ref) {
  REQUIRE(a.shape() == ref.shape());
  return rel_error(a, ref.to_vector());
}

bool all_finite(const Tensor& t) {
  for (double v : t.to_vector()) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

std::vector<double> scaled(std::vector<double> v, double s) {
  for (double& x : v) x *= s;
  return v;
}

// The matrix of a linear f on shape s, column j = f(e_j), with f run eagerly.
template <class F>
Matrix probe_matrix(F&& f, const Shape& s) {
  auto n = static_cast<size_t>(s.volume());
  Matrix m(n, std::vector<double>(n));
  for (size_t j = 0; j < n; ++j) {
    std::vector<double> col = f(unit_vector(s, static_cast<int64_t>(j))).to_vector();
    REQUIRE(col.size() == n);
    for (size_t i = 0; i < n; ++i) m[i][j] = col[i];
  }
  return m;
}

// Solves M z = b, or Mᵀ z = b, by Gaussian elimination with partial pivoting.
std::vector<double> dense_solve(Matrix m, std::vector<double> b, bool transposed = false) {
  size_t n = b.size();
  if (transposed) {
    for (size_t i = 0; i < n; ++i)
      for (size_t j = i + 1; j < n; ++j) std::swap(m[i][j], m[j][i]);
  }
  for (size_t k = 0; k < n; ++k) {
    size_t p = k;
    for (size_t i = k + 1; i < n; ++i)
      if (std::abs(m[i][k]) > std::abs(m[p][k])) p = i;
    std::swap(m[k], m[p]);
    std::swap(b[k], b[p]);
    for (size_t i = k + 1; i < n; ++i) {
      double f = m[i][k] / m[k][k];
      for (size_t j = k; j < n; ++j) m[i][j] -= f * m[k][j];
      b[i] -= f * b[k];
    }
  }
  std::vector<double> z(n);
  for (size_t k = n; k-- > 0;) {
    double s = b[k];
    for (size_t j = k + 1; j < n; ++j) s -= m[k][j] * z[j];
    z[k] = s / m[k][k];
  }
  return z;
}

// Central differences of the scalar loss(t) with respect to every value of t.
template <class L>
Tensor fd_gradient(L&& loss, const Tensor& t, double h) {
  std::vector<double> v = t.to_vector(), g(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    std::vector<double> p = v, m = v;
    p[i] += h;
    m[i] -= h;
    g[i] = (loss(tensor(p, t.shape())) - loss(tensor(m, t.shape()))) / (2 * h);
  }
  return tensor(g, t.shape());
}

// Nonsymmetric operators along spatial dim x: (f x)_i = x_i + ½ x_{i+1} and 2 x_i − x_{i−1}.
const auto upwind = [](const Tensor& x) { return x + 0.5 * shift(x, "x", 1, extrapolation::ZERO); };
const auto downwind = [](const Tensor& x) { return 2.0 * x - shift(x, "x", -1, extrapolation::ZERO); };
const auto neg_laplace = [](const Tensor& x) { return -laplace(x, extrapolation::ZERO); };
// One implicit heat step solves u_new − ½ ∇² u_new = u.
const auto heat = [](const Tensor& x) { return x - 0.5 * laplace(x, extrapolation::ZERO); };
// θ-weighted stencils: symmetric θx − ∇²x, and nonsymmetric with a θ-scaled convection term.
const auto sym_op = [](const Tensor& x, const Tensor& theta) { return theta * x - laplace(x); };
const auto nonsym_op = [](const Tensor& x, const Tensor& theta) {
  return theta * x - laplace(x) +
         0.5 * theta * (shift(x, "x", 1, extrapolation::ZERO) - shift(x, "x", -1, extrapolation::ZERO));
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// 1. Seed 004: the gradient examples of PhiML's linear-solve notebook

TEST_CASE("solve gradient: seed 004 l2_loss(solve(x * (2, 1), b)) w.r.t. b is (2.5, 3.75)",
          "[solve_gradient]") {
  Tensor scale = tensor({2, 1}, channel("x_vec", 2));
  auto linear_function = jit_compile_linear([scale](const Tensor& x) { return x * scale; });
  Tensor x0 = zeros(channel("x_vec", 2));
  SECTION("PhiML's layout: each b_vec entry of b = (2, 3) is broadcast along x_vec") {
    // PhiML solves x * (2, 1) = b_k for each entry b_k: x = b_k (½, 1), l2_loss = 5/8 b_k², so
    // d/db_k = 1.25 b_k = (2.5, 3.75). Here b_vec is a batch dim and the broadcast is explicit.
    Tensor b = tensor({2, 3}, batch("b_vec", 2));
    auto loss_function = [&](const Tensor& b) {
      return l2_loss(solve_linear(linear_function, b * ones(channel("x_vec", 2)), Solve{.x0 = x0}));
    };
    std::vector<Tensor> out = gradient(loss_function, {0}, true)(b);
    REQUIRE(out.size() == 2);
    CHECK_VALUES(out[0], {0.625 * 4, 0.625 * 9});
    CHECK(out[1].shape() == b.shape());
    CHECK_VALUES(out[1], {2.5, 3.75});
  }
  SECTION("b along x_vec: x = (1, 3), gradient A⁻ᵀ x = (½, 3)") {
    Tensor b = tensor({2, 3}, channel("x_vec", 2));
    auto loss_function = [&](const Tensor& b) {
      return l2_loss(solve_linear(linear_function, b, Solve{.x0 = x0}));
    };
    std::vector<Tensor> out = gradient(loss_function, {0}, true)(b);
    CHECK_VALUES(out[0], {5});
    CHECK_VALUES(out[1], {0.5, 3});
  }
}

TEST_CASE("solve gradient: seed 004 grad_for_f gives (-1, -0.125) w.r.t. the conditioning, else 0",
          "[solve_gradient]") {
  // x = 1 / c, L = Σ 1/(2c²), dL/dc = −1/c³ = (−1, −⅛) at c = (1, 2).
  auto conditioned = jit_compile_linear([](const Tensor& x, const Tensor& c) { return x * c; });
  auto callable = [](const Tensor& x, const Tensor& c) { return x * c; };
  Tensor conditioning = tensor({1, 2}, channel("x_vec", 2));
  Tensor x0 = zeros(channel("x_vec", 2));
  for (bool grad_for_f : {true, false}) {
    INFO("grad_for_f " << grad_for_f);
    auto loss_linear = [&](const Tensor& c) {
      return l2_loss(solve_linear(conditioned, ones_like(c), Solve{.x0 = x0, .grad_for_f = grad_for_f}, c));
    };
    auto loss_callable = [&](const Tensor& c) {
      return l2_loss(solve_linear(callable, ones_like(c), Solve{.x0 = x0, .grad_for_f = grad_for_f}, c));
    };
    std::vector<double> want = grad_for_f ? std::vector<double>{-1, -0.125} : std::vector<double>{0, 0};
    CHECK_VALUES(gradient(loss_linear, {0}, false)(conditioning)[0], want);
    CHECK_VALUES(gradient(loss_callable, {0}, false)(conditioning)[0], want);
  }
}

// ---------------------------------------------------------------------------------------------
// 2. The adjoint is the transposed solve

TEST_CASE("solve gradient: a dense or sparse nonsymmetric matrix gives A⁻ᵀ c, not A⁻¹ c",
          "[solve_gradient]") {
  // M = [[2, 1], [0, 3]]; values in canonical order (~x, x), i.e. column by column.
  Tensor A = tensor({2, 0, 1, 3}, channel("x", 2) & dual("x", 2));
  REQUIRE(matmul(A, tensor({1, 0}, channel("x", 2))).to_vector() == std::vector<double>{2, 0});
  REQUIRE(matmul(A, tensor({0, 1}, channel("x", 2))).to_vector() == std::vector<double>{1, 3});
  // The same matrix, sparse.
  auto rows = [](const Tensor& x) {
    return stack({2.0 * x.slice("x", 0) + x.slice("x", 1), 3.0 * x.slice("x", 1)}, channel("x", 2));
  };
  Tensor S = matrix_from_function(rows, zeros(channel("x", 2))).first;
  REQUIRE(S.is_sparse());
  REQUIRE(dense(S).to_vector() == A.to_vector());
  Tensor y = tensor({3, 6}, channel("x", 2));  // x = (½, 2)
  Tensor c = tensor({1, 1}, channel("x", 2));
  // Aᵀ = [[2, 0], [1, 3]]: Aᵀ (½, ⅙) = (1, 1). The wrong A⁻¹ c would be (⅓, ⅓).
  for (const Tensor& matrix : {A, S}) {
    for (const std::string& method : std::vector<std::string>{"auto", "direct", "biCG-stab", "GMRES"}) {
      for (const std::string& pre : std::vector<std::string>{"", "jacobi", "ilu"}) {
        if (!pre.empty() && (method == "auto" || method == "direct")) continue;
        INFO((matrix.is_sparse() ? "sparse " : "dense ") << method << " preconditioner '" << pre << "'");
        Solve solve = solve_with(method, zeros(y.shape()));
        solve.preconditioner = pre;
        auto loss = [&](const Tensor& y) { return sum(c * solve_linear(matrix, y, solve)); };
        std::vector<Tensor> out = gradient(loss, {0}, true)(y);
        CHECK_VALUES(out[0], {2.5});
        CHECK(out[1].shape() == y.shape());
        CHECK_VALUES(out[1], {0.5, 1.0 / 6});
      }
    }
  }
}

TEST_CASE("solve gradient: a matrix-free nonsymmetric operator solves with fᵀ", "[solve_gradient]") {
  Shape s = spatial("x", 7);
  Tensor y = random_normal(s, 1), c = random_normal(s, 2);
  Matrix m = probe_matrix(upwind, s);
  std::vector<double> right = dense_solve(m, c.to_vector(), true);  // Mᵀ λ = c
  std::vector<double> wrong =
      dense_solve(m, c.to_vector(), false);  // M λ = c: an adjoint without the transpose
  std::vector<double> diff(right.size());
  for (size_t i = 0; i < diff.size(); ++i) diff[i] = right[i] - wrong[i];
  REQUIRE(norm(diff) > 0.2 * norm(right));  // a solve with f instead of fᵀ fails this test
  for (const std::string& method : std::vector<std::string>{"auto", "biCG-stab", "GMRES", "direct"}) {
    INFO(method);
    auto loss = [&](const Tensor& y) {
      return sum(c * solve_linear(upwind, y, solve_with(method, zeros(s))));
    };
    Tensor g = gradient(loss, {0}, false)(y)[0];
    CHECK(g.shape() == s);
    CHECK(rel_error(g, right) < 1e-9);
  }
  // The same gradient compiled inside jit_compile.
  auto loss = [&](const Tensor& y) {
    return sum(c * solve_linear(upwind, y, solve_with("GMRES", zeros(s))));
  };
  auto compiled = jit_compile([&](const Tensor& y) { return gradient(loss, {0}, false)(y)[0]; });
  CHECK(rel_error(compiled(y), right) < 1e-9);
  CHECK(rel_error(compiled(2.0 * y), right) < 1e-9);  // a loss linear in x: the same gradient
  CHECK(compiled.trace_count() == 1);
}

TEST_CASE("solve gradient: a batch dim on y only gives one adjoint per entry", "[solve_gradient][batch]") {
  Shape s = spatial("x", 6);
  Tensor y = random_normal(batch("b", 3) & s, 3);
  Matrix m = probe_matrix(upwind, s);
  auto linear = jit_compile_linear(upwind);
  for (const std::string& method : std::vector<std::string>{"biCG-stab", "GMRES", "direct"}) {
    for (int form = 0; form < 2; ++form) {
      INFO(method << (form == 0 ? " jit_compile_linear" : " callable"));
      auto loss = [&](const Tensor& y) {
        Solve solve = solve_with(method, zeros(s));
        return l2_loss(form == 0 ? solve_linear(linear, y, solve) : solve_linear(upwind, y, solve));
      };
      std::vector<Tensor> out = gradient(loss, {0}, true)(y);
      CHECK(out[0].shape() == batch("b", 3));
      CHECK(out[1].shape() == y.shape());
      for (int64_t b = 0; b < 3; ++b) {
        INFO("entry " << b);
        std::vector<double> x = dense_solve(m, y.slice("b", b).to_vector());
        CHECK(out[0].slice("b", b).item() == Approx(0.5 * norm(x) * norm(x)).epsilon(1e-9));
        CHECK(rel_error(out[1].slice("b", b), dense_solve(m, x, true)) < 1e-9);  // Mᵀ λ = x
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Finite differences through every method, preconditioner and grad_for_f

TEST_CASE("solve gradient: d/dy and d/dθ agree with finite differences for every method and preconditioner",
          "[solve_gradient][fd]") {
  Shape s = spatial("x", 8);
  Tensor y = random_normal(s, 4), w = random_normal(s, 5);
  Tensor theta = random_uniform(s, 1, 2, 6);
  auto sym_linear = jit_compile_linear(sym_op);
  auto nonsym_linear = jit_compile_linear(nonsym_op);
  struct Case {
    std::string method, preconditioner;
  };
  std::vector<Case> cases;
  for (const std::string& method : std::vector<std::string>{"CG", "biCG-stab", "GMRES"}) {
    for (const std::string& pre : std::vector<std::string>{"", "jacobi", "ilu"})
      cases.push_back({method, pre});
  }
  cases.push_back({"direct", ""});
  for (const Case& k : cases) {
    bool symmetric = k.method == "CG";
    // A matrix exists for jit_compile_linear functions; the plain callable runs matrix-free.
    for (int form = 0; form < (k.preconditioner.empty() ? 2 : 1); ++form) {
      INFO(k.method << " preconditioner '" << k.preconditioner << "' "
                    << (form == 0 ? "jit_compile_linear" : "callable"));
      Solve solve = solve_with(k.method, zeros(s));
      solve.preconditioner = k.preconditioner;
      solve.grad_for_f = true;
      auto solve_x = [&](const Tensor& y, const Tensor& theta) {
        if (form == 1)
          return symmetric ? solve_linear(sym_op, y, solve, theta) : solve_linear(nonsym_op, y, solve, theta);
        return symmetric ? solve_linear(sym_linear, y, solve, theta)
                         : solve_linear(nonsym_linear, y, solve, theta);
      };
      auto loss = [&](const Tensor& y, const Tensor& theta) {
        Tensor x = solve_x(y, theta);
        return sum(w * x) + l2_loss(x);
      };
      std::vector<Tensor> g = gradient(loss, {0, 1}, false)(y, theta);
      REQUIRE(g.size() == 2);
      // Quadratic in y: central differences are exact up to rounding.
      Tensor fd_y = fd_gradient([&](const Tensor& t) { return loss(t, theta).item(); }, y, 1e-3);
      Tensor fd_theta = fd_gradient([&](const Tensor& t) { return loss(y, t).item(); }, theta, 1e-4);
      CHECK(rel_error(g[0], fd_y) < 1e-5);
      CHECK(rel_error(g[1], fd_theta) < 1e-5);
      // Without grad_for_f, θ gets no gradient and y the same one.
      solve.grad_for_f = false;
      std::vector<Tensor> g0 = gradient(loss, {0, 1}, false)(y, theta);
      CHECK(rel_error(g0[0], fd_y) < 1e-5);
      CHECK(g0[1].to_vector() == std::vector<double>(8, 0.0));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 4. The adjoint solve on the SolveTape

TEST_CASE("solve gradient: the adjoint solve uses gradient_solve and is recorded after the forward one",
          "[solve_gradient][tape]") {
  Shape s = spatial("x", 9);
  Tensor y = random_normal(s, 7), c = random_normal(s, 8);
  std::vector<double> want = dense_solve(probe_matrix(upwind, s), c.to_vector(), true);
  Solve forward = solve_with("biCG-stab", zeros(s), 1e-8, 0, 300);
  auto run = [&](const Solve& solve) {
    auto loss = [&](const Tensor& y) { return sum(c * solve_linear(upwind, y, solve)); };
    return gradient(loss, {0}, false)(y)[0];
  };
  SECTION("explicit GMRES settings") {
    Solve solve = forward;
    solve.gradient_solve =
        std::make_shared<Solve>(Solve{.method = "GMRES", .rel_tol = 1e-10, .abs_tol = 0, .x0 = zeros(s)});
    SolveTape tape;
    Tensor g = run(solve);
    REQUIRE(tape.size() == 2);
    CHECK(tape[0].method == "biCG-stab");
    CHECK(tape[0].solve.rel_tol == 1e-8);
    CHECK(tape[1].method == "GMRES");
    CHECK(tape[1].solve.method == "GMRES");
    CHECK(tape[1].solve.rel_tol == 1e-10);
    CHECK_VALUES(tape[1].converged, {1});
    CHECK(rel_error(tape[1].x, want) < 1e-8);  // the adjoint's solution is the gradient
    CHECK(rel_error(g, want) < 1e-8);
  }
  SECTION("null gradient_solve: the forward settings") {
    SolveTape tape;
    Tensor g = run(forward);
    REQUIRE(tape.size() == 2);
    CHECK(tape[1].method == "biCG-stab");
    CHECK(tape[1].solve.rel_tol == 1e-8);
    CHECK(tape[1].solve.max_iterations == 300);
    CHECK(rel_error(g, want) < 1e-6);
  }
}

TEST_CASE("solve gradient: two chained solves record fwd1, fwd2, adj2, adj1", "[solve_gradient][tape]") {
  Shape s = spatial("x", 8);
  Tensor y = random_normal(s, 9), c = random_normal(s, 10);
  Matrix m1 = probe_matrix(upwind, s), m2 = probe_matrix(downwind, s);
  std::vector<double> x1 = dense_solve(m1, y.to_vector());
  std::vector<double> lambda2 = dense_solve(m2, c.to_vector(), true);
  std::vector<double> lambda1 = dense_solve(m1, lambda2, true);
  Solve s1 = solve_with("biCG-stab", zeros(s), 1e-12, 0, 500);
  Solve s2 = solve_with("GMRES", zeros(s), 1e-12, 0, 600);
  auto loss = [&](const Tensor& y) {
    return sum(c * solve_linear(downwind, solve_linear(upwind, y, s1), s2));
  };
  SolveTape tape;
  Tensor g = gradient(loss, {0}, false)(y)[0];
  CHECK(rel_error(g, lambda1) < 1e-9);
  REQUIRE(tape.size() == 4);
  const std::vector<std::string> methods = {"biCG-stab", "GMRES", "GMRES", "biCG-stab"};
  const std::vector<int> max_iterations = {500, 600, 600, 500};
  for (size_t i = 0; i < 4; ++i) {
    INFO("tape entry " << i);
    CHECK(tape[i].method == methods[i]);
    CHECK(tape[i].solve.max_iterations == max_iterations[i]);
    CHECK_VALUES(tape[i].converged, {1});
  }
  CHECK(rel_error(tape[0].x, x1) < 1e-9);
  CHECK(rel_error(tape[2].x, lambda2) < 1e-9);
  CHECK(rel_error(tape[3].x, lambda1) < 1e-9);
}

TEST_CASE("solve gradient: an adjoint solve that fails throws NotConverged unless suppressed",
          "[solve_gradient][errors]") {
  Shape s = spatial("x", 40);
  Tensor y = random_normal(s, 11), c = random_normal(s, 12);
  Solve adjoint = solve_with("CG", zeros(s), 1e-10, 0, 1);  // one CG step cannot solve 1D Poisson
  Solve solve = solve_with("CG", zeros(s), 1e-10, 0, 1000);
  solve.gradient_solve = std::make_shared<Solve>(adjoint);
  auto loss = [&](const Tensor& y) { return sum(c * solve_linear(neg_laplace, y, solve)); };
  try {
    gradient(loss, {0}, false)(y);
    FAIL("the adjoint solve should not converge");
  } catch (const NotConverged& e) {
    CHECK(e.result.solve.max_iterations == 1);  // the adjoint failed, not the forward solve
    CHECK_VALUES(e.result.converged, {0});
    CHECK(all_finite(e.result.x));
  }
  adjoint.suppress = {Failure::not_converged};
  solve.gradient_solve = std::make_shared<Solve>(adjoint);
  SolveTape tape;
  Tensor g = gradient(loss, {0}, false)(y)[0];  // a new gradient function: `solve` changed
  CHECK(g.shape() == s);
  CHECK(all_finite(g));
  REQUIRE(tape.size() == 2);
  CHECK_VALUES(tape[0].converged, {1});
  CHECK_VALUES(tape[1].converged, {0});
  CHECK_VALUES(tape[1].iterations, {1});
}

// ---------------------------------------------------------------------------------------------
// 5. Solves inside jit_compile

TEST_CASE("solve gradient: an implicit heat step compiled with its solve equals the eager step",
          "[solve_gradient][jit]") {
  Shape s = spatial("x", 12) & spatial("y", 10);
  Tensor u = random_normal(s, 13);
  auto eager_step = [](const Tensor& u) { return solve_linear(heat, u, solve_with("CG", u)); };
  auto step = jit_compile(eager_step);
  Matrix m = probe_matrix(heat, s);
  SolveTape tape;
  Tensor u1 = step(u);
  Tensor u2 = step(u1);
  CHECK(step.trace_count() == 1);
  REQUIRE(tape.size() == 2);  // one solve per compiled call
  for (size_t i = 0; i < 2; ++i) {
    CHECK(tape[i].method == "CG");
    CHECK_VALUES(tape[i].converged, {1});
    CHECK(tape[i].iterations.item() > 0);
  }
  CHECK(rel_error(u1, dense_solve(m, u.to_vector())) < 1e-9);
  CHECK(rel_error(u2, dense_solve(m, u1.to_vector())) < 1e-9);
  CHECK(max_abs_diff(u1, eager_step(u)) < 1e-8);
  CHECK(max_abs_diff(u2, eager_step(u1)) < 1e-8);
}

TEST_CASE("solve gradient: a solve inside jit_compile that cannot converge throws when it runs",
          "[solve_gradient][jit][errors]") {
  Shape s = spatial("x", 12) & spatial("y", 10);
  Tensor u = random_normal(s, 14);
  auto stuck = jit_compile(
      [](const Tensor& u) { return solve_linear(heat, u, solve_with("CG", zeros_like(u), 1e-12, 0, 2)); });
  try {
    stuck(u);
    FAIL("two CG iterations should not converge");
  } catch (const NotConverged& e) {
    CHECK_VALUES(e.result.iterations, {2});
    CHECK(all_finite(e.result.x));
  }
  auto suppressed = jit_compile([](const Tensor& u) {
    Solve solve = solve_with("CG", zeros_like(u), 1e-12, 0, 2);
    solve.suppress = {Failure::not_converged};
    return solve_linear(heat, u, solve);
  });
  SolveTape tape;
  Tensor x = suppressed(u);
  CHECK(all_finite(x));
  REQUIRE(tape.size() == 1);
  CHECK_VALUES(tape[0].converged, {0});
  CHECK_VALUES(tape[0].iterations, {2});
}

// ---------------------------------------------------------------------------------------------
// 6. Scale and length

TEST_CASE("solve gradient: a float32 cotangent of 1e-13 is not lost", "[solve_gradient][f32]") {
  Shape s = spatial("x", 8);
  Tensor y = random_normal(s, 15).astype(DType::f32), c = random_normal(s, 16).astype(DType::f32);
  // The reference in float64 from the float32 values of c.
  std::vector<double> want = dense_solve(probe_matrix(upwind, s), c.to_vector(), true);
  for (const std::string& method : std::vector<std::string>{"biCG-stab", "GMRES", "direct"}) {
    for (bool default_tolerances : {false, true}) {
      INFO(method << (default_tolerances ? " rel_tol = abs_tol = 1e-5" : " rel_tol 1e-6, abs_tol 0"));
      // With abs_tol 0 the convergence test is scale-invariant. With the default abs_tol 1e-5 a
      // right-hand side of 1e-13 would count as solved by x = 0, unless the adjoint solve
      // normalizes it first (as the README promises: "a tiny cotangent is not lost to abs_tol").
      Solve solve = default_tolerances ? Solve{.x0 = zeros(s, DType::f32)}
                                       : solve_with(method, zeros(s, DType::f32), 1e-6, 0);
      solve.method = method;
      auto unscaled = [&](const Tensor& y) { return sum(c * solve_linear(upwind, y, solve)); };
      auto tiny = [&](const Tensor& y) { return 1e-13 * sum(c * solve_linear(upwind, y, solve)); };
      Tensor g1 = gradient(unscaled, {0}, false)(y)[0];
      Tensor g13 = gradient(tiny, {0}, false)(y)[0];
      CHECK(g13.dtype() == DType::f32);
      CHECK(norm(g13.to_vector()) > 0);
      CHECK(rel_error(g1, want) < 1e-4);
      CHECK(rel_error(g13, scaled(want, 1e-13)) < 1e-4);
      CHECK(rel_error(g13, scaled(g1.to_vector(), 1e-13)) < 1e-4);
    }
  }
}

TEST_CASE("solve gradient: a 200+ iteration CG solve records two solves and matches a dense solve",
          "[solve_gradient][tape]") {
  const int64_t n = 400;
  Shape s = spatial("x", n);
  Tensor y = random_normal(s, 17), c = random_normal(s, 18);
  // −∇² with zero boundaries: tridiagonal (−1, 2, −1), symmetric, so the adjoint is A⁻¹ c.
  Matrix a(static_cast<size_t>(n), std::vector<double>(static_cast<size_t>(n), 0.0));
  for (size_t i = 0; i < a.size(); ++i) {
    a[i][i] = 2;
    if (i > 0) a[i][i - 1] = -1;
    if (i + 1 < a.size()) a[i][i + 1] = -1;
  }
  std::vector<double> want = dense_solve(a, c.to_vector());
  Solve solve = solve_with("CG", zeros(s), 1e-11, 0, 5000);
  auto loss = [&](const Tensor& y) { return sum(c * solve_linear(neg_laplace, y, solve)); };
  SolveTape tape;
  std::vector<Tensor> out = gradient(loss, {0}, true)(y);
  REQUIRE(tape.size() == 2);  // forward and adjoint: the loop is never unrolled
  CHECK(tape[0].iterations.item() >= 200);
  CHECK(tape[1].iterations.item() >= 200);
  CHECK(tape[0].method == "CG");
  CHECK(tape[1].method == "CG");
  double want_loss = 0;
  std::vector<double> x = dense_solve(a, y.to_vector()), cv = c.to_vector();
  for (size_t i = 0; i < x.size(); ++i) want_loss += cv[i] * x[i];
  CHECK(out[0].item() == Approx(want_loss).epsilon(1e-6));
  CHECK(rel_error(out[1], want) < 1e-6);
}
