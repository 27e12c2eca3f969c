// Tensors constant along dims store their values once (issue 12): every result is checked
// against hand-computed values and against the same computation on a dense equivalent (a tensor
// whose values are all written out), with identical shapes and dtypes; the stored volume shows
// that nothing was expanded.
#include <phijit/phijit.h>

#include <catch2/catch.hpp>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "frontend/tensor_data.h"
#include "test_helpers.h"

using namespace phijit;
using detail::stored_volume;

namespace {

// `value` at every index of `shape`, written out (no collapsed tensor involved).
Tensor dense_full(const Shape& shape, double value, DType dtype = DType::f64) {
  return tensor(std::vector<double>(static_cast<size_t>(shape.volume()), value), shape, dtype);
}

// t with all its values written out into a new dense tensor.
Tensor written_out(const Tensor& t) { return tensor(t.to_vector(), t.shape(), t.dtype()); }

std::vector<std::string> stored_names(const Tensor& t) { return detail::stored_shape(t).names(); }

// The same shape, dtype and values (to ~1e-12 relative).
void check_same(const Tensor& got, const Tensor& want) {
  REQUIRE(got.shape() == want.shape());
  CHECK(got.shape().names() == want.shape().names());
  CHECK(got.dtype() == want.dtype());
  CHECK_THAT(got.to_vector(), Catch::Matchers::Approx(want.to_vector()).epsilon(1e-12).margin(1e-12));
}

std::string printed(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

const Shape kHuge = spatial("x", 40000) & spatial("y", 30000);  // 1.2e9 values: 9.6 GB as f64

}  // namespace

TEST_CASE("collapsed: full, zeros and ones store one value and read as their whole shape", "[collapsed]") {
  Shape s = spatial("x", 2) & channel("c", std::vector<std::string>{"a", "b", "c"});
  Tensor t = full(s, 2.5);
  CHECK(stored_volume(t) == 1);
  CHECK(t.shape() == s);
  CHECK(t.dtype() == DType::f64);
  CHECK_VALUES(t, {2.5, 2.5, 2.5, 2.5, 2.5, 2.5});
  CHECK(stored_volume(zeros(s)) == 1);
  CHECK_VALUES(zeros(s, DType::i32), {0, 0, 0, 0, 0, 0});
  CHECK(zeros(s, DType::i32).dtype() == DType::i32);
  CHECK_VALUES(ones(s, DType::boolean), {1, 1, 1, 1, 1, 1});
  CHECK(ones_like(tensor({1, 2}, batch("b", 2), DType::f32)).dtype() == DType::f32);
  CHECK(stored_volume(zeros_like(tensor({1, 2}, batch("b", 2)))) == 1);
  CHECK(full(spatial("x", 1) & spatial("y", 1), 7).item() == 7);
  CHECK_THROWS_AS(full(s, 1).item(), ShapeError);
  // A scalar and an empty tensor are ordinary dense ones.
  CHECK(full(Shape(), 3).item() == 3);
  Tensor empty = zeros(spatial("x", 0) & spatial("y", 4));
  CHECK(stored_volume(empty) == 0);
  CHECK(empty.to_vector().empty());
}

TEST_CASE("collapsed: sum of 1.2e9 ones is exact without a buffer of that size", "[collapsed]") {
  Tensor big = ones(kHuge);
  CHECK(stored_volume(big) == 1);
  Tensor s = sum(big);
  CHECK(s.dtype() == DType::f64);
  CHECK(s.item() == 1.2e9);
  CHECK(mean(big).item() == 1);
  CHECK(max(big).item() == 1);
  CHECK(min(big).item() == 1);
  Tensor t = ones(kHuge) * 3 + 1;
  CHECK(stored_volume(t) == 1);
  CHECK(sum(t).item() == 4.8e9);
  Tensor along_x = sum(t, "x");  // 4 · 40000 at every y
  CHECK(along_x.shape() == spatial("y", 30000));
  CHECK(stored_volume(along_x) == 1);
  CHECK(along_x.slice("y", 12345).item() == 160000);
  // Integers sum to int64, booleans too, float32 stays float32 (1.2e9 is exact in all three).
  Tensor si = sum(ones(kHuge, DType::i32));
  CHECK(si.dtype() == DType::i64);
  CHECK(si.item() == 1200000000);
  Tensor sb = sum(ones(kHuge) > 0.5);
  CHECK(sb.dtype() == DType::i64);
  CHECK(sb.item() == 1200000000);
  Tensor sf = sum(ones(kHuge, DType::f32));
  CHECK(sf.dtype() == DType::f32);
  CHECK(sf.item() == 1.2e9);
  CHECK(printed(big) == "(xˢ=40000, yˢ=30000) 1.000 ± 0.000 (1e+00...1e+00)");
}

TEST_CASE("collapsed: a result stores the union of its operands' stored dims", "[collapsed]") {
  Tensor r = random_normal(spatial("y", 5), 3);
  Tensor a = zeros(spatial("x", 4)) + r;
  CHECK(a.shape().names() == std::vector<std::string>{"x", "y"});
  CHECK(stored_names(a) == std::vector<std::string>{"y"});
  check_same(a, dense_full(spatial("x", 4), 0) + r);
  // Stored dims follow the result's dim order whatever the operand order.
  Tensor y = tensor({10, 20, 30}, spatial("y", 3));
  Tensor c = ones(spatial("x", 2) & spatial("y", 3));
  Tensor cy = c * y;
  CHECK(cy.shape().names() == std::vector<std::string>{"x", "y"});
  CHECK_VALUES(cy, {10, 20, 30, 10, 20, 30});
  Tensor yc = y * c;  // y first: (y, x)
  CHECK(yc.shape().names() == std::vector<std::string>{"y", "x"});
  CHECK(stored_names(yc) == std::vector<std::string>{"y"});
  CHECK_VALUES(yc, {10, 10, 20, 20, 30, 30});
  // Three dims, two of them stored, met in the order (z, x): stored as (x, z).
  Shape xyz = spatial("x", 2) & spatial("y", 3) & spatial("z", 2);
  Tensor z = tensor({1, 2}, spatial("z", 2)), x = tensor({100, 200}, spatial("x", 2));
  Tensor t = ones(xyz) * z + x;
  CHECK(stored_names(t) == std::vector<std::string>{"x", "z"});
  CHECK_VALUES(t, {101, 102, 101, 102, 101, 102, 201, 202, 201, 202, 201, 202});
  check_same(t, dense_full(xyz, 1) * z + x);
  // With a dense tensor of every dim, the result is dense.
  Tensor d = random_uniform(xyz, -1, 1, 7);
  Tensor td = t - d;
  CHECK(stored_volume(td) == 12);
  check_same(td, written_out(t) - d);
  // Reductions of that tensor against the dense path.
  Tensor dt = written_out(t);
  for (const char* dims : {"x", "y", "z", "x,y", "y,z", "x,z", "x,y,z", "z,x"}) {
    INFO(dims);
    check_same(sum(t, dims), sum(dt, dims));
    check_same(mean(t, dims), mean(dt, dims));
    check_same(max(t, dims), max(dt, dims));
    check_same(min(t, dims), min(dt, dims));
  }
  CHECK(stored_names(sum(t, "y")) == std::vector<std::string>{"x", "z"});
  CHECK(stored_names(max(t, "x")) == std::vector<std::string>{"z"});
  CHECK_VALUES(sum(t, "y"), {303, 306, 603, 606});
  CHECK_VALUES(min(t, "x,y"), {101, 102});
}

TEST_CASE("collapsed: every dtype gives the dense path's values and dtypes", "[collapsed]") {
  Shape s = batch("b", 2) & spatial("x", 3) & channel("c", 2);
  for (DType dtype : {DType::f64, DType::f32, DType::i32, DType::i64, DType::boolean}) {
    INFO(dtype_name(dtype));
    Tensor c = full(s, 1, dtype), d = dense_full(s, 1, dtype);
    std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> ops = {
        {"sum", [](const Tensor& t) { return sum(t); }},
        {"sum x", [](const Tensor& t) { return sum(t, "x"); }},
        {"sum b,c", [](const Tensor& t) { return sum(t, "b,c"); }},
        {"mean", [](const Tensor& t) { return mean(t); }},
        {"max x", [](const Tensor& t) { return max(t, "x"); }},
        {"min", [](const Tensor& t) { return min(t); }},
        {"+ 1", [](const Tensor& t) { return t + 1.0; }},
        {"* 2", [](const Tensor& t) { return t * 2.0; }},
        {"neg", [](const Tensor& t) { return -t; }},
        {"== 1", [](const Tensor& t) { return t == 1.0; }},
        {"exp", [](const Tensor& t) { return exp(t); }},
        {"where", [](const Tensor& t) { return where(t > 0.5, t, 5.0); }},
        {"as i32", [](const Tensor& t) { return t.astype(DType::i32); }},
        {"as f32", [](const Tensor& t) { return t.astype(DType::f32); }},
        {"l2_loss", [](const Tensor& t) { return l2_loss(t); }},
    };
    for (const auto& [name, op] : ops) {
      INFO(name);
      Tensor got = op(c);
      check_same(got, op(d));
      CHECK(stored_volume(got) == 1);
    }
  }
}

TEST_CASE("collapsed: slicing along an unstored dim changes the shape alone", "[collapsed]") {
  Tensor y = tensor({1, 2, 3}, spatial("y", 3));
  Tensor t = ones(spatial("x", 4) & spatial("y", 3)) * y;  // stores y
  Tensor a = t.slice("x", 1, 3);
  CHECK(a.shape() == (spatial("x", 2) & spatial("y", 3)));
  CHECK(stored_volume(a) == 3);
  CHECK_VALUES(a, {1, 2, 3, 1, 2, 3});
  Tensor b = t.slice("x", 2);
  CHECK(b.shape() == spatial("y", 3));
  CHECK_VALUES(b, {1, 2, 3});
  Tensor c = t.slice("y", 1, 3);  // along the stored dim
  CHECK(stored_volume(c) == 2);
  CHECK_VALUES(c, {2, 3, 2, 3, 2, 3, 2, 3});
  Tensor d = t.slice("y", -1);
  CHECK(d.shape() == spatial("x", 4));
  CHECK(stored_volume(d) == 1);
  CHECK_VALUES(d, {3, 3, 3, 3});
  CHECK(t.slice("x", 0).slice("y", 1).item() == 2);
  // Item names of a sliced channel dim carry over as in the dense path.
  Shape ch = channel("v", std::vector<std::string>{"a", "b", "c"}) & spatial("x", 2);
  check_same(ones(ch).slice("v", 1, 3), dense_full(ch, 1).slice("v", 1, 3));
  CHECK(ones(ch).slice("v", 1, 3).shape().item_names("v") == std::vector<std::string>{"b", "c"});
  CHECK_THROWS_AS(t.slice("x", 4), ShapeError);
}

TEST_CASE("collapsed: an empty slice of an unstored dim reduces like an empty dense tensor", "[collapsed]") {
  Tensor t = ones(spatial("x", 5) & spatial("y", 2)).slice("x", 2, 2);
  CHECK(t.shape() == (spatial("x", 0) & spatial("y", 2)));
  CHECK(t.to_vector().empty());
  CHECK_VALUES(sum(t, "x"), {0, 0});
  CHECK_THROWS_AS(max(t, "x"), ShapeError);
  CHECK(max(t, "y").shape() == spatial("x", 0));
}

TEST_CASE("collapsed: printing gives the dense tensor's text", "[collapsed]") {
  Shape small = spatial("x", 2) & spatial("y", 3);
  CHECK(printed(full(small, 2)) == printed(dense_full(small, 2)));
  CHECK(printed(full(small, 2)) == "(2.000, 2.000, 2.000, 2.000, 2.000, 2.000) (xˢ=2, yˢ=3)");
  Shape large = spatial("x", 20) & spatial("y", 30);
  Tensor y = tensor(std::vector<double>(30, 0.0), spatial("y", 30)) + linspace(0, 1, spatial("y", 30));
  CHECK(printed(ones(large) * y) == printed(dense_full(large, 1) * y));
  CHECK(printed(ones(large, DType::i32)) == "(xˢ=20, yˢ=30) int32 1.000 ± 0.000 (1e+00...1e+00)");
  Tensor half = (ones(large) * linspace(0, 1, spatial("x", 20))) > 0.5;
  CHECK(printed(half) == printed(dense_full(large, 1) * linspace(0, 1, spatial("x", 20)) > 0.5));
  CHECK(printed(half) == "(xˢ=20, yˢ=30) bool 300 / 600 true");
  CHECK(printed(zeros(Shape())) == "0.000");
}

TEST_CASE("collapsed: shift, pad, concat, stack and rename see every value", "[collapsed]") {
  Shape s = spatial("x", 4) & spatial("y", 3);
  Tensor y = tensor({1, 2, 3}, spatial("y", 3));
  Tensor c = ones(s) * y, d = dense_full(s, 1) * y;  // c stores y
  for (const Extrapolation& e :
       {extrapolation::ZERO, extrapolation::ONE, extrapolation::PERIODIC, extrapolation::ZERO_GRADIENT}) {
    INFO(e.str());
    check_same(shift(c, "x", 1, e), shift(d, "x", 1, e));
    check_same(shift(c, "y", -1, e), shift(d, "y", -1, e));
    check_same(pad(c, {{"x", {1, 2}}}, e), pad(d, {{"x", {1, 2}}}, e));
    check_same(pad(c, {{"y", {0, 1}}}, e), pad(d, {{"y", {0, 1}}}, e));
    check_same(laplace(c, e), laplace(d, e));
    check_same(spatial_gradient(c, e), spatial_gradient(d, e));
  }
  // Along a stored dim the result stays constant along the others; along x it is not.
  CHECK(stored_volume(shift(c, "y", 1, extrapolation::ZERO)) == 3);
  CHECK_VALUES(shift(c, "x", 1, extrapolation::ZERO), {1, 2, 3, 1, 2, 3, 1, 2, 3, 0, 0, 0});
  check_same(concat({c, ones(spatial("x", 1) & spatial("y", 3))}, "x"),
             concat({d, dense_full(spatial("x", 1) & spatial("y", 3), 1)}, "x"));
  CHECK_VALUES(concat({ones(spatial("x", 2)), tensor({5, 6, 7}, spatial("x", 3))}, "x"), {1, 1, 5, 6, 7});
  // A batch dim only one operand has is broadcast to the other.
  CHECK_VALUES(concat({ones(batch("b", 2) & spatial("x", 1)), tensor({5}, spatial("x", 1))}, "x"),
               {1, 5, 1, 5});
  check_same(stack({c, zeros(s)}, batch("b", 2)), stack({d, dense_full(s, 0)}, batch("b", 2)));
  CHECK_VALUES(stack({ones(spatial("x", 2)), tensor({3, 4}, spatial("x", 2))}, channel("k", 2)),
               {1, 3, 1, 4});
  // Renaming stored and unstored dims.
  Tensor rx = rename_dims(c, {{"x", instance("i", 4)}});
  CHECK(stored_volume(rx) == 3);
  check_same(rx, rename_dims(d, {{"x", instance("i", 4)}}));
  Tensor ry = rename_dims(c, {{"y", channel("v", 3)}, {"x", batch("b", 4)}});
  CHECK(ry.shape().names() == std::vector<std::string>{"b", "v"});
  CHECK(stored_names(ry) == std::vector<std::string>{"v"});
  check_same(ry, rename_dims(d, {{"y", channel("v", 3)}, {"x", batch("b", 4)}}));
  // Swapping names: x ↔ y (both spatial) keeps the stored dim's values with its new name.
  Tensor sw = rename_dims(c, {{"x", spatial("y", 4)}, {"y", spatial("x", 3)}});
  check_same(sw, rename_dims(d, {{"x", spatial("y", 4)}, {"y", spatial("x", 3)}}));
  CHECK(stored_names(sw) == std::vector<std::string>{"x"});
  // dot and dense matmul (rename, product, sum) on collapsed operands.
  Tensor w = tensor({1, -1, 2, 0.5}, spatial("x", 4));
  check_same(dot(c, "x", w, "x"), dot(d, "x", w, "x"));
  CHECK_VALUES(dot(c, "x", w, "x"), {2.5, 5, 7.5});
  Tensor A = ones(channel("r", 2) & dual("x", 4));
  check_same(matmul(A, w), matmul(dense_full(A.shape(), 1), w));
  CHECK_VALUES(matmul(A, w), {2.5, 2.5});
}

TEST_CASE("collapsed: a sparse matrix multiplies a collapsed vector", "[collapsed]") {
  auto f = [](const Tensor& x) { return 2.0 * x - shift(x, "x", 1, extrapolation::ZERO); };
  auto [A, b] = matrix_from_function(f, zeros(spatial("x", 5)));
  REQUIRE(A.is_sparse());
  CHECK_VALUES(b, {0, 0, 0, 0, 0});
  check_same(matmul(A, ones(spatial("x", 5))), matmul(A, dense_full(spatial("x", 5), 1)));
  CHECK_VALUES(matmul(A, ones(spatial("x", 5))), {1, 1, 1, 1, 2});
  // A batch of vectors constant along the batch.
  Tensor xb = ones(batch("b", 2) & spatial("x", 5));
  CHECK_VALUES(matmul(A, xb), {1, 1, 1, 1, 2, 1, 1, 1, 1, 2});
}

TEST_CASE("collapsed: jit_compile arguments and captured constants", "[collapsed]") {
  Shape s = spatial("x", 3) & spatial("y", 4);
  Tensor y = tensor({1, 2, 3, 4}, spatial("y", 4));
  auto f = jit_compile([](const Tensor& a, const Tensor& b) { return a * 2.0 + b; });
  check_same(f(ones(s), y), dense_full(s, 2) + y);
  check_same(f(ones(s) * y, zeros(spatial("y", 4))), dense_full(s, 1) * y * 2.0);  // same key
  CHECK(f.trace_count() == 1);
  // A captured constant stored along x of a (y, x) shape: its graph constant is broadcast and
  // reordered into the tensor's dim order.
  Tensor cx = ones(spatial("y", 4) & spatial("x", 3)) * tensor({1, 2, 3}, spatial("x", 3));
  CHECK(stored_names(cx) == std::vector<std::string>{"x"});
  auto g = jit_compile([cx](const Tensor& a) { return a * cx; });
  Tensor a = random_normal(s, 5);
  check_same(g(a), a * written_out(cx));
  auto h = jit_compile([](const Tensor& a) { return sum(a * full(a.shape(), 0.5)) + ones(a.shape()); });
  Tensor ha = h(a);
  CHECK(ha.shape() == s);
  CHECK_VALUES(ha, std::vector<double>(12, sum(a).item() * 0.5 + 1));
  // Booleans and integers as captured collapsed constants.
  Tensor mask = ones(s, DType::boolean);
  Tensor ints = full(s, 3, DType::i32);
  auto k = jit_compile([mask, ints](const Tensor& a) { return where(mask, a, 0.0) + ints; });
  check_same(k(a), a + 3.0);
}

TEST_CASE("collapsed: jit_compile_linear with collapsed arguments and captures", "[collapsed]") {
  Shape s = spatial("x", 5);
  Tensor kc = full(s, 2.0);
  auto f = jit_compile_linear(
      [](const Tensor& x, const Tensor& k) { return x - k * shift(x, "x", 1, extrapolation::ZERO); });
  Tensor x = tensor({1, 2, 3, 4, 5}, s);
  Tensor want = x - dense_full(s, 2) * shift(x, "x", 1, extrapolation::ZERO);
  CHECK_VALUES(want, {-3, -4, -5, -6, 5});
  check_same(f(x, kc), want);
  check_same(f(x, kc), want);  // the matrix of these argument values, reused
  check_same(f(ones(s), kc),
             ones(s) - dense_full(s, 2) * shift(dense_full(s, 1), "x", 1, extrapolation::ZERO));
  auto [A, b] = matrix_from_function([kc](const Tensor& x) { return kc * x + 1.0; }, zeros(s));
  check_same(dense(A), 2.0 * dense(matrix_from_function([](const Tensor& x) { return x; }, zeros(s)).first));
  CHECK_VALUES(b, {1, 1, 1, 1, 1});
}

TEST_CASE("collapsed: gradients of and through collapsed tensors", "[collapsed]") {
  Shape s = spatial("x", 3) & spatial("y", 2);
  Tensor c = ones(s) * tensor({2, -1}, spatial("y", 2));
  auto g = gradient([c](const Tensor& x) { return sum(x * c); }, {0}, false);
  check_same(g(random_normal(s, 1))[0], written_out(c));
  // The point of differentiation itself collapsed: ∇ l2_loss(x) = x.
  auto h = gradient([](const Tensor& x) { return l2_loss(x); }, {0}, true);
  std::vector<Tensor> out = h(full(s, 3.0));
  CHECK(out[0].item() == 27);  // 6 · 9 / 2
  check_same(out[1], dense_full(s, 3));
}

TEST_CASE("collapsed: solve_linear with collapsed x0 and y", "[collapsed]") {
  Shape s = spatial("x", 5);
  auto f = [](const Tensor& x) { return 2.0 * x - 0.5 * shift(x, "x", 1, extrapolation::ZERO); };
  Solve solve;
  solve.method = "biCG-stab";
  solve.rel_tol = solve.abs_tol = 1e-12;
  solve.x0 = zeros(s);
  Tensor y = ones(s);
  Tensor x = solve_linear(f, y, solve);
  // Back substitution from the end: x4 = 1/2, x_i = (1 + x_{i+1}/2) / 2.
  std::vector<double> want(5);
  want[4] = 0.5;
  for (int i = 3; i >= 0; --i) want[static_cast<size_t>(i)] = (1 + want[static_cast<size_t>(i) + 1] / 2) / 2;
  CHECK_VALUES(x, want);
  check_same(x, solve_linear(f, dense_full(s, 1), solve));
  // y constant along a batch dim: independent systems with one answer.
  Tensor xb = solve_linear(f, ones(batch("b", 2) & s), solve);
  CHECK(xb.shape() == (batch("b", 2) & s));
  CHECK_VALUES(xb.slice("b", 1), want);
  // The same solve traced, with a captured collapsed y.
  auto traced = jit_compile([f, solve](const Tensor& scale) {
    Tensor yc = ones(spatial("x", 5)) * scale;
    return solve_linear(f, yc, solve);
  });
  Tensor x3 = traced(Tensor(3.0));
  std::vector<double> want3;
  for (double v : want) want3.push_back(3 * v);
  CHECK_VALUES(x3, want3);
}

TEST_CASE("collapsed: solve_linear with a batch of equal dense matrices stored once", "[collapsed]") {
  Tensor A0 = tensor({2, 1, 1, 3}, spatial("x", 2) & dual("x", 2));
  Tensor A = A0 + zeros(batch("b", 2));  // stores (x, ~x)
  CHECK(stored_volume(A) == 4);
  Tensor y = tensor({1, 2, 3, 4}, batch("b", 2) & spatial("x", 2));
  for (const char* method : {"direct", "CG"}) {
    INFO(method);
    Solve solve;
    solve.method = method;
    solve.rel_tol = solve.abs_tol = 1e-12;
    solve.x0 = zeros(spatial("x", 2));
    // [[2, 1], [1, 3]]⁻¹ = [[3, -1], [-1, 2]] / 5
    CHECK_VALUES(solve_linear(A, y, solve), {0.2, 0.6, 1, 1});
  }
}

TEST_CASE("collapsed: expanded values are made once and checked against the target layout", "[collapsed]") {
  Tensor t = ones(spatial("x", 3) & spatial("y", 2)) * tensor({1, 2}, spatial("y", 2));
  runtime::BufferPtr a = detail::dense_buffer(t), b = detail::dense_buffer(t);
  CHECK(a == b);
  REQUIRE(a->count() == 6);
  CHECK(a->get_real(5) == 2);
  // A layout lacking an unstored dim is refused, as for a dense tensor.
  CHECK_THROWS_AS(detail::values_in_order(t, spatial("y", 2).dims()), ShapeError);
  runtime::BufferPtr yx = detail::values_in_order(t, (spatial("y", 2) & spatial("x", 3)).dims());
  CHECK(yx->get_real(0) == 1);
  CHECK(yx->get_real(3) == 2);
}
