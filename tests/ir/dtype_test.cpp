// Unit tests of ir/dtype.h, ir/extrapolation.h and ir/buffer.h.
#include "ir/dtype.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>

#include "ir/buffer.h"
#include "ir/extrapolation.h"

using phijit::Buffer;
using phijit::DType;
using phijit::Extrapolation;
using phijit::promote;

TEST_CASE("dtype names and sizes", "[dtype]") {
  CHECK(phijit::dtype_name(DType::f32) == "float32");
  CHECK(phijit::dtype_name(DType::f64) == "float64");
  CHECK(phijit::dtype_name(DType::i32) == "int32");
  CHECK(phijit::dtype_name(DType::i64) == "int64");
  CHECK(phijit::dtype_name(DType::boolean) == "bool");
  CHECK(phijit::dtype_size(DType::f32) == 4);
  CHECK(phijit::dtype_size(DType::f64) == 8);
  CHECK(phijit::dtype_size(DType::i32) == 4);
  CHECK(phijit::dtype_size(DType::i64) == 8);
  CHECK(phijit::dtype_size(DType::boolean) == 1);
  CHECK(phijit::is_float(DType::f32));
  CHECK(phijit::is_float(DType::f64));
  CHECK_FALSE(phijit::is_float(DType::i64));
  CHECK_FALSE(phijit::is_float(DType::boolean));
  CHECK(phijit::is_integer(DType::i32));
  CHECK(phijit::is_integer(DType::i64));
  CHECK_FALSE(phijit::is_integer(DType::boolean));
  CHECK_FALSE(phijit::is_integer(DType::f32));
}

TEST_CASE("promote without weak operands follows numpy", "[dtype]") {
  // Same type stays.
  for (DType t : {DType::f32, DType::f64, DType::i32, DType::i64, DType::boolean}) CHECK(promote(t, t) == t);
  CHECK(promote(DType::boolean, DType::i32) == DType::i32);
  CHECK(promote(DType::boolean, DType::i64) == DType::i64);
  CHECK(promote(DType::boolean, DType::f32) == DType::f32);
  CHECK(promote(DType::boolean, DType::f64) == DType::f64);
  CHECK(promote(DType::i32, DType::i64) == DType::i64);
  CHECK(promote(DType::i64, DType::i32) == DType::i64);
  CHECK(promote(DType::f32, DType::f64) == DType::f64);
  CHECK(promote(DType::f64, DType::f32) == DType::f64);
  CHECK(promote(DType::i64, DType::f64) == DType::f64);
  // An f32 cannot hold every 32-bit integer: numpy gives f64.
  CHECK(promote(DType::i32, DType::f32) == DType::f64);
  CHECK(promote(DType::f32, DType::i32) == DType::f64);
  CHECK(promote(DType::f32, DType::i64) == DType::f64);
}

TEST_CASE("a weak scalar takes the other operand's float type", "[dtype]") {
  CHECK(promote(DType::f32, DType::f64, false, true) == DType::f32);
  CHECK(promote(DType::f64, DType::f32, true, false) == DType::f32);
  CHECK(promote(DType::f64, DType::f64, false, true) == DType::f64);
  // Against integers and booleans a double scalar makes the result f64.
  CHECK(promote(DType::i32, DType::f64, false, true) == DType::f64);
  CHECK(promote(DType::f64, DType::i64, true, false) == DType::f64);
  CHECK(promote(DType::boolean, DType::f64, false, true) == DType::f64);
  // Both weak: ordinary promotion.
  CHECK(promote(DType::f64, DType::f64, true, true) == DType::f64);
  CHECK(promote(DType::f32, DType::f64, true, true) == DType::f64);
}

TEST_CASE("float_type and sum_type", "[dtype]") {
  CHECK(phijit::float_type(DType::f32) == DType::f32);
  CHECK(phijit::float_type(DType::f64) == DType::f64);
  CHECK(phijit::float_type(DType::i32) == DType::f64);
  CHECK(phijit::float_type(DType::i64) == DType::f64);
  CHECK(phijit::float_type(DType::boolean) == DType::f64);
  CHECK(phijit::sum_type(DType::f32) == DType::f32);
  CHECK(phijit::sum_type(DType::f64) == DType::f64);
  CHECK(phijit::sum_type(DType::i32) == DType::i64);
  CHECK(phijit::sum_type(DType::i64) == DType::i64);
  CHECK(phijit::sum_type(DType::boolean) == DType::i64);
}

TEST_CASE("constant extrapolation reads -1 outside", "[extrapolation]") {
  Extrapolation e = phijit::extrapolation::constant(2.5);
  CHECK(e.kind() == Extrapolation::Kind::constant);
  CHECK(e.value() == 2.5);
  CHECK(e.source_index(0, 4) == 0);
  CHECK(e.source_index(3, 4) == 3);
  CHECK(e.source_index(-1, 4) == -1);
  CHECK(e.source_index(4, 4) == -1);
  CHECK(e.source_index(100, 4) == -1);
  CHECK(phijit::extrapolation::ZERO.value() == 0);
  CHECK(phijit::extrapolation::ONE.value() == 1);
  CHECK(phijit::extrapolation::ZERO.source_index(-2, 3) == -1);
  CHECK(phijit::extrapolation::ZERO.source_index(0, 0) == -1);  // an empty dim has no inside
}

TEST_CASE("periodic extrapolation wraps, also far away", "[extrapolation]") {
  const Extrapolation& e = phijit::extrapolation::PERIODIC;
  CHECK(e.kind() == Extrapolation::Kind::periodic);
  CHECK(e.source_index(2, 4) == 2);
  CHECK(e.source_index(-1, 4) == 3);
  CHECK(e.source_index(-4, 4) == 0);
  CHECK(e.source_index(-5, 4) == 3);
  CHECK(e.source_index(4, 4) == 0);
  CHECK(e.source_index(5, 4) == 1);
  CHECK(e.source_index(13, 4) == 1);
  CHECK(e.source_index(-13, 4) == 3);
  CHECK(e.source_index(-1001, 7) == 0);  // -1001 = -143·7
  CHECK(e.source_index(7, 1) == 0);
}

TEST_CASE("zero-gradient extrapolation clamps to the edge", "[extrapolation]") {
  const Extrapolation& e = phijit::extrapolation::ZERO_GRADIENT;
  CHECK(e.kind() == Extrapolation::Kind::zero_gradient);
  CHECK(e.source_index(1, 3) == 1);
  CHECK(e.source_index(-1, 3) == 0);
  CHECK(e.source_index(-50, 3) == 0);
  CHECK(e.source_index(3, 3) == 2);
  CHECK(e.source_index(50, 3) == 2);
}

TEST_CASE("extrapolation names and equality", "[extrapolation]") {
  CHECK(phijit::extrapolation::ZERO.str() == "zero");
  CHECK(phijit::extrapolation::ONE.str() == "one");
  CHECK(phijit::extrapolation::PERIODIC.str() == "periodic");
  CHECK(phijit::extrapolation::ZERO_GRADIENT.str() == "zero-gradient");
  CHECK(phijit::extrapolation::constant(2.5).str() == "constant(2.5)");
  CHECK(phijit::extrapolation::constant(-3).str() == "constant(-3)");
  CHECK(phijit::extrapolation::constant(0) == phijit::extrapolation::ZERO);
  CHECK(phijit::extrapolation::constant(1) == phijit::extrapolation::ONE);
  CHECK_FALSE(phijit::extrapolation::ZERO == phijit::extrapolation::ONE);
  CHECK_FALSE(phijit::extrapolation::PERIODIC == phijit::extrapolation::ZERO_GRADIENT);
  CHECK_FALSE(phijit::extrapolation::PERIODIC == phijit::extrapolation::ZERO);
}

TEST_CASE("real_to_int truncates, maps NaN to 0 and saturates", "[buffer]") {
  CHECK(phijit::real_to_int(2.9) == 2);
  CHECK(phijit::real_to_int(-2.9) == -2);
  CHECK(phijit::real_to_int(0.0) == 0);
  CHECK(phijit::real_to_int(NAN) == 0);
  CHECK(phijit::real_to_int(1e300) == std::numeric_limits<int64_t>::max());
  CHECK(phijit::real_to_int(-1e300) == std::numeric_limits<int64_t>::min());
  CHECK(phijit::real_to_int(INFINITY) == std::numeric_limits<int64_t>::max());
}

TEST_CASE("buffers are aligned, zero-filled and convert on access", "[buffer]") {
  Buffer b(DType::f32, 5);
  CHECK(b.count() == 5);
  CHECK(b.bytes() == 20);
  CHECK(reinterpret_cast<uintptr_t>(b.data()) % Buffer::kAlignment == 0);
  for (int i = 0; i < 5; ++i) CHECK(b.get_real(i) == 0);
  b.set_real(1, 1.5);
  CHECK(b.as<float>()[1] == 1.5f);
  CHECK(b.get_int(1) == 1);

  Buffer i32(DType::i32, 3);
  i32.set_real(0, -7.8);  // truncates
  CHECK(i32.get_int(0) == -7);
  i32.set_int(1, (int64_t{1} << 32) + 5);  // wraps
  CHECK(i32.get_int(1) == 5);
  i32.set_real(2, NAN);
  CHECK(i32.get_int(2) == 0);

  Buffer flags(DType::boolean, 3);
  flags.set_real(0, 0.25);
  flags.set_int(1, -4);
  CHECK(flags.get_int(0) == 1);
  CHECK(flags.get_int(1) == 1);
  CHECK(flags.get_real(2) == 0);

  Buffer empty(DType::f64, 0);
  CHECK(empty.bytes() == 0);
  CHECK(empty.data() != nullptr);
}
