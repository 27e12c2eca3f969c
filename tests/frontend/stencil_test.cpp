// End-to-end tests of shift, pad, laplace and spatial_gradient with every extrapolation (API §4).
#include <phijit/phijit.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "test_helpers.h"

using namespace phijit;

namespace {

struct Case {
  std::string name;
  Extrapolation e;
  std::vector<double> expected;
};

// x = (1, 2, 4) along x.
Tensor line() { return tensor({1, 2, 4}, spatial("x", 3)); }
// t[x, y] = ((1, 2, 3), (4, 5, 6)).
Tensor grid() { return tensor({1, 2, 3, 4, 5, 6}, spatial("x", 2) & spatial("y", 3)); }

}  // namespace

TEST_CASE("stencil: shift 1D by +1 with every extrapolation", "[stencil][shift]") {
  // result[i] = x[i + 1]; the last value comes from outside.
  std::vector<Case> cases = {
      {"zero", extrapolation::ZERO, {2, 4, 0}},
      {"one", extrapolation::ONE, {2, 4, 1}},
      {"periodic", extrapolation::PERIODIC, {2, 4, 1}},
      {"zero-gradient", extrapolation::ZERO_GRADIENT, {2, 4, 4}},
      {"constant(2.5)", extrapolation::constant(2.5), {2, 4, 2.5}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    Tensor s = shift(line(), "x", 1, c.e);
    CHECK(s.shape() == spatial("x", 3));
    CHECK_VALUES(s, c.expected);
  }
}

TEST_CASE("stencil: shift 1D by -1 with every extrapolation", "[stencil][shift]") {
  // result[i] = x[i - 1]; the first value comes from outside.
  std::vector<Case> cases = {
      {"zero", extrapolation::ZERO, {0, 1, 2}},
      {"one", extrapolation::ONE, {1, 1, 2}},
      {"periodic", extrapolation::PERIODIC, {4, 1, 2}},
      {"zero-gradient", extrapolation::ZERO_GRADIENT, {1, 1, 2}},
      {"constant(2.5)", extrapolation::constant(2.5), {2.5, 1, 2}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK_VALUES(shift(line(), "x", -1, c.e), c.expected);
  }
}

TEST_CASE("stencil: shift by more than one and by zero", "[stencil][shift]") {
  CHECK_VALUES(shift(line(), "x", 2, extrapolation::PERIODIC), {4, 1, 2});
  CHECK_VALUES(shift(line(), "x", -2, extrapolation::ZERO_GRADIENT), {1, 1, 1});
  CHECK_VALUES(shift(line(), "x", 2, extrapolation::ZERO), {4, 0, 0});
  CHECK_VALUES(shift(line(), "x", 4, extrapolation::PERIODIC), {2, 4, 1});  // 4 ≡ 1 (mod 3)
  CHECK_VALUES(shift(line(), "x", 5, extrapolation::constant(-1)), {-1, -1, -1});
  CHECK_VALUES(shift(line(), "x", 0, extrapolation::ZERO), {1, 2, 4});
}

TEST_CASE("stencil: shift 2D along the inner dim", "[stencil][shift]") {
  // result[i, j] = t[i, j + 1].
  std::vector<Case> cases = {
      {"zero", extrapolation::ZERO, {2, 3, 0, 5, 6, 0}},
      {"one", extrapolation::ONE, {2, 3, 1, 5, 6, 1}},
      {"periodic", extrapolation::PERIODIC, {2, 3, 1, 5, 6, 4}},
      {"zero-gradient", extrapolation::ZERO_GRADIENT, {2, 3, 3, 5, 6, 6}},
      {"constant(2.5)", extrapolation::constant(2.5), {2, 3, 2.5, 5, 6, 2.5}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    Tensor s = shift(grid(), "y", 1, c.e);
    CHECK(s.shape() == grid().shape());
    CHECK_VALUES(s, c.expected);
  }
}

TEST_CASE("stencil: shift 2D along the outer dim", "[stencil][shift]") {
  // result[i, j] = t[i - 1, j].
  std::vector<Case> cases = {
      {"zero", extrapolation::ZERO, {0, 0, 0, 1, 2, 3}},
      {"one", extrapolation::ONE, {1, 1, 1, 1, 2, 3}},
      {"periodic", extrapolation::PERIODIC, {4, 5, 6, 1, 2, 3}},
      {"zero-gradient", extrapolation::ZERO_GRADIENT, {1, 2, 3, 1, 2, 3}},
      {"constant(2.5)", extrapolation::constant(2.5), {2.5, 2.5, 2.5, 1, 2, 3}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK_VALUES(shift(grid(), "x", -1, c.e), c.expected);
  }
}

TEST_CASE("stencil: shift leaves batch and channel dims alone", "[stencil][shift]") {
  Tensor t = tensor({1, 2, 3, 10, 20, 30}, batch("b", 2) & spatial("x", 3));
  CHECK_VALUES(shift(t, "x", 1, extrapolation::PERIODIC), {2, 3, 1, 20, 30, 10});
  Tensor v = tensor({1, 10, 2, 20, 3, 30}, spatial("x", 3) & channel("c", 2));
  CHECK_VALUES(shift(v, "x", -1, extrapolation::ZERO), {0, 0, 1, 10, 2, 20});
}

TEST_CASE("stencil: shift keeps the dtype", "[stencil][shift][dtype]") {
  Tensor i = tensor({1, 2, 3}, spatial("x", 3), DType::i32);
  Tensor s = shift(i, "x", 1, extrapolation::ZERO_GRADIENT);
  CHECK(s.dtype() == DType::i32);
  CHECK(s.to_vector() == std::vector<double>{2, 3, 3});
  Tensor f = shift(tensor({0.5, 1.5}, spatial("x", 2), DType::f32), "x", 1, extrapolation::constant(2.5));
  CHECK(f.dtype() == DType::f32);
  CHECK_VALUES(f, {1.5, 2.5});
}

TEST_CASE("stencil: pad 1D with every extrapolation", "[stencil][pad]") {
  // Two values below, one above: [e(-2), e(-1), 1, 2, 4, e(3)].
  std::vector<Case> cases = {
      {"zero", extrapolation::ZERO, {0, 0, 1, 2, 4, 0}},
      {"one", extrapolation::ONE, {1, 1, 1, 2, 4, 1}},
      {"periodic", extrapolation::PERIODIC, {2, 4, 1, 2, 4, 1}},
      {"zero-gradient", extrapolation::ZERO_GRADIENT, {1, 1, 1, 2, 4, 4}},
      {"constant(2.5)", extrapolation::constant(2.5), {2.5, 2.5, 1, 2, 4, 2.5}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    Tensor p = pad(line(), {{"x", {2, 1}}}, c.e);
    CHECK(p.shape() == spatial("x", 6));
    CHECK_VALUES(p, c.expected);
  }
}

TEST_CASE("stencil: pad wider than the dim", "[stencil][pad]") {
  // Periodic wraps around more than once: e(-4) = x[2], e(-3) = x[0], e(3..5) = x[0..2].
  Tensor p = pad(line(), {{"x", {4, 3}}}, extrapolation::PERIODIC);
  CHECK(p.shape() == spatial("x", 10));
  CHECK_VALUES(p, {4, 1, 2, 4, 1, 2, 4, 1, 2, 4});
  CHECK_VALUES(pad(line(), {{"x", {0, 4}}}, extrapolation::ZERO_GRADIENT), {1, 2, 4, 4, 4, 4, 4});
  CHECK_VALUES(pad(line(), {{"x", {0, 0}}}, extrapolation::ONE), {1, 2, 4});
}

TEST_CASE("stencil: pad 2D with every extrapolation", "[stencil][pad]") {
  // One row above along x, one column after along y: result[i, j] = e(i - 1, j).
  std::vector<Case> cases = {
      {"zero", extrapolation::ZERO, {0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0}},
      {"one", extrapolation::ONE, {1, 1, 1, 1, 1, 2, 3, 1, 4, 5, 6, 1}},
      {"periodic", extrapolation::PERIODIC, {4, 5, 6, 4, 1, 2, 3, 1, 4, 5, 6, 4}},
      {"zero-gradient", extrapolation::ZERO_GRADIENT, {1, 2, 3, 3, 1, 2, 3, 3, 4, 5, 6, 6}},
      {"constant(2.5)", extrapolation::constant(2.5), {2.5, 2.5, 2.5, 2.5, 1, 2, 3, 2.5, 4, 5, 6, 2.5}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    Tensor p = pad(grid(), {{"x", {1, 0}}, {"y", {0, 1}}}, c.e);
    CHECK(p.shape() == (spatial("x", 3) & spatial("y", 4)));
    CHECK_VALUES(p, c.expected);
  }
}

TEST_CASE("stencil: pad one dim of a 2D tensor", "[stencil][pad]") {
  Tensor p = pad(grid(), {{"y", {1, 1}}}, extrapolation::ZERO_GRADIENT);
  CHECK(p.shape() == (spatial("x", 2) & spatial("y", 5)));
  CHECK_VALUES(p, {1, 1, 2, 3, 3, 4, 4, 5, 6, 6});
  Tensor q = pad(grid(), {{"x", {1, 1}}}, extrapolation::PERIODIC);
  CHECK(q.shape() == (spatial("x", 4) & spatial("y", 3)));
  CHECK_VALUES(q, {4, 5, 6, 1, 2, 3, 4, 5, 6, 1, 2, 3});
}

TEST_CASE("stencil: pad a batched tensor", "[stencil][pad]") {
  Tensor t = tensor({1, 2, 3, 4}, batch("b", 2) & spatial("x", 2));
  Tensor p = pad(t, {{"x", {1, 1}}}, extrapolation::constant(2.5));
  CHECK(p.shape() == (batch("b", 2) & spatial("x", 4)));
  CHECK_VALUES(p, {2.5, 1, 2, 2.5, 2.5, 3, 4, 2.5});
}

TEST_CASE("stencil: laplace 1D with every extrapolation", "[stencil][laplace]") {
  // x = (1, 2, 4, 8): interior (x[i+1] - 2 x[i] + x[i-1]) = 1, 2; the ends use the boundary.
  Tensor x = tensor({1, 2, 4, 8}, spatial("x", 4));
  std::vector<Case> cases = {
      {"zero", extrapolation::ZERO, {0, 1, 2, -12}},
      {"one", extrapolation::ONE, {1, 1, 2, -11}},
      {"periodic", extrapolation::PERIODIC, {8, 1, 2, -11}},
      {"zero-gradient", extrapolation::ZERO_GRADIENT, {1, 1, 2, -4}},
      {"constant(2.5)", extrapolation::constant(2.5), {2.5, 1, 2, -9.5}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    Tensor l = laplace(x, c.e);
    CHECK(l.shape() == x.shape());
    CHECK_VALUES(l, c.expected);
  }
  CHECK_VALUES(laplace(x), {0, 1, 2, -12});  // the default is ZERO
}

TEST_CASE("stencil: laplace divides by dx squared", "[stencil][laplace]") {
  Tensor x = tensor({1, 2, 4, 8}, spatial("x", 4));
  CHECK_VALUES(laplace(x, extrapolation::ZERO, 0.5), {0, 4, 8, -48});
  CHECK_VALUES(laplace(x, extrapolation::PERIODIC, 2), {2, 0.25, 0.5, -2.75});
  // A quadratic has a constant second derivative: x² on a grid of spacing h gives 2.
  double h = 0.1;
  Tensor q = linspace(0, 1, spatial("x", 11));
  Tensor lq = laplace(q * q, extrapolation::ZERO, h);
  for (int64_t i = 1; i < 10; ++i) CHECK(lq.slice("x", i).item() == Approx(2.0).epsilon(1e-9));
}

TEST_CASE("stencil: laplace 2D sums over both spatial dims", "[stencil][laplace]") {
  std::vector<Case> cases = {
      {"zero", extrapolation::ZERO, {2, 1, -4, -10, -8, -16}},
      {"one", extrapolation::ONE, {4, 2, -2, -8, -7, -14}},
      {"periodic", extrapolation::PERIODIC, {9, 6, 3, -3, -6, -9}},
      {"zero-gradient", extrapolation::ZERO_GRADIENT, {4, 3, 2, -2, -3, -4}},
      {"constant(2.5)", extrapolation::constant(2.5), {7, 3.5, 1, -5, -5.5, -11}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    Tensor l = laplace(grid(), c.e);
    CHECK(l.shape() == grid().shape());
    CHECK_VALUES(l, c.expected);
  }
  CHECK_VALUES(laplace(grid(), extrapolation::ZERO, 2), {0.5, 0.25, -1, -2.5, -2, -4});
}

TEST_CASE("stencil: laplace ignores batch and channel dims", "[stencil][laplace]") {
  Tensor t = tensor({1, 2, 4, 8, 0, 0, 1, 0}, batch("b", 2) & spatial("x", 4));
  Tensor l = laplace(t, extrapolation::ZERO);
  CHECK(l.shape() == t.shape());
  CHECK_VALUES(l, {0, 1, 2, -12, 0, 1, -2, 1});
  Tensor v = tensor({1, 8, 2, 4, 4, 2, 8, 1}, spatial("x", 4) & channel("c", 2));
  // Channel c=0 is (1, 2, 4, 8), c=1 is (8, 4, 2, 1).
  CHECK_VALUES(laplace(v, extrapolation::ZERO_GRADIENT), {1, -4, 1, 2, 2, 1, -4, 1});
}

TEST_CASE("stencil: laplace of f32 stays f32", "[stencil][laplace][dtype]") {
  Tensor x = tensor({1, 2, 4, 8}, spatial("x", 4), DType::f32);
  Tensor l = laplace(x, extrapolation::ZERO, 0.5);
  CHECK(l.dtype() == DType::f32);
  CHECK_VALUES_F32(l, {0, 4, 8, -48});
}

TEST_CASE("stencil: spatial_gradient 1D", "[stencil][gradient]") {
  Tensor x = tensor({1, 2, 4, 8}, spatial("x", 4));
  Tensor g = spatial_gradient(x);
  CHECK(g.shape() == (spatial("x", 4) & channel("gradient", std::vector<std::string>{"x"})));
  CHECK(g.shape().type("gradient") == DimType::channel);
  CHECK(g.shape().item_names("gradient") == std::vector<std::string>{"x"});
  // (x[i+1] - x[i-1]) / 2 with zeros outside.
  CHECK_VALUES(g, {1, 1.5, 3, -2});
  CHECK_VALUES(spatial_gradient(x, extrapolation::ZERO_GRADIENT, 0.5), {1, 3, 6, 4});
  CHECK_VALUES(spatial_gradient(x, extrapolation::PERIODIC), {-3, 1.5, 3, -1.5});
  CHECK_VALUES(spatial_gradient(x, extrapolation::ONE), {0.5, 1.5, 3, -1.5});
  CHECK_VALUES(spatial_gradient(x, extrapolation::constant(2.5), 2), {-0.125, 0.75, 1.5, -0.375});
  // A ramp of slope 1 has gradient 1 in the interior.
  Tensor ramp = linspace(0, 1, spatial("x", 5));
  Tensor gr = spatial_gradient(ramp, extrapolation::ZERO, 0.25);
  for (int64_t i = 1; i < 4; ++i) CHECK(gr.slice("x", i).item() == Approx(1.0).epsilon(1e-12));
}

TEST_CASE("stencil: spatial_gradient 2D has one item per spatial dim", "[stencil][gradient]") {
  Tensor g = spatial_gradient(grid());
  CHECK(g.shape().names() == std::vector<std::string>{"x", "y", "gradient"});
  CHECK(g.shape().item_names("gradient") == std::vector<std::string>{"x", "y"});
  CHECK(g.shape().size("gradient") == 2);
  // Interleaved (d/dx, d/dy) per grid point, zeros outside.
  CHECK_VALUES(g, {2, 1, 2.5, 1, 3, -1, -0.5, 2.5, -1, 1, -1.5, -2.5});
  CHECK_VALUES(g.slice("gradient", 0), {2, 2.5, 3, -0.5, -1, -1.5});
  CHECK_VALUES(g.slice("gradient", 1), {1, 1, -1, 2.5, 1, -2.5});
  Tensor p = spatial_gradient(grid(), extrapolation::PERIODIC);
  CHECK_VALUES(p.slice("gradient", 0), {0, 0, 0, 0, 0, 0});
  CHECK_VALUES(p.slice("gradient", 1), {-0.5, 1, -0.5, -0.5, 1, -0.5});
  Tensor z = spatial_gradient(grid(), extrapolation::ZERO_GRADIENT, 0.5);
  CHECK_VALUES(z.slice("gradient", 0), {3, 3, 3, 3, 3, 3});
  CHECK_VALUES(z.slice("gradient", 1), {1, 2, 1, 1, 2, 1});
}

TEST_CASE("stencil: spatial_gradient keeps batch dims", "[stencil][gradient]") {
  Tensor t = tensor({0, 1, 4, 9, 9, 4, 1, 0}, batch("b", 2) & spatial("x", 4));
  Tensor g = spatial_gradient(t, extrapolation::ZERO_GRADIENT);
  CHECK(g.shape().names() == std::vector<std::string>{"b", "x", "gradient"});
  CHECK_VALUES(g, {0.5, 2, 4, 2.5, -2.5, -4, -2, -0.5});
}

TEST_CASE("pad: negative widths crop, as in PhiML", "[pad]") {
  Tensor x = tensor({1, 2, 3, 4, 5}, spatial("x", 5));
  CHECK_VALUES(pad(x, {{"x", {-1, -2}}}, extrapolation::ZERO), {2, 3});
  CHECK_VALUES(pad(x, {{"x", {-2, 1}}}, extrapolation::ZERO_GRADIENT), {3, 4, 5, 5});
  CHECK_VALUES(pad(x, {{"x", {1, -4}}}, extrapolation::PERIODIC), {1, 1});  // the cropped tensor wraps
  CHECK_THROWS_MATCHES(pad(x, {{"x", {-3, -3}}}, extrapolation::ZERO), ShapeError,
                       message_contains({"crop 6 cells", "size 5"}));
  // Inside a trace and under gradient: the cropped cells get no gradient.
  auto loss = [](const Tensor& x) { return sum(pad(x, {{"x", {-1, 1}}}, extrapolation::ZERO) * 2.0); };
  CHECK_VALUES(gradient(loss)(x)[1], {0, 2, 2, 2, 2});
  CHECK_VALUES(jit_compile([](const Tensor& x) {
                 return pad(x, {{"x", {-1, -1}}}, extrapolation::ZERO);
               })(x),
               {2, 3, 4});
}
