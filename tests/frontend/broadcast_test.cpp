// End-to-end tests of broadcasting by dim name (API §3).
#include <phijit/phijit.h>

#include <catch2/catch.hpp>

#include "test_helpers.h"

using namespace phijit;

TEST_CASE("broadcast: x with y gives an (x, y) tensor", "[broadcast]") {
  Tensor x = tensor({1, 2, 3}, spatial("x", 3));
  Tensor y = tensor({10, 20}, spatial("y", 2));
  Tensor s = x + y;
  CHECK(s.shape() == (spatial("x", 3) & spatial("y", 2)));
  CHECK(s.shape().names() == std::vector<std::string>{"x", "y"});
  CHECK_VALUES(s, {11, 21, 12, 22, 13, 23});
  CHECK_VALUES(x - y, {-9, -19, -8, -18, -7, -17});
  CHECK_VALUES(x * y, {10, 20, 20, 40, 30, 60});
  CHECK_VALUES(x / y, {0.1, 0.05, 0.2, 0.1, 0.3, 0.15});
  // Operand order decides the order of dims of one type: y first gives (y, x).
  Tensor t = y + x;
  CHECK(t.shape().names() == std::vector<std::string>{"y", "x"});
  CHECK_VALUES(t, {11, 12, 13, 21, 22, 23});
}

TEST_CASE("broadcast: dims of different types are ordered canonically", "[broadcast]") {
  Tensor x = tensor({1, 2, 3}, spatial("x", 3));
  Tensor b = tensor({1, -1}, batch("b", 2));
  Tensor xb = x * b;
  CHECK(xb.shape().names() == std::vector<std::string>{"b", "x"});
  CHECK(xb.shape().type("b") == DimType::batch);
  CHECK_VALUES(xb, {1, 2, 3, -1, -2, -3});
  Tensor c = tensor({100, 200}, channel("c", 2));
  Tensor xc = c + x;  // channel comes after spatial whatever the operand order
  CHECK(xc.shape().names() == std::vector<std::string>{"x", "c"});
  CHECK_VALUES(xc, {101, 201, 102, 202, 103, 203});
  Tensor i = tensor({0, 1000}, instance("i", 2));
  Tensor all = c + x + b + i;
  CHECK(all.shape().names() == std::vector<std::string>{"b", "i", "x", "c"});
  CHECK(all.shape().volume() == 24);
  // all[b, i, x, c] = c + x + b + i; spot-check a few entries.
  CHECK(all.slice("b", 1).slice("i", 1).slice("x", 2).slice("c", 0).item() == 100 + 3 - 1 + 1000);
  CHECK(all.slice("b", 0).slice("i", 0).slice("x", 0).slice("c", 1).item() == 200 + 1 + 1 + 0);
}

TEST_CASE("broadcast: a partially shared dim set", "[broadcast]") {
  Tensor a = tensor({1, 2, 3, 4}, spatial("x", 2) & spatial("y", 2));
  Tensor b = tensor({10, 20, 30}, spatial("z", 3)) + tensor({0, 100}, spatial("y", 2));
  // b has dims (z, y); a has (x, y); the union is (x, y, z).
  CHECK(b.shape().names() == std::vector<std::string>{"z", "y"});
  Tensor s = a + b;
  CHECK(s.shape().names() == std::vector<std::string>{"x", "y", "z"});
  // s[x, y, z] = a[x, y] + 10 (z + 1) + 100 y
  CHECK_VALUES(s, {11, 21, 31, 112, 122, 132, 13, 23, 33, 114, 124, 134});
}

TEST_CASE("broadcast: a scalar tensor broadcasts everywhere", "[broadcast]") {
  Tensor a = tensor({1, 2, 3, 4}, batch("b", 2) & spatial("x", 2));
  Tensor s = Tensor(0.5);
  CHECK((a * s).shape() == a.shape());
  CHECK_VALUES(a * s, {0.5, 1, 1.5, 2});
  CHECK_VALUES(s - a, {-0.5, -1.5, -2.5, -3.5});
}

TEST_CASE("broadcast: item names survive broadcasting", "[broadcast]") {
  Tensor v = tensor({1, 2}, channel("vector", {"x", "y"}));
  Tensor w = tensor({10, 20, 30}, spatial("x", 3));
  Tensor s = v * w;
  CHECK(s.shape().item_names("vector") == std::vector<std::string>{"x", "y"});
  CHECK_VALUES(s, {10, 20, 20, 40, 30, 60});
  // An unnamed dim of the same size takes the names of the other operand.
  Tensor u = tensor({5, 6}, channel("vector", 2));
  CHECK((u + v).shape().item_names("vector") == std::vector<std::string>{"x", "y"});
  CHECK_VALUES(u + v, {6, 8});
}

TEST_CASE("broadcast: comparisons and where broadcast too", "[broadcast]") {
  Tensor x = tensor({1, 2, 3}, spatial("x", 3));
  Tensor y = tensor({2, 3}, spatial("y", 2));
  Tensor lt = x < y;
  CHECK(lt.shape() == (spatial("x", 3) & spatial("y", 2)));
  CHECK(lt.to_vector() == std::vector<double>{1, 1, 0, 1, 0, 0});
  Tensor m = where(lt, x, y);  // min(x, y)
  CHECK_VALUES(m, {1, 1, 2, 2, 2, 3});
  CHECK_VALUES(minimum(x, y), {1, 1, 2, 2, 2, 3});
}

TEST_CASE("broadcast: mismatched sizes of one dim are a ShapeError naming both shapes",
          "[broadcast][errors]") {
  Tensor a = tensor({1, 2, 3}, spatial("x", 3));
  Tensor b = tensor({1, 2, 3, 4}, spatial("x", 4));
  CHECK_THROWS_MATCHES(a + b, ShapeError, message_contains({"(xˢ=3)", "(xˢ=4)", "'x'"}));
  CHECK_THROWS_MATCHES(a < b, ShapeError, message_contains({"(xˢ=3)", "(xˢ=4)"}));
  CHECK_THROWS_MATCHES(where(a > 1.0, a, b), ShapeError, message_contains({"(xˢ=3)", "(xˢ=4)"}));
  Tensor c = tensor({1, 2, 3, 4, 5, 6}, batch("b", 2) & spatial("x", 3));
  Tensor d = tensor({1, 2, 3}, batch("b", 3));
  CHECK_THROWS_MATCHES(c * d, ShapeError, message_contains({"(bᵇ=2, xˢ=3)", "(bᵇ=3)", "'b'"}));
}

TEST_CASE("broadcast: one name with two dim types is a ShapeError", "[broadcast][errors]") {
  Tensor a = tensor({1, 2}, spatial("x", 2));
  Tensor b = tensor({1, 2}, channel("x", 2));
  CHECK_THROWS_MATCHES(a + b, ShapeError, message_contains({"'x'", "spatial", "channel"}));
}
