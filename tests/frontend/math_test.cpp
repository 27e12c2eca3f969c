// End-to-end tests of elementwise arithmetic, comparisons and math functions (API §3).
#include <phijit/phijit.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <numbers>

#include "test_helpers.h"

using namespace phijit;

namespace {
const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kPi = std::numbers::pi;
}  // namespace

TEST_CASE("math: arithmetic between tensors of one shape", "[math]") {
  Tensor a = tensor({1, 2, 3}, spatial("x", 3));
  Tensor b = tensor({4, 6, 12}, spatial("x", 3));
  CHECK((a + b).shape() == spatial("x", 3));
  CHECK_VALUES(a + b, {5, 8, 15});
  CHECK_VALUES(a - b, {-3, -4, -9});
  CHECK_VALUES(b - a, {3, 4, 9});
  CHECK_VALUES(a * b, {4, 12, 36});
  CHECK_VALUES(b / a, {4, 3, 4});
  CHECK_VALUES(a / b, {0.25, 1.0 / 3.0, 0.25});
}

TEST_CASE("math: arithmetic with double scalars on both sides", "[math]") {
  Tensor t = tensor({1, 2, 4}, spatial("x", 3));
  CHECK((t + 1.0).shape() == spatial("x", 3));
  CHECK_VALUES(t + 1.0, {2, 3, 5});
  CHECK_VALUES(1.0 + t, {2, 3, 5});
  CHECK_VALUES(t - 10.0, {-9, -8, -6});
  CHECK_VALUES(10.0 - t, {9, 8, 6});
  CHECK_VALUES(t * 3.0, {3, 6, 12});
  CHECK_VALUES(3.0 * t, {3, 6, 12});
  CHECK_VALUES(t / 2.0, {0.5, 1, 2});
  CHECK_VALUES(2.0 / t, {2, 1, 0.5});
  CHECK_VALUES(1.0 - 2.0 * t + t * t, {0, 1, 9});  // (t - 1)²
  // Scalars with scalars stay scalars.
  Tensor s = Tensor(2.0) * Tensor(3.5) - 1.0;
  CHECK(s.shape().rank() == 0);
  CHECK(s.item() == 6.0);
}

TEST_CASE("math: division by zero follows IEEE", "[math]") {
  Tensor t = tensor({1, -1, 0}, spatial("x", 3)) / 0.0;
  std::vector<double> v = t.to_vector();
  CHECK(v[0] == kInf);
  CHECK(v[1] == -kInf);
  CHECK(std::isnan(v[2]));
}

TEST_CASE("math: unary minus", "[math]") {
  Tensor t = tensor({1, -2, 0.5}, spatial("x", 3));
  CHECK_VALUES(-t, {-1, 2, -0.5});
  CHECK((-t).shape() == t.shape());
  CHECK_VALUES(-(-t), {1, -2, 0.5});
  CHECK_VALUES(-t + t, {0, 0, 0});
  Tensor i = -tensor({3, -4}, spatial("x", 2), DType::i32);
  CHECK(i.dtype() == DType::i32);
  CHECK(i.to_vector() == std::vector<double>{-3, 4});
}

TEST_CASE("math: compound assignment", "[math]") {
  Tensor a = tensor({1, 2, 3}, spatial("x", 3));
  Tensor& r = (a += tensor({10, 20, 30}, spatial("x", 3)));
  CHECK(&r == &a);
  CHECK_VALUES(a, {11, 22, 33});
  a -= 1.0;
  CHECK_VALUES(a, {10, 21, 32});
  a *= 2.0;
  CHECK_VALUES(a, {20, 42, 64});
  a /= 4.0;
  CHECK_VALUES(a, {5, 10.5, 16});
  // Broadcasting grows the left-hand side.
  a += tensor({100, 200}, spatial("y", 2));
  CHECK(a.shape() == (spatial("x", 3) & spatial("y", 2)));
  CHECK_VALUES(a, {105, 205, 110.5, 210.5, 116, 216});
  // The operand that was copied from is unchanged.
  Tensor b = tensor({1, 2}, spatial("x", 2));
  Tensor c = b;
  c *= 5.0;
  CHECK_VALUES(b, {1, 2});
  CHECK_VALUES(c, {5, 10});
}

TEST_CASE("math: comparisons give booleans", "[math][compare]") {
  Tensor a = tensor({1, 2, 3}, spatial("x", 3));
  Tensor b = tensor({3, 2, 1}, spatial("x", 3));
  CHECK((a < b).dtype() == DType::boolean);
  CHECK((a < b).shape() == spatial("x", 3));
  CHECK((a < b).to_vector() == std::vector<double>{1, 0, 0});
  CHECK((a <= b).to_vector() == std::vector<double>{1, 1, 0});
  CHECK((a > b).to_vector() == std::vector<double>{0, 0, 1});
  CHECK((a >= b).to_vector() == std::vector<double>{0, 1, 1});
  CHECK((a == b).to_vector() == std::vector<double>{0, 1, 0});
  CHECK((a != b).to_vector() == std::vector<double>{1, 0, 1});
  // With scalars on either side.
  CHECK((a > 1.5).to_vector() == std::vector<double>{0, 1, 1});
  CHECK((1.5 > a).to_vector() == std::vector<double>{1, 0, 0});
  CHECK((2.0 == a).to_vector() == std::vector<double>{0, 1, 0});
  CHECK((a != 2.0).to_vector() == std::vector<double>{1, 0, 1});
  CHECK((a <= 2.0).dtype() == DType::boolean);
  // NaN compares unequal to everything, itself included.
  Tensor n = tensor({kNaN, 1}, spatial("x", 2));
  CHECK((n == n).to_vector() == std::vector<double>{0, 1});
  CHECK((n != n).to_vector() == std::vector<double>{1, 0});
  CHECK((n < 2.0).to_vector() == std::vector<double>{0, 1});
}

TEST_CASE("math: comparisons of ints with a fractional double compare exactly", "[math][compare][dtype]") {
  Tensor i = tensor({2, 3}, spatial("x", 2), DType::i32);
  CHECK((i < 2.5).to_vector() == std::vector<double>{1, 0});
  CHECK((i > 2.5).to_vector() == std::vector<double>{0, 1});
  CHECK((i == 2.5).to_vector() == std::vector<double>{0, 0});
}

TEST_CASE("math: exp, log, sin, cos, tan, tanh, sqrt", "[math][unary]") {
  Tensor z = tensor({0, 1, -1}, spatial("x", 3));
  CHECK_VALUES(exp(z), {1, 2.718281828459045, 0.36787944117144233});
  CHECK_VALUES(log(tensor({1, 2.718281828459045, 0.5}, spatial("x", 3))), {0, 1, -0.6931471805599453});
  Tensor angles = tensor({0, kPi / 6, kPi / 2, kPi}, spatial("x", 4));
  CHECK_VALUES(sin(angles), {0, 0.5, 1, 0});
  CHECK_VALUES(cos(angles), {1, 0.8660254037844386, 0, -1});
  CHECK_VALUES(tan(tensor({0, kPi / 4, -kPi / 4}, spatial("x", 3))), {0, 1, -1});
  CHECK_VALUES(tanh(tensor({0, 1, -2}, spatial("x", 3))), {0, 0.7615941559557649, -0.9640275800758169});
  CHECK_VALUES(sqrt(tensor({0, 4, 2.25, 2}, spatial("x", 4))), {0, 2, 1.5, 1.4142135623730951});
  CHECK(exp(z).shape() == spatial("x", 3));
  CHECK(std::isnan(sqrt(tensor({-1}, spatial("x", 1))).item()));
  CHECK(log(tensor({0}, spatial("x", 1))).item() == -kInf);
  // Functions compose: log(exp(x)) = x; sin² + cos² = 1.
  Tensor r = tensor({-3, 0.25, 7}, spatial("x", 3));
  CHECK_VALUES(log(exp(r)), {-3, 0.25, 7});
  CHECK_VALUES(sin(r) * sin(r) + cos(r) * cos(r), {1, 1, 1});
}

TEST_CASE("math: abs and sign", "[math][unary]") {
  Tensor t = tensor({-2.5, 0, 3, -0.0}, spatial("x", 4));
  CHECK_VALUES(abs(t), {2.5, 0, 3, 0});
  CHECK_VALUES(sign(t), {-1, 0, 1, 0});
  CHECK(std::isnan(sign(tensor({kNaN}, spatial("x", 1))).item()));
  CHECK_VALUES(sign(tensor({-kInf, kInf}, spatial("x", 2))), {-1, 1});
  Tensor i = tensor({-4, 0, 5}, spatial("x", 3), DType::i64);
  CHECK(abs(i).dtype() == DType::i64);
  CHECK(abs(i).to_vector() == std::vector<double>{4, 0, 5});
  CHECK(sign(i).dtype() == DType::i64);
  CHECK(sign(i).to_vector() == std::vector<double>{-1, 0, 1});
}

TEST_CASE("math: isfinite", "[math][unary]") {
  Tensor t = tensor({1, kInf, kNaN, -kInf, -1e300}, spatial("x", 5));
  Tensor f = isfinite(t);
  CHECK(f.dtype() == DType::boolean);
  CHECK(f.shape() == spatial("x", 5));
  CHECK(f.to_vector() == std::vector<double>{1, 0, 0, 0, 1});
  Tensor i = isfinite(tensor({1, 2}, spatial("x", 2), DType::i32));
  CHECK(i.dtype() == DType::boolean);
  CHECK(i.to_vector() == std::vector<double>{1, 1});
  CHECK(isfinite(tensor({1, 2}, spatial("x", 2)) / 0.0).to_vector() == std::vector<double>{0, 0});
}

TEST_CASE("math: pow", "[math][binary]") {
  Tensor base = tensor({2, 3, 4, 9}, spatial("x", 4));
  CHECK_VALUES(pow(base, tensor({3, 2, 0.5, -0.5}, spatial("x", 4))), {8, 9, 2, 1.0 / 3.0});
  CHECK_VALUES(pow(base, 2.0), {4, 9, 16, 81});
  CHECK_VALUES(pow(2.0, tensor({0, 1, 10, -1}, spatial("x", 4))), {1, 2, 1024, 0.5});
  // Broadcasting: base along x, exponent along y.
  Tensor p = pow(tensor({2, 3}, spatial("x", 2)), tensor({1, 2, 3}, spatial("y", 3)));
  CHECK(p.shape() == (spatial("x", 2) & spatial("y", 3)));
  CHECK_VALUES(p, {2, 4, 8, 3, 9, 27});
}

TEST_CASE("math: minimum and maximum", "[math][binary]") {
  Tensor a = tensor({1, 5, -3}, spatial("x", 3));
  Tensor b = tensor({2, 4, -3}, spatial("x", 3));
  CHECK_VALUES(minimum(a, b), {1, 4, -3});
  CHECK_VALUES(maximum(a, b), {2, 5, -3});
  CHECK_VALUES(minimum(a, 0.0), {0, 0, -3});
  CHECK_VALUES(maximum(0.0, a), {1, 5, 0});
  // Broadcast across dims.
  Tensor m = maximum(tensor({1, 3}, spatial("x", 2)), tensor({0, 2, 4}, spatial("y", 3)));
  CHECK(m.shape() == (spatial("x", 2) & spatial("y", 3)));
  CHECK_VALUES(m, {1, 2, 4, 3, 3, 4});
  // NaN propagates, as in numpy.
  Tensor n = minimum(tensor({kNaN, 1}, spatial("x", 2)), tensor({0, kNaN}, spatial("x", 2)));
  CHECK(std::isnan(n.to_vector()[0]));
  CHECK(std::isnan(n.to_vector()[1]));
  Tensor i =
      maximum(tensor({1, 7}, spatial("x", 2), DType::i32), tensor({3, 2}, spatial("x", 2), DType::i32));
  CHECK(i.dtype() == DType::i32);
  CHECK(i.to_vector() == std::vector<double>{3, 7});
}

TEST_CASE("math: clip", "[math]") {
  Tensor t = tensor({-1, 0.25, 3, 1}, spatial("x", 4));
  CHECK_VALUES(clip(t, 0, 1), {0, 0.25, 1, 1});
  CHECK_VALUES(clip(t, -0.5, 0.5), {-0.5, 0.25, 0.5, 0.5});
  CHECK_VALUES(clip(t, 2, 2), {2, 2, 2, 2});
  CHECK(clip(t, 0, 1).shape() == t.shape());
  Tensor f = clip(tensor({-1, 0.5}, spatial("x", 2), DType::f32), 0, 1);
  CHECK(f.dtype() == DType::f32);
  CHECK_VALUES(f, {0, 0.5});
}

TEST_CASE("math: where selects by a boolean condition", "[math][where]") {
  Tensor t = tensor({-2, 3, 0, 5}, spatial("x", 4));
  Tensor relu = where(t > 0.0, t, 0.0);
  CHECK(relu.shape() == t.shape());
  CHECK(relu.dtype() == DType::f64);
  CHECK_VALUES(relu, {0, 3, 0, 5});
  Tensor a = tensor({1, 2, 3, 4}, spatial("x", 4));
  Tensor b = tensor({10, 20, 30, 40}, spatial("x", 4));
  CHECK_VALUES(where(a > 2.5, a, b), {10, 20, 3, 4});
  CHECK_VALUES(where(a > 2.5, b, a), {1, 2, 30, 40});
}

TEST_CASE("math: where with a non-boolean condition means nonzero", "[math][where]") {
  Tensor cond = tensor({0, 2, -1, 0.5, 0}, spatial("x", 5));
  Tensor a = tensor({1, 2, 3, 4, 5}, spatial("x", 5));
  CHECK_VALUES(where(cond, a, -1.0), {-1, 2, 3, 4, -1});
  Tensor icond = tensor({3, 0}, spatial("x", 2), DType::i32);
  CHECK_VALUES(where(icond, 1.0, 2.0), {1, 2});
}

TEST_CASE("math: where broadcasts condition and branches", "[math][where]") {
  Tensor cond = tensor({1, 0}, spatial("x", 2), DType::boolean);
  Tensor a = tensor({1, 2, 3}, spatial("y", 3));
  Tensor w = where(cond, a, -a);
  CHECK(w.shape() == (spatial("x", 2) & spatial("y", 3)));
  CHECK_VALUES(w, {1, 2, 3, -1, -2, -3});
  Tensor s = where(cond, 7.0, 9.0);
  CHECK(s.shape() == spatial("x", 2));
  CHECK_VALUES(s, {7, 9});
}
