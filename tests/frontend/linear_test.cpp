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
