// Unit tests of ir/op_table.h: op metadata, operand dtype promotion, scalar functions, type
// inference on plain ValueTypes and Attrs equality.
#include "ir/op_table.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ir/builder.h"
#include "ir/error.h"

using namespace phijit;
using Catch::Contains;
using phijit::ir::Attrs;
using phijit::ir::Op;
using phijit::ir::ValueType;
namespace attrs = phijit::ir::attrs;

namespace {
std::vector<DType> promoted(Op op, std::vector<DType> in, std::vector<bool> weak) {
  return ir::operand_dtypes(op, in, weak);
}
}  // namespace

TEST_CASE("every op has a unique name that maps back to it", "[op_table]") {
  std::set<std::string_view> names;
  for (int i = 0; i < ir::kNumOps; ++i) {
    auto op = static_cast<Op>(i);
    const ir::OpInfo& info = ir::op_info(op);
    CHECK(info.op == op);
    CHECK(ir::op_name(op) == info.name);
    CHECK_FALSE(info.name.empty());
    names.insert(info.name);
    Op back = Op::input;
    CHECK(ir::op_from_name(info.name, &back));
    CHECK(back == op);
    if (info.kind == ir::OpKind::elementwise) CHECK(info.real != nullptr);
  }
  CHECK(names.size() == static_cast<size_t>(ir::kNumOps));
  Op out = Op::add;
  CHECK_FALSE(ir::op_from_name("no_such_op", &out));
  CHECK(out == Op::add);
  CHECK(ir::op_name(Op::reduce_sum) == "sum");
  CHECK(ir::op_info(Op::add).arity == 2);
  CHECK(ir::op_info(Op::where).arity == 3);
  CHECK(ir::op_info(Op::concat).arity == -1);
  CHECK(ir::op_info(Op::input).kind == ir::OpKind::source);
  CHECK(ir::op_info(Op::shift).kind == ir::OpKind::stencil);
  CHECK(ir::op_info(Op::reduce_max).kind == ir::OpKind::reduction);
  CHECK(ir::op_info(Op::rename).kind == ir::OpKind::layout);
  // Float-only ops have no integer meaning.
  CHECK(ir::op_info(Op::exp).integer == nullptr);
  CHECK(ir::op_info(Op::div).integer == nullptr);
  CHECK(ir::op_info(Op::add).integer != nullptr);
}

TEST_CASE("the scalar meaning of elementwise ops", "[op_table]") {
  auto real = [](Op op, double a, double b = 0, double c = 0) { return ir::op_info(op).real(a, b, c); };
  auto integer = [](Op op, int64_t a, int64_t b = 0, int64_t c = 0) {
    return ir::op_info(op).integer(a, b, c);
  };
  CHECK(real(Op::sub, 5, 3) == 2);
  CHECK(real(Op::pow, 2, 10) == 1024);
  CHECK(real(Op::where, 0, 1, 2) == 2);
  CHECK(real(Op::where, 1, 1, 2) == 1);
  CHECK(real(Op::sign, -0.5) == -1);
  CHECK(std::isnan(real(Op::sign, NAN)));
  CHECK(std::isnan(real(Op::minimum, NAN, 1)));
  CHECK(std::isnan(real(Op::maximum, 1, NAN)));
  CHECK(real(Op::isfinite, INFINITY) == 0);
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  CHECK(integer(Op::add, kMax, 1) == kMin);
  CHECK(integer(Op::sub, kMin, 1) == kMax);
  CHECK(integer(Op::mul, int64_t{1} << 62, 4) == 0);
  CHECK(integer(Op::neg, kMin) == kMin);
  CHECK(integer(Op::abs, -7) == 7);
  CHECK(integer(Op::sign, -7) == -1);
  CHECK(integer(Op::minimum, -3, 2) == -3);
  CHECK(integer(Op::ne, 2, 2) == 0);
}

TEST_CASE("operand dtypes are promoted per op", "[op_table]") {
  using V = std::vector<DType>;
  CHECK(promoted(Op::add, {DType::i32, DType::i64}, {false, false}) == V{DType::i64, DType::i64});
  CHECK(promoted(Op::add, {DType::f32, DType::f64}, {false, true}) == V{DType::f32, DType::f32});
  CHECK(promoted(Op::add, {DType::f32, DType::f64}, {false, false}) == V{DType::f64, DType::f64});
  CHECK(promoted(Op::mul, {DType::f64, DType::i32}, {true, false}) == V{DType::f64, DType::f64});
  // Float-only ops compute ints in f64, f32 in f32.
  CHECK(promoted(Op::div, {DType::i32, DType::i32}, {false, false}) == V{DType::f64, DType::f64});
  CHECK(promoted(Op::div, {DType::f32, DType::f64}, {false, true}) == V{DType::f32, DType::f32});
  CHECK(promoted(Op::exp, {DType::boolean}, {false}) == V{DType::f64});
  CHECK(promoted(Op::exp, {DType::f32}, {false}) == V{DType::f32});
  // Comparisons promote their operands; the boolean result is not an operand type.
  CHECK(promoted(Op::lt, {DType::i32, DType::f64}, {false, true}) == V{DType::f64, DType::f64});
  CHECK(promoted(Op::eq, {DType::boolean, DType::i64}, {false, false}) == V{DType::i64, DType::i64});
  // where: the condition becomes bool, the branches are promoted together.
  CHECK(promoted(Op::where, {DType::f64, DType::i32, DType::f32}, {false, false, false}) ==
        V{DType::boolean, DType::f64, DType::f64});
  CHECK(promoted(Op::where, {DType::boolean, DType::f32, DType::f64}, {false, false, true}) ==
        V{DType::boolean, DType::f32, DType::f32});
  // Ops without a promotion rule keep their operand dtypes.
  CHECK(promoted(Op::reduce_sum, {DType::i32}, {false}) == V{DType::i32});
  CHECK(promoted(Op::cast, {DType::f32}, {false}) == V{DType::f32});
  CHECK(promoted(Op::isfinite, {DType::i64}, {false}) == V{DType::i64});
}

TEST_CASE("infer_type on plain value types", "[op_table]") {
  ValueType a{spatial("x", 3), DType::f32};
  ValueType b{batch("b", 2), DType::f32};
  std::vector<ValueType> ab{a, b};
  ValueType t = ir::infer_type(Op::maximum, ab, Attrs{});
  CHECK(t.shape == (batch("b", 2) & spatial("x", 3)));
  CHECK(t.dtype == DType::f32);
  std::vector<ValueType> one{a};
  CHECK(ir::infer_type(Op::sqrt, one, Attrs{}).dtype == DType::f32);
  // Raw on purpose: input attributes have no typed constructor (Graph::add_input builds them),
  // and this test calls infer_type without a Graph.
  Attrs in;
  in.shape = channel("c", 2);
  in.dtype = DType::i64;
  in.ints = {0};
  ValueType src = ir::infer_type(Op::input, {}, in);
  CHECK(src.shape == channel("c", 2));
  CHECK(src.dtype == DType::i64);
  CHECK_THROWS_WITH(ir::infer_type(Op::add, one, Attrs{}), Contains("add") && Contains("expects 2"));
}

TEST_CASE("missing_rule names the op and the rule", "[op_table][error]") {
  CHECK_THROWS_AS(ir::missing_rule(Op::lt, "vjp"), Error);
  CHECK_THROWS_WITH(ir::missing_rule(Op::lt, "vjp"), Contains("'lt'") && Contains("vjp"));
}

TEST_CASE("attrs equality and hash", "[op_table]") {
  Attrs a = attrs::shift("x", 1, extrapolation::ZERO);
  Attrs b = attrs::shift("x", 1, extrapolation::ZERO);
  CHECK(a == b);
  CHECK(a.hash() == b.hash());
  b = attrs::shift("x", 2, extrapolation::ZERO);
  CHECK_FALSE(a == b);
  b = attrs::shift("x", 1, extrapolation::ONE);
  CHECK_FALSE(a == b);
  // Raw on purpose from here: every field takes part in == and hash, also fields that no typed
  // constructor sets on a shift (shape, dtype, constant data).
  b = a;
  b.shape = spatial("x", 2);
  CHECK_FALSE(a == b);
  b = a;
  b.dtype = DType::i32;
  CHECK_FALSE(a == b);

  auto one = std::make_shared<Buffer>(DType::f64, 1);
  one->set_real(0, 1.5);
  auto other = std::make_shared<Buffer>(DType::f64, 1);
  other->set_real(0, 1.5);
  a.data = one;
  b = a;
  b.data = other;
  CHECK(a == b);
  CHECK(a.hash() == b.hash());
  other->set_real(0, 2.5);
  CHECK_FALSE(a == b);
  b.data = nullptr;
  CHECK_FALSE(a == b);

  auto big1 = std::make_shared<Buffer>(DType::f64, 2);
  auto big2 = std::make_shared<Buffer>(DType::f64, 2);
  a.data = big1;
  b = a;
  CHECK(a == b);
  b.data = big2;
  CHECK_FALSE(a == b);
}
