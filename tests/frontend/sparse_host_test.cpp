// matmul(sparse, x) as the host op matmul_sparse: inside jit_compile and gradient, run by the
// program between kernels, with the transposed matrix as its VJP (DESIGN decision 8).
#include "test_helpers.h"

using namespace phijit;

namespace {
// A nonsymmetric sparse operator on x: f(u) = 2u − shift(u, +1) with zero boundaries, as a matrix.
Tensor nonsymmetric_matrix(const Tensor& like) {
  return matrix_from_function([](const Tensor& u) { return 2.0 * u - shift(u, "x", 1, extrapolation::ZERO); },
                              like)
      .first;
}
}  // namespace

TEST_CASE("sparse host op: matmul(sparse, tracer) inside jit_compile equals the eager product") {
  Tensor x = random_normal(spatial("x", 6) & batch("b", 2), 1);
  Tensor A = nonsymmetric_matrix(x.slice("b", 0));
  REQUIRE(A.is_sparse());
  auto f = jit_compile([&](const Tensor& x) { return matmul(A, x * 2.0) + 1.0; });
  Tensor want = matmul(A, x * 2.0) + 1.0;
  Tensor got = f(x);
  CHECK(got.shape() == want.shape());
  CHECK_THAT(got.to_vector(), Catch::Matchers::Approx(want.to_vector()).epsilon(1e-14));
  // A times its own input along a dim order the matrix does not use.
  Tensor y = random_normal(batch("b", 2) & spatial("x", 6), 2);
  CHECK_THAT(f(y).to_vector(),
             Catch::Matchers::Approx((matmul(A, y * 2.0) + 1.0).to_vector()).epsilon(1e-14));
}

TEST_CASE("sparse host op: the gradient is the transposed product") {
  Tensor x = random_normal(spatial("x", 7), 3), v = random_normal(spatial("x", 7), 4);
  Tensor A = nonsymmetric_matrix(x);
  Tensor g = gradient([&](const Tensor& x) { return sum(v * matmul(A, x)); }, {0}, false)(x)[0];
  // Aᵀ v by hand from the dense matrix, (~xᵈ, xˢ): entry [j][i] is A_ij (column j, row i).
  REQUIRE(dense(A).shape().names() == std::vector<std::string>{"~x", "x"});
  std::vector<double> a = dense(A).to_vector(), vv = v.to_vector(), want(7, 0.0);
  for (size_t i = 0; i < 7; ++i) {
    for (size_t j = 0; j < 7; ++j) want[j] += a[j * 7 + i] * vv[i];
  }
  CHECK_VALUES(g, want);
  SECTION("twice in a rollout, compiled, against finite differences") {
    auto loss = [&](const Tensor& x) {
      Tensor u = x;
      for (int k = 0; k < 3; ++k) u = matmul(A, u) * 0.5 + sin(u);
      return l2_loss(u);
    };
    Tensor gc = jit_compile([&](const Tensor& x) { return gradient(loss, {0}, false)(x)[0]; })(x);
    Tensor d = random_normal(x.shape(), 5);
    double h = 1e-6;
    double fd = (loss(x + h * d).item() - loss(x - h * d).item()) / (2 * h);
    CHECK(sum(gc * d).item() == Approx(fd).epsilon(1e-7));
  }
}

TEST_CASE("sparse host op: jit_compile_linear extracts A itself from u ↦ A·u; bad shapes are ShapeErrors") {
  Tensor x = random_normal(spatial("x", 5), 1);
  Tensor A = nonsymmetric_matrix(x);
  auto lin = jit_compile_linear([&](const Tensor& u) { return matmul(A, u); });
  CHECK_THAT(dense(lin.matrix(x).first).to_vector(), Catch::Matchers::Approx(dense(A).to_vector()));
  CHECK_THROWS_MATCHES(jit_compile([&](const Tensor& u) { return matmul(A, u.slice("x", 0, 4)); })(x),
                       ShapeError, message_contains({"dual dim '~x'", "(xˢ=4) has size 4"}));
}

TEST_CASE("sparse host op: a sparse matrix as an argument of a traced function is a clear Error") {
  Tensor x = random_normal(spatial("x", 5), 1);
  Tensor A = nonsymmetric_matrix(x);
  auto f = [](const Tensor& A, const Tensor& x) { return sum(matmul(A, x)); };
  CHECK_THROWS_MATCHES(jit_compile(f)(A, x), Error,
                       message_contains({"jit_compile", "argument 0 is a sparse matrix", "Capture it"}));
  CHECK_THROWS_MATCHES(gradient(f, {1})(A, x), Error,
                       message_contains({"gradient", "argument 0 is a sparse matrix", "Capture it"}));
}

TEST_CASE("sparse host op: a batch of matrices, compiled and differentiated") {
  Tensor x = random_normal(spatial("x", 5), 2);
  Tensor c = tensor({2, 3}, batch("b", 2));
  // One matrix per batch entry: A_b u = c_b·u − shift(u, +1).
  Tensor A =
      matrix_from_function(
          [](const Tensor& u, const Tensor& c) { return c * u - shift(u, "x", 1, extrapolation::ZERO); }, x,
          c)
          .first;
  REQUIRE(A.shape().contains("b"));
  Tensor v = random_normal(batch("b", 2) & spatial("x", 5), 3);
  auto loss = [&](const Tensor& x) { return sum(v * matmul(A, x)); };
  CHECK_THAT(jit_compile([&](const Tensor& x) { return matmul(A, x); })(x).to_vector(),
             Catch::Matchers::Approx(matmul(A, x).to_vector()).epsilon(1e-14));
  // d/dx Σ_b v_b·(A_b x) = Σ_b A_bᵀ v_b, by hand: (A_bᵀ v_b)_j = c_b v_bj − v_b,j−1.
  std::vector<double> vv = v.to_vector(), want(5, 0.0);
  for (int b = 0; b < 2; ++b) {
    double cb = b == 0 ? 2 : 3;
    for (int j = 0; j < 5; ++j) {
      want[static_cast<size_t>(j)] += cb * vv[static_cast<size_t>(b * 5 + j)];
      if (j > 0) want[static_cast<size_t>(j)] -= vv[static_cast<size_t>(b * 5 + j - 1)];
    }
  }
  Tensor g = gradient(loss, {0}, false)(x)[0];
  CHECK(g.shape() == x.shape());
  CHECK_VALUES(g, want);
}
