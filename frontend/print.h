// PhiML-style printing of tensors and shapes, for ostreams and fmt (API §2).
#pragma once

#include <fmt/ostream.h>

#include <iosfwd>
#include <string>

#include "frontend/tensor.h"

namespace phijit {

// Small tensors list their values: "(3.000, 2.000) along b_vecᶜ"; larger ones are summarized
// as "(xˢ=64) 0.500 ± 0.289 (3e-04...1e+00)". Dtypes other than float64 are named.
std::string to_string(const Tensor& t);
std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace phijit

template <>
struct fmt::formatter<phijit::Tensor> : fmt::ostream_formatter {};
template <>
struct fmt::formatter<phijit::Shape> : fmt::ostream_formatter {};
