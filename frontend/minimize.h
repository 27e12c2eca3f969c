// minimize and solve_nonlinear (API §7): batched minimizers driven by one compiled value-and-
// gradient program of f (runtime/minimize.h), and Newton's method on f(x) = y with the
// Jacobian extracted as a sparse matrix.
#pragma once

#include <functional>
#include <type_traits>
#include <vector>

#include "frontend/gradient.h"
#include "frontend/linear.h"
#include "frontend/math.h"
#include "frontend/matrices.h"
#include "frontend/solve.h"

namespace phijit {

namespace detail {

// f's outputs then ∇f at x (gradient(f, {0}, true) called on x).
using ValueAndGradientFn = std::function<std::vector<Tensor>(const Tensor& x)>;
Tensor minimize_function(const ValueAndGradientFn& value_and_gradient, const Solve& solve);

// x0 as the minimizers and Newton take it: concrete, floating-point, dense; else an Error
// naming `what`.
void check_x0(const Tensor& x0, std::string_view what);
// Runs the minimizer named by solve.method from x0 and describes the run (not yet finished: no
// tape, no exception). With `residual_tolerance` (one per batch entry) an entry converges once
// √(2 f) reaches it (solve_nonlinear on f = ½‖y − g(x)‖²).
SolveInfo run_minimizer(const ValueAndGradientFn& value_and_gradient, const Solve& solve, const Tensor& x0,
                        std::string_view what, std::vector<double> residual_tolerance = {});

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

// What solve_nonlinear needs of f, compiled: the residual y − f(x), the loss ½‖y − f(x)‖² with
// its gradient, and the Jacobian of f at x as a sparse matrix (c0: zeros shaped like f's value
// without batch dims).
struct NonlinearSystem {
  std::function<Tensor(const Tensor& x, const Tensor& y)> residual;
  std::function<std::vector<Tensor>(const Tensor& x, const Tensor& y)> loss_and_gradient;
  std::function<Tensor(const Tensor& x, const Tensor& c0)> jacobian;
};
Tensor solve_nonlinear_system(const NonlinearSystem& system, const Tensor& y, const Solve& solve);

template <class G>
struct Residual {
  G g;
  Tensor operator()(const Tensor& x, const Tensor& y) const { return y - g(x); }
};
template <class G>
struct HalfSquaredResidual {
  G g;
  Tensor operator()(const Tensor& x, const Tensor& y) const { return l2_loss(y - g(x)); }
};
// Jᵀ c, the vector-Jacobian product of g at x: linear in c, so jit_compile_linear extracts Jᵀ as
// a sparse matrix (stencils stay stencils) whose values are recomputed from x at every call.
template <class G>
struct TransposedJacobianProduct {
  G g;
  Tensor operator()(const Tensor& c, const Tensor& x) const {
    return gradient([this, &c](const Tensor& at) { return sum(g(at) * c); }, {0}, false)(x)[0];
  }
};

// The compiled programs of solve_nonlinear for g (a copy of f, or a reference to it).
template <class G>
struct NonlinearPrograms {
  explicit NonlinearPrograms(const G& g)
      : residual(Residual<G>{g}),
        loss(HalfSquaredResidual<G>{g}, {0}, true),
        transposed_jacobian(TransposedJacobianProduct<G>{g}) {}

  NonlinearSystem system() const {
    return {[this](const Tensor& x, const Tensor& y) { return residual(x, y); },
            [this](const Tensor& x, const Tensor& y) { return loss(x, y); },
            [this](const Tensor& x, const Tensor& c0) {
              return transpose(transposed_jacobian.matrix(c0, x).first);
            }};
  }

  JitFunction<Residual<G>> residual;
  GradientFunction<HalfSquaredResidual<G>> loss;
  LinearFunction<TransposedJacobianProduct<G>> transposed_jacobian;
};

}  // namespace detail

// Solves f(x) = y for x from Solve::x0 (API §7): Newton's method by default.
template <class F>
Tensor solve_nonlinear(F&& f, const Tensor& y, const Solve& solve) {
  using D = std::decay_t<F>;
  if constexpr (std::is_empty_v<D> && std::is_copy_constructible_v<D>) {
    static const detail::NonlinearPrograms<D> per_type(f);  // f has no state: alike for every object
    return detail::solve_nonlinear_system(per_type.system(), y, solve);
  } else {
    auto call = [&f](const Tensor& x) { return f(x); };
    const detail::NonlinearPrograms<decltype(call)> per_call(call);
    return detail::solve_nonlinear_system(per_call.system(), y, solve);
  }
}

// Minimizes f(x) (one value per batch entry of Solve::x0) from Solve::x0 (API §7).
template <class F>
Tensor minimize(F&& f, const Solve& solve) {
  return detail::with_value_and_gradient(
      f, [&](const detail::ValueAndGradientFn& vg) { return detail::minimize_function(vg, solve); });
}

}  // namespace phijit
