#include "frontend/minimize.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstring>

#include "frontend/collapsed.h"
#include "frontend/solve_result.h"
#include "frontend/tensor_data.h"
#include "runtime/log.h"
#include "runtime/minimize.h"

namespace phijit::detail {

namespace {

// x0 as the minimizers take it: concrete, floating-point, dense.
}  // namespace

void check_x0(const Tensor& x0, std::string_view what) {
  if (is_tracer(x0)) {
    throw Error(fmt::format(
        "{} runs eagerly: its x0 {} is being traced (inside jit_compile or gradient). Call {} outside the "
        "traced function; gradients through {} are not supported",
        what, x0.shape().str(), what, what));
  }
  if (x0.is_sparse()) throw Error(fmt::format("{}: x0 must be a dense tensor, got a sparse matrix", what));
  if (!is_float(x0.dtype())) {
    throw Error(
        fmt::format("{} needs a floating-point x0 (float32 or float64), got {} {}; use x0.astype(DType::f64)",
                    what, dtype_name(x0.dtype()), x0.shape().str()));
  }
}

namespace {

// f's value must be one number per batch entry of x0.
void check_value_shape(const Tensor& value, const Shape& batch) {
  const Shape& s = value.shape();
  bool per_entry = s.non_batch().rank() == 0 && s.rank() == batch.rank();
  for (const std::string& d : s.names()) per_entry &= batch.contains(d) && batch.size(d) == s.size(d);
  if (!per_entry) {
    throw ShapeError(fmt::format(
        "minimize: f must return one value per batch entry of x0, of shape {}; got shape {}. Reduce the "
        "other "
        "dims (e.g. with sum or l2_loss), and keep every batch dim of x0 (they are independent problems)",
        batch.str(), s.str()));
  }
}

// t's values as f64 in the dim order `order` into `out` (one copy when t is already f64 in order).
void copy_in_order(const Tensor& t, const std::vector<Dim>& order, double* out) {
  runtime::BufferPtr values = values_in_order(t.astype(DType::f64), order);
  std::memcpy(out, values->data(), values->bytes());
}

// The runtime's evaluation callback: x (f64, batch × n in x0's dim order) as a tensor like x0,
// f and ∇f from one run of the compiled program, back as f64 in the same order.
runtime::ValueAndGradient evaluator(const ValueAndGradientFn& vg, const Tensor& x0) {
  return [&vg, &x0](const Buffer& x, std::vector<double>& f, Buffer& g) {
    // An f64 x is read in place: the tensor does not own it and lives only for this call (the
    // compiled program keeps no reference to its arguments).
    std::shared_ptr<const Buffer> typed(std::shared_ptr<const Buffer>(), &x);
    if (x0.dtype() != DType::f64) {
      auto narrow = std::make_shared<Buffer>(x0.dtype(), x.count(), Buffer::Uninitialized{});
      for (int64_t i = 0; i < x.count(); ++i) narrow->as<float>()[i] = static_cast<float>(x.as<double>()[i]);
      typed = narrow;
    }
    std::vector<Tensor> out = vg(make_tensor(typed, x0.shape()));
    const Shape batch = x0.shape().batch();
    check_value_shape(out.front(), batch);
    copy_in_order(out.front(), batch.dims(), f.data());
    copy_in_order(out.back(), x0.shape().dims(), g.as<double>());
  };
}

std::string message(const Solve& solve, const std::string& method, const runtime::MinimizeResult& r,
                    const Buffer& gradient) {
  auto batch = static_cast<int64_t>(r.stop.size());
  int64_t n = batch > 0 ? gradient.count() / batch : 0;
  double max_norm = 0;
  for (int64_t b = 0; b < batch; ++b) {
    double s = 0;
    for (int64_t i = b * n; i < (b + 1) * n; ++i) s += gradient.as<double>()[i] * gradient.as<double>()[i];
    max_norm = std::max(max_norm, std::sqrt(s));
  }
  int64_t max_it = 0;
  for (int64_t it : r.status.iterations) max_it = std::max(max_it, it);
  std::string what = "minimize (" + describe(solve, method) + ")";
  for (size_t b = 0; b < r.stop.size(); ++b) {
    if (r.stop[b] == runtime::MinimizeStop::not_finite) {
      return fmt::format("{} diverged: f or its gradient is not finite at x0 (batch entry {})", what, b);
    }
    if (r.stop[b] == runtime::MinimizeStop::line_search) {
      return fmt::format(
          "{} diverged: the line search could not decrease f at batch entry {} after {} iterations (gradient "
          "norm {:.3g}); f may have no minimum, or its precision is exhausted (relax abs_tol or rel_tol). x "
          "holds "
          "the last point that decreased f",
          what, b, r.status.iterations[b], max_norm);
    }
  }
  for (runtime::MinimizeStop s : r.stop) {
    if (s == runtime::MinimizeStop::max_iterations) {
      return fmt::format("{} did not converge within {} iterations. Max gradient norm: {:.3g}", what,
                         solve.max_iterations, max_norm);
    }
  }
  return fmt::format("{} converged in {} iterations (max gradient norm {:.3g})", what, max_it, max_norm);
}

}  // namespace

SolveInfo run_minimizer(const ValueAndGradientFn& value_and_gradient, const Solve& solve, const Tensor& x0,
                        std::string_view what, std::vector<double> residual_tolerance) {
  auto t0 = std::chrono::steady_clock::now();
  runtime::MinimizeMethod method = runtime::parse_minimize_method(solve.method);
  const Shape batch = x0.shape().batch();
  std::shared_ptr<Buffer> x = owned_layout(x0, DType::f64, x0.shape().dims());
  runtime::MinimizeSettings settings{.method = method,
                                     .rel_tol = solve.rel_tol,
                                     .abs_tol = solve.abs_tol,
                                     .max_iterations = solve.max_iterations,
                                     .record_trajectory = trajectories_requested(),
                                     .residual_tolerance = std::move(residual_tolerance)};
  runtime::MinimizeResult r = [&] {
    try {
      return runtime::minimize(evaluator(value_and_gradient, x0), *x, batch.volume(), settings);
    } catch (const ShapeError& e) {
      throw ShapeError(
          fmt::format("{}: evaluating f on x of shape {}: {}", what, x0.shape().str(), e.what()));
    }
  }();

  std::string method_name(runtime::minimize_method_name(method));
  SolveInfo info;
  info.solve = solve;
  info.method = method_name;
  info.x = make_tensor(x, x0.shape()).astype(x0.dtype());
  info.residual = make_tensor(r.gradient, x0.shape()).astype(x0.dtype());
  info.iterations = integers(r.status.iterations, batch);
  info.function_evaluations = integers(r.status.function_evaluations, batch);
  info.converged = booleans(r.status.converged, batch);
  info.diverged = booleans(r.status.diverged, batch);
  if (!r.trajectory.empty()) {
    info.trajectory = trajectory_tensor(r.trajectory, DType::f64, x0.shape().dims()).astype(x0.dtype());
  }
  info.message = message(solve, method_name, r, *r.gradient);
  runtime::logger().debug("{} (x {}): {}; {:.3f} ms", what, x0.shape().str(), info.message,
                          runtime::ms_since(t0));
  return info;
}

Tensor minimize_function(const ValueAndGradientFn& value_and_gradient, const Solve& solve) {
  const Tensor& x0 = require_x0(solve, "minimize");
  validate_settings(solve, "minimize");
  runtime::parse_minimize_method(solve.method);  // an unknown method fails before f runs
  check_x0(x0, "minimize");
  TapeSlots slots;  // before f runs: its own solves come after this one on the tapes
  return finish_solve(run_minimizer(value_and_gradient, solve, x0, "minimize"), &slots);
}

}  // namespace phijit::detail
