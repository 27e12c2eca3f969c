// grid_sample (API §4): hand-computed values in 1D, 2D and 3D with every extrapolation, batch and
// channel dims, gradients in the grid and the coordinates against central finite differences,
// linear extraction (≤ 2^d entries per row, probed with unit vectors, its transpose the VJP),
// compiled against eager, advection by whole cells against shift, and the errors.
#include <phijit/phijit.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "frontend/tensor_data.h"
#include "ir/builder.h"
#include "linear_helpers.h"
#include "test_helpers.h"

using namespace phijit;

namespace {

const std::vector<Extrapolation> kAll = {extrapolation::ZERO, extrapolation::ONE, extrapolation::PERIODIC,
                                         extrapolation::ZERO_GRADIENT, extrapolation::constant(2.5)};

// Coordinates of n points along instance dim "p", components named `dims`.
Tensor points(std::vector<double> values, const std::vector<std::string>& dims) {
  auto n = static_cast<int64_t>(values.size() / dims.size());
  return tensor(std::move(values), instance("p", n) & channel("vector", dims));
}

// (1, 2, 4) along x.
Tensor line() { return tensor({1, 2, 4}, spatial("x", 3)); }

// The cell indices along `dim` of `s`, broadcast over s.
Tensor index_grid(const Shape& s, const std::string& dim) {
  int64_t n = s.size(dim);
  return linspace(0, static_cast<double>(n - 1), spatial(dim, n)) + zeros(s);
}

// A tensor of shape s with the values `values` changed at flat index i by `delta`.
Tensor moved(const Tensor& t, int64_t i, double delta) {
  std::vector<double> v = t.to_vector();
  v[static_cast<size_t>(i)] += delta;
  return tensor(v, t.shape());
}

// Central differences of a scalar function of (g, c) with respect to each element of argument
// `which`.
template <class F>
std::vector<double> finite_differences(F f, const Tensor& g, const Tensor& c, int which, double h = 1e-6) {
  const Tensor& x = which == 0 ? g : c;
  std::vector<double> out;
  for (int64_t i = 0; i < x.shape().volume(); ++i) {
    double up = which == 0 ? f(moved(g, i, h), c).item() : f(g, moved(c, i, h)).item();
    double down = which == 0 ? f(moved(g, i, -h), c).item() : f(g, moved(c, i, -h)).item();
    out.push_back((up - down) / (2 * h));
  }
  return out;
}

// The largest number of stored entries in one row of a sparse matrix without batch dims. Its
// dense values are in canonical dim order: the dual (column) dims before the rows.
int64_t max_row_entries(const Tensor& A) {
  int64_t cols = A.shape().dual().volume(), rows = A.shape().volume() / cols, most = 0;
  std::vector<double> d = dense(A).to_vector();
  for (int64_t r = 0; r < rows; ++r) {
    int64_t n = 0;
    for (int64_t c = 0; c < cols; ++c) n += d[static_cast<size_t>(c * rows + r)] != 0;
    most = std::max(most, n);
  }
  return most;
}

}  // namespace

TEST_CASE("grid_sample: 1D interior values interpolate linearly between cell centres", "[grid_sample]") {
  Tensor r = grid_sample(line(), points({0, 0.5, 1.25, 2}, {"x"}), extrapolation::ZERO);
  CHECK(r.shape() == instance("p", 4));
  CHECK_VALUES(r, {1, 1.5, 2.5, 4});
}

TEST_CASE("grid_sample: 1D outside both ends with every extrapolation", "[grid_sample]") {
  Tensor c = points({-1.5, -0.5, 2.5, 3.5}, {"x"});
  struct Case {
    Extrapolation e;
    std::vector<double> expected;
  };
  // x = (1, 2, 4): periodic wraps cell -1 to 2 and 3 to 0; zero-gradient clamps to the edge.
  for (const Case& k : {Case{extrapolation::ZERO, {0, 0.5, 2, 0}}, Case{extrapolation::ONE, {1, 1, 2.5, 1}},
                        Case{extrapolation::constant(2.5), {2.5, 1.75, 3.25, 2.5}},
                        Case{extrapolation::PERIODIC, {3, 2.5, 2.5, 1.5}},
                        Case{extrapolation::ZERO_GRADIENT, {1, 1, 4, 4}}}) {
    INFO(k.e.str());
    CHECK_VALUES(grid_sample(line(), c, k.e), k.expected);
  }
}

TEST_CASE("grid_sample: 2D bilinear, components in either order", "[grid_sample]") {
  Tensor g = tensor({1, 2, 3, 4, 5, 6}, spatial("x", 2) & spatial("y", 3));  // g[x][y]
  CHECK_VALUES(grid_sample(g, points({0.5, 1.5, 0.25, 0}, {"x", "y"}), extrapolation::ZERO), {4, 1.75});
  CHECK_VALUES(grid_sample(g, points({1.5, 0.5, 0, 0.25}, {"y", "x"}), extrapolation::ZERO), {4, 1.75});
  // Along one dim only: the other stays a dim of the result.
  Tensor along_y = grid_sample(g, points({0.5}, {"y"}), extrapolation::ZERO);
  CHECK(along_y.shape() == (instance("p", 1) & spatial("x", 2)));
  CHECK_VALUES(along_y, {1.5, 4.5});
  // (-0.5, 2.5): corners x ∈ {-1, 0}, y ∈ {2, 3}, each weighted 1/4.
  Tensor corner = points({-0.5, 2.5}, {"x", "y"});
  CHECK_VALUES(grid_sample(g, corner, extrapolation::ZERO), {0.75});
  CHECK_VALUES(grid_sample(g, corner, extrapolation::ONE), {1.5});
  CHECK_VALUES(grid_sample(g, corner, extrapolation::PERIODIC), {(6 + 4 + 3 + 1) / 4.0});
  CHECK_VALUES(grid_sample(g, corner, extrapolation::ZERO_GRADIENT), {3});
}

TEST_CASE("grid_sample: 3D trilinear reproduces multilinear functions", "[grid_sample]") {
  Shape s = spatial("x", 2) & spatial("y", 3) & spatial("z", 2);
  Tensor x = index_grid(s, "x"), y = index_grid(s, "y"), z = index_grid(s, "z");
  Tensor g = x * y * z + 2.0 * x - y + 3.0 * z;
  Tensor c = points({0.5, 1.5, 0.25, 1, 0, 1, 0.75, 2, 0.5}, {"x", "y", "z"});
  auto f = [](double x, double y, double z) { return x * y * z + 2 * x - y + 3 * z; };
  CHECK_VALUES(grid_sample(g, c, extrapolation::ZERO), {f(0.5, 1.5, 0.25), f(1, 0, 1), f(0.75, 2, 0.5)});
}

TEST_CASE("grid_sample: batch dims of grid and coordinates broadcast by name", "[grid_sample][batch]") {
  Tensor g = tensor({1, 2, 4, 10, 20, 40}, batch("b", 2) & spatial("x", 3));
  Tensor c = points({0.5}, {"x"});
  Tensor r = grid_sample(g, c, extrapolation::ZERO);
  CHECK(r.shape() == (batch("b", 2) & instance("p", 1)));
  CHECK_VALUES(r, {1.5, 15});
  Tensor cb =
      tensor({0.5, 1.5}, batch("b", 2) & instance("p", 1) & channel("vector", std::vector<std::string>{"x"}));
  CHECK_VALUES(grid_sample(line(), cb, extrapolation::ZERO), {1.5, 3});
  CHECK_VALUES(grid_sample(g, cb, extrapolation::ZERO), {1.5, 30});
  Tensor c3 = zeros(batch("b", 3) & instance("p", 1) & channel("vector", std::vector<std::string>{"x"}));
  CHECK_THROWS_MATCHES(grid_sample(g, c3, extrapolation::ZERO), ShapeError,
                       message_contains({"grid_sample", "bᵇ=2", "bᵇ=3"}));
}

TEST_CASE("grid_sample: a grid's channel dims are carried through, also one named vector",
          "[grid_sample][channel]") {
  Tensor c = points({0.5, 2}, {"x"});
  Tensor rgb = tensor({1, 10, 2, 20, 4, 40}, spatial("x", 3) & channel("c", 2));
  Tensor r = grid_sample(rgb, c, extrapolation::ZERO);
  CHECK(r.shape() == (instance("p", 2) & channel("c", 2)));
  CHECK_VALUES(r, {1.5, 15, 4, 40});
  // A velocity field's own "vector" dim is not the coordinates' one.
  Tensor v =
      tensor({1, 10, 2, 20, 4, 40}, spatial("x", 3) & channel("vector", std::vector<std::string>{"u", "w"}));
  Tensor rv = grid_sample(v, c, extrapolation::PERIODIC);
  CHECK(rv.shape() == (instance("p", 2) & channel("vector", std::vector<std::string>{"u", "w"})));
  CHECK_VALUES(rv, {1.5, 15, 4, 40});
  CHECK_VALUES(jit_compile([](const Tensor& v, const Tensor& c) {
                 return grid_sample(v, c, extrapolation::PERIODIC);
               })(v, c),
               {1.5, 15, 4, 40});
}

TEST_CASE("grid_sample: integer inputs are converted to float; unnamed components take the spatial dims",
          "[grid_sample]") {
  Tensor g = tensor({1, 2, 4}, spatial("x", 3), DType::i32);
  Tensor r = grid_sample(g, points({0.5}, {"x"}), extrapolation::ZERO);
  CHECK(r.dtype() == DType::f64);
  CHECK_VALUES(r, {1.5});
  Tensor g2 = tensor({1, 2, 3, 4, 5, 6}, spatial("x", 2) & spatial("y", 3));
  Tensor unnamed = tensor({0.5, 1.5}, instance("p", 1) & channel("vector", 2));
  CHECK_VALUES(grid_sample(g2, unnamed, extrapolation::ZERO), {4});
  Tensor f32 =
      grid_sample(line().astype(DType::f32), points({0.5}, {"x"}).astype(DType::f32), extrapolation::ONE);
  CHECK(f32.dtype() == DType::f32);
  CHECK_VALUES_F32(f32, {1.5});
}

TEST_CASE("grid_sample: errors name the op and the shapes", "[grid_sample][errors]") {
  Tensor g = tensor({1, 2, 3, 4, 5, 6}, spatial("x", 2) & spatial("y", 3));
  CHECK_THROWS_MATCHES(grid_sample(g, zeros(instance("p", 2)), extrapolation::ZERO), ShapeError,
                       message_contains({"grid_sample", "channel dim 'vector'", "(pⁱ=2)"}));
  CHECK_THROWS_MATCHES(grid_sample(g, zeros(instance("p", 2) & spatial("vector", 2)), extrapolation::ZERO),
                       ShapeError, message_contains({"grid_sample", "channel dim 'vector'"}));
  CHECK_THROWS_MATCHES(grid_sample(g, points({0, 0}, {"x", "z"}), extrapolation::ZERO), ShapeError,
                       message_contains({"grid_sample", "'z'", "not a spatial dim", "(xˢ=2, yˢ=3)"}));
  Tensor rgb = zeros(spatial("x", 3) & channel("c", 2));
  CHECK_THROWS_MATCHES(grid_sample(rgb, points({0}, {"c"}), extrapolation::ZERO), ShapeError,
                       message_contains({"'c'", "not a spatial dim"}));
  CHECK_THROWS_MATCHES(grid_sample(g, points({0, 0}, {"x", "x"}), extrapolation::ZERO), ShapeError,
                       message_contains({"grid_sample", "twice"}));
  CHECK_THROWS_MATCHES(grid_sample(g, zeros(instance("p", 1) & channel("vector", 3)), extrapolation::ZERO),
                       ShapeError,
                       message_contains({"grid_sample", "3 unnamed components", "2 spatial dims"}));
}

TEST_CASE("grid_sample: gradients in grid and coordinates match central differences",
          "[grid_sample][gradient]") {
  Shape s = batch("b", 2) & spatial("x", 4) & spatial("y", 3) & channel("c", 2);
  Tensor g = random_normal(s, 11);
  // Points inside cells (fractions in [0.1, 0.9]) and beyond every edge, away from cell faces.
  Tensor c = tensor({0.3, 0.6, 2.8, 1.2, -0.7, 1.5, 3.4, 2.7, 1.5, -1.2, 4.3, 3.6},
                    instance("p", 6) & channel("vector", std::vector<std::string>{"x", "y"}));
  Tensor w = random_normal(batch("b", 2) & instance("p", 6) & channel("c", 2), 12);
  for (const Extrapolation& e : kAll) {
    INFO(e.str());
    auto loss = [&](const Tensor& g, const Tensor& c) { return sum(w * grid_sample(g, c, e)); };
    std::vector<Tensor> grads = gradient(loss, {0, 1}, false)(g, c);
    REQUIRE(grads[0].shape() == g.shape());
    REQUIRE(grads[1].shape() == c.shape());
    auto total = [&](const Tensor& g, const Tensor& c) { return sum(loss(g, c), "b"); };
    CHECK_THAT(grads[0].to_vector(),
               Catch::Matchers::Approx(finite_differences(total, g, c, 0)).margin(1e-7));
    CHECK_THAT(grads[1].to_vector(),
               Catch::Matchers::Approx(finite_differences(total, g, c, 1)).margin(1e-7));
  }
}

TEST_CASE("grid_sample: gradient in the coordinates of a sample of a vector field",
          "[grid_sample][gradient]") {
  Tensor v =
      tensor({1, 10, 2, 20, 4, 40}, spatial("x", 3) & channel("vector", std::vector<std::string>{"u", "w"}));
  Tensor c = points({0.25, 1.5}, {"x"});
  auto loss = [&](const Tensor& c) { return sum(grid_sample(v, c, extrapolation::ZERO)); };
  // d/dc of (u + w): 11·(g[1] - g[0]) = 11 in cell 0, 22 in cell 1.
  CHECK_VALUES(gradient(loss, {0}, false)(c)[0], {11, 22});
}

TEST_CASE("grid_sample: second derivatives through the transpose", "[grid_sample][gradient]") {
  // L(g, c) = sum(grid_sample(g, c)²)/2: d/dg is the transpose of the sample; differentiating
  // that again in c goes through the transpose's coordinate rule.
  Tensor g = tensor({1, 3, 2, 5}, spatial("x", 4));
  Tensor c = points({0.25, 2.5}, {"x"});
  auto inner = [](const Tensor& g, const Tensor& c) {
    return l2_loss(grid_sample(g, c, extrapolation::ZERO_GRADIENT));
  };
  auto mixed = [&](const Tensor& g, const Tensor& c) {
    return sum(gradient(inner, {0}, false)(g, c)[0] * tensor({1, -1, 2, 0.5}, spatial("x", 4)));
  };
  std::vector<Tensor> d = gradient(mixed, {1}, false)(g, c);
  CHECK_THAT(d[0].to_vector(), Catch::Matchers::Approx(finite_differences(mixed, g, c, 1)).margin(1e-6));
}

TEST_CASE("grid_sample: jit_compile_linear extracts <= 2^d entries per row; probing and VJP agree",
          "[grid_sample][linear]") {
  Shape s = spatial("x", 5) & spatial("y", 4);
  Tensor c = tensor({0.5, 0.5, 3.25, 2.75, -0.5, 1, 4.5, 3.5, 2, 1, -2.5, 7.25},
                    instance("p", 6) & channel("vector", std::vector<std::string>{"x", "y"}));
  Tensor v = random_normal(instance("p", 6), 3);
  for (const Extrapolation& e : kAll) {
    INFO(e.str());
    auto eager = [&](const Tensor& x) { return grid_sample(x, c, e); };
    auto f = jit_compile_linear(eager);
    auto [A, b] = f.matrix(zeros(s));
    CHECK(A.is_sparse());
    CHECK(max_row_entries(A) <= 4);
    CHECK(nnz(A) <= 6 * 4);
    check_by_probing(eager, A, b, s);
    Tensor x = random_normal(s, 5);
    CHECK(max_abs_diff(f(x), eager(x)) < 1e-12);
    Tensor vjp = gradient([&](const Tensor& x) { return sum(v * eager(x)); }, {0}, false)(x)[0];
    CHECK(max_abs_diff(vjp, matmul(transpose(A), v)) < 1e-12);
  }
}

TEST_CASE("grid_sample: the transpose extracted by jit_compile_linear is the forward matrix transposed",
          "[grid_sample][linear]") {
  Shape s = spatial("x", 4) & spatial("y", 3);
  Tensor c = tensor({0.5, 0.5, 3.25, 2.75, -0.5, 1, 2, 1},
                    instance("p", 4) & channel("vector", std::vector<std::string>{"x", "y"}));
  for (const Extrapolation& e : kAll) {
    INFO(e.str());
    auto forward = [&](const Tensor& x) { return grid_sample(x, c, e); };
    Tensor A = matrix_from_function(forward, zeros(s)).first;
    // u ↦ ∇_x <u, forward(x)> = Aᵀ u, traced: the transpose op linearized.
    auto adjoint = [&](const Tensor& u) {
      auto inner = [&](const Tensor& x, const Tensor& u) { return sum(u * forward(x)); };
      return gradient(inner, {0}, false)(zeros(s), u)[0];
    };
    auto [At, b] = matrix_from_function(adjoint, zeros(instance("p", 4)));
    CHECK(max_abs_diff(dense(At), dense(transpose(A))) < 1e-12);
    CHECK_VALUES(b, std::vector<double>(12, 0.0));
  }
}

TEST_CASE(
    "grid_sample: the transpose op linearizes a cotangent that is the same at points the coordinates lack",
    "[grid_sample][linear]") {
  // u varies along p only, but the op's points are p × k (k: the cotangent's own dim): every
  // cell receives each of u's values twice.
  Shape grid = spatial("x", 4);
  Tensor c = points({0.5, 2.25, -0.5}, {"x"});
  auto transposed = [&](const Tensor& u) {
    Tensor along_k = u + zeros(instance("k", 2));
    return detail::apply(ir::Op::grid_sample_transpose, {along_k, c},
                         ir::attrs::grid_sample_transpose(grid, {"x"}, extrapolation::ZERO_GRADIENT));
  };
  auto [A, b] = matrix_from_function(transposed, zeros(instance("p", 3)));
  check_by_probing(transposed, A, b, instance("p", 3));
  // u = 1: cell 0 gets half of point 0 (at 0.5) and all of point 2 (clamped), twice; cell 1 the
  // other half of point 0; cells 2 and 3 share point 1 (at 2.25).
  CHECK_VALUES(transposed(ones(instance("p", 3))), {2 * (0.5 + 1), 2 * 0.5, 2 * 0.75, 2 * 0.25});
}

TEST_CASE("grid_sample: a semi-Lagrangian advection step is a sparse matrix with <= 4 entries per row",
          "[grid_sample][linear][advection]") {
  Shape s = spatial("x", 8) & spatial("y", 6);
  Tensor vx = 0.7 * cos(0.5 * index_grid(s, "y")), vy = -1.3 + 0.2 * index_grid(s, "x");
  Tensor departure = stack({index_grid(s, "x") - vx, index_grid(s, "y") - vy},
                           channel("vector", std::vector<std::string>{"x", "y"}));
  for (const Extrapolation& e :
       {extrapolation::ZERO, extrapolation::PERIODIC, extrapolation::ZERO_GRADIENT}) {
    INFO(e.str());
    auto step = [&](const Tensor& u) { return grid_sample(u, departure, e); };
    auto f = jit_compile_linear(step);
    auto [A, b] = f.matrix(zeros(s));
    CHECK(max_row_entries(A) <= 4);
    check_by_probing(step, A, b, s);
    Tensor u = random_normal(s, 9);
    CHECK(max_abs_diff(f(u), step(u)) < 1e-12);
  }
}

TEST_CASE("grid_sample: coordinates that depend on x or on an argument are not linear",
          "[grid_sample][linear]") {
  Tensor g = line();
  auto in_c = jit_compile_linear([&](const Tensor& c) { return grid_sample(g, c, extrapolation::ZERO); });
  CHECK_THROWS_MATCHES(in_c(points({0.5}, {"x"})), NotLinearError, message_contains({"grid_sample"}));
  auto by_argument = jit_compile_linear(
      [](const Tensor& g, const Tensor& c) { return grid_sample(g, c, extrapolation::ZERO); });
  CHECK_THROWS_MATCHES(by_argument(line(), points({0.5}, {"x"})), NotLinearError,
                       message_contains({"grid_sample", "coordinates", "argument"}));
}

TEST_CASE("grid_sample: compiled equals eager, fused with what surrounds it", "[grid_sample][jit]") {
  auto f = [](const Tensor& g, const Tensor& v, const Extrapolation& e) {
    Shape s = g.shape().spatial();
    Tensor c =
        stack({index_grid(s, "x").astype(v.dtype()) - 0.5 * v, index_grid(s, "y").astype(v.dtype()) + v * v},
              channel("vector", std::vector<std::string>{"x", "y"}));
    return 2.0 * grid_sample(exp(g) - 1.0, c, e) + g;
  };
  for (DType dtype : {DType::f64, DType::f32}) {
    for (const Extrapolation& e : kAll) {
      INFO(e.str() << " " << (dtype == DType::f32 ? "f32" : "f64"));
      // Small (interpreted eagerly) and large (eager ops compiled one by one).
      for (Shape s : {spatial("x", 7) & spatial("y", 5), spatial("x", 90) & spatial("y", 70)}) {
        Tensor g = random_normal(batch("b", 2) & s, 1).astype(dtype);
        Tensor v = random_uniform(s, -3, 3, 2).astype(dtype);
        Tensor eager = f(g, v, e);
        Tensor compiled = jit_compile([&](const Tensor& g, const Tensor& v) { return f(g, v, e); })(g, v);
        CHECK(compiled.dtype() == dtype);
        CHECK(max_abs_diff(compiled, eager) < (dtype == DType::f32 ? 1e-4 : 1e-12));
      }
    }
  }
}

TEST_CASE("grid_sample: advection by whole cells equals a shift", "[grid_sample][advection]") {
  Shape s = spatial("x", 6) & spatial("y", 5);
  Tensor u = random_normal(s, 4);
  Tensor back_one = stack({index_grid(s, "x") - 1.0}, channel("vector", std::vector<std::string>{"x"}));
  Tensor diagonal = stack({index_grid(s, "x") - 1.0, index_grid(s, "y") + 2.0},
                          channel("vector", std::vector<std::string>{"x", "y"}));
  for (const Extrapolation& e : kAll) {
    INFO(e.str());
    CHECK(max_abs_diff(grid_sample(u, back_one, e), shift(u, "x", -1, e)) < 1e-15);
    CHECK(max_abs_diff(grid_sample(u, diagonal, e), shift(shift(u, "x", -1, e), "y", 2, e)) < 1e-15);
  }
}
