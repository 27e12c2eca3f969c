// Shared helpers of the linear-extraction tests: the independent answer is f itself, probed
// with unit vectors (the Jacobian column by column) and at zero (the offset).
#pragma once

#include <phijit/phijit.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

// The unit vector e_i of shape `s`.
inline phijit::Tensor unit_vector(const phijit::Shape& s, int64_t i,
                                  phijit::DType dtype = phijit::DType::f64) {
  std::vector<double> v(static_cast<size_t>(s.volume()), 0.0);
  v[static_cast<size_t>(i)] = 1;
  return phijit::tensor(v, s, dtype);
}

// max |a - b| over the values (shapes must match).
inline double max_abs_diff(const phijit::Tensor& a, const phijit::Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::vector<double> x = a.to_vector(), y = b.to_vector();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

// Checks b == f(0) and A·e_i + b == f(e_i) for every unit vector of x's shape, with f run
// eagerly (the reference interpreter), never through the extracted matrix.
template <class F>
void check_by_probing(F&& f, const phijit::Tensor& A, const phijit::Tensor& b, const phijit::Shape& x_shape,
                      double tol = 1e-9) {
  using namespace phijit;
  Tensor f0 = f(zeros(x_shape));
  INFO("A " << A.shape() << ", f(0) " << f0.shape());
  CHECK(max_abs_diff(b, f0) <= tol);
  for (int64_t i = 0; i < x_shape.volume(); ++i) {
    Tensor e = unit_vector(x_shape, i);
    Tensor fe = f(e);
    INFO("column " << i);
    CHECK(max_abs_diff(matmul(A, e) + b, fe) <= tol);
  }
}
