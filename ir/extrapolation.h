// How values outside a tensor are defined for pad, shift and the stencils (API §4).
#pragma once

#include <cstdint>
#include <string>

namespace phijit {

class Extrapolation {
 public:
  enum class Kind : uint8_t { constant, periodic, zero_gradient };

  static Extrapolation constant(double value) { return {Kind::constant, value}; }
  static Extrapolation periodic() { return {Kind::periodic, 0}; }
  static Extrapolation zero_gradient() { return {Kind::zero_gradient, 0}; }

  Kind kind() const { return kind_; }
  double value() const { return value_; }  // the constant's value (constant kind only)

  // Where index `i` of a dim of size `n` reads from: an index in [0, n), or -1 when the value
  // is this extrapolation's constant. n must be > 0.
  int64_t source_index(int64_t i, int64_t n) const;

  bool operator==(const Extrapolation&) const = default;
  std::string str() const;  // zero, one, periodic, zero-gradient, constant(2.5)

 private:
  Extrapolation(Kind kind, double value) : kind_(kind), value_(value) {}
  Kind kind_;
  double value_;
};

namespace extrapolation {
extern const Extrapolation ZERO;
extern const Extrapolation ONE;
extern const Extrapolation PERIODIC;
extern const Extrapolation ZERO_GRADIENT;
inline Extrapolation constant(double value) { return Extrapolation::constant(value); }
}  // namespace extrapolation

}  // namespace phijit
