// Sparse matrices whose values are computed in a trace (matrix_from_function of traced
// arguments): products and solves with them, gradients with respect to the values on the
// pattern, and linear functions that multiply x by a sparse matrix.
#include "test_helpers.h"

using namespace phijit;

namespace {
const Shape kX = spatial("x", 5);
// A nonsymmetric stencil with a coefficient field k: the matrix's values depend on k.
Tensor stencil(const Tensor& x, const Tensor& k) {
  return k * x - 0.5 * shift(x, "x", 1, extrapolation::ZERO) +
         0.25 * k * shift(x, "x", -1, extrapolation::ZERO);
}
const std::vector<double> kK = {1.0, 2.0, 4.0, 3.0, 1.5}, kV = {1.0, -1.0, 2.0, 0.5, 1.0},
                          kC = {0.3, 1.0, -2.0, 1.0, 0.7};
Tensor vec(const std::vector<double>& v) { return tensor(v, kX); }
}  // namespace

TEST_CASE("traced sparse values: the gradient of c·(A(k) v) with respect to k, on the pattern") {
  auto loss = [](const Tensor& k) {
    return sum(vec(kC) * matmul(matrix_from_function(stencil, zeros(kX), k).first, vec(kV)));
  };
  // d/dk_i Σ_r c_r (k_r v_r + 0.25 k_r v_{r−1}) = c_i (v_i + 0.25 v_{i−1}).
  std::vector<double> want;
  for (size_t i = 0; i < 5; ++i) want.push_back(kC[i] * (kV[i] + 0.25 * (i > 0 ? kV[i - 1] : 0.0)));
  CHECK_VALUES(gradient(loss)(vec(kK))[1], want);
  CHECK_VALUES(jit_compile([&](const Tensor& k) { return gradient(loss)(k)[1]; })(vec(kK)), want);
}

TEST_CASE("traced sparse values: the gradient with respect to x is the transposed product") {
  auto loss = [](const Tensor& x, const Tensor& k) {
    return sum(vec(kC) * matmul(matrix_from_function(stencil, zeros(kX), k).first, x));
  };
  Tensor want = gradient([](const Tensor& x) { return sum(vec(kC) * stencil(x, vec(kK))); })(vec(kV))[1];
  CHECK_VALUES(gradient(loss, {0, 1})(vec(kV), vec(kK))[1], want.to_vector());
}

TEST_CASE("traced sparse values: solve_linear(A(k)) with grad_for_f matches finite differences") {
  auto eager = [](const Tensor& k) {
    return sum(vec(kC) * solve_linear(jit_compile_linear(stencil), vec(kV),
                                      Solve{.method = "direct", .x0 = zeros(kX)}, k))
        .item();
  };
  std::vector<double> fd;
  for (size_t i = 0; i < 5; ++i) {
    std::vector<double> e(5, 0.0);
    e[i] = 1e-6;
    fd.push_back((eager(vec(kK) + vec(e)) - eager(vec(kK) - vec(e))) / 2e-6);
  }
  for (auto [method, pre] : std::vector<std::pair<std::string, std::string>>{
           {"direct", ""}, {"biCG-stab", ""}, {"biCG-stab", "ilu"}, {"GMRES", "jacobi"}}) {
    INFO(method << " " << pre);
    auto loss = [&](const Tensor& k) {
      Tensor A = matrix_from_function(stencil, zeros(kX), k).first;
      Solve s{.method = method, .rel_tol = 1e-12, .abs_tol = 1e-12, .x0 = zeros(kX), .preconditioner = pre};
      s.grad_for_f = true;
      return sum(vec(kC) * solve_linear(A, vec(kV), s));
    };
    CHECK_THAT(gradient(loss)(vec(kK))[1].to_vector(), Catch::Matchers::Approx(fd).epsilon(1e-6));
  }
}

TEST_CASE("traced sparse values: only matmul and solve_linear read them") {
  auto f = [](const Tensor& k) { return dense(matrix_from_function(stencil, zeros(kX), k).first); };
  CHECK_THROWS_MATCHES(jit_compile(f)(vec(kK)), Error,
                       message_contains({"dense", "computed in a traced function"}));
}

TEST_CASE("linearize: a sparse matrix times an affine value") {
  Tensor A = matrix_from_function(stencil, zeros(kX), vec(kK)).first;
  auto g = [&](const Tensor& x) { return matmul(A, 2.0 * shift(x, "x", 1, extrapolation::ZERO) + 1.0) + x; };
  auto [G, b] = matrix_from_function(g, zeros(kX));
  Tensor v = vec(kV);
  CHECK_VALUES(matmul(G, v) + b, g(v).to_vector());
  // Every column: G e_j = g(e_j) − g(0).
  for (size_t j = 0; j < 5; ++j) {
    std::vector<double> e(5, 0.0);
    e[j] = 1;
    CHECK_VALUES(matmul(G, vec(e)), (g(vec(e)) - g(zeros(kX))).to_vector());
  }
  // A batch of matrices, one per entry of b: each row of the result uses its own.
  Tensor kb = stack({vec(kK), 2.0 * vec(kK)}, batch("b", 2));
  Tensor Ab = matrix_from_function(stencil, zeros(kX), kb).first;
  auto gb = [&](const Tensor& x) { return matmul(Ab, x); };
  Tensor Gb = matrix_from_function(gb, zeros(kX)).first;
  CHECK_VALUES(matmul(Gb, v), matmul(Ab, v).to_vector());
}
