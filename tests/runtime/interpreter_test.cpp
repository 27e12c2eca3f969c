// Unit tests of the reference interpreter (runtime/interpreter.h): every op on small graphs,
// compared with hand-computed arrays.
#include "runtime/interpreter.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include "ir/builder.h"
#include "ir/error.h"
#include "ir/graph.h"

using namespace phijit;
using Catch::Contains;
using phijit::ir::Attrs;
using phijit::ir::Graph;
using phijit::ir::Op;
using phijit::ir::Value;
using phijit::runtime::BufferPtr;
using Names = std::vector<std::string>;
using Reals = std::vector<double>;
using Ints = std::vector<int64_t>;
using Widths = std::vector<phijit::ir::attrs::PadWidth>;
namespace attrs = phijit::ir::attrs;

namespace {

BufferPtr reals(DType t, const Reals& v) {
  auto b = std::make_shared<Buffer>(t, static_cast<int64_t>(v.size()));
  for (size_t i = 0; i < v.size(); ++i) b->set_real(static_cast<int64_t>(i), v[i]);
  return b;
}
BufferPtr f64(const Reals& v) { return reals(DType::f64, v); }

BufferPtr ints(DType t, const Ints& v) {
  auto b = std::make_shared<Buffer>(t, static_cast<int64_t>(v.size()));
  for (size_t i = 0; i < v.size(); ++i) b->set_int(static_cast<int64_t>(i), v[i]);
  return b;
}

Reals real_values(const BufferPtr& b) {
  Reals out;
  for (int64_t i = 0; i < b->count(); ++i) out.push_back(b->get_real(i));
  return out;
}
Ints int_values(const BufferPtr& b) {
  Ints out;
  for (int64_t i = 0; i < b->count(); ++i) out.push_back(b->get_int(i));
  return out;
}

// Runs g and returns its outputs.
std::vector<BufferPtr> run(const Graph& g, std::vector<BufferPtr> inputs) {
  ir::verify(g);
  return runtime::interpret(g, inputs);
}

// A graph computing `op` of one input; returns the single output.
BufferPtr unary(Op op, const Shape& s, BufferPtr x, Attrs a = {}) {
  Graph g;
  Value in = g.add_input(s, x->dtype());
  g.add_output(g.add(op, {in}, std::move(a)));
  return run(g, {std::move(x)}).at(0);
}

// The result dtype and shape of the one output of a graph computing `op` of one input.
ir::ValueType unary_type(Op op, const Shape& s, DType t, Attrs a = {}) {
  Graph g;
  Value in = g.add_input(s, t);
  return g.type(g.add(op, {in}, std::move(a)));
}

bool same_reals(const Reals& a, const Reals& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    bool both_nan = std::isnan(a[i]) && std::isnan(b[i]);
    if (!both_nan && a[i] != b[i]) return false;
  }
  return true;
}

constexpr double kPi = std::numbers::pi;
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kI32Min = std::numeric_limits<int32_t>::min();

}  // namespace

TEST_CASE("binary float ops", "[interpreter]") {
  Shape s = spatial("x", 4);
  Graph g;
  Value x = g.add_input(s, DType::f64);
  Value y = g.add_input(s, DType::f64);
  for (Op op : {Op::add, Op::sub, Op::mul, Op::div, Op::minimum, Op::maximum, Op::lt, Op::le, Op::gt, Op::ge,
                Op::eq, Op::ne}) {
    g.add_output(g.add(op, {x, y}));
  }
  auto out = run(g, {f64({-1.5, 0, 2, 4}), f64({2, -3, 0.5, 4})});
  REQUIRE(out.size() == 12);
  CHECK(real_values(out[0]) == Reals{0.5, -3, 2.5, 8});
  CHECK(real_values(out[1]) == Reals{-3.5, 3, 1.5, 0});
  CHECK(real_values(out[2]) == Reals{-3, 0, 1, 16});
  CHECK(real_values(out[3]) == Reals{-0.75, 0, 4, 1});
  CHECK(real_values(out[4]) == Reals{-1.5, -3, 0.5, 4});
  CHECK(real_values(out[5]) == Reals{2, 0, 2, 4});
  for (size_t k = 6; k < 12; ++k) CHECK(out[k]->dtype() == DType::boolean);
  CHECK(int_values(out[6]) == Ints{1, 0, 0, 0});
  CHECK(int_values(out[7]) == Ints{1, 0, 0, 1});
  CHECK(int_values(out[8]) == Ints{0, 1, 1, 0});
  CHECK(int_values(out[9]) == Ints{0, 1, 1, 1});
  CHECK(int_values(out[10]) == Ints{0, 0, 0, 1});
  CHECK(int_values(out[11]) == Ints{1, 1, 1, 0});
}

TEST_CASE("pow and division by zero", "[interpreter]") {
  Shape s = spatial("x", 4);
  Graph g;
  Value x = g.add_input(s, DType::f64);
  Value y = g.add_input(s, DType::f64);
  g.add_output(g.add(Op::pow, {x, y}));
  g.add_output(g.add(Op::div, {x, y}));
  auto out = run(g, {f64({2, 4, 0.25, -3}), f64({10, 0.5, -2, 0})});
  CHECK(real_values(out[0]) == Reals{1024, 2, 16, 1});
  Reals q = real_values(out[1]);
  CHECK(q[0] == 0.2);
  CHECK(q[1] == 8);
  CHECK(q[2] == -0.125);
  CHECK(q[3] == -INFINITY);
}

TEST_CASE("unary float ops", "[interpreter]") {
  Shape s = spatial("x", 3);
  CHECK(real_values(unary(Op::neg, s, f64({1.5, 0, -2}))) == Reals{-1.5, 0, 2});
  CHECK(real_values(unary(Op::abs, s, f64({1.5, -0.0, -2}))) == Reals{1.5, 0, 2});
  CHECK(same_reals(real_values(unary(Op::sign, s, f64({-3, 0, NAN}))), Reals{-1, 0, NAN}));
  CHECK(real_values(unary(Op::sign, spatial("x", 1), f64({0.1}))) == Reals{1});

  Reals e = real_values(unary(Op::exp, s, f64({0, 1, -1})));
  CHECK(e[0] == 1);
  CHECK(e[1] == Approx(2.718281828459045));
  CHECK(e[2] == Approx(0.36787944117144233));
  Reals l = real_values(unary(Op::log, s, f64({1, 4, 0})));
  CHECK(l[0] == 0);
  CHECK(l[1] == Approx(1.3862943611198906));
  CHECK(l[2] == -INFINITY);
  Reals sn = real_values(unary(Op::sin, s, f64({0, kPi / 2, kPi / 6})));
  CHECK(sn[0] == 0);
  CHECK(sn[1] == Approx(1.0));
  CHECK(sn[2] == Approx(0.5));
  Reals c = real_values(unary(Op::cos, s, f64({0, kPi, kPi / 3})));
  CHECK(c[0] == 1);
  CHECK(c[1] == Approx(-1.0));
  CHECK(c[2] == Approx(0.5));
  Reals t = real_values(unary(Op::tan, s, f64({0, kPi / 4, -kPi / 4})));
  CHECK(t[0] == 0);
  CHECK(t[1] == Approx(1.0));
  CHECK(t[2] == Approx(-1.0));
  Reals th = real_values(unary(Op::tanh, s, f64({0, 0.5, -100})));
  CHECK(th[0] == 0);
  CHECK(th[1] == Approx(0.46211715726000974));
  CHECK(th[2] == -1);
  Reals sq = real_values(unary(Op::sqrt, s, f64({4, 2, -1})));
  CHECK(sq[0] == 2);
  CHECK(sq[1] == Approx(1.4142135623730951));
  CHECK(std::isnan(sq[2]));
}

TEST_CASE("isfinite on floats and integers", "[interpreter]") {
  BufferPtr r = unary(Op::isfinite, spatial("x", 4), f64({1, INFINITY, NAN, -INFINITY}));
  CHECK(r->dtype() == DType::boolean);
  CHECK(int_values(r) == Ints{1, 0, 0, 0});
  BufferPtr i = unary(Op::isfinite, spatial("x", 2), ints(DType::i64, {kI64Max, -5}));
  CHECK(int_values(i) == Ints{1, 1});
}

TEST_CASE("minimum and maximum propagate NaN", "[interpreter]") {
  Shape s = spatial("x", 3);
  Graph g;
  Value x = g.add_input(s, DType::f64);
  Value y = g.add_input(s, DType::f64);
  g.add_output(g.add(Op::minimum, {x, y}));
  g.add_output(g.add(Op::maximum, {x, y}));
  g.add_output(g.add(Op::lt, {x, y}));
  g.add_output(g.add(Op::ne, {x, y}));
  auto out = run(g, {f64({NAN, 1, NAN}), f64({1, NAN, NAN})});
  CHECK(same_reals(real_values(out[0]), Reals{NAN, NAN, NAN}));
  CHECK(same_reals(real_values(out[1]), Reals{NAN, NAN, NAN}));
  CHECK(int_values(out[2]) == Ints{0, 0, 0});  // comparisons with NaN are false
  CHECK(int_values(out[3]) == Ints{1, 1, 1});  // except !=
}

TEST_CASE("float32 results are rounded to float", "[interpreter]") {
  Shape s = spatial("x", 2);
  Graph g;
  Value x = g.add_input(s, DType::f32);
  Value y = g.add_input(s, DType::f32);
  Value q = g.add(Op::div, {x, y});
  g.add_output(q);
  CHECK(g.type(q).dtype == DType::f32);
  auto out = run(g, {reals(DType::f32, {1, 2}), reals(DType::f32, {3, 7})});
  CHECK(out[0]->dtype() == DType::f32);
  CHECK(out[0]->as<float>()[0] == 1.0f / 3.0f);
  CHECK(out[0]->as<float>()[1] == 2.0f / 7.0f);
  CHECK(out[0]->get_real(0) != 1.0 / 3.0);
}

TEST_CASE("integer ops compute exactly and wrap around", "[interpreter]") {
  Shape s = spatial("x", 4);
  Graph g;
  Value x = g.add_input(s, DType::i64);
  Value y = g.add_input(s, DType::i64);
  for (Op op : {Op::add, Op::sub, Op::mul, Op::minimum, Op::maximum, Op::lt, Op::eq})
    g.add_output(g.add(op, {x, y}));
  for (Op op : {Op::neg, Op::abs, Op::sign}) g.add_output(g.add(op, {x}));
  // 2^53 + 1 is not a double: exact integer arithmetic must not go through double.
  const int64_t big = (int64_t{1} << 53) + 1;
  auto out = run(g, {ints(DType::i64, {kI64Max, big, -7, kI64Min}), ints(DType::i64, {1, 2, 3, -1})});
  for (const BufferPtr& b : out) CHECK(b->count() == 4);
  CHECK(out[0]->dtype() == DType::i64);
  CHECK(int_values(out[0]) == Ints{kI64Min, big + 2, -4, kI64Max});  // MAX + 1 and MIN + (−1) wrap
  CHECK(int_values(out[1]) == Ints{kI64Max - 1, big - 2, -10, kI64Min + 1});
  CHECK(int_values(out[2]) == Ints{kI64Max, 2 * big, -21, kI64Min});  // MIN·(−1) wraps to MIN
  CHECK(int_values(out[3]) == Ints{1, 2, -7, kI64Min});
  CHECK(int_values(out[4]) == Ints{kI64Max, big, 3, -1});
  CHECK(out[5]->dtype() == DType::boolean);
  CHECK(int_values(out[5]) == Ints{0, 0, 1, 1});
  CHECK(int_values(out[6]) == Ints{0, 0, 0, 0});
  CHECK(int_values(out[7]) == Ints{-kI64Max, -big, 7, kI64Min});
  CHECK(int_values(out[8]) == Ints{kI64Max, big, 7, kI64Min});
  CHECK(int_values(out[9]) == Ints{1, 1, -1, -1});
}

TEST_CASE("int32 arithmetic wraps at 32 bits", "[interpreter]") {
  Shape s = spatial("x", 3);
  Graph g;
  Value x = g.add_input(s, DType::i32);
  Value y = g.add_input(s, DType::i32);
  g.add_output(g.add(Op::add, {x, y}));
  g.add_output(g.add(Op::mul, {x, y}));
  g.add_output(g.add(Op::sub, {x, y}));
  auto out = run(g, {ints(DType::i32, {kI32Max, 65536, kI32Min}), ints(DType::i32, {1, 65536, 1})});
  CHECK(out[0]->dtype() == DType::i32);
  CHECK(int_values(out[0]) == Ints{kI32Min, 131072, kI32Min + 1});
  CHECK(int_values(out[1]) == Ints{kI32Max, 0, kI32Min});  // 2^16·2^16 = 2^32 wraps to 0
  CHECK(int_values(out[2]) == Ints{kI32Max - 1, 0, kI32Max});
}

TEST_CASE("elementwise ops broadcast by dim name", "[interpreter]") {
  Graph g;
  Value a = g.add_input(spatial("x", 3), DType::f64);
  Value b = g.add_input(batch("b", 2), DType::f64);
  Value c = g.add_input(spatial("y", 2) & spatial("x", 3), DType::f64);  // canonical: (y, x)
  Value ab = g.add(Op::sub, {a, b});
  Value ac = g.add(Op::mul, {a, c});
  g.add_output(ab);
  g.add_output(ac);
  CHECK(g.type(ab).shape.names() == Names{"b", "x"});
  CHECK(g.type(ac).shape.names() == Names{"x", "y"});  // x appears first, so c is transposed
  auto out = run(g, {f64({1, 2, 3}), f64({10, 20}), f64({1, 2, 3, 4, 5, 6})});
  CHECK(real_values(out[0]) == Reals{-9, -8, -7, -19, -18, -17});
  CHECK(real_values(out[1]) == Reals{1, 4, 4, 10, 9, 18});  // a[x]·c[y][x] laid out (x, y)
}

TEST_CASE("broadcasting reorders operands with the same dims in another order", "[interpreter]") {
  Graph g;
  // (x=2, y=3) + (y=3, x=2): the second operand is laid out (y, x).
  Value a = g.add_input(spatial("x", 2) & spatial("y", 3), DType::f64);
  Value b = g.add_input(spatial("y", 3) & spatial("x", 2), DType::f64);
  Value s = g.add(Op::add, {a, b});
  g.add_output(s);
  CHECK(g.type(s).shape.names() == Names{"x", "y"});
  auto out = run(g, {f64({0, 0, 0, 0, 0, 0}), f64({1, 2, 3, 4, 5, 6})});
  // b[y][x] = 2y + x + 1 → result[x][y] = b[y][x]
  CHECK(real_values(out[0]) == Reals{1, 3, 5, 2, 4, 6});
}

TEST_CASE("where selects and broadcasts", "[interpreter]") {
  Graph g;
  Value cond = g.add_input(spatial("x", 3), DType::boolean);
  Value a = g.add_input(spatial("x", 3), DType::f64);
  Value b = g.add_input(Shape(), DType::f64);
  Value w = g.add(Op::where, {cond, a, b});
  g.add_output(w);
  Value c = g.add_input(spatial("y", 2), DType::f64);
  Value w2 = g.add(Op::where, {cond, b, c});
  g.add_output(w2);
  CHECK(g.type(w2).shape.names() == Names{"x", "y"});
  auto out = run(g, {ints(DType::boolean, {1, 0, 1}), f64({1, 2, 3}), f64({-1}), f64({7, 8})});
  CHECK(real_values(out[0]) == Reals{1, -1, 3});
  CHECK(real_values(out[1]) == Reals{-1, -1, 7, 8, -1, -1});

  Graph gi;
  Value ci = gi.add_input(spatial("x", 2), DType::boolean);
  Value ai = gi.add_input(spatial("x", 2), DType::i64);
  Value bi = gi.add_input(spatial("x", 2), DType::i64);
  gi.add_output(gi.add(Op::where, {ci, ai, bi}));
  auto oi = run(gi, {ints(DType::boolean, {0, 1}), ints(DType::i64, {kI64Max, kI64Max}),
                     ints(DType::i64, {kI64Min, 5})});
  CHECK(oi[0]->dtype() == DType::i64);
  CHECK(int_values(oi[0]) == Ints{kI64Min, kI64Max});
}

TEST_CASE("cast converts between dtypes", "[interpreter]") {
  Shape s4 = spatial("x", 4);
  BufferPtr to_i32 = unary(Op::cast, s4, f64({2.7, -2.7, NAN, 1000.5}), attrs::cast(DType::i32));
  CHECK(to_i32->dtype() == DType::i32);
  CHECK(int_values(to_i32) == Ints{2, -2, 0, 1000});  // truncation toward zero, NaN → 0
  BufferPtr to_i64 =
      unary(Op::cast, s4, reals(DType::f32, {0.99f, -0.99f, 3e9f, NAN}), attrs::cast(DType::i64));
  CHECK(int_values(to_i64) == Ints{0, 0, 3000000000, 0});
  BufferPtr to_bool = unary(Op::cast, s4, f64({0, 0.5, NAN, -0.0}), attrs::cast(DType::boolean));
  CHECK(to_bool->dtype() == DType::boolean);
  CHECK(int_values(to_bool) == Ints{0, 1, 1, 0});
  BufferPtr from_bool = unary(Op::cast, s4, ints(DType::boolean, {1, 0, 1, 1}), attrs::cast(DType::f32));
  CHECK(from_bool->dtype() == DType::f32);
  CHECK(real_values(from_bool) == Reals{1, 0, 1, 1});
  BufferPtr from_int = unary(Op::cast, s4, ints(DType::i64, {-3, 0, 7, 1 << 20}), attrs::cast(DType::f64));
  CHECK(real_values(from_int) == Reals{-3, 0, 7, 1 << 20});
  BufferPtr narrowing = unary(Op::cast, spatial("x", 2), ints(DType::i64, {(int64_t{1} << 32) + 9, -1}),
                              attrs::cast(DType::i32));
  CHECK(int_values(narrowing) == Ints{9, -1});
  BufferPtr f32 = unary(Op::cast, spatial("x", 1), f64({0.1}), attrs::cast(DType::f32));
  CHECK(f32->as<float>()[0] == 0.1f);
}

TEST_CASE("sum, max and min over one and several dims", "[interpreter]") {
  Shape s = batch("b", 2) & spatial("x", 3);
  BufferPtr v = f64({1, 5, 3, 4, -2, 6});  // [[1, 5, 3], [4, -2, 6]]
  CHECK(real_values(unary(Op::reduce_sum, s, v, attrs::reduce({"x"}))) == Reals{9, 8});
  CHECK(real_values(unary(Op::reduce_sum, s, v, attrs::reduce({"b"}))) == Reals{5, 3, 9});
  CHECK(real_values(unary(Op::reduce_sum, s, v, attrs::reduce({"b", "x"}))) == Reals{17});
  CHECK(real_values(unary(Op::reduce_max, s, v, attrs::reduce({"x"}))) == Reals{5, 6});
  CHECK(real_values(unary(Op::reduce_max, s, v, attrs::reduce({"b"}))) == Reals{4, 5, 6});
  CHECK(real_values(unary(Op::reduce_min, s, v, attrs::reduce({"b"}))) == Reals{1, -2, 3});
  CHECK(real_values(unary(Op::reduce_min, s, v, attrs::reduce({"x", "b"}))) == Reals{-2});
  CHECK(real_values(unary(Op::reduce_sum, s, v, attrs::reduce({}))) == Reals{1, 5, 3, 4, -2, 6});

  // Three dims, reducing the outer and inner one: v[b][x][y] = 6b + 3x + y.
  Shape s3 = batch("b", 2) & spatial("x", 2) & spatial("y", 3);
  BufferPtr w = f64({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  CHECK(real_values(unary(Op::reduce_sum, s3, w, attrs::reduce({"b", "y"}))) == Reals{24, 42});
  CHECK(real_values(unary(Op::reduce_max, s3, w, attrs::reduce({"x"}))) == Reals{3, 4, 5, 9, 10, 11});
  CHECK(real_values(unary(Op::reduce_min, s3, w, attrs::reduce({"b", "x"}))) == Reals{0, 1, 2});
}

TEST_CASE("reductions of integers, booleans and NaN", "[interpreter]") {
  Shape s = spatial("x", 3);
  // Negative ints: max must not start from 0.
  BufferPtr neg = ints(DType::i32, {-5, -3, -9});
  CHECK(int_values(unary(Op::reduce_max, s, neg, attrs::reduce({"x"}))) == Ints{-3});
  CHECK(int_values(unary(Op::reduce_min, s, neg, attrs::reduce({"x"}))) == Ints{-9});
  CHECK(unary(Op::reduce_max, s, neg, attrs::reduce({"x"}))->dtype() == DType::i32);
  BufferPtr fneg = f64({-5, -3, -9});
  CHECK(real_values(unary(Op::reduce_max, s, fneg, attrs::reduce({"x"}))) == Reals{-3});
  // int32 sums widen to int64 and do not overflow.
  BufferPtr sum32 = unary(Op::reduce_sum, s, ints(DType::i32, {kI32Max, kI32Max, 2}), attrs::reduce({"x"}));
  CHECK(sum32->dtype() == DType::i64);
  CHECK(int_values(sum32) == Ints{2 * kI32Max + 2});
  // Summing booleans counts the true values.
  Shape sb = batch("b", 2) & spatial("x", 3);
  BufferPtr count = unary(Op::reduce_sum, sb, ints(DType::boolean, {1, 0, 1, 1, 1, 1}), attrs::reduce({"x"}));
  CHECK(count->dtype() == DType::i64);
  CHECK(int_values(count) == Ints{2, 3});
  // NaN propagates through max and min wherever it is.
  Shape s2 = spatial("x", 2) & spatial("y", 2);
  BufferPtr nan = f64({NAN, 1, 2, NAN});
  CHECK(same_reals(real_values(unary(Op::reduce_max, s2, nan, attrs::reduce({"y"}))), Reals{NAN, NAN}));
  CHECK(same_reals(real_values(unary(Op::reduce_min, s2, f64({1, NAN, 2, 3}), attrs::reduce({"y"}))),
                   Reals{NAN, 2}));
  CHECK(same_reals(real_values(unary(Op::reduce_sum, s2, nan, attrs::reduce({"x"}))), Reals{NAN, NAN}));
  // The sum over an empty dim is 0.
  CHECK(real_values(unary(Op::reduce_sum, spatial("x", 0) & batch("b", 2), f64({}), attrs::reduce({"x"}))) ==
        Reals{0, 0});
}

TEST_CASE("shift in 1D with every extrapolation", "[interpreter]") {
  Shape s = spatial("x", 4);
  BufferPtr v = f64({1, 2, 3, 4});
  auto shift = [&](int64_t offset, const Extrapolation& e) {
    return real_values(unary(Op::shift, s, v, attrs::shift("x", offset, e)));
  };
  // result[i] = v[i + offset]
  CHECK(shift(1, extrapolation::ZERO) == Reals{2, 3, 4, 0});
  CHECK(shift(1, extrapolation::ONE) == Reals{2, 3, 4, 1});
  CHECK(shift(1, extrapolation::constant(7.5)) == Reals{2, 3, 4, 7.5});
  CHECK(shift(1, extrapolation::PERIODIC) == Reals{2, 3, 4, 1});
  CHECK(shift(1, extrapolation::ZERO_GRADIENT) == Reals{2, 3, 4, 4});
  CHECK(shift(-2, extrapolation::ZERO) == Reals{0, 0, 1, 2});
  CHECK(shift(-2, extrapolation::ONE) == Reals{1, 1, 1, 2});
  CHECK(shift(-2, extrapolation::PERIODIC) == Reals{3, 4, 1, 2});
  CHECK(shift(-2, extrapolation::ZERO_GRADIENT) == Reals{1, 1, 1, 2});
  CHECK(shift(0, extrapolation::ZERO) == Reals{1, 2, 3, 4});
  CHECK(shift(5, extrapolation::PERIODIC) == Reals{2, 3, 4, 1});
  CHECK(shift(-9, extrapolation::PERIODIC) == Reals{4, 1, 2, 3});
  CHECK(shift(6, extrapolation::ZERO) == Reals{0, 0, 0, 0});
  CHECK(shift(6, extrapolation::ZERO_GRADIENT) == Reals{4, 4, 4, 4});
}

TEST_CASE("shift of integers keeps the dtype", "[interpreter]") {
  Shape s = spatial("x", 3);
  BufferPtr v = ints(DType::i64, {kI64Max, 2, 3});
  BufferPtr r = unary(Op::shift, s, v, attrs::shift("x", -1, extrapolation::ONE));
  CHECK(r->dtype() == DType::i64);
  CHECK(int_values(r) == Ints{1, kI64Max, 2});
  BufferPtr p = unary(Op::shift, s, v, attrs::shift("x", 1, extrapolation::PERIODIC));
  CHECK(int_values(p) == Ints{2, 3, kI64Max});
}

TEST_CASE("shift in 2D moves along one dim only", "[interpreter]") {
  Shape s = spatial("x", 2) & spatial("y", 3);
  BufferPtr v = f64({1, 2, 3, 4, 5, 6});  // [[1, 2, 3], [4, 5, 6]]
  auto shift = [&](const std::string& dim, int64_t offset, const Extrapolation& e) {
    return real_values(unary(Op::shift, s, v, attrs::shift(dim, offset, e)));
  };
  CHECK(shift("y", 1, extrapolation::ZERO) == Reals{2, 3, 0, 5, 6, 0});
  CHECK(shift("y", -1, extrapolation::PERIODIC) == Reals{3, 1, 2, 6, 4, 5});
  CHECK(shift("y", -1, extrapolation::constant(-1)) == Reals{-1, 1, 2, -1, 4, 5});
  CHECK(shift("x", -1, extrapolation::PERIODIC) == Reals{4, 5, 6, 1, 2, 3});
  CHECK(shift("x", 1, extrapolation::ZERO_GRADIENT) == Reals{4, 5, 6, 4, 5, 6});
  CHECK(shift("x", 1, extrapolation::ONE) == Reals{4, 5, 6, 1, 1, 1});
}

TEST_CASE("pad in 1D with every extrapolation", "[interpreter]") {
  Shape s = spatial("x", 3);
  BufferPtr v = f64({1, 2, 3});
  auto pad = [&](int64_t lo, int64_t hi, const Extrapolation& e) {
    return real_values(unary(Op::pad, s, v, attrs::pad({{"x", lo, hi}}, e)));
  };
  CHECK(unary_type(Op::pad, s, DType::f64, attrs::pad({{"x", 2, 1}}, extrapolation::ZERO)).shape ==
        spatial("x", 6));
  CHECK(pad(2, 1, extrapolation::ZERO) == Reals{0, 0, 1, 2, 3, 0});
  CHECK(pad(2, 1, extrapolation::ONE) == Reals{1, 1, 1, 2, 3, 1});
  CHECK(pad(2, 1, extrapolation::constant(-1)) == Reals{-1, -1, 1, 2, 3, -1});
  CHECK(pad(2, 1, extrapolation::PERIODIC) == Reals{2, 3, 1, 2, 3, 1});
  CHECK(pad(2, 1, extrapolation::ZERO_GRADIENT) == Reals{1, 1, 1, 2, 3, 3});
  CHECK(pad(0, 0, extrapolation::PERIODIC) == Reals{1, 2, 3});
  CHECK(pad(0, 2, extrapolation::ZERO_GRADIENT) == Reals{1, 2, 3, 3, 3});
  // Wider than the dim: periodic keeps wrapping.
  CHECK(pad(4, 4, extrapolation::PERIODIC) == Reals{3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1});
  // An empty dim padded with a constant.
  CHECK(real_values(unary(Op::pad, spatial("x", 0), f64({}),
                          attrs::pad({{"x", 1, 2}}, extrapolation::ONE))) == Reals{1, 1, 1});
}

TEST_CASE("pad in 2D", "[interpreter]") {
  Shape s = spatial("x", 2) & spatial("y", 2);
  BufferPtr v = f64({1, 2, 3, 4});  // [[1, 2], [3, 4]]
  auto pad = [&](const Widths& widths, const Extrapolation& e) {
    return real_values(unary(Op::pad, s, v, attrs::pad(widths, e)));
  };
  // x by (1, 0), y by (0, 1): 3×3
  CHECK(pad({{"x", 1, 0}, {"y", 0, 1}}, extrapolation::ZERO) == Reals{0, 0, 0, 1, 2, 0, 3, 4, 0});
  // Only y: [[9, 1, 2], [9, 3, 4]]
  CHECK(pad({{"y", 1, 0}}, extrapolation::constant(9)) == Reals{9, 1, 2, 9, 3, 4});
  // One cell on every side.
  CHECK(pad({{"x", 1, 1}, {"y", 1, 1}}, extrapolation::constant(9)) ==
        Reals{9, 9, 9, 9, 9, 1, 2, 9, 9, 3, 4, 9, 9, 9, 9, 9});
  CHECK(pad({{"x", 1, 1}, {"y", 1, 1}}, extrapolation::PERIODIC) ==
        Reals{4, 3, 4, 3, 2, 1, 2, 1, 4, 3, 4, 3, 2, 1, 2, 1});
  CHECK(pad({{"x", 1, 1}, {"y", 1, 1}}, extrapolation::ZERO_GRADIENT) ==
        Reals{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  // The order of the dims in the attribute does not matter.
  CHECK(pad({{"y", 0, 1}, {"x", 1, 0}}, extrapolation::ZERO) == Reals{0, 0, 0, 1, 2, 0, 3, 4, 0});
  // Periodic in y only, zero nowhere else: [[2, 1, 2, 1], [4, 3, 4, 3]]
  CHECK(pad({{"y", 1, 1}}, extrapolation::PERIODIC) == Reals{2, 1, 2, 1, 4, 3, 4, 3});
}

TEST_CASE("pad of a batched integer tensor", "[interpreter]") {
  Shape s = batch("b", 2) & spatial("x", 2);
  BufferPtr r = unary(Op::pad, s, ints(DType::i32, {1, 2, 3, 4}),
                      attrs::pad({{"x", 1, 1}}, extrapolation::ZERO_GRADIENT));
  CHECK(r->dtype() == DType::i32);
  CHECK(int_values(r) == Ints{1, 1, 2, 2, 3, 3, 4, 4});
  BufferPtr c = unary(Op::pad, s, ints(DType::i32, {1, 2, 3, 4}),
                      attrs::pad({{"x", 0, 1}}, extrapolation::constant(-2)));
  CHECK(int_values(c) == Ints{1, 2, -2, 3, 4, -2});
}

TEST_CASE("expand repeats values along the new dims", "[interpreter]") {
  Shape s = spatial("x", 3);
  BufferPtr v = f64({1, 2, 3});
  CHECK(unary_type(Op::expand, s, DType::f64, attrs::expand(batch("b", 2))).shape.names() == Names{"b", "x"});
  CHECK(real_values(unary(Op::expand, s, v, attrs::expand(batch("b", 2)))) == Reals{1, 2, 3, 1, 2, 3});
  CHECK(real_values(unary(Op::expand, s, v, attrs::expand(spatial("y", 2)))) == Reals{1, 1, 2, 2, 3, 3});
  CHECK(real_values(unary(Op::expand, s, v, attrs::expand(spatial("x", 3)))) == Reals{1, 2, 3});
  CHECK(real_values(unary(Op::expand, Shape(), f64({7}), attrs::expand(channel("c", 3)))) == Reals{7, 7, 7});
  CHECK(int_values(unary(Op::expand, s, ints(DType::i64, {kI64Max, 0, -1}),
                         attrs::expand(channel("c", 2)))) == Ints{kI64Max, kI64Max, 0, 0, -1, -1});
}

TEST_CASE("slice keeps or drops the dim", "[interpreter]") {
  Shape s = spatial("x", 2) & spatial("y", 3);
  BufferPtr v = f64({1, 2, 3, 4, 5, 6});  // [[1, 2, 3], [4, 5, 6]]
  CHECK(real_values(unary(Op::slice, s, v, attrs::slice("y", 1, 3, false))) == Reals{2, 3, 5, 6});
  CHECK(unary_type(Op::slice, s, DType::f64, attrs::slice("y", 1, 3, false)).shape ==
        (spatial("x", 2) & spatial("y", 2)));
  CHECK(real_values(unary(Op::slice, s, v, attrs::slice("x", 1, 2, true))) == Reals{4, 5, 6});
  CHECK(unary_type(Op::slice, s, DType::f64, attrs::slice("x", 1, 2, true)).shape == spatial("y", 3));
  CHECK(real_values(unary(Op::slice, s, v, attrs::slice("y", 0, 1, true))) == Reals{1, 4});
  CHECK(real_values(unary(Op::slice, s, v, attrs::slice("y", 2, 3, false))) == Reals{3, 6});
  CHECK(real_values(unary(Op::slice, s, v, attrs::slice("x", 0, 2, false))) == Reals{1, 2, 3, 4, 5, 6});
  CHECK(unary(Op::slice, s, v, attrs::slice("y", 1, 1, false))->count() == 0);
  // Item names are sliced with the values.
  Shape c = spatial("x", 2) & channel("vector", Names{"x", "y", "z"});
  CHECK(real_values(unary(Op::slice, c, v, attrs::slice("vector", 1, 3, false))) == Reals{2, 3, 5, 6});
  CHECK(
      unary_type(Op::slice, c, DType::f64, attrs::slice("vector", 1, 3, false)).shape.item_names("vector") ==
      Names{"y", "z"});
  CHECK(int_values(unary(Op::slice, spatial("x", 3), ints(DType::i64, {1, kI64Max, 3}),
                         attrs::slice("x", 1, 2, true))) == Ints{kI64Max});
}

TEST_CASE("concat joins along a dim", "[interpreter]") {
  Graph g;
  Value a = g.add_input(spatial("x", 2) & spatial("y", 2), DType::f64);  // [[1, 2], [3, 4]]
  Value b = g.add_input(spatial("x", 1) & spatial("y", 2), DType::f64);  // [[5, 6]]
  Value c = g.add_input(spatial("x", 2) & spatial("y", 1), DType::f64);  // [[7], [8]]
  Value along_x = g.add(Op::concat, {a, b}, attrs::concat("x"));
  Value along_y = g.add(Op::concat, {a, c, a}, attrs::concat("y"));
  g.add_output(along_x);
  g.add_output(along_y);
  CHECK(g.type(along_x).shape == (spatial("x", 3) & spatial("y", 2)));
  CHECK(g.type(along_y).shape == (spatial("x", 2) & spatial("y", 5)));
  auto out = run(g, {f64({1, 2, 3, 4}), f64({5, 6}), f64({7, 8})});
  CHECK(real_values(out[0]) == Reals{1, 2, 3, 4, 5, 6});
  CHECK(real_values(out[1]) == Reals{1, 2, 7, 1, 2, 3, 4, 8, 3, 4});
}

TEST_CASE("stack adds a dim and broadcasts its operands", "[interpreter]") {
  Graph g;
  Value a = g.add_input(spatial("x", 2), DType::f64);
  Value b = g.add_input(spatial("x", 2), DType::f64);
  Value s = g.add_input(Shape(), DType::f64);
  Value y = g.add_input(spatial("y", 3), DType::f64);
  Value ch = g.add(Op::stack, {a, b}, attrs::stack(channel("c", Names{"u", "v"})));
  Value bt = g.add(Op::stack, {a, b}, attrs::stack(batch("k", 2)));
  Value sc = g.add(Op::stack, {a, s, b}, attrs::stack(instance("i", 3)));
  Value xy = g.add(Op::stack, {a, y}, attrs::stack(batch("k", 2)));
  for (Value v : {ch, bt, sc, xy}) g.add_output(v);
  CHECK(g.type(ch).shape.str() == "(xˢ=2, cᶜ=u,v)");
  CHECK(g.type(sc).shape.names() == Names{"i", "x"});
  CHECK(g.type(xy).shape.str() == "(kᵇ=2, xˢ=2, yˢ=3)");
  auto out = run(g, {f64({1, 2}), f64({3, 4}), f64({9}), f64({10, 20, 30})});
  CHECK(real_values(out[0]) == Reals{1, 3, 2, 4});
  CHECK(real_values(out[1]) == Reals{1, 2, 3, 4});
  CHECK(real_values(out[2]) == Reals{1, 2, 9, 9, 3, 4});
  CHECK(real_values(out[3]) == Reals{1, 1, 1, 2, 2, 2, 10, 20, 30, 10, 20, 30});
}

TEST_CASE("rename keeps values, and transposes when the dim order changes", "[interpreter]") {
  Shape s = spatial("x", 2) & spatial("y", 3);
  BufferPtr v = f64({1, 2, 3, 4, 5, 6});  // [[1, 2, 3], [4, 5, 6]]
  // Same position: values unchanged.
  Attrs to_z = attrs::rename({{"y", "z", DimType::spatial}});
  CHECK(unary_type(Op::rename, s, DType::f64, to_z).shape == (spatial("x", 2) & spatial("z", 3)));
  CHECK(real_values(unary(Op::rename, s, v, to_z)) == Reals{1, 2, 3, 4, 5, 6});
  // spatial → dual moves y in front of x: result[~y][x] = v[x][y].
  Attrs to_dual = attrs::rename({{"y", "~y", DimType::dual}});
  CHECK(unary_type(Op::rename, s, DType::f64, to_dual).shape == (dual("y", 3) & spatial("x", 2)));
  CHECK(real_values(unary(Op::rename, s, v, to_dual)) == Reals{1, 4, 2, 5, 3, 6});
  // spatial → channel moves x behind y.
  Attrs to_channel = attrs::rename({{"x", "c", DimType::channel}});
  CHECK(unary_type(Op::rename, s, DType::f64, to_channel).shape.names() == Names{"y", "c"});
  CHECK(real_values(unary(Op::rename, s, v, to_channel)) == Reals{1, 4, 2, 5, 3, 6});
  // Swapping two names: result[y=i][x=j] = v[x=i][y=j], laid out (y=2, x=3).
  Attrs swap = attrs::rename({{"x", "y", DimType::spatial}, {"y", "x", DimType::spatial}});
  CHECK(unary_type(Op::rename, s, DType::f64, swap).shape.str() == "(yˢ=2, xˢ=3)");
  CHECK(real_values(unary(Op::rename, s, v, swap)) == Reals{1, 2, 3, 4, 5, 6});
  // Swapping names and making one of them a batch dim: (bᵇ=3, yˢ=2) with b ← y, y ← x.
  Attrs mixed = attrs::rename({{"x", "y", DimType::spatial}, {"y", "b", DimType::batch}});
  CHECK(unary_type(Op::rename, s, DType::f64, mixed).shape.str() == "(bᵇ=3, yˢ=2)");
  CHECK(real_values(unary(Op::rename, s, v, mixed)) == Reals{1, 4, 2, 5, 3, 6});
  // A dual dim back to spatial.
  Shape m = dual("n", 2) & spatial("n", 2);  // (~n, n): m[~n][n]
  Attrs primal = attrs::rename({{"~n", "k", DimType::spatial}});
  CHECK(unary_type(Op::rename, m, DType::f64, primal).shape.names() == Names{"n", "k"});
  CHECK(real_values(unary(Op::rename, m, f64({1, 2, 3, 4}), primal)) == Reals{1, 3, 2, 4});
}

TEST_CASE("graphs chain ops, and outputs stay valid after later uses", "[interpreter]") {
  Graph g;
  Value x = g.add_input(spatial("x", 3), DType::f64);
  Value c = g.add_constant(f64({2}), Shape());
  Value t = g.add_constant(f64({1, 10, 100}), spatial("x", 3));
  Value m = g.add(Op::mul, {x, c});
  Value a = g.add(Op::add, {m, t});
  Value lap =
      g.add(Op::sub, {g.add(Op::add, {g.add(Op::shift, {a}, attrs::shift("x", 1, extrapolation::PERIODIC)),
                                      g.add(Op::shift, {a}, attrs::shift("x", -1, extrapolation::PERIODIC))}),
                      g.add(Op::mul, {a, c})});
  Value total = g.add(Op::reduce_sum, {lap}, attrs::reduce({"x"}));
  g.add_output(m);
  g.add_output(a);
  g.add_output(lap);
  g.add_output(total);
  g.add_output(x);
  g.add_output(m);
  auto out = run(g, {f64({1, 2, 3})});
  REQUIRE(out.size() == 6);
  CHECK(real_values(out[0]) == Reals{2, 4, 6});
  CHECK(real_values(out[1]) == Reals{3, 14, 106});
  // periodic laplace of [3, 14, 106]: [14 + 106 - 6, 106 + 3 - 28, 3 + 14 - 212]
  CHECK(real_values(out[2]) == Reals{114, 81, -195});
  CHECK(real_values(out[3]) == Reals{0});
  CHECK(real_values(out[4]) == Reals{1, 2, 3});
  CHECK(out[5] == out[0]);
}

TEST_CASE("evaluate applies one op eagerly", "[interpreter]") {
  std::vector<BufferPtr> in{f64({1, 2}), f64({10})};
  std::vector<ir::ValueType> types{{spatial("x", 2), DType::f64}, {Shape(), DType::f64}};
  ir::ValueType result{spatial("x", 2), DType::f64};
  BufferPtr r = runtime::evaluate(Op::sub, Attrs{}, result, in, types);
  CHECK(real_values(r) == Reals{-9, -8});
  CHECK_THROWS_AS(runtime::evaluate(Op::input, Attrs{}, result, {}, {}), Error);
}

TEST_CASE("the interpreter rejects wrong inputs", "[interpreter][error]") {
  Graph g;
  Value x = g.add_input(spatial("x", 3), DType::f64);
  Value y = g.add_input(batch("b", 2), DType::i32);
  g.add_output(g.add(Op::neg, {x}));
  g.add_output(y);
  std::vector<BufferPtr> none;
  CHECK_THROWS_WITH(runtime::interpret(g, none), Contains("2 inputs") && Contains("got 0"));
  std::vector<BufferPtr> three{f64({1, 2, 3}), ints(DType::i32, {1, 2}), f64({1})};
  CHECK_THROWS_WITH(runtime::interpret(g, three), Contains("2 inputs") && Contains("got 3"));
  std::vector<BufferPtr> wrong_dtype{f64({1, 2, 3}), ints(DType::i64, {1, 2})};
  CHECK_THROWS_WITH(runtime::interpret(g, wrong_dtype),
                    Contains("input 1") && Contains("int32") && Contains("(bᵇ=2)"));
  std::vector<BufferPtr> wrong_count{f64({1, 2}), ints(DType::i32, {1, 2})};
  CHECK_THROWS_WITH(runtime::interpret(g, wrong_count),
                    Contains("input 0") && Contains("float64") && Contains("(xˢ=3)"));
  std::vector<BufferPtr> null_input{nullptr, ints(DType::i32, {1, 2})};
  CHECK_THROWS_AS(runtime::interpret(g, null_input), Error);
  std::vector<BufferPtr> good{f64({1, 2, 3}), ints(DType::i32, {5, 6})};
  auto out = runtime::interpret(g, good);
  CHECK(real_values(out[0]) == Reals{-1, -2, -3});
  CHECK(out[1] == good[1]);
}

TEST_CASE("concat of operands whose other dims are laid out differently", "[interpreter]") {
  Graph g;
  Value a = g.add_input(spatial("x", 2) & spatial("y", 2), DType::f64);  // [[1, 2], [3, 4]]
  Value b = g.add_input(spatial("y", 2) & spatial("x", 1), DType::f64);  // laid out (y, x): [[5], [6]]
  Value c = g.add(Op::concat, {a, b}, attrs::concat("x"));
  g.add_output(c);
  CHECK(g.type(c).shape.names() == Names{"x", "y"});
  auto out = run(g, {f64({1, 2, 3, 4}), f64({5, 6})});
  CHECK(real_values(out[0]) == Reals{1, 2, 3, 4, 5, 6});  // row x=2 is b[y][0] = (5, 6)
}

TEST_CASE("int32 negation and abs of the minimum wrap like numpy", "[interpreter]") {
  Shape s = spatial("x", 3);
  BufferPtr v = ints(DType::i32, {kI32Min, kI32Max, -1});
  BufferPtr n = unary(Op::neg, s, v);
  CHECK(n->dtype() == DType::i32);
  CHECK(int_values(n) == Ints{kI32Min, -kI32Max, 1});
  CHECK(int_values(unary(Op::abs, s, v)) == Ints{kI32Min, kI32Max, 1});
  CHECK(int_values(unary(Op::sign, s, v)) == Ints{-1, 1, -1});
}

TEST_CASE("float32 and boolean operands keep their dtype through layout and reductions", "[interpreter]") {
  Shape s = spatial("x", 2) & spatial("y", 2);
  BufferPtr v = reals(DType::f32, {0.5, 0.25, -1, 2});
  BufferPtr sum = unary(Op::reduce_sum, s, v, attrs::reduce({"y"}));
  CHECK(sum->dtype() == DType::f32);
  CHECK(real_values(sum) == Reals{0.75, 1});
  BufferPtr padded = unary(Op::pad, s, v, attrs::pad({{"x", 1, 0}}, extrapolation::constant(0.1)));
  CHECK(padded->dtype() == DType::f32);
  CHECK(padded->as<float>()[0] == 0.1f);
  CHECK(real_values(padded)[2] == 0.5);
  BufferPtr flags = ints(DType::boolean, {1, 0, 0, 1});
  BufferPtr shifted = unary(Op::shift, s, flags, attrs::shift("y", 1, extrapolation::ONE));
  CHECK(shifted->dtype() == DType::boolean);
  CHECK(int_values(shifted) == Ints{0, 1, 1, 1});
  BufferPtr any = unary(Op::reduce_max, s, flags, attrs::reduce({"x"}));
  CHECK(any->dtype() == DType::boolean);
  CHECK(int_values(any) == Ints{1, 1});
  BufferPtr all = unary(Op::reduce_min, s, flags, attrs::reduce({"y"}));
  CHECK(int_values(all) == Ints{0, 0});
}
