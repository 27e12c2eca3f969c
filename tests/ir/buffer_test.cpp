// Unit tests of ir/buffer.h: allocation failures are phijit Errors naming what was asked for.
#include "ir/buffer.h"

#include <catch2/catch.hpp>
#include <cstdint>

#include "ir/error.h"

using Catch::Contains;
using phijit::Buffer;
using phijit::DType;

TEST_CASE("buffer: a byte count beyond int64 is a ShapeError naming the count and dtype", "[buffer][error]") {
  // 2^61 doubles are 2^64 bytes, which wrapped to 0 and allocated one cache line.
  constexpr int64_t n = int64_t{1} << 61;
  CHECK_THROWS_MATCHES(
      Buffer(DType::f64, n), phijit::ShapeError,
      Catch::Matchers::Message("Cannot allocate 2305843009213693952 elements of float64: the "
                               "byte count does not fit in int64"));
  CHECK_THROWS_WITH(Buffer(DType::i32, INT64_MAX, Buffer::Uninitialized{}),
                    Contains("9223372036854775807 elements of int32"));
  CHECK_THROWS_WITH(
      Buffer(DType::f64, phijit::spatial("x", n)),
      Contains("a tensor of shape (xˢ=2305843009213693952) (2305843009213693952 elements of float64)"));
  // One byte per element: the same count fits.
  CHECK_THROWS_WITH(Buffer(DType::boolean, n), Contains("Out of memory"));
}

TEST_CASE("buffer: a negative count is a ShapeError", "[buffer][error]") {
  CHECK_THROWS_MATCHES(
      Buffer(DType::f32, -1), phijit::ShapeError,
      Catch::Matchers::Message("Cannot allocate -1 elements of float32: a count must be >= 0"));
}

TEST_CASE("buffer: memory that cannot be had is an Error, not std::bad_alloc", "[buffer][error]") {
  // 2^60 bytes: more than any x86-64 address space, whatever the overcommit setting.
  constexpr int64_t n = int64_t{1} << 57;
  CHECK_THROWS_MATCHES(
      Buffer(DType::f64, n), phijit::Error,
      Catch::Matchers::Message("Out of memory: cannot allocate 144115188075855872 elements of "
                               "float64 (1152921504606846976 bytes)"));
  CHECK_THROWS_WITH(
      Buffer(DType::i64, phijit::batch("b", 2) & phijit::spatial("x", n / 2), Buffer::Uninitialized{}),
      Contains("Out of memory") && Contains("(bᵇ=2, xˢ=72057594037927936)"));
}

TEST_CASE("buffer: shapes give their volume, zero-filled", "[buffer]") {
  Buffer b(DType::f32, phijit::spatial("x", 3) & phijit::channel("c", 2));
  REQUIRE(b.count() == 6);
  CHECK(b.bytes() == 24);
  for (int64_t i = 0; i < 6; ++i) CHECK(b.get_real(i) == 0.0);
  CHECK(Buffer(DType::f64, phijit::spatial("x", 0)).count() == 0);
}
