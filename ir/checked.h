// Size arithmetic that cannot wrap. Element counts, byte counts and strides are products of sizes
// that users give; a product that overflows int64 would be a small or negative number that
// allocates too little and indexes out of bounds, so it is a ShapeError instead.
#pragma once

#include <cstdint>

#include "ir/error.h"

namespace phijit {

// a · b for sizes, counts and strides. When the product does not fit in int64, throws a
// ShapeError with the message `describe()` returns; it is called only then, so call sites pay
// nothing for building messages.
template <class Describe>
int64_t checked_mul(int64_t a, int64_t b, Describe&& describe) {
  int64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) [[unlikely]] {
    throw ShapeError(describe());
  }
  return product;
}

// a + b for sizes, like checked_mul.
template <class Describe>
int64_t checked_add(int64_t a, int64_t b, Describe&& describe) {
  int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) [[unlikely]] {
    throw ShapeError(describe());
  }
  return sum;
}

}  // namespace phijit
