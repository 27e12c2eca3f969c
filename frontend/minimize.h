// minimize and solve_nonlinear (API §7): batched minimizers driven by one compiled value-and-
// gradient program of f (runtime/minimize.h), and Newton's method on f(x) = y with the
// Jacobian extracted as a sparse matrix.
#pragma once

#include <functional>
#include <type_traits>
#include <vector>

#include "frontend/gradient.h"
#include "frontend/solve.h"

namespace phijit {

namespace detail {

// f's outputs then ∇f at x (gradient(f, {0}, true) called on x).
using ValueAndGradientFn = std::function<std::vector<Tensor>(const Tensor& x)>;
Tensor minimize_function(const ValueAndGradientFn& value_and_gradient, const Solve& solve);

// The compiled value and gradient of f: one program per callable type when f has no state (a
// lambda without captures acts alike for every object of its type), else one per call.
template <class F, class Run>
Tensor with_value_and_gradient(F& f, const Run& run) {
  using D = std::decay_t<F>;
  if constexpr (std::is_empty_v<D> && std::is_copy_constructible_v<D>) {
    static const auto per_type = gradient(D(f), {0}, true);
    return run([&](const Tensor& x) { return per_type(x); });
  } else {
    auto per_call = gradient([&f](const Tensor& x) { return f(x); }, {0}, true);
    return run([&](const Tensor& x) { return per_call(x); });
  }
}

}  // namespace detail

// Minimizes f(x) (one value per batch entry of Solve::x0) from Solve::x0 (API §7).
template <class F>
Tensor minimize(F&& f, const Solve& solve) {
  return detail::with_value_and_gradient(
      f, [&](const detail::ValueAndGradientFn& vg) { return detail::minimize_function(vg, solve); });
}

}  // namespace phijit
