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
  SECTION("x^2 / 2") {
    CHECK_VALUES(grad_of([](const Tensor& x) { return l2_loss(x); }, x)[0], {0.5, 1.0, 2.0});
  }
  SECTION("exp") {
    CHECK_VALUES(grad_of([](const Tensor& x) { return sum(exp(x)); }, x)[0],
                 {std::exp(0.5), std::exp(1.0), std::exp(2.0)});
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
  SECTION("pow(x, 2) at 0") {
    CHECK_VALUES(grad_of([](const Tensor& x) { return sum(pow(x, 2.0)); }, x)[0], {0, 8});
  }
  SECTION("abs at 0") {
    CHECK_VALUES(grad_of([](const Tensor& x) { return sum(abs(x)); }, x)[0], {0, 1});
  }
  SECTION("where(x < 100, exp(x), 0) where exp overflows") {
    auto f = [](const Tensor& x) { return sum(where(x < 100.0, exp(x), 0.0)); };
    CHECK_VALUES(grad_of(f, vec({1000.0, 1.0}))[0], {0.0, std::exp(1.0)});
  }
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

TEST_CASE("shift adjoints for every extrapolation and offsets ±1, ±2 against a hand-written scatter") {
  // result[i] = x[i + k] read with the extrapolation's rule, written out here by hand.
  auto source = [](int64_t i, int64_t n, const Extrapolation& e) -> int64_t {
    if (i >= 0 && i < n) return i;
    if (e == extrapolation::PERIODIC) return ((i % n) + n) % n;
    if (e == extrapolation::ZERO_GRADIENT) return i < 0 ? 0 : n - 1;
    return -1;  // a constant: no gradient
  };
  const std::vector<double> w = {1, 10, 100, 1000, 10000};
  Tensor x = vec({1, 2, 3, 4, 5}), wt = vec(w);
  for (const Extrapolation& e : {extrapolation::ZERO, extrapolation::ONE, extrapolation::constant(-2.5),
                                 extrapolation::PERIODIC, extrapolation::ZERO_GRADIENT}) {
    for (int64_t k : {-2, -1, 1, 2}) {
      INFO(e.str() << " offset " << k);
      std::vector<double> want(5, 0.0);
      for (int64_t i = 0; i < 5; ++i) {
        int64_t j = source(i + k, 5, e);
        if (j >= 0) want[static_cast<size_t>(j)] += w[static_cast<size_t>(i)];
      }
      CHECK_VALUES(grad_of([&](const Tensor& x) { return sum(wt * shift(x, "x", k, e)); }, x)[0], want);
    }
  }
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
  for (const Extrapolation& e :
       {extrapolation::ZERO, extrapolation::ONE, extrapolation::PERIODIC, extrapolation::ZERO_GRADIENT}) {
    INFO(e.str());
    // <v, L u + b> is affine in u: its gradient is Lᵀ v.
    auto lap = [&](const Tensor& u) { return laplace(u, e, 0.5); };
    Tensor g = grad_of([&](const Tensor& u) { return sum(v * lap(u)); }, u)[0];
    REQUIRE(g.shape() == u.shape());
    CHECK_THAT(g.to_vector(),
               Catch::Matchers::Approx(matmul(transpose(matrix_from_function(lap, u).first), v).to_vector())
                   .epsilon(1e-12));
    auto grad_op = [&](const Tensor& u) { return spatial_gradient(u, e); };
    Tensor h = grad_of([&](const Tensor& u) { return sum(vg * grad_op(u)); }, u)[0];
    CHECK_THAT(h.to_vector(), Catch::Matchers::Approx(
                                  matmul(transpose(matrix_from_function(grad_op, u).first), vg).to_vector())
                                  .epsilon(1e-12));
  }
}

TEST_CASE("gradient sums over batch dims and unbroadcasts arguments") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, batch("b", 2) & spatial("x", 3));
  Tensor w = tensor({1, 10, 100}, spatial("x", 3));
  auto f = [](const Tensor& x, const Tensor& w) { return sum(x * x * w); };  // one loss per batch entry
  std::vector<Tensor> out = gradient(f, {0, 1})(x, w);
  CHECK(out[0].shape() == batch("b", 2));
  CHECK_VALUES(out[0], {1 + 40 + 900, 16 + 250 + 3600});
  CHECK(out[1].shape() == x.shape());
  CHECK_VALUES(out[1], {2, 40, 600, 8, 100, 1200});
  CHECK(out[2].shape() == w.shape());  // w lacks b: summed over it
  CHECK_VALUES(out[2], {1 + 16, 4 + 25, 9 + 36});
  SECTION("a scalar argument broadcast over x gets the sum") {
    auto g = gradient([](const Tensor& x, const Tensor& s) { return sum(x * s); }, {1}, false);
    Tensor s = tensor({2}, Shape());
    Tensor gs = g(x, s)[0];
    CHECK(gs.shape() == Shape());
    CHECK(gs.item() == 21);
  }
}

TEST_CASE("gradient keeps the argument's dim order, item names and dtype") {
  Tensor x = random_normal(
      spatial("y", 3) & spatial("x", 4) & channel("vector", std::vector<std::string>{"a", "b"}), 1);
  auto f = [](const Tensor& x) { return sum(sum(x, "y") * 2.0) + sum(x.slice("vector", 1)); };
  Tensor g = gradient(f, {0}, false)(x)[0];
  CHECK(g.shape() == x.shape());
  std::vector<double> want;
  for (int i = 0; i < 12; ++i) want.insert(want.end(), {2.0, 3.0});
  CHECK_VALUES(g, want);
  SECTION("f32 in, f32 out") {
    Tensor x32 = x.astype(DType::f32);
    Tensor g32 = gradient(f, {0}, false)(x32)[0];
    CHECK(g32.dtype() == DType::f32);
    CHECK_VALUES_F32(g32, want);
  }
  SECTION("an f32 argument of an f64 function") {
    Tensor x32 = x.astype(DType::f32);
    auto h = [](const Tensor& x) { return sum(x.astype(DType::f64) * x.astype(DType::f64)); };
    Tensor g32 = gradient(h, {0}, false)(x32)[0];
    CHECK(g32.dtype() == DType::f32);
    std::vector<double> twice;
    for (double v : x32.to_vector()) twice.push_back(2 * v);
    CHECK_VALUES_F32(g32, twice);
  }
}

TEST_CASE("gradient of layout ops: slice, concat, stack, rename, expand") {
  Tensor x = vec({1, 2, 3, 4});
  Tensor w = tensor({1, 10, 100}, spatial("x", 3));
  auto f = [&](const Tensor& x) {
    Tensor parts = concat({x.slice("x", 2, 4), x.slice("x", 0, 1)}, "x");  // x2 x3 x0
    Tensor stacked = stack({x, x * 2.0}, channel("c", 2));
    Tensor renamed = rename_dims(x, {{"x", spatial("z", 4)}});
    return sum(parts * w) + sum(stacked) + sum(renamed * renamed) + x.slice("x", 3) * 5.0;
  };
  // parts: d/dx = (100, 0, 1, 10); stacked: 3; renamed: 2x; slice(3): 5 at index 3
  CHECK_VALUES(grad_of(f, x)[0], {100 + 3 + 2, 0 + 3 + 4, 1 + 3 + 6, 10 + 3 + 8 + 5});
}

TEST_CASE("gradient works inside jit_compile, around jit_compile functions, and captures tensors") {
  Tensor x = vec({1, 2, 3});
  auto loss = [](const Tensor& x) { return sum(x * x * x); };  // 3x²
  SECTION("inside jit_compile: one compiled program") {
    auto step = jit_compile([&](const Tensor& x) { return x - 0.1 * gradient(loss, {0}, false)(x)[0]; });
    CHECK_VALUES(step(x), {1 - 0.3, 2 - 1.2, 3 - 2.7});
    CHECK_VALUES(step(x * 2.0), {2 - 1.2, 4 - 4.8, 6 - 10.8});
    CHECK(step.trace_count() == 1);
  }
  SECTION("around a jit_compile function") {
    auto cube = jit_compile([](const Tensor& x) { return x * x * x; });
    auto g = gradient([&](const Tensor& x) { return sum(cube(x)); }, {0}, false);
    CHECK_VALUES(g(x)[0], {3, 12, 27});
    CHECK_VALUES(g(x)[0], {3, 12, 27});
    CHECK(g.trace_count() == 1);
  }
  SECTION("a loss that captures a tracer of the enclosing jit function") {
    auto fit = jit_compile([](const Tensor& x, const Tensor& target) {
      auto l = [&](const Tensor& y) { return l2_loss(y - target); };
      return gradient(l, {0}, false)(x)[0];
    });
    CHECK_VALUES(fit(x, vec({0, 0, 1})), {1, 2, 2});
    CHECK_VALUES(fit(x, vec({1, 1, 1})), {0, 1, 2});
  }
}

TEST_CASE("a gradient of a gradient gives Hessian-vector products") {
  Tensor x = vec({0.5, 1.0, 2.0}), v = vec({1, -1, 2});
  // f = sum(sin(x) * x); f' = cos x · x + sin x; f'' = −sin x · x + 2 cos x
  auto f = [](const Tensor& x) { return sum(sin(x) * x); };
  auto hvp = gradient(
      [&](const Tensor& x, const Tensor& v) { return sum(gradient(f, {0}, false)(x)[0] * v); }, {0}, false);
  std::vector<double> want;
  std::vector<double> xs = x.to_vector(), vs = v.to_vector();
  for (size_t i = 0; i < 3; ++i) want.push_back((-std::sin(xs[i]) * xs[i] + 2 * std::cos(xs[i])) * vs[i]);
  CHECK_VALUES(hvp(x, v)[0], want);
  SECTION("of a stencil: the Hessian of ½|laplace u|² is LᵀL") {
    Tensor u = random_normal(spatial("x", 6), 2), w = random_normal(spatial("x", 6), 3);
    auto energy = [](const Tensor& u) { return l2_loss(laplace(u, extrapolation::ZERO_GRADIENT)); };
    auto hv = gradient(
        [&](const Tensor& u, const Tensor& w) { return sum(gradient(energy, {0}, false)(u)[0] * w); }, {0},
        false);
    auto lap = [](const Tensor& u) { return laplace(u, extrapolation::ZERO_GRADIENT); };
    Tensor L = matrix_from_function(lap, u).first;
    Tensor want_hv = matmul(transpose(L), rename_dims(matmul(L, w), {}));
    CHECK_THAT(hv(u, w)[0].to_vector(), Catch::Matchers::Approx(want_hv.to_vector()).epsilon(1e-12));
  }
}

TEST_CASE("gradient errors say what was expected") {
  Tensor x = vec({1, 2});
  auto f = [](const Tensor& x) { return sum(x * x); };
  CHECK_THROWS_MATCHES(gradient([](const Tensor& x) { return x * x; })(x), ShapeError,
                       message_contains({"one scalar per batch entry", "(xˢ=2)"}));
  CHECK_THROWS_MATCHES(gradient(f, {1})(x), Error, message_contains({"wrt index 1", "1 arguments"}));
  CHECK_THROWS_MATCHES(gradient(f, {-1})(x), Error, message_contains({"wrt index -1"}));
  CHECK_THROWS_MATCHES(gradient([](const Tensor& x, double s) { return sum(x * s); }, {1})(x, 2.0), Error,
                       message_contains({"wrt index 1", "not a Tensor"}));
  CHECK_THROWS_MATCHES(gradient(f)(x.astype(DType::i32)), Error,
                       message_contains({"argument 0", "int32", "float"}));
  CHECK_THROWS_MATCHES(gradient([](const Tensor& x) { return sum(x > 0.0); })(x), Error,
                       message_contains({"first output", "float"}));
  CHECK_THROWS_MATCHES(gradient([](const Tensor&) { return std::vector<Tensor>{}; })(x), Error,
                       message_contains({"returns nothing"}));
  SECTION("a sparse matrix in wrt") {
    Tensor S = matrix_from_function([](const Tensor& x) { return 2.0 * x; }, x).first;
    auto h = [](const Tensor& S, const Tensor& x) { return sum(matmul(S, x)); };
    CHECK_THROWS_MATCHES(gradient(h, {0})(S, x), Error, message_contains({"argument 0", "sparse"}));
  }
  SECTION("solve_linear under gradient and jit_compile: x = y / 2, dx/dy = 1/2") {
    auto solve = [](const Tensor& y) {
      return sum(
          solve_linear([](const Tensor& v) { return 2.0 * v; }, y,
                       Solve{.method = "CG", .rel_tol = 1e-12, .abs_tol = 1e-12, .x0 = zeros(y.shape())}));
    };
    CHECK_VALUES(gradient(solve)(x)[1], {0.5, 0.5});
    CHECK_VALUES(jit_compile(solve)(x), {1.5});
  }
}

namespace {
// One explicit step of u += 0.1·laplace(u) − 0.01·u³ with zero-gradient boundaries, by hand.
constexpr int kNx = 8, kNy = 6;
int clamp_index(int i, int n) { return i < 0 ? 0 : i >= n ? n - 1 : i; }
std::vector<double> hand_laplace(const std::vector<double>& u, bool transposed) {
  std::vector<double> out(u.size(), 0.0);
  for (int i = 0; i < kNx; ++i) {
    for (int j = 0; j < kNy; ++j) {
      int at = i * kNy + j;
      int neighbours[4] = {clamp_index(i + 1, kNx) * kNy + j, clamp_index(i - 1, kNx) * kNy + j,
                           i * kNy + clamp_index(j + 1, kNy), i * kNy + clamp_index(j - 1, kNy)};
      for (int n : neighbours) {
        if (transposed) {
          out[static_cast<size_t>(n)] += u[static_cast<size_t>(at)];  // row `at` reads n
        } else {
          out[static_cast<size_t>(at)] += u[static_cast<size_t>(n)];
        }
      }
      out[static_cast<size_t>(at)] -= 4 * u[static_cast<size_t>(at)];
    }
  }
  return out;
}
}  // namespace

TEST_CASE("a 100-step heat rollout's gradient equals a hand-written adjoint loop") {
  constexpr int kSteps = 100;
  Tensor u0 = random_normal(spatial("x", kNx) & spatial("y", kNy), 7);
  auto step = [](const Tensor& u) {
    return u + 0.1 * laplace(u, extrapolation::ZERO_GRADIENT) - 0.01 * u * u * u;
  };
  auto loss = [&](const Tensor& u) {
    Tensor v = u;
    for (int k = 0; k < kSteps; ++k) v = step(v);
    return l2_loss(v);
  };
  // Forward by hand, keeping every state; then the adjoint backwards.
  std::vector<std::vector<double>> states{u0.to_vector()};
  for (int k = 0; k < kSteps; ++k) {
    const std::vector<double>& u = states.back();
    std::vector<double> lap = hand_laplace(u, false), next(u.size());
    for (size_t i = 0; i < u.size(); ++i) next[i] = u[i] + 0.1 * lap[i] - 0.01 * u[i] * u[i] * u[i];
    states.push_back(std::move(next));
  }
  std::vector<double> lambda = states.back();  // d(½|u|²)/du
  for (int k = kSteps - 1; k >= 0; --k) {
    const std::vector<double>& u = states[static_cast<size_t>(k)];
    std::vector<double> lap_t = hand_laplace(lambda, true);
    for (size_t i = 0; i < u.size(); ++i) lambda[i] += 0.1 * lap_t[i] - 0.03 * u[i] * u[i] * lambda[i];
  }
  std::vector<Tensor> eager = gradient(loss)(u0);
  double want_loss = 0;
  for (double v : states.back()) want_loss += v * v / 2;
  CHECK(eager[0].item() == Approx(want_loss).epsilon(1e-12));
  CHECK_THAT(eager[1].to_vector(), Catch::Matchers::Approx(lambda).epsilon(1e-11));
  auto compiled = jit_compile([&](const Tensor& u) { return gradient(loss, {0}, false)(u)[0]; });
  CHECK_THAT(compiled(u0).to_vector(), Catch::Matchers::Approx(lambda).epsilon(1e-11));
}
