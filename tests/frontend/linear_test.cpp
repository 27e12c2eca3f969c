// End-to-end tests of linear extraction: matrix_from_function and jit_compile_linear (API §5, §6).
#include <phijit/phijit.h>

#include <catch2/catch.hpp>

#include "linear_helpers.h"
#include "test_helpers.h"

using namespace phijit;

TEST_CASE("linear: the 2x2 example of seed 004 becomes a diagonal matrix", "[linear]") {
  Tensor scale = tensor({2, 1}, channel("x_vec", 2));
  auto f = [&](const Tensor& x) { return x * scale; };
  Tensor x0 = tensor({0, 0}, channel("x_vec", 2));
  auto [A, b] = matrix_from_function(f, x0);
  CHECK(A.is_sparse());
  CHECK(A.shape() == (channel("x_vec", 2) & dual("x_vec", 2)));
  CHECK(nnz(A) == 2);
  CHECK_VALUES(dense(A), {2, 0, 0, 1});
  CHECK_VALUES(b, {0, 0});
  check_by_probing(f, A, b, x0.shape());
}

TEST_CASE("linear: 1D laplace for every extrapolation matches probing", "[linear]") {
  for (const Extrapolation& e : {extrapolation::ZERO, extrapolation::ONE, extrapolation::PERIODIC,
                                 extrapolation::ZERO_GRADIENT, extrapolation::constant(2.5)}) {
    INFO(e.str());
    auto f = [&](const Tensor& x) { return laplace(x, e); };
    Shape s = spatial("x", 5);
    auto [A, b] = matrix_from_function(f, zeros(s));
    check_by_probing(f, A, b, s);
  }
}

TEST_CASE("linear: coefficients from an argument follow its values without a new trace", "[linear]") {
  auto f = jit_compile_linear([](const Tensor& x, const Tensor& k) { return k * laplace(x) + 2.0 * k; });
  Shape s = spatial("x", 4);
  Tensor x = tensor({1, 2, 3, 5}, s);
  Tensor k1 = tensor({1, 2, 3, 4}, s);
  Tensor k2 = tensor({-1, 0.5, 2, 1}, s);
  auto eager = [](const Tensor& x, const Tensor& k) { return k * laplace(x) + 2.0 * k; };
  CHECK(max_abs_diff(f(x, k1), eager(x, k1)) < 1e-12);
  CHECK(max_abs_diff(f(x, k2), eager(x, k2)) < 1e-12);
  CHECK(f.trace_count() == 1);
  auto [A, b] = f.matrix(x, k2);
  check_by_probing([&](const Tensor& v) { return eager(v, k2); }, A, b, s);
}

TEST_CASE("linear: batched coefficients give a batched matrix; batched x is solved per entry", "[linear]") {
  Shape s = spatial("x", 3);
  Tensor k = tensor({1, 2, 3, 4, 5, 6}, batch("b", 2) & s);
  auto eager = [](const Tensor& x, const Tensor& k) { return shift(x, "x", 1, extrapolation::ZERO) * k - x; };
  auto f = jit_compile_linear(eager);
  auto [A, b] = f.matrix(zeros(s), k);
  CHECK(A.shape() == (batch("b", 2) & s & dual("x", 3)));
  CHECK(nnz(A) == 2 * (2 + 3));
  Tensor x = tensor({1, -2, 4, 0.5, 3, 7}, batch("c", 2) & s);
  CHECK(max_abs_diff(f(x, k), eager(x, k)) < 1e-12);
}

namespace {
// Row sums A·1 and the diagonal, from the dense matrix.
std::vector<double> row_sums(const Tensor& A, const Shape& s) { return matmul(A, ones(s)).to_vector(); }
}  // namespace

TEST_CASE("linear: nnz and values of the 2D 5-point laplace for every extrapolation", "[linear][laplace]") {
  const int64_t n = 5;
  Shape s = spatial("x", n) & spatial("y", n);
  struct Case {
    Extrapolation e;
    int64_t nnz;
    double row_sum_corner, row_sum_edge, row_sum_inner, bias_corner, bias_edge;
  };
  // Dropped neighbours: ZERO removes them (row sum −#outside), ONE too but adds 1 each to the
  // bias; PERIODIC wraps them (5 per row); ZERO_GRADIENT folds them onto the centre.
  for (const Case& c : {Case{extrapolation::ZERO, 5 * n * n - 4 * n, -2, -1, 0, 0, 0},
                        Case{extrapolation::ONE, 5 * n * n - 4 * n, -2, -1, 0, 2, 1},
                        Case{extrapolation::PERIODIC, 5 * n * n, 0, 0, 0, 0, 0},
                        Case{extrapolation::ZERO_GRADIENT, 5 * n * n - 4 * n, 0, 0, 0, 0, 0}}) {
    INFO(c.e.str());
    auto f = [&](const Tensor& x) { return laplace(x, c.e); };
    auto [A, b] = matrix_from_function(f, zeros(s));
    CHECK(nnz(A) == c.nnz);
    std::vector<double> sums = row_sums(A, s), bias = b.to_vector();
    CHECK(sums[0] == Approx(c.row_sum_corner));         // (0, 0)
    CHECK(sums[2] == Approx(c.row_sum_edge));           // (0, 2)
    CHECK(sums[2 * n + 2] == Approx(c.row_sum_inner));  // (2, 2)
    CHECK(bias[0] == Approx(c.bias_corner));
    CHECK(bias[2] == Approx(c.bias_edge));
    CHECK(bias[2 * n + 2] == Approx(0));
    // The centre coefficient: −4 plus each neighbour that zero-gradient folds onto it.
    std::vector<double> d = dense(A).to_vector();  // dims (~x, ~y, x, y)
    auto entry = [&](int64_t row, int64_t col) { return d[static_cast<size_t>(col * n * n + row)]; };
    bool folded = c.e == extrapolation::ZERO_GRADIENT;
    CHECK(entry(0, 0) == Approx(folded ? -2 : -4));
    CHECK(entry(2, 2) == Approx(folded ? -3 : -4));
    CHECK(entry(2 * n + 2, 2 * n + 2) == Approx(-4));
    check_by_probing(f, A, b, s);
  }
}

TEST_CASE("linear: nnz of the 3D 7-point laplace and its values against probing", "[linear][laplace]") {
  const int64_t n = 4;
  Shape s = spatial("x", n) & spatial("y", n) & spatial("z", n);
  for (const Extrapolation& e : {extrapolation::ZERO, extrapolation::PERIODIC, extrapolation::ZERO_GRADIENT,
                                 extrapolation::constant(-3)}) {
    INFO(e.str());
    auto f = [&](const Tensor& x) { return laplace(x, e, 0.5); };
    auto [A, b] = matrix_from_function(f, zeros(s));
    CHECK(nnz(A) == (e == extrapolation::PERIODIC ? 7 * n * n * n : 7 * n * n * n - 6 * n * n));
    check_by_probing(f, A, b, s);
  }
}

TEST_CASE("linear: the offset f(0) is returned and jit_compile_linear adds it", "[linear]") {
  Shape s = spatial("x", 3);
  auto f = [](const Tensor& x) { return 2.0 * x + 1.0; };
  auto [A, b] = matrix_from_function(f, zeros(s));
  CHECK_VALUES(b, {1, 1, 1});
  CHECK(nnz(A) == 3);
  auto g = jit_compile_linear(f);
  CHECK_VALUES(g(tensor({1, 2, 3}, s)), {3, 5, 7});
  CHECK_VALUES(g(tensor({0, -1, 4}, s)), {1, -1, 9});
  CHECK(g.trace_count() == 1);
  // A function that ignores x: A has no entries and b is all of f.
  auto [A0, b0] = matrix_from_function(
      [](const Tensor& x) {
        return 0.0 * sum(x) + tensor({4, 5}, channel("c", 2));
      },
      zeros(s));
  CHECK_VALUES(b0, {4, 5});
}

TEST_CASE("linear: the matrix's dims: the output's as rows, x's as dual columns", "[linear]") {
  Shape s = spatial("x", 3) & channel("vector", std::vector<std::string>{"a", "b"});
  auto f = [](const Tensor& x) { return sum(x, "vector"); };
  auto [A, b] = matrix_from_function(f, zeros(s));
  CHECK(A.shape() == (spatial("x", 3) & dual("x", 3) & dual("vector", 2)));
  CHECK(nnz(A) == 6);
  check_by_probing(f, A, b, s);
  Tensor At = transpose(A);
  CHECK(At.is_sparse());
  CHECK(At.shape() == (s & dual("x", 3)));
  // (Aᵀ y)[x, v] = y[x]
  CHECK_VALUES(matmul(At, tensor({1, 2, 3}, spatial("x", 3))), {1, 1, 2, 2, 3, 3});
}

TEST_CASE("linear: transpose of a non-symmetric extracted matrix matches the dense transpose", "[linear]") {
  Shape s = spatial("x", 4);
  auto [A, b] = matrix_from_function(
      [](const Tensor& x) { return shift(x, "x", 1, extrapolation::ZERO) * 3.0 - x; }, zeros(s));
  Tensor At = transpose(A);
  CHECK(nnz(At) == nnz(A));
  // Aᵀ e_i is row i of A: compare with the dense matrix.
  std::vector<double> d = dense(A).to_vector();  // (~x, x): d[col * 4 + row]
  for (int64_t i = 0; i < 4; ++i) {
    std::vector<double> row = matmul(At, unit_vector(s, i)).to_vector();
    for (int64_t c = 0; c < 4; ++c) CHECK(row[static_cast<size_t>(c)] == d[static_cast<size_t>(c * 4 + i)]);
  }
  CHECK_VALUES(dense(transpose(At)), d);
}

TEST_CASE("linear: sparse matmul with extra dims of x in any position", "[linear]") {
  Shape s = spatial("x", 3);
  auto f = [](const Tensor& x) { return shift(x, "x", -1, extrapolation::PERIODIC) + 2.0 * x; };
  auto [A, b] = matrix_from_function(f, zeros(s));
  Tensor x = random_normal(s & channel("c", 2) & batch("b", 2), 3);
  CHECK(max_abs_diff(matmul(A, x), f(x)) < 1e-12);
  Tensor x32 = x.astype(DType::f32);
  Tensor y32 = matmul(A, x32);
  CHECK(y32.dtype() == DType::f64);  // A is f64: the product promotes
}

TEST_CASE("linear: sparse matrices print their nnz and reject other ops clearly", "[linear][errors]") {
  auto [A, b] = matrix_from_function([](const Tensor& x) { return 2.0 * x; }, zeros(spatial("x", 2)));
  CHECK(to_string(A) == "sparse (~xᵈ=2, xˢ=2), nnz=2: (2.000, 0.000, 0.000, 2.000) (~xᵈ=2, xˢ=2)");
  CHECK_VALUES(A + 1.0, {3, 1, 1, 3});  // a sparse plus a dense tensor is dense
  CHECK_THROWS_MATCHES(exp(A), Error, message_contains({"exp", "sparse", "dense(A)"}));
  CHECK_THROWS_MATCHES(matmul(A, zeros(spatial("y", 2))), ShapeError, message_contains({"~x", "no dim 'x'"}));
  CHECK_THROWS_MATCHES(matmul(A, zeros(spatial("x", 3))), ShapeError, message_contains({"size 2", "size 3"}));
}

TEST_CASE("linear: NotLinearError names the user-level call the op came from", "[linear][errors]") {
  Tensor x0 = zeros(spatial("x", 3));
  using Fn = std::function<Tensor(const Tensor&)>;
  std::vector<std::pair<std::string, Fn>> cases = {
      {"'mul' (in operator*)", [](const Tensor& x) { return x * x; }},
      {"'exp' (in exp)", [](const Tensor& x) { return exp(laplace(x)); }},
      {"'maximum' (in clip)", [](const Tensor& x) { return clip(x, -1, 1); }},
      {"'mul' (in l2_loss)", [](const Tensor& x) { return l2_loss(x) + x; }},
      {"'max' (in max)", [](const Tensor& x) { return max(x) + x; }},
  };
  for (const auto& [expected, f] : cases) {
    INFO(expected);
    CHECK_THROWS_MATCHES(matrix_from_function(f, x0), NotLinearError, message_contains({expected}));
  }
}

TEST_CASE("linear: every nonlinear use of x raises NotLinearError naming the op", "[linear][errors]") {
  Shape s = spatial("x", 3);
  Tensor x0 = zeros(s);
  using Fn = std::function<Tensor(const Tensor&)>;
  std::vector<std::pair<std::string, Fn>> cases = {
      {"mul", [](const Tensor& x) { return x * x; }},
      {"div", [](const Tensor& x) { return 1.0 / (x + 2.0); }},
      {"exp", [](const Tensor& x) { return exp(x); }},
      {"log", [](const Tensor& x) { return log(x); }},
      {"sin", [](const Tensor& x) { return sin(x); }},
      {"cos", [](const Tensor& x) { return cos(x); }},
      {"tan", [](const Tensor& x) { return tan(x); }},
      {"tanh", [](const Tensor& x) { return tanh(x); }},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }},
      {"abs", [](const Tensor& x) { return abs(x); }},
      {"sign", [](const Tensor& x) { return sign(x); }},
      {"pow", [](const Tensor& x) { return pow(x, 2.0); }},
      {"minimum", [](const Tensor& x) { return minimum(x, 0.0); }},
      {"maximum", [](const Tensor& x) { return clip(x, -1, 1); }},
      {"gt", [](const Tensor& x) { return where(x > 0.0, 1.0, 0.0); }},
      {"le", [](const Tensor& x) { return where(x <= 0.0, x, 0.0); }},  // the condition fails first
      {"max", [](const Tensor& x) { return max(x) + x; }},
      {"min", [](const Tensor& x) { return min(x) + x; }},
      {"cast", [](const Tensor& x) { return x.astype(DType::i32).astype(DType::f64); }},
      {"isfinite", [](const Tensor& x) { return where(isfinite(x), 1.0, 0.0); }},
  };
  for (const auto& [op, f] : cases) {
    INFO(op);
    CHECK_THROWS_MATCHES(matrix_from_function(f, x0), NotLinearError,
                         message_contains({op, "(xˢ=3)", "linear"}));
    CHECK_THROWS_AS(jit_compile_linear(f)(x0), NotLinearError);
  }
}

TEST_CASE("jit_compile_linear: f that reduces x's batch dim gets an error saying why") {
  Tensor x = random_normal(batch("b", 3) & spatial("x", 4), 1);
  auto f = jit_compile_linear([](const Tensor& u) { return u - mean(u, "b"); });
  CHECK_THROWS_MATCHES(f(x), ShapeError,
                       message_contains({"one batch entry", "(bᵇ=3)", "each batch entry alone", "b"}));
  // Acting on each entry alone works, with one matrix for all entries.
  auto g =
      jit_compile_linear([](const Tensor& u) { return 2.0 * u - shift(u, "x", 1, extrapolation::ZERO); });
  CHECK_THAT(g(x).to_vector(),
             Catch::Matchers::Approx((2.0 * x - shift(x, "x", 1, extrapolation::ZERO)).to_vector()));
}
