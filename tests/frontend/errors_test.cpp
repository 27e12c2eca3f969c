// The error suite of the eager tensor API: bad input raises the documented exception type with a
// message that says what was expected and names the dims and shapes involved.
#include <phijit/phijit.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "test_helpers.h"

using namespace phijit;

static_assert(std::is_base_of_v<Error, ShapeError>);
static_assert(std::is_base_of_v<Error, NotLinearError>);
static_assert(std::is_base_of_v<std::runtime_error, Error>);

TEST_CASE("errors: tensor() with a wrong value count", "[errors]") {
  CHECK_THROWS_MATCHES(tensor({1, 2}, spatial("x", 3)), ShapeError,
                       message_contains({"(xˢ=3)", "3 values", "got 2"}));
  CHECK_THROWS_MATCHES(tensor({1, 2, 3, 4, 5}, batch("b", 2) & spatial("x", 2)), ShapeError,
                       message_contains({"(bᵇ=2, xˢ=2)", "4 values", "got 5"}));
  CHECK_THROWS_AS(tensor({}, spatial("x", 1)), Error);
}

TEST_CASE("errors: unknown dims in reductions", "[errors][reduce]") {
  Tensor t = tensor({1, 2, 3}, spatial("x", 3));
  CHECK_THROWS_MATCHES(sum(t, "z"), ShapeError, message_contains({"'z'", "(xˢ=3)"}));
  CHECK_THROWS_MATCHES(sum(t, "x,z"), ShapeError, message_contains({"'z'", "(xˢ=3)"}));
  CHECK_THROWS_MATCHES(mean(t, "y"), ShapeError, message_contains({"'y'", "(xˢ=3)"}));
  CHECK_THROWS_MATCHES(max(t, spatial("q", 3)), ShapeError, message_contains({"'q'", "(xˢ=3)"}));
  CHECK_THROWS_MATCHES(min(t, "w"), ShapeError, message_contains({"'w'"}));
  CHECK_THROWS_AS(sum(t, "x,,x"), ShapeError);
  CHECK_THROWS_AS(sum(t, ""), ShapeError);
}

TEST_CASE("errors: unknown dims in slice", "[errors][slice]") {
  Tensor t = tensor({1, 2, 3}, spatial("x", 3));
  CHECK_THROWS_MATCHES(t.slice("z", 0), ShapeError, message_contains({"'z'", "(xˢ=3)"}));
  CHECK_THROWS_MATCHES(t.slice("z", 0, 1), ShapeError, message_contains({"'z'", "(xˢ=3)"}));
}

TEST_CASE("errors: slice indices out of range", "[errors][slice]") {
  Tensor t = tensor({1, 2, 3}, spatial("x", 3));
  CHECK_THROWS_MATCHES(t.slice("x", 3), ShapeError, message_contains({"3", "'x'", "size 3"}));
  CHECK_THROWS_MATCHES(t.slice("x", 5), ShapeError, message_contains({"5", "'x'", "size 3"}));
  CHECK_THROWS_MATCHES(t.slice("x", -4), ShapeError, message_contains({"-4", "'x'", "size 3"}));
  CHECK_THROWS_MATCHES(t.slice("x", 0, 4), ShapeError, message_contains({"4", "'x'", "size 3"}));
  CHECK_THROWS_MATCHES(t.slice("x", 2, 1), ShapeError, message_contains({"'x'"}));
}

TEST_CASE("errors: unknown dims in shift and pad", "[errors][stencil]") {
  Tensor t = tensor({1, 2, 3}, spatial("x", 3));
  CHECK_THROWS_MATCHES(shift(t, "y", 1, extrapolation::ZERO), ShapeError,
                       message_contains({"shift", "'y'", "(xˢ=3)"}));
  CHECK_THROWS_MATCHES(pad(t, {{"y", {1, 1}}}, extrapolation::PERIODIC), ShapeError,
                       message_contains({"pad", "'y'", "(xˢ=3)"}));
  CHECK_THROWS_MATCHES(pad(t, {{"x", {1, 1}}, {"y", {1, 1}}}, extrapolation::ZERO), ShapeError,
                       message_contains({"'y'"}));
  // Negative widths crop (PhiML); cropping more than the dim holds, or a missing dim, is an error.
  CHECK_THROWS_MATCHES(pad(t, {{"x", {-2, -2}}}, extrapolation::ZERO), ShapeError,
                       message_contains({"'x'", "(-2, -2)", "size 3"}));
  CHECK_THROWS_MATCHES(pad(t, {{"y", {-1, 0}}}, extrapolation::ZERO), ShapeError,
                       message_contains({"pad", "'y'", "(xˢ=3)"}));
}

TEST_CASE("errors: non-constant extrapolation of an empty dim", "[errors][stencil]") {
  Tensor e = zeros(spatial("x", 0));
  CHECK_THROWS_MATCHES(shift(e, "x", 1, extrapolation::PERIODIC), ShapeError,
                       message_contains({"periodic", "'x'"}));
  CHECK_THROWS_MATCHES(pad(e, {{"x", {1, 1}}}, extrapolation::ZERO_GRADIENT), ShapeError,
                       message_contains({"zero-gradient", "'x'"}));
  // A constant needs no values to read: padding an empty dim with zeros works.
  CHECK(pad(e, {{"x", {1, 1}}}, extrapolation::ZERO).to_vector() == std::vector<double>{0, 0});
}

TEST_CASE("errors: stencils need spatial dims", "[errors][stencil]") {
  Tensor v = tensor({1, 2}, channel("c", 2));
  CHECK_THROWS_MATCHES(laplace(v), ShapeError, message_contains({"laplace", "spatial", "(cᶜ=2)"}));
  CHECK_THROWS_MATCHES(spatial_gradient(v), ShapeError, message_contains({"spatial_gradient", "(cᶜ=2)"}));
}

TEST_CASE("errors: broadcasting mismatched sizes names both shapes", "[errors][broadcast]") {
  Tensor a = tensor({1, 2, 3}, spatial("x", 3) & batch("b", 1));
  Tensor b = tensor({1, 2}, spatial("x", 2));
  CHECK_THROWS_MATCHES(a * b, ShapeError, message_contains({"(bᵇ=1, xˢ=3)", "(xˢ=2)", "'x'"}));
  CHECK_THROWS_MATCHES(b - a, ShapeError, message_contains({"(bᵇ=1, xˢ=3)", "(xˢ=2)"}));
  CHECK_THROWS_MATCHES(maximum(a, b), ShapeError, message_contains({"(bᵇ=1, xˢ=3)", "(xˢ=2)"}));
  Tensor c = a;
  CHECK_THROWS_AS(c += b, ShapeError);
  CHECK(c.shape() == a.shape());  // a failed compound assignment leaves the operand alone
}

TEST_CASE("errors: item() of a non-scalar", "[errors]") {
  Tensor t = tensor({1, 2, 3}, spatial("x", 3));
  CHECK_THROWS_MATCHES(t.item(), ShapeError, message_contains({"item", "(xˢ=3)"}));
  CHECK_THROWS_MATCHES(sum(tensor({1, 2}, batch("b", 2))).item(), ShapeError, message_contains({"(bᵇ=2)"}));
  CHECK_THROWS_AS(zeros(spatial("x", 0)).item(), ShapeError);
}

TEST_CASE("errors: matmul with a missing or mismatched dim", "[errors][matrix]") {
  Tensor A = tensor({1, 2, 3, 4}, channel("row", 2) & dual("col", 2));
  CHECK_THROWS_MATCHES(matmul(A, tensor({1, 2}, channel("other", 2))), ShapeError,
                       message_contains({"~col", "'col'", "(otherᶜ=2)"}));
  CHECK_THROWS_MATCHES(matmul(A, tensor({1, 2, 3}, channel("col", 3))), ShapeError,
                       message_contains({"~col", "(colᶜ=3)", "2", "3"}));
  // A matrix needs dual dims.
  CHECK_THROWS_MATCHES(matmul(tensor({1, 2}, channel("row", 2)), tensor({1, 2}, channel("row", 2))),
                       ShapeError, message_contains({"dual", "(rowᶜ=2)"}));
}

TEST_CASE("errors: dot with mismatched dims", "[errors][reduce]") {
  Tensor a = tensor({1, 2, 3}, spatial("x", 3));
  Tensor b = tensor({1, 2}, spatial("y", 2));
  CHECK_THROWS_MATCHES(dot(a, "x", b, "y"), ShapeError, message_contains({"'x'", "'y'", "3", "2"}));
  CHECK_THROWS_MATCHES(dot(a, "z", b, "y"), ShapeError, message_contains({"'z'"}));
  CHECK_THROWS_AS(dot(a, "x", b, "y,y"), ShapeError);
}

TEST_CASE("errors: stack with a wrong new-dim size", "[errors][stack]") {
  Tensor a = tensor({1, 2}, spatial("x", 2));
  CHECK_THROWS_MATCHES(stack({a, a}, channel("c", 3)), ShapeError,
                       message_contains({"(cᶜ=3)", "3", "2 tensors"}));
  CHECK_THROWS_MATCHES(stack({a, a, a}, channel("vector", {"x", "y"})), ShapeError,
                       message_contains({"vector", "2", "3 tensors"}));
  CHECK_THROWS_MATCHES(stack({a, a}, spatial("x", 2)), ShapeError, message_contains({"'x'", "already"}));
  CHECK_THROWS_AS(stack({}, channel("c", 0)), ShapeError);
  CHECK_THROWS_MATCHES(stack({a, tensor({1, 2, 3}, spatial("x", 3))}, channel("c", 2)), ShapeError,
                       message_contains({"'x'", "(xˢ=2)", "(xˢ=3)"}));
}

TEST_CASE("errors: concat with mismatched operands", "[errors][concat]") {
  Tensor a = tensor({1, 2}, spatial("x", 2));
  CHECK_THROWS_MATCHES(concat({a, a}, "y"), ShapeError, message_contains({"'y'"}));
  Tensor b = tensor({1, 2, 3, 4}, spatial("x", 2) & spatial("y", 2));
  Tensor c = tensor({1, 2, 3}, spatial("x", 1) & spatial("y", 3));
  CHECK_THROWS_MATCHES(concat({b, c}, "x"), ShapeError,
                       message_contains({"'x'", "(xˢ=2, yˢ=2)", "(xˢ=1, yˢ=3)"}));
  CHECK_THROWS_AS(concat({}, "x"), ShapeError);
}

TEST_CASE("errors: conflicting shapes and bad shape arguments", "[errors][shape]") {
  CHECK_THROWS_MATCHES(spatial("x", 2) & spatial("x", 3), ShapeError, message_contains({"'x'", "2", "3"}));
  CHECK_THROWS_MATCHES(linspace(0, 1, spatial("x", 2) & spatial("y", 2)), ShapeError,
                       message_contains({"linspace", "(xˢ=2, yˢ=2)"}));
  CHECK_THROWS_MATCHES(spatial("x", 2).size("y"), ShapeError, message_contains({"'y'", "(xˢ=2)"}));
}

TEST_CASE("errors: clip with bounds in the wrong order", "[errors][math]") {
  CHECK_THROWS_MATCHES(clip(tensor({1}, spatial("x", 1)), 2, 1), Error, message_contains({"2", "1"}));
}

TEST_CASE("errors: using an empty default-constructed Tensor", "[errors]") {
  Tensor e;
  Tensor t = tensor({1, 2}, spatial("x", 2));
  CHECK_THROWS_MATCHES(e.shape(), Error, message_contains({"empty"}));
  CHECK_THROWS_MATCHES(e.dtype(), Error, message_contains({"empty"}));
  CHECK_THROWS_MATCHES(e.item(), Error, message_contains({"empty"}));
  CHECK_THROWS_MATCHES(e.to_vector(), Error, message_contains({"empty"}));
  CHECK_THROWS_MATCHES(e.slice("x", 0), Error, message_contains({"empty"}));
  CHECK_THROWS_MATCHES(e.astype(DType::f32), Error, message_contains({"empty"}));
  CHECK_THROWS_MATCHES(e + t, Error, message_contains({"empty"}));
  CHECK_THROWS_MATCHES(t * e, Error, message_contains({"empty"}));
  CHECK_THROWS_MATCHES(-e, Error, message_contains({"empty"}));
  CHECK_THROWS_MATCHES(exp(e), Error, message_contains({"empty"}));
  CHECK_THROWS_MATCHES(sum(e), Error, message_contains({"empty"}));
  CHECK_THROWS_MATCHES(zeros_like(e), Error, message_contains({"empty"}));
  CHECK_THROWS_MATCHES(stack({t, e}, channel("c", 2)), Error, message_contains({"empty"}));
  CHECK_THROWS_MATCHES(shift(e, "x", 1, extrapolation::ZERO), Error, message_contains({"empty"}));
  CHECK_THROWS_MATCHES(matmul(e, t), Error, message_contains({"empty"}));
}

TEST_CASE("errors: every error is catchable as phijit::Error", "[errors]") {
  Tensor t = tensor({1, 2, 3}, spatial("x", 3));
  CHECK_THROWS_AS(t.item(), Error);
  CHECK_THROWS_AS(sum(t, "q"), Error);
  CHECK_THROWS_AS(t + tensor({1, 2}, spatial("x", 2)), Error);
  CHECK_THROWS_AS(tensor({1}, spatial("x", 2)), Error);
  CHECK_THROWS_AS(t.slice("x", 9), Error);
  CHECK_THROWS_AS(shift(t, "q", 1, extrapolation::ONE), Error);
  CHECK_THROWS_AS(Tensor().shape(), Error);
  CHECK_THROWS_AS(t.item(), std::runtime_error);
}

TEST_CASE("errors: tensors whose element or byte count overflows int64", "[errors][sizes]") {
  constexpr int64_t k2to61 = int64_t{1} << 61;
  // 2^61 doubles are 2^64 bytes: the byte count wrapped to 0 and the fill overran the heap. A
  // full tensor stores its one value (issue 12); the count is checked where every value is needed.
  Tensor huge = full(spatial("x", k2to61), 1.0);
  CHECK(sum(huge).item() == 0x1p61);
  CHECK_THROWS_MATCHES(huge.to_vector(), ShapeError,
                       message_contains({"(xˢ=2305843009213693952)", "float64", "byte count"}));
  CHECK_THROWS_MATCHES(
      shift(ones(batch("b", 2) & spatial("x", k2to61), DType::f32), "x", 1, extrapolation::ZERO), ShapeError,
      message_contains({"(bᵇ=2, xˢ=2305843009213693952)", "float32", "byte count"}));
  CHECK_THROWS_MATCHES(random_normal(spatial("x", k2to61)), ShapeError,
                       message_contains({"(xˢ=2305843009213693952)", "byte count"}));
  CHECK_THROWS_MATCHES(random_uniform(spatial("x", k2to61)), ShapeError,
                       message_contains({"(xˢ=2305843009213693952)", "byte count"}));
  CHECK_THROWS_MATCHES(linspace(0, 1, spatial("x", k2to61)), ShapeError,
                       message_contains({"(xˢ=2305843009213693952)", "byte count"}));
  // The volume 2^64 wrapped to 0, so zeros() "succeeded" and summed to 0.
  CHECK_THROWS_MATCHES(zeros(spatial("x", int64_t{1} << 32) & spatial("y", int64_t{1} << 32)), ShapeError,
                       message_contains({"(xˢ=4294967296, yˢ=4294967296)", "too large", "int64"}));
  CHECK_THROWS_MATCHES(tensor({1, 2}, instance("i", int64_t{1} << 62) & channel("c", 4)), ShapeError,
                       message_contains({"(iⁱ=4611686018427387904, cᶜ=4)", "too large"}));
}

TEST_CASE("errors: tensors larger than memory are an Error, not std::bad_alloc", "[errors][sizes]") {
  // 2^60 bytes: more than any x86-64 address space, whatever the overcommit setting.
  // zeros and full store one value (issue 12): their values are allocated when all are needed.
  CHECK_THROWS_MATCHES(
      zeros(spatial("x", int64_t{1} << 57)).to_vector(), Error,
      message_contains({"Out of memory", "(xˢ=144115188075855872)", "float64", "1152921504606846976 bytes"}));
  Tensor flags = full(batch("b", 8) & spatial("x", int64_t{1} << 57), 2.0, DType::boolean);
  CHECK_THROWS_MATCHES(concat({flags, flags}, "x"), Error,
                       message_contains({"Out of memory", "(bᵇ=8, xˢ=144115188075855872)", "bool"}));
  CHECK_THROWS_MATCHES(random_normal(spatial("x", int64_t{1} << 57)), Error,
                       message_contains({"Out of memory", "(xˢ=144115188075855872)", "float64"}));
}

TEST_CASE("errors: negative sizes", "[errors][sizes]") {
  CHECK_THROWS_MATCHES(zeros(spatial("x", -3)), ShapeError, message_contains({"'x'", ">= 0", "-3"}));
  CHECK_THROWS_MATCHES(ones(batch("b", 2) & channel("c", -1)), ShapeError, message_contains({"'c'", "-1"}));
  CHECK_THROWS_MATCHES(linspace(0, 1, spatial("x", -1)), ShapeError, message_contains({"'x'", "-1"}));
}

TEST_CASE("errors: dim names with a comma", "[errors][shape]") {
  // sum(t, "a,b") means dims a and b, so a dim named "a,b" could never be reduced on its own.
  CHECK_THROWS_MATCHES(zeros(spatial("a,b", 3)), ShapeError, message_contains({"'a,b'", "','"}));
  CHECK_THROWS_MATCHES(batch("a,b", 3), ShapeError, message_contains({"'a,b'", "','"}));
  CHECK_THROWS_MATCHES(instance("a,b", 3), ShapeError, message_contains({"'a,b'"}));
  CHECK_THROWS_MATCHES(channel("a,b", 3), ShapeError, message_contains({"'a,b'"}));
  CHECK_THROWS_MATCHES(channel("a,b", {"u", "v"}), ShapeError, message_contains({"'a,b'"}));
  CHECK_THROWS_MATCHES(dual("a,b", 3), ShapeError, message_contains({"'~a,b'"}));
  Tensor t = ones(spatial("a", 2) & spatial("b", 3));
  CHECK_VALUES(sum(t, "a,b"), {6});  // what the name would have collided with
}

TEST_CASE("errors: solve settings no solve can run with", "[errors][solve]") {
  Tensor A = tensor({2, 0, 0, 4}, spatial("x", 2) & dual("x", 2));
  Tensor y = tensor({2, 4}, spatial("x", 2));
  auto with = [&](auto change) {
    Solve s{.x0 = zeros(spatial("x", 2))};
    change(s);
    return s;
  };
  auto adjoint = [&](auto change) {
    return with([&](Solve& s) {
      Solve g{.x0 = zeros(spatial("x", 2))};
      change(g);
      s.gradient_solve = std::make_shared<Solve>(g);
    });
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<std::pair<Solve, std::vector<std::string>>> cases{
      {with([](Solve& s) { s.max_iterations = -1; }), {"Solve::max_iterations", ">= 0", "-1"}},
      {with([](Solve& s) { s.rel_tol = -1e-3; }), {"Solve::rel_tol", ">= 0", "-0.001"}},
      {with([&](Solve& s) { s.rel_tol = nan; }), {"Solve::rel_tol", "nan"}},
      {with([](Solve& s) { s.abs_tol = -2; }), {"Solve::abs_tol", "-2"}},
      {with([&](Solve& s) { s.abs_tol = nan; }), {"Solve::abs_tol", "nan"}},
      {adjoint([](Solve& g) { g.max_iterations = -7; }), {"Solve::gradient_solve->max_iterations", "-7"}},
      {adjoint([&](Solve& g) { g.rel_tol = nan; }), {"Solve::gradient_solve->rel_tol", "nan"}},
      {adjoint([](Solve& g) { g.abs_tol = -1; }), {"Solve::gradient_solve->abs_tol", "-1"}},
  };
  auto scale = [](const Tensor& x) { return 2 * x; };
  for (const auto& [solve, parts] : cases) {
    INFO(parts[0]);
    CHECK_THROWS_MATCHES(solve_linear(A, y, solve), Error, message_contains(parts));
    CHECK_THROWS_MATCHES(solve_linear(scale, y, solve), Error, message_contains(parts));
    // Inside a trace the solve is a node of the graph: checked when it is traced.
    auto traced = jit_compile([&](const Tensor& y) { return solve_linear(A, y, solve); });
    CHECK_THROWS_MATCHES(traced(y), Error, message_contains(parts));
  }
}
