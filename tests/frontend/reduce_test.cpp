// End-to-end tests of reductions, losses and dot (API §3).
#include <phijit/phijit.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "test_helpers.h"

using namespace phijit;

namespace {
// t[b, x, y] = 1..12 with b batch (2), x spatial (2), y spatial (3).
Tensor example() {
  return tensor({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, batch("b", 2) & spatial("x", 2) & spatial("y", 3));
}
}  // namespace

TEST_CASE("reduce: sum defaults to all non-batch dims", "[reduce]") {
  Tensor s = sum(example());
  CHECK(s.shape() == batch("b", 2));
  CHECK_VALUES(s, {21, 57});
  // Without batch dims the result is a scalar.
  Tensor t = sum(tensor({1, 2, 3, 4}, spatial("x", 2) & channel("c", 2)));
  CHECK(t.shape().rank() == 0);
  CHECK(t.item() == 10);
  // Only batch dims: nothing to reduce.
  Tensor u = sum(tensor({1, 2}, batch("b", 2)));
  CHECK(u.shape() == batch("b", 2));
  CHECK_VALUES(u, {1, 2});
}

TEST_CASE("reduce: sum over named dims", "[reduce]") {
  Tensor t = example();
  Tensor sx = sum(t, "x");
  CHECK(sx.shape() == (batch("b", 2) & spatial("y", 3)));
  CHECK_VALUES(sx, {5, 7, 9, 17, 19, 21});
  Tensor sy = sum(t, "y");
  CHECK(sy.shape() == (batch("b", 2) & spatial("x", 2)));
  CHECK_VALUES(sy, {6, 15, 24, 33});
  CHECK_VALUES(sum(t, "x,y"), {21, 57});
  CHECK_VALUES(sum(t, "y, x"), {21, 57});
  Tensor sb = sum(t, "b");
  CHECK(sb.shape() == (spatial("x", 2) & spatial("y", 3)));
  CHECK_VALUES(sb, {8, 10, 12, 14, 16, 18});
  Tensor all = sum(t, "b,x,y");
  CHECK(all.shape().rank() == 0);
  CHECK(all.item() == 78);
}

TEST_CASE("reduce: sum over a Shape", "[reduce]") {
  Tensor t = example();
  CHECK(sum(t, t.shape().spatial()).shape() == batch("b", 2));
  CHECK_VALUES(sum(t, t.shape().spatial()), {21, 57});
  CHECK_VALUES(sum(t, spatial("y", 3)), {6, 15, 24, 33});
  CHECK_VALUES(sum(t, batch("b", 2) & spatial("x", 2)), {22, 26, 30});
  CHECK(sum(t, t.shape()).item() == 78);
}

TEST_CASE("reduce: mean", "[reduce]") {
  Tensor t = example();
  Tensor m = mean(t);
  CHECK(m.shape() == batch("b", 2));
  CHECK_VALUES(m, {3.5, 9.5});
  CHECK_VALUES(mean(t, "y"), {2, 5, 8, 11});
  CHECK_VALUES(mean(t, "b"), {4, 5, 6, 7, 8, 9});
  CHECK_VALUES(mean(t, spatial("x", 2)), {2.5, 3.5, 4.5, 8.5, 9.5, 10.5});
  CHECK(mean(t, "b,x,y").item() == 6.5);
  CHECK(mean(tensor({1, 2, 4}, spatial("x", 3))).item() == Approx(7.0 / 3.0).epsilon(1e-12));
}

TEST_CASE("reduce: max and min", "[reduce]") {
  Tensor t = tensor({3, -1, 7, 2, 9, -5, 0, 4}, batch("b", 2) & spatial("x", 2) & spatial("y", 2));
  Tensor mx = max(t);
  CHECK(mx.shape() == batch("b", 2));
  CHECK_VALUES(mx, {7, 9});
  CHECK_VALUES(min(t), {-1, -5});
  CHECK_VALUES(max(t, "x"), {7, 2, 9, 4});
  CHECK_VALUES(min(t, "y"), {-1, 2, -5, 0});
  CHECK_VALUES(max(t, "b"), {9, -1, 7, 4});
  CHECK_VALUES(min(t, spatial("x", 2) & spatial("y", 2)), {-1, -5});
  CHECK(max(t, "b,x,y").item() == 9);
  CHECK(min(t, t.shape()).item() == -5);
  // All-negative values: the max is not 0.
  CHECK(max(tensor({-3, -2, -7}, spatial("x", 3))).item() == -2);
  CHECK(min(tensor({3, 2, 7}, spatial("x", 3))).item() == 2);
}

TEST_CASE("reduce: max and min of ints stay ints", "[reduce][dtype]") {
  Tensor i = tensor({4, -9, 2}, spatial("x", 3), DType::i32);
  CHECK(max(i).dtype() == DType::i32);
  CHECK(max(i).item() == 4);
  CHECK(min(i).dtype() == DType::i32);
  CHECK(min(i).item() == -9);
}

TEST_CASE("reduce: NaN propagates through max and sum", "[reduce]") {
  Tensor t = tensor({1, std::numeric_limits<double>::quiet_NaN(), 3}, spatial("x", 3));
  CHECK(std::isnan(max(t).item()));
  CHECK(std::isnan(min(t).item()));
  CHECK(std::isnan(sum(t).item()));
}

TEST_CASE("reduce: l2_loss and l1_loss keep batch dims", "[reduce][loss]") {
  Tensor t = tensor({1, 2, 3, 4}, batch("b", 2) & spatial("x", 2));
  Tensor l2 = l2_loss(t);
  CHECK(l2.shape() == batch("b", 2));
  CHECK_VALUES(l2, {2.5, 12.5});  // (1 + 4) / 2, (9 + 16) / 2
  Tensor l1 = l1_loss(tensor({-1, 2, -3, 4}, batch("b", 2) & spatial("x", 2)));
  CHECK(l1.shape() == batch("b", 2));
  CHECK_VALUES(l1, {3, 7});
  CHECK(l2_loss(tensor({3, -4}, spatial("x", 2))).item() == 12.5);
  CHECK(l1_loss(tensor({3, -4}, spatial("x", 2))).item() == 7);
  CHECK(l2_loss(Tensor(2.0)).item() == 2.0);
}

TEST_CASE("reduce: dot contracts differently named dims", "[reduce][dot]") {
  Tensor a = tensor({1, 2, 3}, spatial("x", 3));
  Tensor b = tensor({4, 5, 6}, spatial("y", 3));
  Tensor d = dot(a, "x", b, "y");
  CHECK(d.shape().rank() == 0);
  CHECK(d.item() == 32);
  // Dims of different types can be contracted.
  Tensor c = tensor({4, 5, 6}, channel("c", 3));
  CHECK(dot(a, "x", c, "c").item() == 32);
  // Same names contract too.
  CHECK(dot(a, "x", a, "x").item() == 14);
}

TEST_CASE("reduce: dot keeps the other dims of both operands", "[reduce][dot]") {
  Tensor a = tensor({1, 2, 3, 4, 5, 6}, batch("b", 2) & spatial("x", 3));
  Tensor w = tensor({1, 0, -1, 2, 2, 2}, spatial("y", 3) & channel("c", 2));
  // w[y, c]: c=0 → (1, -1, 2), c=1 → (0, 2, 2).
  Tensor d = dot(a, "x", w, "y");
  CHECK(d.shape() == (batch("b", 2) & channel("c", 2)));
  CHECK_VALUES(d, {1 - 2 + 6, 0 + 4 + 6, 4 - 5 + 12, 0 + 10 + 12});
}

TEST_CASE("reduce: dot over two dim pairs pairs them in order", "[reduce][dot]") {
  Tensor a = tensor({1, 2, 3, 4}, spatial("x", 2) & spatial("y", 2));
  Tensor b = tensor({5, 6, 7, 8}, spatial("u", 2) & spatial("v", 2));
  CHECK(dot(a, "x,y", b, "u,v").item() == 1 * 5 + 2 * 6 + 3 * 7 + 4 * 8);
  // x with v and y with u: sum a[i, j] b[j, i].
  CHECK(dot(a, "x,y", b, "v,u").item() == 1 * 5 + 2 * 7 + 3 * 6 + 4 * 8);
}

// dot renames both contracted dims to one private name; item names must not make them clash.
TEST_CASE("reduce: dot of item-named vectors with different item names", "[reduce][dot]") {
  Tensor a = tensor({1, 2}, channel("vector", {"x", "y"}));
  Tensor b = tensor({3, 4}, channel("w", {"u", "v"}));
  CHECK(dot(a, "vector", b, "w").item() == 11);
  CHECK(dot(a, "vector", a, "vector").item() == 5);
}
