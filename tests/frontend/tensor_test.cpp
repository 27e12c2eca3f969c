// End-to-end tests of tensor creation, slicing, casting and stacking (API §2).
#include <phijit/phijit.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "test_helpers.h"

using namespace phijit;

TEST_CASE("tensor: values are in shape order, last dim fastest", "[tensor]") {
  Tensor t = tensor({1, 2, 3, 4, 5, 6}, spatial("x", 2) & spatial("y", 3));
  CHECK(t.shape() == (spatial("x", 2) & spatial("y", 3)));
  CHECK(t.shape().names() == std::vector<std::string>{"x", "y"});
  CHECK(t.dtype() == DType::f64);
  CHECK(t.defined());
  CHECK_FALSE(t.is_sparse());
  CHECK(t.to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6});
  // Row x=1 is the second block of three; column y=0 picks every third value.
  CHECK(t.slice("x", 1).to_vector() == std::vector<double>{4, 5, 6});
  CHECK(t.slice("y", 0).to_vector() == std::vector<double>{1, 4});
  CHECK(t.slice("x", 0).slice("y", 2).item() == 3);
}

TEST_CASE("tensor: the shape is canonical, so values follow the canonical dim order", "[tensor]") {
  // channel & spatial is stored as (x, c): x is the outer dim, c the fastest.
  Tensor t = tensor({1, 2, 3, 4, 5, 6}, channel("c", 2) & spatial("x", 3));
  CHECK(t.shape().names() == std::vector<std::string>{"x", "c"});
  CHECK(t.slice("c", 0).to_vector() == std::vector<double>{1, 3, 5});
  CHECK(t.slice("c", 1).to_vector() == std::vector<double>{2, 4, 6});
  CHECK(t.slice("x", 2).to_vector() == std::vector<double>{5, 6});
}

TEST_CASE("tensor: given dtypes store converted values", "[tensor]") {
  Tensor i = tensor({1.9, -2.9, 3}, spatial("x", 3), DType::i32);
  CHECK(i.dtype() == DType::i32);
  CHECK(i.to_vector() == std::vector<double>{1, -2, 3});  // truncation toward zero
  Tensor b = tensor({0, 2, -0.5}, spatial("x", 3), DType::boolean);
  CHECK(b.dtype() == DType::boolean);
  CHECK(b.to_vector() == std::vector<double>{0, 1, 1});
  Tensor f = tensor({0.1}, spatial("x", 1), DType::f32);
  CHECK(f.dtype() == DType::f32);
  CHECK(f.item() == static_cast<double>(0.1f));
}

TEST_CASE("tensor: a scalar Tensor from a double", "[tensor]") {
  Tensor s = 3.5;
  CHECK(s.shape().rank() == 0);
  CHECK(s.shape().volume() == 1);
  CHECK(s.dtype() == DType::f64);
  CHECK(s.item() == 3.5);
  CHECK(s.to_vector() == std::vector<double>{3.5});
  CHECK(Tensor(-2.0).item() == -2.0);
}

TEST_CASE("tensor: a default-constructed Tensor is empty until assigned", "[tensor]") {
  Tensor t;
  CHECK_FALSE(t.defined());
  t = tensor({4, 5}, spatial("x", 2));
  CHECK(t.defined());
  CHECK(t.to_vector() == std::vector<double>{4, 5});
}

TEST_CASE("tensor: zeros, ones, full", "[tensor]") {
  Shape s = batch("b", 2) & spatial("x", 3);
  Tensor z = zeros(s);
  CHECK(z.shape() == s);
  CHECK(z.dtype() == DType::f64);
  CHECK(z.to_vector() == std::vector<double>(6, 0.0));
  Tensor o = ones(s, DType::i32);
  CHECK(o.dtype() == DType::i32);
  CHECK(o.to_vector() == std::vector<double>(6, 1.0));
  Tensor f = full(spatial("x", 4), 2.5);
  CHECK(f.shape() == spatial("x", 4));
  CHECK(f.to_vector() == std::vector<double>{2.5, 2.5, 2.5, 2.5});
  Tensor fi = full(spatial("x", 2), 2.7, DType::i64);
  CHECK(fi.dtype() == DType::i64);
  CHECK(fi.to_vector() == std::vector<double>{2, 2});
  Tensor fb = full(spatial("x", 2), 1.0, DType::boolean);
  CHECK(fb.dtype() == DType::boolean);
  CHECK(fb.to_vector() == std::vector<double>{1, 1});
  CHECK(zeros(Shape()).shape().rank() == 0);
  CHECK(full(Shape(), 7).item() == 7);
}

TEST_CASE("tensor: zeros_like and ones_like keep shape and dtype", "[tensor]") {
  Tensor t = tensor({5, 6, 7, 8}, batch("b", 2) & channel("c", 2), DType::f32);
  Tensor z = zeros_like(t);
  CHECK(z.shape() == t.shape());
  CHECK(z.dtype() == DType::f32);
  CHECK(z.to_vector() == std::vector<double>{0, 0, 0, 0});
  Tensor o = ones_like(t);
  CHECK(o.shape() == t.shape());
  CHECK(o.dtype() == DType::f32);
  CHECK(o.to_vector() == std::vector<double>{1, 1, 1, 1});
  Tensor oi = ones_like(tensor({3, 4}, spatial("x", 2), DType::i64));
  CHECK(oi.dtype() == DType::i64);
  CHECK(oi.to_vector() == std::vector<double>{1, 1});
}

TEST_CASE("tensor: linspace includes both ends", "[tensor]") {
  Tensor t = linspace(0, 1, spatial("x", 5));
  CHECK(t.shape() == spatial("x", 5));
  CHECK(t.dtype() == DType::f64);
  CHECK_VALUES(t, {0, 0.25, 0.5, 0.75, 1});
  CHECK_VALUES(linspace(-2, 4, instance("i", 4)), {-2, 0, 2, 4});
  CHECK_VALUES(linspace(3, 1, spatial("x", 3)), {3, 2, 1});
  CHECK_VALUES(linspace(5, 9, spatial("x", 1)), {5});
}

TEST_CASE("tensor: random_uniform is deterministic per seed and stays within low and high",
          "[tensor][random]") {
  Shape s = instance("i", 20000);
  Tensor a = random_uniform(s, 2, 5, 7);
  Tensor b = random_uniform(s, 2, 5, 7);
  Tensor c = random_uniform(s, 2, 5, 8);
  CHECK(a.shape() == s);
  CHECK(a.dtype() == DType::f64);
  CHECK(a.to_vector() == b.to_vector());
  std::vector<double> va = a.to_vector(), vc = c.to_vector();
  int64_t differing = 0;
  for (size_t i = 0; i < va.size(); ++i) differing += va[i] != vc[i] ? 1 : 0;
  CHECK(differing > 19900);
  double lo = va[0], hi = va[0];
  for (double v : va) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  CHECK(lo >= 2.0);
  CHECK(hi < 5.0);
  CHECK(lo < 2.01);  // the range is actually covered
  CHECK(hi > 4.99);
  // Uniform on [2, 5): mean 3.5, std 3 / sqrt(12) = 0.8660.
  CHECK(mean(a).item() == Approx(3.5).margin(0.03));
  double m = mean(a).item();
  double sd = std::sqrt(mean((a - m) * (a - m)).item());
  CHECK(sd == Approx(0.8660).margin(0.02));
  // The defaults are [0, 1) with seed 0.
  Tensor d = random_uniform(spatial("x", 100));
  CHECK(d.to_vector() == random_uniform(spatial("x", 100), 0, 1, 0).to_vector());
  CHECK(max(d).item() < 1.0);
  CHECK(min(d).item() >= 0.0);
}

TEST_CASE("tensor: random_normal is deterministic per seed with mean 0 and std 1", "[tensor][random]") {
  Shape s = batch("b", 2) & instance("i", 20000);
  Tensor a = random_normal(s, 3);
  CHECK(a.shape() == s);
  CHECK(a.dtype() == DType::f64);
  CHECK(a.to_vector() == random_normal(s, 3).to_vector());
  CHECK(a.to_vector() != random_normal(s, 4).to_vector());
  CHECK(random_normal(s).to_vector() == random_normal(s, 0).to_vector());
  // Per batch entry: sample mean within ~4.5 standard errors (1/sqrt(20000) = 0.007).
  Tensor m = mean(a);
  REQUIRE(m.shape() == batch("b", 2));
  for (double v : m.to_vector()) CHECK(std::abs(v) < 0.03);
  Tensor sd = sqrt(mean(a * a) - m * m);
  for (double v : sd.to_vector()) CHECK(v == Approx(1.0).margin(0.03));
  // About 68% of the samples lie within one standard deviation.
  double inside = mean(abs(a) < 1.0, "b,i").item();
  CHECK(inside == Approx(0.6827).margin(0.015));
  CHECK(isfinite(a).to_vector() == std::vector<double>(40000, 1.0));
}

TEST_CASE("tensor: stack puts the new dim in its canonical position", "[tensor][stack]") {
  Tensor a = tensor({1, 2}, spatial("x", 2));
  Tensor b = tensor({3, 4}, spatial("x", 2));
  Tensor c = stack({a, b}, channel("c", 2));
  CHECK(c.shape() == (spatial("x", 2) & channel("c", 2)));
  CHECK(c.to_vector() == std::vector<double>{1, 3, 2, 4});
  Tensor bt = stack({a, b}, batch("n", 2));
  CHECK(bt.shape().names() == std::vector<std::string>{"n", "x"});
  CHECK(bt.to_vector() == std::vector<double>{1, 2, 3, 4});
  // A spatial new dim goes between batch and channel dims.
  Tensor p = tensor({1, 2, 3, 4}, batch("b", 2) & channel("v", 2));
  Tensor q = tensor({5, 6, 7, 8}, batch("b", 2) & channel("v", 2));
  Tensor pq = stack({p, q}, spatial("s", 2));
  CHECK(pq.shape().names() == std::vector<std::string>{"b", "s", "v"});
  CHECK(pq.to_vector() == std::vector<double>{1, 2, 5, 6, 3, 4, 7, 8});
}

TEST_CASE("tensor: stack broadcasts its operands", "[tensor][stack]") {
  Tensor x = tensor({1, 2}, spatial("x", 2));
  Tensor y = tensor({10, 20, 30}, spatial("y", 3));
  Tensor s = stack({x, y}, channel("c", 2));
  CHECK(s.shape() == (spatial("x", 2) & spatial("y", 3) & channel("c", 2)));
  // s[x, y, c] = c == 0 ? x : y.
  CHECK(s.to_vector() == std::vector<double>{1, 10, 1, 20, 1, 30, 2, 10, 2, 20, 2, 30});
  Tensor with_scalar = stack({x, Tensor(5.0)}, channel("c", 2));
  CHECK(with_scalar.shape() == (spatial("x", 2) & channel("c", 2)));
  CHECK(with_scalar.to_vector() == std::vector<double>{1, 5, 2, 5});
}

TEST_CASE("tensor: stack with item names builds a named vector", "[tensor][stack]") {
  Tensor v = stack({Tensor(1.0), Tensor(2.0)}, channel("vector", {"x", "y"}));
  CHECK(v.shape() == channel("vector", {"x", "y"}));
  CHECK(v.shape().item_names("vector") == std::vector<std::string>{"x", "y"});
  CHECK(v.to_vector() == std::vector<double>{1, 2});
  CHECK(v.dtype() == DType::f64);
}

TEST_CASE("tensor: stack promotes dtypes", "[tensor][stack][dtype]") {
  Tensor i = tensor({1, 2}, spatial("x", 2), DType::i32);
  Tensor f = tensor({0.5, 1.5}, spatial("x", 2));
  Tensor s = stack({i, f}, channel("c", 2));
  CHECK(s.dtype() == DType::f64);
  CHECK(s.to_vector() == std::vector<double>{1, 0.5, 2, 1.5});
  Tensor ii = stack({i, i}, channel("c", 2));
  CHECK(ii.dtype() == DType::i32);
}

TEST_CASE("tensor: concat joins along an existing dim", "[tensor][concat]") {
  Tensor a = tensor({1, 2}, spatial("x", 2));
  Tensor b = tensor({3, 4, 5}, spatial("x", 3));
  Tensor c = concat({a, b}, "x");
  CHECK(c.shape() == spatial("x", 5));
  CHECK(c.to_vector() == std::vector<double>{1, 2, 3, 4, 5});
  // Along the inner dim of a 2-D tensor.
  Tensor p = tensor({1, 2}, spatial("x", 2) & spatial("y", 1));
  Tensor q = tensor({3, 4, 5, 6}, spatial("x", 2) & spatial("y", 2));
  Tensor pq = concat({p, q}, "y");
  CHECK(pq.shape() == (spatial("x", 2) & spatial("y", 3)));
  CHECK(pq.to_vector() == std::vector<double>{1, 3, 4, 2, 5, 6});
  // Along the outer dim.
  Tensor r = tensor({7, 8}, spatial("x", 1) & spatial("y", 2));
  Tensor qr = concat({q, r}, "x");
  CHECK(qr.shape() == (spatial("x", 3) & spatial("y", 2)));
  CHECK(qr.to_vector() == std::vector<double>{3, 4, 5, 6, 7, 8});
  CHECK(concat({a}, "x").to_vector() == std::vector<double>{1, 2});
}

TEST_CASE("tensor: concat promotes dtypes", "[tensor][concat][dtype]") {
  Tensor i = tensor({1, 2}, spatial("x", 2), DType::i32);
  Tensor f = tensor({0.5}, spatial("x", 1));
  Tensor c = concat({i, f}, "x");
  CHECK(c.dtype() == DType::f64);
  CHECK(c.to_vector() == std::vector<double>{1, 2, 0.5});
  CHECK(concat({i, i}, "x").dtype() == DType::i32);
}

TEST_CASE("tensor: concat joins item names", "[tensor][concat]") {
  Tensor a = tensor({1}, channel("v", std::vector<std::string>{"a"}));
  Tensor b = tensor({2, 3}, channel("v", {"b", "c"}));
  Tensor c = concat({a, b}, "v");
  CHECK(c.shape().size("v") == 3);
  CHECK(c.shape().item_names("v") == std::vector<std::string>{"a", "b", "c"});
  CHECK(c.to_vector() == std::vector<double>{1, 2, 3});
}

TEST_CASE("tensor: slice by index drops the dim, and negative indices count from the end",
          "[tensor][slice]") {
  Tensor t = tensor({1, 2, 3, 4, 5, 6}, batch("b", 2) & spatial("x", 3));
  Tensor s = t.slice("x", 1);
  CHECK(s.shape() == batch("b", 2));
  CHECK(s.to_vector() == std::vector<double>{2, 5});
  CHECK(t.slice("x", -1).to_vector() == std::vector<double>{3, 6});
  CHECK(t.slice("x", -3).to_vector() == std::vector<double>{1, 4});
  Tensor row = t.slice("b", -1);
  CHECK(row.shape() == spatial("x", 3));
  CHECK(row.to_vector() == std::vector<double>{4, 5, 6});
  CHECK(t.slice("b", 0).slice("x", 2).shape().rank() == 0);
  CHECK(t.slice("b", 0).slice("x", 2).item() == 3);
}

TEST_CASE("tensor: slice by range keeps the dim", "[tensor][slice]") {
  Tensor t = tensor({1, 2, 3, 4, 5, 6}, spatial("x", 2) & spatial("y", 3));
  Tensor s = t.slice("y", 1, 3);
  CHECK(s.shape() == (spatial("x", 2) & spatial("y", 2)));
  CHECK(s.to_vector() == std::vector<double>{2, 3, 5, 6});
  CHECK(t.slice("y", -2, 3).to_vector() == std::vector<double>{2, 3, 5, 6});
  Tensor one = t.slice("x", 1, 2);
  CHECK(one.shape() == (spatial("x", 1) & spatial("y", 3)));
  CHECK(one.to_vector() == std::vector<double>{4, 5, 6});
  Tensor none = t.slice("y", 1, 1);
  CHECK(none.shape() == (spatial("x", 2) & spatial("y", 0)));
  CHECK(none.to_vector().empty());
  CHECK(t.slice("y", 0, 3).to_vector() == t.to_vector());
}

TEST_CASE("tensor: slicing a range of an item-named dim slices the item names", "[tensor][slice]") {
  Tensor t = tensor({1, 2, 3}, channel("v", {"a", "b", "c"}));
  Tensor s = t.slice("v", 1, 3);
  CHECK(s.shape().item_names("v") == std::vector<std::string>{"b", "c"});
  CHECK(s.to_vector() == std::vector<double>{2, 3});
  CHECK(t.slice("v", 0, 1).shape().item_names("v") == std::vector<std::string>{"a"});
  CHECK(t.slice("v", 2).item() == 3);
}

TEST_CASE("tensor: slicing keeps the dtype", "[tensor][slice][dtype]") {
  Tensor t = tensor({1, 2, 3}, spatial("x", 3), DType::i32);
  CHECK(t.slice("x", 1).dtype() == DType::i32);
  CHECK(t.slice("x", 0, 2).dtype() == DType::i32);
  CHECK(t.slice("x", 0, 2).to_vector() == std::vector<double>{1, 2});
}

TEST_CASE("tensor: astype converts values", "[tensor][dtype]") {
  Tensor t = tensor({1.7, -1.7, 2, 0}, spatial("x", 4));
  Tensor i = t.astype(DType::i32);
  CHECK(i.dtype() == DType::i32);
  CHECK(i.shape() == t.shape());
  CHECK(i.to_vector() == std::vector<double>{1, -1, 2, 0});
  CHECK(t.astype(DType::i64).to_vector() == std::vector<double>{1, -1, 2, 0});
  Tensor b = t.astype(DType::boolean);
  CHECK(b.dtype() == DType::boolean);
  CHECK(b.to_vector() == std::vector<double>{1, 1, 1, 0});
  Tensor f = tensor({0.1}, spatial("x", 1)).astype(DType::f32);
  CHECK(f.dtype() == DType::f32);
  CHECK(f.item() == static_cast<double>(0.1f));
  CHECK(f.item() != 0.1);
  Tensor back = b.astype(DType::f64);
  CHECK(back.dtype() == DType::f64);
  CHECK(back.to_vector() == std::vector<double>{1, 1, 1, 0});
  CHECK(t.astype(DType::f64).to_vector() == t.to_vector());
}

TEST_CASE("tensor: item and to_vector", "[tensor]") {
  CHECK(tensor({42}, spatial("x", 1)).item() == 42);
  CHECK(tensor({42}, spatial("x", 1) & batch("b", 1)).item() == 42);
  CHECK(tensor({3}, spatial("x", 1), DType::i64).item() == 3);
  CHECK(tensor({1}, spatial("x", 1), DType::boolean).item() == 1);
  CHECK(tensor({-1, 0.5}, channel("c", 2)).to_vector() == std::vector<double>{-1, 0.5});
}

TEST_CASE("tensor: concat broadcasts a batch dim that only some operands have", "[tensor][concat]") {
  Tensor a = tensor({1, 2, 3, 4}, batch("b", 2) & spatial("x", 2));
  Tensor c = tensor({9}, spatial("x", 1));
  Tensor r = concat({a, c}, "x");
  CHECK(r.shape() == (batch("b", 2) & spatial("x", 3)));
  CHECK_VALUES(r, {1, 2, 9, 3, 4, 9});
  // The other way round, and with batch dims in different orders.
  CHECK_VALUES(concat({c, a}, "x"), {9, 1, 2, 9, 3, 4});
  Tensor p = tensor({1, 2, 3, 4}, batch("p", 2) & spatial("x", 2));
  Tensor q = concat({a, p}, "x");
  CHECK(q.shape() == (batch("b", 2) & batch("p", 2) & spatial("x", 4)));
  CHECK_VALUES(q.slice("b", 1).slice("p", 0), {3, 4, 1, 2});
}
