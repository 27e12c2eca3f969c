// End-to-end tests of dtype promotion (API §2, numpy rules with NEP 50 for C++ doubles).
#include <phijit/phijit.h>

#include <catch2/catch.hpp>

#include "test_helpers.h"

using namespace phijit;

namespace {
Tensor f32(std::vector<double> v) {
  auto n = static_cast<int64_t>(v.size());
  return tensor(std::move(v), spatial("x", n), DType::f32);
}
Tensor f64(std::vector<double> v) {
  auto n = static_cast<int64_t>(v.size());
  return tensor(std::move(v), spatial("x", n), DType::f64);
}
Tensor i32(std::vector<double> v) {
  auto n = static_cast<int64_t>(v.size());
  return tensor(std::move(v), spatial("x", n), DType::i32);
}
Tensor i64(std::vector<double> v) {
  auto n = static_cast<int64_t>(v.size());
  return tensor(std::move(v), spatial("x", n), DType::i64);
}
Tensor boolean(std::vector<double> v) {
  auto n = static_cast<int64_t>(v.size());
  return tensor(std::move(v), spatial("x", n), DType::boolean);
}
}  // namespace

TEST_CASE("dtype: f32 with f32 stays f32", "[dtype]") {
  Tensor a = f32({1.5, 2}), b = f32({0.25, 4});
  CHECK((a + b).dtype() == DType::f32);
  CHECK_VALUES(a + b, {1.75, 6});
  CHECK((a * b).dtype() == DType::f32);
  CHECK((a / b).dtype() == DType::f32);
  CHECK_VALUES(a / b, {6, 0.5});
  CHECK((-a).dtype() == DType::f32);
  CHECK(exp(a).dtype() == DType::f32);
  CHECK(sqrt(b).dtype() == DType::f32);
  CHECK_VALUES(sqrt(b), {0.5, 2});
  CHECK(pow(a, b).dtype() == DType::f32);
}

TEST_CASE("dtype: a C++ double does not promote f32", "[dtype]") {
  Tensor a = f32({1.5, 2});
  CHECK((a * 2.0).dtype() == DType::f32);
  CHECK((2.0 * a).dtype() == DType::f32);
  CHECK((a + 0.1).dtype() == DType::f32);
  CHECK((1.0 - a).dtype() == DType::f32);
  CHECK((a / 3.0).dtype() == DType::f32);
  CHECK_VALUES(a * 2.0, {3, 4});
  CHECK(minimum(a, 1.0).dtype() == DType::f32);
  CHECK(pow(a, 2.0).dtype() == DType::f32);
  CHECK(where(a > 1.75, a, 0.0).dtype() == DType::f32);
  Tensor c = a;
  c *= 3.0;
  CHECK(c.dtype() == DType::f32);
  // An expression of doubles is still a plain double.
  CHECK((a + Tensor(2.0) * 3.0).dtype() == DType::f32);
  CHECK_VALUES(a + Tensor(2.0) * 3.0, {7.5, 8});
  // The double is converted to f32 before it is used: f32(0.1) == 0.1 holds.
  CHECK((f32({0.1}) == 0.1).item() == 1);
  CHECK((f32({0.1}) + 0.1).item() == static_cast<double>(0.1f + 0.1f));
  // A f64 tensor is not a plain double: it promotes.
  CHECK((a * f64({2, 2})).dtype() == DType::f64);
}

TEST_CASE("dtype: f32 results are rounded to float", "[dtype]") {
  Tensor t = f32({1}) / 3.0;
  CHECK(t.item() == static_cast<double>(1.0f / 3.0f));
  CHECK(t.item() != 1.0 / 3.0);
}

TEST_CASE("dtype: int with f32 gives f64", "[dtype]") {
  CHECK((i32({1, 2}) + f32({0.5, 0.5})).dtype() == DType::f64);
  CHECK_VALUES(i32({1, 2}) + f32({0.5, 0.5}), {1.5, 2.5});
  CHECK((f32({0.5}) * i64({3})).dtype() == DType::f64);
  CHECK((f32({1.0}) + f64({1.0})).dtype() == DType::f64);
}

TEST_CASE("dtype: integer promotion", "[dtype]") {
  CHECK((i32({1}) + i32({2})).dtype() == DType::i32);
  CHECK((i32({1, 2}) + i64({10, 20})).dtype() == DType::i64);
  CHECK((i64({10, 20}) - i32({1, 2})).to_vector() == std::vector<double>{9, 18});
  CHECK((i32({3}) * i32({-4})).item() == -12);
  CHECK((boolean({1, 0}) + i32({5, 5})).dtype() == DType::i32);
  CHECK((boolean({1, 0}) + i32({5, 5})).to_vector() == std::vector<double>{6, 5});
  CHECK((i64({1}) + f64({0.5})).dtype() == DType::f64);
  // A double with ints gives f64 (the double may be fractional).
  CHECK((i32({1, 2}) * 2.5).dtype() == DType::f64);
  CHECK_VALUES(i32({1, 2}) * 2.5, {2.5, 5});
  CHECK((1.5 + i64({1})).dtype() == DType::f64);
}

TEST_CASE("dtype: int / int is true division in f64", "[dtype]") {
  Tensor q = i64({7, -7, 6}) / i64({2, 2, 4});
  CHECK(q.dtype() == DType::f64);
  CHECK_VALUES(q, {3.5, -3.5, 1.5});
  Tensor r = i32({1}) / i32({3});
  CHECK(r.dtype() == DType::f64);
  CHECK(r.item() == Approx(1.0 / 3.0).epsilon(1e-15));
  CHECK((i32({5}) / 2.0).item() == 2.5);
}

TEST_CASE("dtype: comparisons give bool", "[dtype]") {
  CHECK((f32({1}) < f32({2})).dtype() == DType::boolean);
  CHECK((i32({1}) == i64({1})).dtype() == DType::boolean);
  CHECK((i32({1}) == i64({1})).item() == 1);
  CHECK((f64({1}) >= 2.0).dtype() == DType::boolean);
  CHECK((i32({2}) != f32({2})).item() == 0);
  CHECK(isfinite(f32({1})).dtype() == DType::boolean);
}

TEST_CASE("dtype: sum of bool counts in i64", "[dtype][reduce]") {
  Tensor b = f64({1, 5, 3, 7, 2}) > 2.5;
  Tensor s = sum(b);
  CHECK(s.dtype() == DType::i64);
  CHECK(s.item() == 3);
  Tensor bb = tensor({1, 1, 0, 1, 1, 1}, batch("b", 2) & spatial("x", 3), DType::boolean);
  CHECK(sum(bb).dtype() == DType::i64);
  CHECK(sum(bb).to_vector() == std::vector<double>{2, 3});
  CHECK(sum(i32({1, 2, 3})).dtype() == DType::i64);
  CHECK(sum(i32({1, 2, 3})).item() == 6);
  CHECK(sum(f32({0.5, 0.25})).dtype() == DType::f32);
  CHECK(sum(f32({0.5, 0.25})).item() == 0.75);
}

TEST_CASE("dtype: mean of ints and bools is f64", "[dtype][reduce]") {
  Tensor m = mean(i32({1, 2}));
  CHECK(m.dtype() == DType::f64);
  CHECK(m.item() == 1.5);
  CHECK(mean(i64({1, 2, 4})).item() == Approx(7.0 / 3.0).epsilon(1e-15));
  CHECK(mean(boolean({1, 0, 0, 1})).dtype() == DType::f64);
  CHECK(mean(boolean({1, 0, 0, 1})).item() == 0.5);
  CHECK(mean(f32({1, 2})).dtype() == DType::f32);
  CHECK(mean(f32({1, 2})).item() == 1.5);
}

TEST_CASE("dtype: float functions of ints compute in f64", "[dtype]") {
  Tensor e = exp(i32({0, 1}));
  CHECK(e.dtype() == DType::f64);
  CHECK_VALUES(e, {1, 2.718281828459045});
  CHECK(sqrt(i64({9})).dtype() == DType::f64);
  CHECK(sqrt(i64({2})).item() == Approx(1.4142135623730951).epsilon(1e-15));
  CHECK(log(i32({1})).dtype() == DType::f64);
  CHECK(sin(boolean({1})).dtype() == DType::f64);
  CHECK(pow(i32({2}), i32({3})).item() == 8);
}

TEST_CASE("dtype: losses of ints", "[dtype][reduce]") {
  CHECK(l2_loss(i32({1, 2})).dtype() == DType::f64);
  CHECK(l2_loss(i32({1, 2})).item() == 2.5);
  CHECK(l1_loss(i32({-1, 2})).item() == 3);
  CHECK(l2_loss(f32({1, 2})).dtype() == DType::f32);
}
