// End-to-end tests of solve_linear and SolveTape (API §7). Every answer is checked against an
// independent one: a hand-computed solution, a direct solve, or f applied to the result (the
// true residual y − f(x), evaluated eagerly in float64).
#include <phijit/phijit.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <numbers>
#include <optional>
#include <string>
#include <vector>

#include "linear_helpers.h"
#include "test_helpers.h"

using namespace phijit;

namespace {

const std::vector<std::string> kIterative = {"CG", "CG-adaptive", "biCG-stab", "GMRES"};
const std::vector<std::string> kAllMethods = {"auto", "CG", "CG-adaptive", "biCG-stab", "GMRES", "direct"};

Solve solve_with(const std::string& method, const Tensor& x0, double rel_tol = 1e-5, double abs_tol = 1e-5,
                 int max_iterations = 1000) {
  Solve s;
  s.method = method;
  s.rel_tol = rel_tol;
  s.abs_tol = abs_tol;
  s.x0 = x0;
  s.max_iterations = max_iterations;
  return s;
}

// ‖t‖₂ over all values, accumulated in double.
double norm(const Tensor& t) {
  double s = 0;
  for (double v : t.to_vector()) s += v * v;
  return std::sqrt(s);
}

// ‖a − ref‖₂ / ‖ref‖₂ (same shapes required).
double rel_error(const Tensor& a, const Tensor& ref) {
  REQUIRE(a.shape() == ref.shape());
  std::vector<double> x = a.to_vector(), y = ref.to_vector();
  double d = 0, r = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    d += (x[i] - y[i]) * (x[i] - y[i]);
    r += y[i] * y[i];
  }
  return std::sqrt(d / r);
}

bool all_finite(const Tensor& t) {
  for (double v : t.to_vector()) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

// −∇² with zero boundaries: symmetric positive definite.
Tensor neg_laplace(const Tensor& x) { return -laplace(x); }

// The true residual of −∇² x = y, in float64 with the eager ops.
double poisson_residual(const Tensor& x, const Tensor& y) {
  return norm(y.astype(DType::f64) + laplace(x.astype(DType::f64)));
}

// The first eigenvector of −∇² with zero boundaries along every spatial dim of s: CG solves it
// in one step.
Tensor lowest_mode(const Shape& s) {
  Tensor m = 1.0;
  for (const std::string& name : s.names()) {
    int64_t n = s.size(name);
    Tensor i = linspace(1, static_cast<double>(n), spatial(name, n));
    m = m * sin(i * (std::numbers::pi / static_cast<double>(n + 1)));
  }
  return m;
}

// A boolean mask: false on the border, on a band across the domain and at a few random cells.
Tensor band_mask(const Shape& s, uint64_t seed) {
  int64_t nx = s.size("x"), ny = s.size("y");
  std::vector<double> r = random_uniform(s, 0, 1, seed).to_vector(), v(r.size());
  for (int64_t i = 0; i < nx; ++i) {
    for (int64_t j = 0; j < ny; ++j) {
      bool border = i == 0 || j == 0 || i == nx - 1 || j == ny - 1;
      bool band = j == ny / 2 && i > 2 && i < nx - 3;
      size_t k = static_cast<size_t>(i * ny + j);
      v[k] = border || band || r[k] < 0.1 ? 0 : 1;
    }
  }
  return tensor(v, s, DType::boolean);
}

// The exception fn throws as E, or nullopt (then the caller's REQUIRE fails).
template <class E, class Fn>
std::optional<E> thrown_as(Fn fn) {
  try {
    fn();
  } catch (const E& e) {
    return e;
  }
  return std::nullopt;
}

// The seed-004 matrix [[0, 1], [1, 0]] as a linear function: x along x_vec, y along b_vec.
Tensor swap_vec(const Tensor& x) {
  return stack({x.slice("x_vec", 1), x.slice("x_vec", 0)}, channel("b_vec", 2));
}

// The iterations of the one solve `solve` runs (a batch of one).
int iterations_of(const std::function<Tensor()>& solve) {
  SolveTape tape;
  solve();
  REQUIRE(tape.size() == 1);
  return static_cast<int>(tape[0].iterations.item());
}

// Solves −∇² x = y with every iterative method (rel_tol 1e-10, abs_tol 0) through f and checks
// each against the direct solve and the true residual.
template <class F>
void check_poisson_methods(F&& f, const Tensor& y) {
  Tensor x0 = zeros(y.shape());
  Tensor direct = solve_linear(f, y, solve_with("direct", x0, 1e-10, 0));
  CHECK(poisson_residual(direct, y) <= 1e-12 * norm(y));
  for (const std::string& method : kIterative) {
    INFO(method);
    SolveTape tape;
    Tensor x = solve_linear(f, y, solve_with(method, x0, 1e-10, 0, 10000));
    REQUIRE(tape.size() == 1);
    CHECK(tape[0].method == method);
    CHECK(tape[0].converged.item() == 1);
    CHECK(rel_error(x, direct) < 1e-6);
    CHECK(poisson_residual(x, y) <= 1e-10 * norm(y) * (1 + 1e-6));
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// 1. The 2×2 example of seed 004

TEST_CASE("solve: seed 004 dense 2x2 matrix gives (3, 2) with every method", "[solve]") {
  Tensor A = tensor({0, 1, 1, 0}, channel("b_vec", 2) & dual("x_vec", 2));
  Tensor y = tensor({2, 3}, channel("b_vec", 2));
  Tensor x0 = tensor({0, 0}, channel("x_vec", 2));
  for (const std::string& method : kAllMethods) {
    INFO(method);
    SolveTape tape;
    Tensor x = solve_linear(A, y, solve_with(method, x0));
    CHECK(x.shape() == channel("x_vec", 2));  // the solution has x0's dims
    CHECK_VALUES(x, {3, 2});
    REQUIRE(tape.size() == 1);
    CHECK(tape[0].method == (method == "auto" ? "direct" : method));
    CHECK_VALUES(tape[0].converged, {1});
  }
}

TEST_CASE("solve: seed 004 swap as a sparse matrix gives (3, 2) with every method", "[solve]") {
  Tensor x0 = tensor({0, 0}, channel("x_vec", 2));
  auto [A, b] = matrix_from_function(swap_vec, x0);
  REQUIRE(A.is_sparse());
  CHECK(A.shape() == (channel("b_vec", 2) & dual("x_vec", 2)));
  CHECK(nnz(A) == 2);
  CHECK_VALUES(dense(A), {0, 1, 1, 0});
  CHECK_VALUES(b, {0, 0});
  Tensor y = tensor({2, 3}, channel("b_vec", 2));
  for (const std::string& method : kAllMethods) {
    INFO(method);
    Tensor x = solve_linear(A, y, solve_with(method, x0));
    CHECK(x.shape() == channel("x_vec", 2));
    CHECK_VALUES(x, {3, 2});
  }
}

TEST_CASE("solve: seed 004 swap as jit_compile_linear and as a plain callable", "[solve]") {
  Tensor x0 = tensor({0, 0}, channel("x_vec", 2));
  Tensor y = tensor({2, 3}, channel("b_vec", 2));
  auto linear = jit_compile_linear(swap_vec);
  auto callable = [](const Tensor& x) { return swap_vec(x); };
  for (const std::string& method : kAllMethods) {
    INFO(method);
    CHECK_VALUES(solve_linear(linear, y, solve_with(method, x0)), {3, 2});
    CHECK_VALUES(solve_linear(callable, y, solve_with(method, x0)), {3, 2});
  }
  CHECK(linear.trace_count() == 1);
}

TEST_CASE("solve: seed 004 x times (2, 1) against y along b_vec is a ShapeError naming both",
          "[solve][errors]") {
  Tensor scale = tensor({2, 1}, channel("x_vec", 2));
  auto f = [&](const Tensor& x) { return x * scale; };
  Tensor x0 = tensor({0, 0}, channel("x_vec", 2));
  Tensor y = tensor({2, 3}, channel("b_vec", 2));
  // PhiML's notebook shows a (b_vec, x_vec) "solution" here; phijit refuses.
  for (const std::string& method : kAllMethods) {
    INFO(method);
    CHECK_THROWS_MATCHES(solve_linear(f, y, solve_with(method, x0)), ShapeError,
                         message_contains({"x_vec", "b_vec"}));
    CHECK_THROWS_MATCHES(solve_linear(jit_compile_linear(f), y, solve_with(method, x0)), ShapeError,
                         message_contains({"x_vec", "b_vec"}));
  }
}

TEST_CASE("solve: seed 004 x times (2, 1) against y along x_vec gives (1, 3)", "[solve]") {
  Tensor scale = tensor({2, 1}, channel("x_vec", 2));
  auto f = [&](const Tensor& x) { return x * scale; };
  Tensor x0 = tensor({0, 0}, channel("x_vec", 2));
  Tensor y = tensor({2, 3}, channel("x_vec", 2));
  auto linear = jit_compile_linear(f);
  Tensor A = matrix_from_function(f, x0).first;
  for (const std::string& method : kAllMethods) {
    INFO(method);
    CHECK_VALUES(solve_linear(f, y, solve_with(method, x0)), {1, 3});
    CHECK_VALUES(solve_linear(linear, y, solve_with(method, x0)), {1, 3});
    CHECK_VALUES(solve_linear(A, y, solve_with(method, x0)), {1, 3});
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Offsets: f(x) = A x + b solves A x = y − b

TEST_CASE("solve: an affine callable 2x + 1 = 5 gives 2 matrix-free with every method", "[solve]") {
  Shape s = spatial("x", 3);
  auto f = [](const Tensor& x) { return 2.0 * x + 1.0; };
  Tensor y = full(s, 5);
  for (const std::string& method : kAllMethods) {
    INFO(method);
    CHECK_VALUES(solve_linear(f, y, solve_with(method, zeros(s))), {2, 2, 2});
    CHECK_VALUES(solve_linear(f, y, solve_with(method, full(s, 7))), {2, 2, 2});  // from another x0
  }
}

TEST_CASE("solve: an affine jit_compile_linear function subtracts its offset", "[solve]") {
  Shape s = spatial("x", 3);
  auto f = jit_compile_linear([](const Tensor& x) { return 2.0 * x + 1.0; });
  // k x + k = y  →  x = y / k − 1
  auto g = jit_compile_linear([](const Tensor& x, const Tensor& k) { return k * x + k; });
  Tensor k = tensor({1, 2, 4}, s);
  Tensor y = tensor({3, 2, 20}, s);
  for (const std::string& method : kAllMethods) {
    INFO(method);
    CHECK_VALUES(solve_linear(f, full(s, 5), solve_with(method, zeros(s))), {2, 2, 2});
    CHECK_VALUES(solve_linear(g, y, solve_with(method, zeros(s)), k), {2, 0, 4});
  }
}

TEST_CASE("solve: an affine callable with a preconditioner builds its matrix and keeps the offset",
          "[solve]") {
  Shape s = spatial("x", 3);
  auto f = [](const Tensor& x) { return 2.0 * x + 1.0; };
  for (const std::string& pre : std::vector<std::string>{"jacobi", "ilu"}) {
    for (const std::string& method : kIterative) {
      INFO(pre << " " << method);
      Solve solve = solve_with(method, zeros(s));
      solve.preconditioner = pre;
      CHECK_VALUES(solve_linear(f, full(s, 5), solve), {2, 2, 2});
    }
  }
  // A non-diagonal affine operator: −∇² x + 1 with a preconditioner, against its residual.
  Shape s2 = spatial("x", 12) & spatial("y", 9);
  auto g = [](const Tensor& x) { return -laplace(x) + 1.0; };
  Tensor y = random_normal(s2, 5);
  for (const std::string& pre : std::vector<std::string>{"jacobi", "ilu"}) {
    for (const std::string& method : kIterative) {
      INFO(pre << " " << method);
      Solve solve = solve_with(method, zeros(s2), 1e-10, 0);
      solve.preconditioner = pre;
      Tensor x = solve_linear(g, y, solve);
      CHECK(norm(y - g(x)) <= 1e-10 * norm(y) * (1 + 1e-6));
    }
  }
}

TEST_CASE("solve: a stencil with a boundary offset, -laplace with ONE, subtracts f(0)", "[solve]") {
  Shape s = spatial("x", 10) & spatial("y", 8);
  auto eager = [](const Tensor& x) { return -laplace(x, extrapolation::ONE); };  // f(0) ≠ 0 at the border
  auto f = jit_compile_linear(eager);
  Tensor y = random_normal(s, 26);
  for (const std::string& method : kAllMethods) {
    INFO(method);
    Tensor x = solve_linear(f, y, solve_with(method, zeros(s), 1e-10, 0));
    Tensor xc = solve_linear(eager, y, solve_with(method, zeros(s), 1e-10, 0));
    CHECK(norm(y - eager(x)) <= 1e-10 * norm(y) * (1 + 1e-6));
    CHECK(norm(y - eager(xc)) <= 1e-10 * norm(y) * (1 + 1e-6));
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Poisson problems: every iterative method agrees with the direct solve

TEST_CASE("solve: 2D Poisson through jit_compile_linear, its matrix and a callable", "[solve][poisson]") {
  Shape s = spatial("x", 24) & spatial("y", 20);
  Tensor y = random_normal(s, 1);
  auto f = jit_compile_linear(neg_laplace);
  SECTION("jit_compile_linear") { check_poisson_methods(f, y); }
  SECTION("matrix") {
    Tensor A = f.matrix(zeros(s)).first;
    REQUIRE(A.is_sparse());
    check_poisson_methods(A, y);
  }
  SECTION("callable") {
    check_poisson_methods([](const Tensor& x) { return -laplace(x); }, y);
  }
}

TEST_CASE("solve: 3D Poisson through jit_compile_linear, its matrix and a callable", "[solve][poisson]") {
  Shape s = spatial("x", 8) & spatial("y", 7) & spatial("z", 6);
  Tensor y = random_normal(s, 2);
  auto f = jit_compile_linear(neg_laplace);
  SECTION("jit_compile_linear") { check_poisson_methods(f, y); }
  SECTION("matrix") { check_poisson_methods(f.matrix(zeros(s)).first, y); }
  SECTION("callable") {
    check_poisson_methods([](const Tensor& x) { return -laplace(x); }, y);
  }
}

TEST_CASE("solve: y with its dims in another order than x0 solves the same system", "[solve][poisson]") {
  Shape sxy = spatial("x", 12) & spatial("y", 9);
  Shape syx = spatial("y", 9) & spatial("x", 12);
  Tensor y = random_normal(syx, 27);  // dims (y, x); x0 has (x, y)
  REQUIRE(y.shape().names() == std::vector<std::string>{"y", "x"});
  auto f = jit_compile_linear(neg_laplace);
  auto callable = [](const Tensor& x) { return -laplace(x); };
  Tensor A = f.matrix(zeros(sxy)).first;
  Tensor direct = solve_linear(A, y, solve_with("direct", zeros(sxy), 1e-10, 0));
  CHECK(poisson_residual(direct, y) <= 1e-12 * norm(y));
  for (const std::string& method : kAllMethods) {
    INFO(method);
    Solve solve = solve_with(method, zeros(sxy), 1e-10, 0, 5000);
    solve.suppress = {Failure::not_converged, Failure::diverged};  // check the answers, not the exceptions
    for (int form = 0; form < 3; ++form) {
      INFO((form == 0 ? "jit_compile_linear" : form == 1 ? "matrix" : "callable"));
      Tensor x = form == 0   ? solve_linear(f, y, solve)
                 : form == 1 ? solve_linear(A, y, solve)
                             : solve_linear(callable, y, solve);
      CHECK(x.shape().non_batch().rank() == 2);
      CHECK(norm(x - direct) <= 1e-6 * norm(direct));  // broadcasting by name: any dim order
      CHECK(poisson_residual(x, y) <= 1e-10 * norm(y) * (1 + 1e-6));
    }
  }
}

TEST_CASE("solve: auto picks direct for dense, CG for symmetric sparse, biCG-stab otherwise", "[solve]") {
  Shape s = spatial("x", 6) & spatial("y", 5);
  Tensor y = random_normal(s, 4);
  auto symmetric = jit_compile_linear(neg_laplace);
  auto nonsymmetric =
      jit_compile_linear([](const Tensor& x) { return 3.0 * x - shift(x, "x", 1, extrapolation::ZERO); });
  SolveTape tape;
  Tensor x1 = solve_linear(dense(symmetric.matrix(zeros(s)).first), y, solve_with("auto", zeros(s)));
  Tensor x2 = solve_linear(symmetric, y, solve_with("auto", zeros(s)));
  Tensor x3 = solve_linear(nonsymmetric, y, solve_with("auto", zeros(s)));
  Tensor x4 = solve_linear(neg_laplace, y, solve_with("auto", zeros(s)));
  REQUIRE(tape.size() == 4);
  CHECK(tape[0].method == "direct");
  CHECK(tape[1].method == "CG");
  CHECK(tape[2].method == "biCG-stab");
  CHECK(tape[3].method == "biCG-stab");
  for (const Tensor& x : {x1, x2, x4}) CHECK(poisson_residual(x, y) <= 1e-5 * norm(y) * (1 + 1e-6));
  CHECK(norm(y - 3.0 * x3 + shift(x3, "x", 1, extrapolation::ZERO)) <= 1e-5 * norm(y) * (1 + 1e-6));
}

// ---------------------------------------------------------------------------------------------
// 4. The nonsymmetric masked operator of seed 000

TEST_CASE("solve: seed 000 masked operator where(mask, 2 laplace(x), x) agrees with direct", "[solve]") {
  Shape s = spatial("x", 16) & spatial("y", 12);
  Tensor mask = band_mask(s, 7);
  auto eager = [&mask](const Tensor& x) { return where(mask, 2.0 * laplace(x), x); };
  auto f = jit_compile_linear(eager);
  Tensor y = random_normal(s, 8);
  Tensor x0 = zeros(s);
  Tensor direct = solve_linear(f, y, solve_with("direct", x0, 1e-10, 0));
  CHECK(norm(y - eager(direct)) <= 1e-12 * norm(y));
  for (const std::string& method : std::vector<std::string>{"auto", "biCG-stab", "GMRES"}) {
    INFO(method);
    SolveTape tape;
    Tensor x = solve_linear(f, y, solve_with(method, x0, 1e-10, 0, 10000));
    Tensor xc = solve_linear(eager, y, solve_with(method, x0, 1e-10, 0, 10000));  // matrix-free
    CHECK(tape[0].method == (method == "auto" ? "biCG-stab" : method));
    for (const Tensor& r : {x, xc}) {
      CHECK(rel_error(r, direct) < 1e-6);
      CHECK(norm(y - eager(r)) <= 1e-10 * norm(y) * (1 + 1e-6));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 5. Batches: independent solves per entry

TEST_CASE("solve: batched right-hand sides match separate solves and stop independently", "[solve][batch]") {
  Shape s = spatial("x", 16) & spatial("y", 12);
  Tensor y = stack({random_normal(s, 11), lowest_mode(s), zeros(s)}, batch("b", 3));
  auto f = jit_compile_linear(neg_laplace);
  for (const std::string& method : kAllMethods) {
    INFO(method);
    SolveTape tape;
    Tensor x = solve_linear(f, y, solve_with(method, zeros(s), 1e-10, 0, 10000));
    CHECK(x.shape() == (batch("b", 3) & s));
    REQUIRE(tape.size() == 1);
    SolveInfo info = tape[0];  // a copy: the solves below grow the tape
    CHECK(info.iterations.shape() == batch("b", 3));
    CHECK(info.converged.shape() == batch("b", 3));
    CHECK_VALUES(info.converged, {1, 1, 1});
    for (int64_t i = 0; i < 3; ++i) {
      INFO("entry " << i);
      Tensor yi = y.slice("b", i);
      Tensor xi = solve_linear(f, yi, solve_with(method, zeros(s), 1e-10, 0, 10000));
      Tensor di = solve_linear(f, yi, solve_with("direct", zeros(s)));
      CHECK(max_abs_diff(x.slice("b", i), xi) <= 1e-7 * (1 + norm(di)));
      CHECK(max_abs_diff(x.slice("b", i), di) <= 1e-7 * (1 + norm(di)));
    }
    CHECK(x.slice("b", 2).to_vector() == std::vector<double>(static_cast<size_t>(s.volume()), 0.0));
    if (method != "direct") {
      std::vector<double> it = info.iterations.to_vector();
      INFO("iterations " << info.iterations);
      CHECK(it[0] > 2);   // a random right-hand side
      CHECK(it[2] == 0);  // zero: converged at x0
      CHECK(it[0] != it[1]);
      if (method == "CG" || method == "CG-adaptive") CHECK(it[1] == 1);  // an eigenvector: one step
    }
  }
}

TEST_CASE("solve: a batched x0 is a batch of solves, an exact x0 needs no iteration", "[solve][batch]") {
  Shape s = spatial("x", 10) & spatial("y", 8);
  auto f = jit_compile_linear(neg_laplace);
  Tensor y = random_normal(s, 12);
  Tensor exact = solve_linear(f, y, solve_with("direct", zeros(s)));
  Tensor x0 = stack({zeros(s), exact}, batch("g", 2));
  SolveTape tape;
  Tensor x = solve_linear(f, y, solve_with("CG", x0, 1e-10, 0));
  CHECK(x.shape() == (batch("g", 2) & s));
  CHECK(rel_error(x.slice("g", 0), exact) < 1e-8);
  CHECK(rel_error(x.slice("g", 1), exact) < 1e-12);
  std::vector<double> it = tape[0].iterations.to_vector();
  CHECK(it[0] > 0);
  CHECK(it[1] == 0);
}

TEST_CASE("solve: batched coefficients of a jit_compile_linear f give one matrix per entry",
          "[solve][batch]") {
  Shape s = spatial("x", 12) & spatial("y", 10);
  auto eager = [](const Tensor& x, const Tensor& k) { return k * x - laplace(x); };
  auto f = jit_compile_linear(eager);
  Tensor k = stack({full(s, 1), random_uniform(s, 1, 100, 13)}, batch("k", 2));
  Tensor y = random_normal(s, 14);
  for (const std::string& method : kAllMethods) {
    INFO(method);
    Tensor x = solve_linear(f, y, solve_with(method, zeros(s), 1e-10, 0), k);
    CHECK(x.shape() == (batch("k", 2) & s));
    for (int64_t i = 0; i < 2; ++i) {
      INFO("entry " << i);
      Tensor ki = k.slice("k", i);
      Tensor di = solve_linear(f, y, solve_with("direct", zeros(s)), ki);
      CHECK(rel_error(x.slice("k", i), di) < 1e-7);
      CHECK(norm(y - eager(x.slice("k", i), ki)) <= 1e-10 * norm(y) * (1 + 1e-6));
    }
  }
}

TEST_CASE("solve: a plain callable with batched coefficients or a batched x0", "[solve][batch]") {
  Shape s = spatial("x", 12) & spatial("y", 10);
  auto eager = [](const Tensor& x, const Tensor& k) { return k * x - laplace(x); };
  Tensor k = stack({full(s, 1), random_uniform(s, 1, 100, 13)}, batch("k", 2));
  Tensor y = random_normal(s, 14);
  for (const std::string& method : kAllMethods) {
    INFO(method);
    // The batch comes from f's output (matrix-free) or from the built matrix (direct).
    Tensor x = solve_linear(eager, y, solve_with(method, zeros(s), 1e-10, 0), k);
    CHECK(x.shape() == (batch("k", 2) & s));
    for (int64_t i = 0; i < 2; ++i) {
      INFO("entry " << i);
      Tensor ki = k.slice("k", i);
      CHECK(norm(y - eager(x.slice("k", i), ki)) <= 1e-10 * norm(y) * (1 + 1e-6));
    }
    // A batched x0 with an unbatched f: one solve per x0 entry, all with the same answer.
    Tensor k0 = k.slice("k", 1);
    Tensor x0 = stack({zeros(s), random_normal(s, 25)}, batch("g", 2));
    Tensor xg = solve_linear(eager, y, solve_with(method, x0, 1e-10, 0), k0);
    CHECK(xg.shape() == (batch("g", 2) & s));
    for (int64_t g = 0; g < 2; ++g)
      CHECK(norm(y - eager(xg.slice("g", g), k0)) <= 1e-10 * norm(y) * (1 + 1e-6));
  }
}

TEST_CASE("solve: batched coefficients and batched right-hand sides combine", "[solve][batch]") {
  Shape s = spatial("x", 9) & spatial("y", 7);
  auto f = jit_compile_linear([](const Tensor& x, const Tensor& k) { return k * x - laplace(x); });
  Tensor k = stack({full(s, 0.5), random_uniform(s, 1, 10, 15)}, batch("k", 2));
  Tensor y = random_normal(batch("b", 3) & s, 16);
  Tensor x = solve_linear(f, y, solve_with("CG", zeros(s), 1e-10, 0), k);
  CHECK(x.shape() == (batch("b", 3) & batch("k", 2) & s));
  for (int64_t b = 0; b < 3; ++b) {
    for (int64_t i = 0; i < 2; ++i) {
      INFO("b " << b << ", k " << i);
      Tensor di = solve_linear(f, y.slice("b", b), solve_with("direct", zeros(s)), k.slice("k", i));
      CHECK(rel_error(x.slice("b", b).slice("k", i), di) < 1e-7);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 6. Failures

TEST_CASE("solve: too few iterations throw NotConverged carrying the last estimate", "[solve][errors]") {
  Shape s = spatial("x", 24) & spatial("y", 20);
  Tensor y = random_normal(s, 3);
  auto f = jit_compile_linear(neg_laplace);
  for (const std::string& method : kIterative) {
    INFO(method);
    SolveTape tape;
    auto e =
        thrown_as<NotConverged>([&] { solve_linear(f, y, solve_with(method, zeros(s), 1e-5, 1e-5, 3)); });
    REQUIRE(e);
    CHECK_THAT(*e, message_contains({method, "converge"}));
    CHECK(e->result.method == method);
    CHECK(all_finite(e->result.x));
    CHECK_VALUES(e->result.converged, {0});
    CHECK_VALUES(e->result.diverged, {0});
    CHECK_VALUES(e->result.iterations, {3});
    // The residual it reports is y − f(x) of the estimate, and the estimate made progress.
    CHECK(max_abs_diff(e->result.residual, y + laplace(e->result.x)) < 1e-9);
    CHECK(norm(e->result.residual) < norm(y));
    REQUIRE(tape.size() == 1);
    CHECK_VALUES(tape[0].converged, {0});
  }
}

TEST_CASE("solve: a NaN in y throws Diverged, never hangs, and keeps x finite", "[solve][errors]") {
  Shape s = spatial("x", 8) & spatial("y", 6);
  std::vector<double> v = random_normal(s, 9).to_vector();
  v[13] = std::nan("");
  Tensor y = tensor(v, s);
  auto f = jit_compile_linear(neg_laplace);
  for (const std::string& method : kAllMethods) {
    INFO(method);
    auto e = thrown_as<Diverged>([&] { solve_linear(f, y, solve_with(method, zeros(s))); });
    REQUIRE(e);
    CHECK(all_finite(e->result.x));
    CHECK_VALUES(e->result.diverged, {1});
    CHECK_VALUES(e->result.converged, {0});
    CHECK_THAT(*e, message_contains({"diverged"}));
    // Suppressed: the finite estimate is returned and the tape says diverged.
    Solve solve = solve_with(method, zeros(s));
    solve.suppress = {Failure::diverged};
    SolveTape tape;
    Tensor x = solve_linear(f, y, solve);
    CHECK(all_finite(x));
    REQUIRE(tape.size() == 1);
    CHECK_VALUES(tape[0].diverged, {1});
  }
}

TEST_CASE("solve: a NaN in one batch entry leaves the others solved", "[solve][errors][batch]") {
  Shape s = spatial("x", 8) & spatial("y", 6);
  Tensor good = random_normal(s, 10);
  std::vector<double> v = good.to_vector();
  v[5] = std::nan("");
  Tensor y = stack({good, tensor(v, s)}, batch("b", 2));
  auto f = jit_compile_linear(neg_laplace);
  Tensor direct = solve_linear(f, good, solve_with("direct", zeros(s)));
  for (const std::string& method : kAllMethods) {
    INFO(method);
    auto e = thrown_as<Diverged>([&] { solve_linear(f, y, solve_with(method, zeros(s), 1e-10, 0)); });
    REQUIRE(e);
    CHECK_VALUES(e->result.converged, {1, 0});
    CHECK_VALUES(e->result.diverged, {0, 1});
    CHECK(all_finite(e->result.x));
    CHECK(rel_error(e->result.x.slice("b", 0), direct) < 1e-7);
  }
}

TEST_CASE("solve: seed 000 f(x) = 0 x raises a ConvergenceException with a finite estimate",
          "[solve][errors]") {
  auto f = [](const Tensor& x) { return 0.0 * x; };
  Tensor y = tensor({1, 2, 3}, spatial("x", 3));
  Tensor x0 = zeros(spatial("x", 3));
  for (const std::string& method : kAllMethods) {
    INFO(method);
    auto e = thrown_as<ConvergenceException>([&] { solve_linear(f, y, solve_with(method, x0)); });
    REQUIRE(e);
    INFO("message: " << e->what());
    // Either failure kind is acceptable: a breakdown (Diverged) or no progress (NotConverged).
    std::string kind;
    try {
      solve_linear(f, y, solve_with(method, x0));
    } catch (const Diverged&) {
      kind = "Diverged";
    } catch (const NotConverged&) {
      kind = "NotConverged";
    }
    CHECK(!kind.empty());
    CHECK(all_finite(e->result.x));
    CHECK_VALUES(e->result.converged, {0});
    // The returned residual is y − f(x) = y.
    CHECK_VALUES(e->result.residual, {1, 2, 3});
    // Suppressing both failure kinds returns the estimate instead.
    Solve solve = solve_with(method, x0);
    solve.suppress = {Failure::diverged, Failure::not_converged};
    SolveTape tape;
    Tensor x = solve_linear(f, y, solve);
    CHECK(max_abs_diff(x, e->result.x) == 0);
    REQUIRE(tape.size() == 1);
    CHECK_VALUES(tape[0].converged, {0});
  }
  // The default (auto → biCG-stab) breaks down at once: Diverged, as PhiML reports its CG failing.
  CHECK_THROWS_AS(solve_linear(f, y, solve_with("auto", x0)), Diverged);
}

TEST_CASE("solve: suppress returns the last estimate and the tape says not converged", "[solve][errors]") {
  Shape s = spatial("x", 24) & spatial("y", 20);
  Tensor y = random_normal(s, 3);
  auto f = jit_compile_linear(neg_laplace);
  for (const std::string& method : kIterative) {
    INFO(method);
    auto e =
        thrown_as<NotConverged>([&] { solve_linear(f, y, solve_with(method, zeros(s), 1e-5, 1e-5, 4)); });
    REQUIRE(e);
    Solve solve = solve_with(method, zeros(s), 1e-5, 1e-5, 4);
    solve.suppress = {Failure::not_converged};
    SolveTape tape;
    Tensor x = solve_linear(f, y, solve);
    CHECK(max_abs_diff(x, e->result.x) < 1e-12);
    REQUIRE(tape.size() == 1);
    CHECK_VALUES(tape[0].converged, {0});
    CHECK_VALUES(tape[0].diverged, {0});
    CHECK(max_abs_diff(tape[0].x, x) == 0);
    CHECK_THAT(tape[0].message, Catch::Matchers::Contains("converge"));
    // Suppressing the other kind only still throws.
    solve.suppress = {Failure::diverged};
    CHECK_THROWS_AS(solve_linear(f, y, solve), NotConverged);
  }
}

// ---------------------------------------------------------------------------------------------
// 7. SolveTape

TEST_CASE("solve: SolveTape records every solve in order with its settings and results", "[solve][tape]") {
  Shape s = spatial("x", 6) & spatial("y", 5);
  Tensor y = random_normal(s, 17);
  auto f = jit_compile_linear(neg_laplace);
  SolveTape tape;
  CHECK(tape.size() == 0);
  std::vector<Tensor> xs;
  for (const std::string& method : std::vector<std::string>{"GMRES", "auto", "direct", "CG-adaptive"}) {
    xs.push_back(solve_linear(f, y, solve_with(method, zeros(s), 1e-9, 0)));
  }
  REQUIRE(tape.size() == 4);
  const std::vector<std::string> ran = {"GMRES", "CG", "direct", "CG-adaptive"};
  for (size_t i = 0; i < 4; ++i) {
    INFO(i);
    CHECK(tape[i].method == ran[i]);
    CHECK(tape[i].solve.rel_tol == 1e-9);
    CHECK(max_abs_diff(tape[i].x, xs[i]) == 0);
    CHECK(max_abs_diff(tape[i].residual, y + laplace(xs[i])) < 1e-9);
    CHECK(tape[i].function_evaluations.item() >= 1);
    CHECK(!tape[i].trajectory);
    CHECK_VALUES(tape[i].converged, {1});
  }
  CHECK(tape[1].solve.method == "auto");
  CHECK_THROWS_MATCHES(tape[4], Error, message_contains({"4", "out of range"}));
}

TEST_CASE("solve: nested SolveTapes both record, and only while alive", "[solve][tape]") {
  Tensor A = tensor({0, 1, 1, 0}, channel("b_vec", 2) & dual("x_vec", 2));
  Tensor y = tensor({2, 3}, channel("b_vec", 2));
  Tensor x0 = zeros(channel("x_vec", 2));
  SolveTape outer;
  solve_linear(A, y, solve_with("direct", x0));
  {
    SolveTape inner;
    solve_linear(A, y, solve_with("GMRES", x0));
    REQUIRE(inner.size() == 1);
    CHECK(inner[0].method == "GMRES");
    CHECK_VALUES(inner[0].x, {3, 2});
    CHECK_THROWS_AS(inner[1], Error);
  }
  solve_linear(A, y, solve_with("CG", x0));
  REQUIRE(outer.size() == 3);
  CHECK(outer[0].method == "direct");
  CHECK(outer[1].method == "GMRES");
  CHECK(outer[2].method == "CG");
  for (size_t i = 0; i < 3; ++i) CHECK_VALUES(outer[i].x, {3, 2});
  SolveTape empty;
  CHECK(empty.size() == 0);
  CHECK_THROWS_AS(empty[0], Error);
}

TEST_CASE("solve: record_trajectories gives x0, then x after every iteration", "[solve][tape]") {
  Shape s = spatial("x", 10) & spatial("y", 8);
  Tensor y = random_normal(s, 18);
  Tensor x0 = random_normal(s, 19);
  auto f = jit_compile_linear(neg_laplace);
  for (const std::string& method : kAllMethods) {
    INFO(method);
    SolveTape tape(true);
    Tensor x = solve_linear(f, y, solve_with(method, x0, 1e-8, 0));
    REQUIRE(tape.size() == 1);
    REQUIRE(tape[0].trajectory);
    const Tensor& t = *tape[0].trajectory;
    int64_t k = t.shape().size("trajectory");
    CHECK(t.shape() == (batch("trajectory", k) & s));
    CHECK(t.shape().type("trajectory") == DimType::batch);
    CHECK(max_abs_diff(t.slice("trajectory", 0), x0) == 0);
    CHECK(max_abs_diff(t.slice("trajectory", k - 1), x) < 1e-12);
    if (method == "direct") {
      CHECK(k == 2);
    } else {
      CHECK(k == static_cast<int64_t>(tape[0].iterations.item()) + 1);
    }
    if (method == "CG") {  // CG's error norm ‖x − x*‖_A falls monotonically along the trajectory
      double prev = INFINITY;
      for (int64_t i = 0; i < k; ++i) {
        Tensor e = t.slice("trajectory", i) - x;
        double energy = sum(e * -laplace(e)).item();
        CHECK(energy <= prev * (1 + 1e-9));
        prev = energy;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 8. Preconditioners

TEST_CASE("solve: ILU reduces the iterations of every Krylov method on 2D Poisson",
          "[solve][preconditioner]") {
  Shape s = spatial("x", 32) & spatial("y", 32);
  Tensor y = random_normal(s, 20);
  auto f = jit_compile_linear(neg_laplace);
  Tensor direct = solve_linear(f, y, solve_with("direct", zeros(s)));
  for (const std::string& method : kIterative) {
    INFO(method);
    Solve plain = solve_with(method, zeros(s), 1e-10, 0, 10000);
    Solve ilu = plain;
    ilu.preconditioner = "ilu";
    Tensor x_plain, x_ilu;
    int n_plain = iterations_of([&] { return x_plain = solve_linear(f, y, plain); });
    int n_ilu = iterations_of([&] { return x_ilu = solve_linear(f, y, ilu); });
    INFO("iterations without " << n_plain << ", with ilu " << n_ilu);
    CHECK(n_ilu < n_plain);
    CHECK(rel_error(x_ilu, direct) < 1e-7);
    CHECK(poisson_residual(x_ilu, y) <= 1e-10 * norm(y) * (1 + 1e-6));
  }
}

TEST_CASE("solve: Jacobi reduces the iterations for a strongly varying diagonal", "[solve][preconditioner]") {
  Shape s = spatial("x", 24) & spatial("y", 24);
  // k from 1 to 1000, log-uniformly at random: the diagonal k + 4 varies by ~200×.
  Tensor k = pow(10.0, random_uniform(s, 0, 3, 21));
  auto eager = [](const Tensor& x, const Tensor& k) { return k * x - laplace(x); };
  auto f = jit_compile_linear(eager);
  Tensor y = random_normal(s, 22);
  Tensor direct = solve_linear(f, y, solve_with("direct", zeros(s)), k);
  for (const std::string& method : kIterative) {
    INFO(method);
    Solve plain = solve_with(method, zeros(s), 1e-10, 0, 10000);
    Solve jacobi = plain;
    jacobi.preconditioner = "jacobi";
    Tensor x_plain, x_jac;
    int n_plain = iterations_of([&] { return x_plain = solve_linear(f, y, plain, k); });
    int n_jac = iterations_of([&] { return x_jac = solve_linear(f, y, jacobi, k); });
    INFO("iterations without " << n_plain << ", with jacobi " << n_jac);
    CHECK(n_jac < n_plain);
    CHECK(rel_error(x_jac, direct) < 1e-8);
    CHECK(norm(y - eager(x_jac, k)) <= 1e-10 * norm(y) * (1 + 1e-6));
  }
}

// ---------------------------------------------------------------------------------------------
// 9. float32

TEST_CASE("solve: float32 y and x0 give a float32 x whose true residual meets the tolerance",
          "[solve][f32]") {
  Shape s = spatial("x", 24) & spatial("y", 20);
  Tensor y = random_normal(s, 23).astype(DType::f32);
  Tensor x0 = zeros(s, DType::f32);
  auto f = jit_compile_linear(neg_laplace);
  auto callable = [](const Tensor& x) { return -laplace(x); };
  Tensor direct64 = solve_linear(f, y.astype(DType::f64), solve_with("direct", zeros(s)));
  for (const std::string& method : kAllMethods) {
    INFO(method);
    for (int form = 0; form < 2; ++form) {
      INFO((form == 0 ? "jit_compile_linear" : "callable"));
      Tensor x = form == 0 ? solve_linear(f, y, solve_with(method, x0))
                           : solve_linear(callable, y, solve_with(method, x0));
      CHECK(x.dtype() == DType::f32);
      CHECK(all_finite(x));
      // Converged means ‖y − f(x)‖ ≤ max(rel_tol ‖y‖, abs_tol) for the x returned, in exact arithmetic.
      double tol = std::max(1e-5 * norm(y), 1e-5);
      INFO("true residual " << poisson_residual(x, y) << ", tolerance " << tol);
      CHECK(poisson_residual(x, y) <= tol);
      CHECK(rel_error(x.astype(DType::f64), direct64) < 5e-3);
    }
  }
}

TEST_CASE("solve: float32 with a tight tolerance still reports an honest residual", "[solve][f32]") {
  Shape s = spatial("x", 32) & spatial("y", 32);
  Tensor y = random_normal(s, 24).astype(DType::f32);
  auto f = jit_compile_linear(neg_laplace);
  for (const std::string& method : kIterative) {
    INFO(method);
    Solve solve = solve_with(method, zeros(s, DType::f32), 1e-6, 0, 2000);
    solve.suppress = {Failure::not_converged};
    SolveTape tape;
    Tensor x = solve_linear(f, y, solve);
    REQUIRE(tape.size() == 1);
    double true_res = poisson_residual(x, y);
    INFO("true residual " << true_res << ", reported " << norm(tape[0].residual) << ", converged "
                          << tape[0].converged.item());
    // Whether or not it converges, a solve that says so must be right about it.
    if (tape[0].converged.item() == 1) CHECK(true_res <= 1e-6 * norm(y));
    CHECK(std::abs(norm(tape[0].residual) - true_res) <= 1e-3 * norm(y));
  }
}

// ---------------------------------------------------------------------------------------------
// 10. Usage errors

TEST_CASE("solve: an unknown method or preconditioner names the choices", "[solve][errors]") {
  Tensor A = tensor({2, 0, 0, 1}, channel("b", 2) & dual("x", 2));
  Tensor y = tensor({2, 3}, channel("b", 2));
  Tensor x0 = zeros(channel("x", 2));
  CHECK_THROWS_MATCHES(solve_linear(A, y, solve_with("cg", x0)), Error,
                       message_contains({"unknown method", "'cg'", "'CG'", "'GMRES'"}));
  Solve solve = solve_with("CG", x0);
  solve.preconditioner = "multigrid";
  CHECK_THROWS_MATCHES(solve_linear(A, y, solve), Error,
                       message_contains({"unknown preconditioner", "'multigrid'", "'ilu'", "'amg'"}));
  auto f = [](const Tensor& x) { return 2.0 * x; };
  CHECK_THROWS_MATCHES(solve_linear(f, x0, solve), Error, message_contains({"'multigrid'"}));
}

TEST_CASE("solve: a missing x0 is an Error", "[solve][errors]") {
  Tensor A = tensor({2, 0, 0, 1}, channel("b", 2) & dual("x", 2));
  Tensor y = tensor({2, 3}, channel("b", 2));
  Solve solve;
  CHECK_THROWS_MATCHES(solve_linear(A, y, solve), Error, message_contains({"x0"}));
  auto f = jit_compile_linear([](const Tensor& x) { return 2.0 * x; });
  CHECK_THROWS_MATCHES(solve_linear(f, y, solve), Error, message_contains({"x0"}));
  CHECK_THROWS_MATCHES(solve_linear([](const Tensor& x) { return 2.0 * x; }, y, solve), Error,
                       message_contains({"x0"}));
  solve.x0 = Tensor();  // set but empty
  CHECK_THROWS_MATCHES(solve_linear(A, y, solve), Error, message_contains({"x0"}));
}

TEST_CASE("solve: a non-square matrix is an Error for every method", "[solve][errors]") {
  Tensor A = tensor({1, 2, 3, 4, 5, 6}, channel("b", 2) & dual("x", 3));
  Tensor y = tensor({1, 1}, channel("b", 2));
  Tensor x0 = zeros(channel("x", 3));
  for (const std::string& method : kAllMethods) {
    INFO(method);
    CHECK_THROWS_MATCHES(solve_linear(A, y, solve_with(method, x0)), Error, message_contains({"square"}));
  }
  // A function from 3 values to 2.
  auto f = [](const Tensor& x) { return x.slice("x", 0, 2); };
  Tensor y2 = tensor({1, 1}, channel("x", 2));
  CHECK_THROWS_AS(solve_linear(f, y2, solve_with("biCG-stab", x0)), Error);
}

TEST_CASE("solve: x0 or y that do not fit the matrix are ShapeErrors", "[solve][errors]") {
  Tensor A = tensor({2, 0, 0, 1}, channel("b", 2) & dual("x", 2));
  CHECK_THROWS_MATCHES(
      solve_linear(A, tensor({1, 1}, channel("b", 2)), solve_with("CG", zeros(channel("x", 3)))), ShapeError,
      message_contains({"x0", "x"}));
  CHECK_THROWS_MATCHES(
      solve_linear(A, tensor({1, 1}, channel("c", 2)), solve_with("CG", zeros(channel("x", 2)))), ShapeError,
      message_contains({"b", "c"}));
}

TEST_CASE("solve: Jacobi or ILU on a zero diagonal is an Error naming the row",
          "[solve][errors][preconditioner]") {
  Tensor x0 = tensor({0, 0}, channel("x_vec", 2));
  Tensor y = tensor({2, 3}, channel("b_vec", 2));
  Tensor sparse = matrix_from_function(swap_vec, x0).first;
  Tensor dense_a = tensor({0, 1, 1, 0}, channel("b_vec", 2) & dual("x_vec", 2));
  for (const Tensor& A : {sparse, dense_a}) {
    INFO((A.is_sparse() ? "sparse" : "dense"));
    for (const std::string& method : kIterative) {
      INFO(method);
      Solve solve = solve_with(method, x0);
      solve.preconditioner = "jacobi";
      CHECK_THROWS_MATCHES(solve_linear(A, y, solve), Error, message_contains({"jacobi", "row 0"}));
      solve.preconditioner = "ilu";
      CHECK_THROWS_MATCHES(solve_linear(A, y, solve), Error, message_contains({"ilu", "row 0"}));
    }
  }
}

TEST_CASE("solve: a matrix whose rows list x's dims in another order still solves with CG", "[solve]") {
  Shape s = spatial("x", 6) & spatial("y", 5);
  Tensor ones_yx = ones(spatial("y", 5) & spatial("x", 6));  // puts y first in f's output
  auto f = jit_compile_linear([&](const Tensor& x) { return ones_yx * -laplace(x); });
  Tensor A = f.matrix(zeros(s)).first;
  REQUIRE(A.shape().non_batch().without(A.shape().dual().names()).names() ==
          std::vector<std::string>{"y", "x"});
  Tensor y = random_normal(s, 5);
  Solve cg{.method = "CG", .rel_tol = 1e-10, .abs_tol = 0, .x0 = zeros(s)};
  Tensor x_direct = solve_linear(A, y, Solve{.method = "direct", .x0 = zeros(s)});
  for (const Tensor& x : {solve_linear(A, y, cg), solve_linear(f, y, cg)}) {
    CHECK(max(abs(x - x_direct)).item() < 1e-8);
  }
  SolveTape tape;
  solve_linear(A, y, Solve{.rel_tol = 1e-10, .abs_tol = 0, .x0 = zeros(s)});
  CHECK(tape[0].method == "CG");  // symmetric once the rows are in x's order
}

namespace {
int stateless_traces = 0;  // counts the traces of the captureless operator below
}  // namespace

TEST_CASE("solve: solving with the same function object again does not trace it again") {
  Tensor y = random_normal(spatial("x", 16), 1);
  Solve cg{.method = "CG", .rel_tol = 1e-10, .abs_tol = 1e-12, .x0 = zeros(y.shape())};
  SECTION("a lambda without captures: one trace for every solve") {
    auto op = [](const Tensor& x) {
      ++stateless_traces;  // runs only while traced: later solves run its compiled code
      return 2.0 * x - laplace(x);
    };
    int before = stateless_traces;
    Tensor first = solve_linear(op, y, cg);
    for (int i = 0; i < 3; ++i) CHECK_VALUES(solve_linear(op, y * 1.0, cg), first.to_vector());
    CHECK(stateless_traces - before == 1);
  }
  SECTION("a jit_compile function keeps its own cache") {
    auto op = jit_compile([](const Tensor& x) { return 2.0 * x - laplace(x); });
    for (int i = 0; i < 3; ++i) solve_linear(op, y, cg);
    CHECK(op.trace_count() == 1);
  }
  SECTION("a jit_compile_linear stencil applies its own compiled function") {
    auto op = jit_compile_linear([](const Tensor& x) { return 2.0 * x - laplace(x); });
    for (int i = 0; i < 3; ++i) solve_linear(op, y, cg);
    CHECK(op.trace_count() == 1);
    CHECK(op.compiled().trace_count() == 1);
  }
  SECTION("a lambda with captures sees its captures' current values in every solve") {
    Tensor scale = ones(y.shape()) * 2.0;
    auto op = [&scale](const Tensor& x) { return scale * x; };
    CHECK_VALUES(solve_linear(op, y, cg), (y / 2.0).to_vector());
    scale = ones(y.shape()) * 4.0;
    CHECK_VALUES(solve_linear(op, y, cg), (y / 4.0).to_vector());
  }
}
