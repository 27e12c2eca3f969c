#include "ir/extrapolation.h"

#include <fmt/format.h>

namespace phijit {

int64_t Extrapolation::source_index(int64_t i, int64_t n) const {
  if (i >= 0 && i < n) return i;
  switch (kind_) {
    case Kind::constant: return -1;
    case Kind::periodic: return ((i % n) + n) % n;
    case Kind::zero_gradient: return i < 0 ? 0 : n - 1;
  }
  return -1;
}

std::string Extrapolation::str() const {
  switch (kind_) {
    case Kind::periodic: return "periodic";
    case Kind::zero_gradient: return "zero-gradient";
    case Kind::constant:
      if (value_ == 0) return "zero";
      if (value_ == 1) return "one";
      return fmt::format("constant({})", value_);
  }
  return "?";
}

namespace extrapolation {
const Extrapolation ZERO = Extrapolation::constant(0);
const Extrapolation ONE = Extrapolation::constant(1);
const Extrapolation PERIODIC = Extrapolation::periodic();
const Extrapolation ZERO_GRADIENT = Extrapolation::zero_gradient();
}  // namespace extrapolation

}  // namespace phijit
