// passes::transpose_linear and vjp_graph, the operators of matrix-free adjoint solves and of
// grad_for_f, against an independent answer: the extracted matrix, transposed.
#include "frontend/tensor_data.h"
#include "frontend/trace.h"
#include "passes/autodiff.h"
#include "runtime/interpreter.h"
#include "test_helpers.h"

using namespace phijit;

namespace {
// A nonsymmetric stencil with a coefficient field k and an offset: f(x, k) = x − k·shift(x, +1) + 1.
Tensor stencil(const Tensor& x, const Tensor& k) {
  return x - k * shift(x, "x", 1, extrapolation::ZERO) + 1.0;
}

detail::Trace traced(const Tensor& x, const Tensor& k) {
  return detail::trace_arguments(
      "test", {x, k}, [](const std::vector<Tensor>& t) { return std::vector<Tensor>{stencil(t[0], t[1])}; });
}
}  // namespace

TEST_CASE("transpose_linear applies the transposed matrix, without the offset") {
  const int n = 5;
  Tensor x = zeros(spatial("x", n)), k = tensor({1.0, 2.0, -1.0, 0.5, 3.0}, spatial("x", n));
  ir::Graph t = passes::transpose_linear(traced(x, k).graph);
  REQUIRE(t.inputs().size() == 2);  // (ct, k)
  // Column j of Aᵀ is Aᵀ e_j; A[i][j] from the extracted matrix, dense (~xᵈ, xˢ): entry [j][i].
  std::vector<double> a = dense(matrix_from_function(stencil, x, k).first).to_vector();
  for (int j = 0; j < n; ++j) {
    auto e = std::make_shared<Buffer>(DType::f64, n);
    e->set_real(j, 1);
    std::vector<runtime::BufferPtr> out =
        runtime::interpret(t, std::vector<runtime::BufferPtr>{e, detail::dense_buffer(k)});
    for (int i = 0; i < n; ++i) CHECK(out[0]->get_real(i) == Approx(a[static_cast<size_t>(i * n + j)]));
  }
}

TEST_CASE("vjp_graph: the gradient with respect to f's other inputs at a fixed x") {
  const int n = 4;
  Tensor x = tensor({1.0, -2.0, 3.0, 0.5}, spatial("x", n)),
         k = tensor({1.0, 2.0, -1.0, 0.5}, spatial("x", n));
  Tensor ct = tensor({0.5, 1.0, -1.0, 2.0}, spatial("x", n));
  const int wrt = 1;
  ir::Graph g = passes::vjp_graph(traced(x, k).graph, std::span(&wrt, 1));
  std::vector<runtime::BufferPtr> out =
      runtime::interpret(g, std::vector<runtime::BufferPtr>{detail::dense_buffer(x), detail::dense_buffer(k),
                                                            detail::dense_buffer(ct)});
  // d/dk_i of Σ ct_i (x_i − k_i x_{i+1}) = −ct_i x_{i+1} (0 past the end).
  std::vector<double> xv = x.to_vector(), cv = ct.to_vector();
  for (int i = 0; i < n; ++i) {
    double next = i + 1 < n ? xv[static_cast<size_t>(i + 1)] : 0.0;
    CHECK(out[0]->get_real(i) == Approx(-cv[static_cast<size_t>(i)] * next));
  }
}
