// Elementwise math, comparisons, reductions and losses on tensors (API §3).
#pragma once

#include <string_view>

#include "frontend/tensor.h"

namespace phijit {

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor& operator+=(Tensor& a, const Tensor& b);
Tensor& operator-=(Tensor& a, const Tensor& b);
Tensor& operator*=(Tensor& a, const Tensor& b);
Tensor& operator/=(Tensor& a, const Tensor& b);

Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tan(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor isfinite(const Tensor& x);
Tensor pow(const Tensor& base, const Tensor& exponent);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor clip(const Tensor& x, double lo, double hi);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// Reductions: by default over all non-batch dims; dims may be a Shape or "x,y". Unknown dims
// are a ShapeError.
Tensor sum(const Tensor& x);
Tensor sum(const Tensor& x, std::string_view dims);
Tensor sum(const Tensor& x, const Shape& dims);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, std::string_view dims);
Tensor mean(const Tensor& x, const Shape& dims);
Tensor max(const Tensor& x);
Tensor max(const Tensor& x, std::string_view dims);
Tensor max(const Tensor& x, const Shape& dims);
Tensor min(const Tensor& x);
Tensor min(const Tensor& x, std::string_view dims);
Tensor min(const Tensor& x, const Shape& dims);

Tensor l2_loss(const Tensor& x);  // sum(x*x)/2 over non-batch dims
Tensor l1_loss(const Tensor& x);  // sum(|x|) over non-batch dims

// Contracts a's dims `a_dims` with b's dims `b_dims` (pairwise, equal sizes).
Tensor dot(const Tensor& a, std::string_view a_dims, const Tensor& b, std::string_view b_dims);

// Renames dims: (old, new) pairs; the new dim's type follows its name ("~n" is dual) or the
// old dim's type.
Tensor rename_dims(const Tensor& x, const std::vector<std::pair<std::string, Shape>>& renames);

}  // namespace phijit
