// gradient (API §6): hand-computed gradients of elementwise ops, reductions, stencils of every
// extrapolation, layout ops, dtypes, batch dims, nesting with jit_compile, and the error paths.
#include <cmath>

#include "test_helpers.h"

using namespace phijit;

namespace {
Tensor vec(std::vector<double> v, DType dtype = DType::f64) {
  auto n = static_cast<int64_t>(v.size());
  return tensor(std::move(v), spatial("x", n), dtype);
}
std::vector<Tensor> grad_of(const auto& f, const Tensor& x) { return gradient(f, {0}, false)(x); }
}  // namespace

TEST_CASE("gradient of elementwise functions equals the hand-computed derivative") {
  Tensor x = vec({0.5, 1.0, 2.0});
  SECTION("x^2 / 2") { CHECK_VALUES(grad_of([](const Tensor& x) { return l2_loss(x); }, x)[0], {0.5, 1.0, 2.0}); }
  SECTION("exp") {
    CHECK_VALUES(grad_of([](const Tensor& x) { return sum(exp(x)); }, x)[0], {std::exp(0.5), std::exp(1.0), std::exp(2.0)});
  }
  SECTION("log, sqrt, sin, cos, tanh") {
    auto f = [](const Tensor& x) { return sum(log(x) + sqrt(x) + sin(x) + cos(x) + tanh(x)); };
    std::vector<double> want;
    for (double v : {0.5, 1.0, 2.0}) {
      double t = std::tanh(v);
      want.push_back(1 / v + 0.5 / std::sqrt(v) + std::cos(v) - std::sin(v) + 1 - t * t);
    }
    CHECK_VALUES(grad_of(f, x)[0], want);
  }
  SECTION("division by x and x / constant") {
    auto f = [](const Tensor& x) { return sum(1.0 / x + x / 4.0); };
    CHECK_VALUES(grad_of(f, x)[0], {-4 + 0.25, -1 + 0.25, -0.25 + 0.25});
  }
  SECTION("pow in base and exponent") {
    Tensor p = vec({2.0, 3.0, 0.5});
    auto g = gradient([](const Tensor& x, const Tensor& p) { return sum(pow(x, p)); }, {0, 1}, false)(x, p);
    CHECK_VALUES(g[0], {2 * 0.5, 3 * 1.0, 0.5 / std::sqrt(2.0)});
    CHECK_VALUES(g[1], {std::pow(0.5, 2) * std::log(0.5), 0.0, std::sqrt(2.0) * std::log(2.0)});
  }
}

TEST_CASE("gradient returns outputs then gradients, and one gradient per wrt index") {
  Tensor x = vec({1, 2}), y = vec({3, 4});
  auto f = [](const Tensor& x, const Tensor& y) { return std::tuple{sum(x * y), x + y}; };
  std::vector<Tensor> all = gradient(f, {1, 0})(x, y);
  REQUIRE(all.size() == 4);
  CHECK(all[0].item() == 11);
  CHECK_VALUES(all[1], {4, 6});
  CHECK_VALUES(all[2], {1, 2});  // d/dy = x
  CHECK_VALUES(all[3], {3, 4});  // d/dx = y
}

TEST_CASE("NaN safety: masked singularities give zero gradients") {
  Tensor x = vec({0.0, 4.0});
  SECTION("where(x > 0, sqrt(x), 0) at 0") {
    auto f = [](const Tensor& x) { return sum(where(x > 0, sqrt(x), 0.0)); };
    CHECK_VALUES(grad_of(f, x)[0], {0.0, 0.25});
  }
  SECTION("pow(x, 2) at 0") { CHECK_VALUES(grad_of([](const Tensor& x) { return sum(pow(x, 2.0)); }, x)[0], {0, 8}); }
  SECTION("abs at 0") { CHECK_VALUES(grad_of([](const Tensor& x) { return sum(abs(x)); }, x)[0], {0, 1}); }
  SECTION("where(x > 0, log(x), 0) at 0") {
    auto f = [](const Tensor& x) { return sum(where(x > 0, log(x), 0.0)); };
    CHECK_VALUES(grad_of(f, x)[0], {0.0, 0.25});
  }
}

TEST_CASE("maximum, minimum and max/min reductions split the cotangent among ties") {
  Tensor a = vec({1, 2, 3}), b = vec({2, 2, 1});
  auto g = gradient([](const Tensor& a, const Tensor& b) { return sum(maximum(a, b)); }, {0, 1}, false)(a, b);
  CHECK_VALUES(g[0], {0, 0.5, 1});
  CHECK_VALUES(g[1], {1, 0.5, 0});
  auto h = gradient([](const Tensor& a, const Tensor& b) { return sum(minimum(a, b)); }, {0, 1}, false)(a, b);
  CHECK_VALUES(h[0], {1, 0.5, 0});
  CHECK_VALUES(h[1], {0, 0.5, 1});
  CHECK_VALUES(grad_of([](const Tensor& x) { return max(x); }, vec({3, 1, 3, 2}))[0], {0.5, 0, 0.5, 0});
  CHECK_VALUES(grad_of([](const Tensor& x) { return min(x); }, vec({3, 1, 3, 2}))[0], {0, 1, 0, 0});
}

TEST_CASE("stencil adjoints for every extrapolation and offsets of one and two") {
  Tensor x = vec({1, 2, 3, 4, 5});
  auto shift_grad = [&](int64_t offset, const Extrapolation& e) {
    return grad_of([=](const Tensor& x) { return sum(shift(x, "x", offset, e)); }, x)[0];
  };
  CHECK_VALUES(shift_grad(1, extrapolation::ZERO_GRADIENT), {0, 1, 1, 1, 2});
  CHECK_VALUES(shift_grad(-1, extrapolation::ZERO_GRADIENT), {2, 1, 1, 1, 0});
  CHECK_VALUES(shift_grad(2, extrapolation::ZERO_GRADIENT), {0, 0, 1, 1, 3});
  CHECK_VALUES(shift_grad(-2, extrapolation::ZERO_GRADIENT), {3, 1, 1, 0, 0});
  CHECK_VALUES(shift_grad(1, extrapolation::ZERO), {0, 1, 1, 1, 1});
  CHECK_VALUES(shift_grad(-2, extrapolation::ONE), {1, 1, 1, 0, 0});
  CHECK_VALUES(shift_grad(2, extrapolation::constant(3)), {0, 0, 1, 1, 1});
  CHECK_VALUES(shift_grad(1, extrapolation::PERIODIC), {1, 1, 1, 1, 1});
  // A weighted sum tells where each cell went: sum(w * shift(x, +1)) = sum_i w_i x_{i+1}.
  Tensor w = vec({1, 10, 100, 1000, 10000});
  auto weighted = [&](int64_t offset, const Extrapolation& e) {
    return grad_of([=](const Tensor& x) { return sum(w * shift(x, "x", offset, e)); }, x)[0];
  };
  CHECK_VALUES(weighted(1, extrapolation::PERIODIC), {10000, 1, 10, 100, 1000});
  CHECK_VALUES(weighted(-2, extrapolation::PERIODIC), {100, 1000, 10000, 1, 10});
  CHECK_VALUES(weighted(2, extrapolation::ZERO_GRADIENT), {0, 0, 1, 10, 11100});
  CHECK_VALUES(weighted(-1, extrapolation::ZERO_GRADIENT), {11, 100, 1000, 10000, 0});
  CHECK_VALUES(weighted(-1, extrapolation::ZERO), {10, 100, 1000, 10000, 0});
}

TEST_CASE("pad adjoints for every extrapolation") {
  Tensor x = vec({1, 2, 3});
  Tensor w = vec({1, 10, 100, 1000, 10000, 100000});  // pad (2, 1) makes 6 cells
  auto pad_grad = [&](const Extrapolation& e) {
    return grad_of([=](const Tensor& x) { return sum(w * pad(x, {{"x", {2, 1}}}, e)); }, x)[0];
  };
  CHECK_VALUES(pad_grad(extrapolation::ZERO), {100, 1000, 10000});
  CHECK_VALUES(pad_grad(extrapolation::ONE), {100, 1000, 10000});
  CHECK_VALUES(pad_grad(extrapolation::ZERO_GRADIENT), {111, 1000, 110000});
  // periodic: cells read x[1], x[2], x[0], x[1], x[2], x[0]
  CHECK_VALUES(pad_grad(extrapolation::PERIODIC), {100 + 100000, 1 + 1000, 10 + 10000});
}

TEST_CASE("laplace and spatial_gradient adjoints in 2D equal the extracted matrix transposed") {
  Shape s = spatial("x", 5) & spatial("y", 4);
  Tensor u = random_normal(s, 3), v = random_normal(s, 4);
  Tensor vg = random_normal(s & channel("gradient", std::vector<std::string>{"x", "y"}), 5);
  for (const Extrapolation& e : {extrapolation::ZERO, extrapolation::ONE, extrapolation::PERIODIC,
                                 extrapolation::ZERO_GRADIENT}) {
    INFO(e.str());
    // <v, L u + b> is affine in u: its gradient is Lᵀ v.
    auto lap = [&](const Tensor& u) { return laplace(u, e, 0.5); };
    Tensor g = grad_of([&](const Tensor& u) { return sum(v * lap(u)); }, u)[0];
    REQUIRE(g.shape() == u.shape());
    CHECK_THAT(g.to_vector(), Catch::Matchers::Approx(matmul(transpose(matrix_from_function(lap, u).first), v).to_vector()).epsilon(1e-12));
    auto grad_op = [&](const Tensor& u) { return spatial_gradient(u, e); };
    Tensor h = grad_of([&](const Tensor& u) { return sum(vg * grad_op(u)); }, u)[0];
    CHECK_THAT(h.to_vector(), Catch::Matchers::Approx(matmul(transpose(matrix_from_function(grad_op, u).first), vg).to_vector()).epsilon(1e-12));
  }
}
