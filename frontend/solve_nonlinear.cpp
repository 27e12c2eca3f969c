// solve_nonlinear: Newton's method with a backtracking line search on ½‖y − f(x)‖², each step
// solving J δ = y − f(x) with the Jacobian extracted as a sparse matrix; or a minimize method on
// that loss. Batch entries are independent problems advancing in lockstep.
#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "frontend/collapsed.h"
#include "frontend/minimize.h"
#include "frontend/solve_result.h"
#include "frontend/tensor_data.h"
#include "runtime/batched.h"
#include "runtime/line_search.h"
#include "runtime/log.h"
#include "runtime/minimize.h"

namespace phijit::detail {

namespace {

constexpr std::string_view kWhat = "solve_nonlinear";

// ‖t‖₂ over t's non-batch dims, per entry of `batch`.
std::vector<double> entry_norms(const Tensor& t, const Shape& batch) {
  Tensor squares = sum(t.astype(DType::f64) * t.astype(DType::f64));
  return (zeros(batch) + sqrt(squares)).to_vector();
}

Tensor batch_tensor(const std::vector<double>& values, const Shape& batch) { return tensor(values, batch); }

// The linear solve of a Newton step: the user's settings, else `auto` with a relative
// tolerance that shrinks with the residual (inexact Newton: a loose solve far from the root,
// an accurate one near it, where convergence is quadratic).
Solve newton_step_settings(const Solve& solve, double relative_residual, const Tensor& x) {
  Solve inner = solve.linear_solve ? *solve.linear_solve
                                   : Solve{.method = "auto",
                                           .rel_tol = std::clamp(relative_residual, 1e-12, 0.1),
                                           .abs_tol = 0,
                                           .max_iterations = 100000};
  inner.x0 = zeros_like(x);
  // A step that is not solved well is still a direction; the line search decides.
  inner.suppress = {Failure::not_converged, Failure::diverged};
  return inner;
}

struct NewtonRun {
  Tensor x;
  Tensor residual;
  runtime::BatchStatus status;
  std::vector<std::string> failure;  // per entry, empty when none
  std::vector<runtime::BufferPtr> trajectory;
};

void record(NewtonRun& run, const Tensor& x) {
  if (trajectories_requested()) run.trajectory.push_back(dense_buffer(x));
}

// Newton's method from x0 (with every batch dim of the solve).
NewtonRun run_newton(const NonlinearSystem& system, const Tensor& y, const Solve& solve, const Tensor& x0,
                     const std::vector<double>& tolerance) {
  const Shape batch = x0.shape().batch();
  const auto entries = static_cast<size_t>(batch.volume());
  NewtonRun run{x0,
                system.residual(x0, y),
                runtime::BatchStatus(batch.volume()),
                std::vector<std::string>(entries),
                {}};
  runtime::BatchStatus& status = run.status;
  status.count_evaluation();
  record(run, run.x);
  std::vector<double> norms = entry_norms(run.residual, batch), first_norms = norms;
  status.start(norms, tolerance);
  for (size_t b = 0; b < entries; ++b) {
    if (status.diverged[b]) run.failure[b] = "the residual y − f(x0) is not finite";
    if (status.active[b] && solve.max_iterations == 0) status.active[b] = false;
  }
  const Tensor c0 = zeros(y.shape().non_batch(), x0.dtype());
  while (status.any_active()) {
    double relative = 0;
    std::vector<double> active(entries, 0.0);
    for (size_t b = 0; b < entries; ++b) {
      if (!status.active[b]) continue;
      active[b] = 1;
      relative = std::max(relative, norms[b] / std::max(first_norms[b], 1e-300));
    }
    Tensor step = solve_linear(system.jacobian(run.x, c0), run.residual * batch_tensor(active, batch),
                               newton_step_settings(solve, relative, run.x));
    std::vector<double> step_norms = entry_norms(step, batch);

    // Each active entry backtracks along its step; one evaluation of f per round for all.
    std::vector<std::optional<runtime::BacktrackingSearch>> search(entries);
    for (size_t b = 0; b < entries; ++b) {
      if (!status.active[b]) continue;
      if (!std::isfinite(step_norms[b])) {
        status.diverge(static_cast<int64_t>(b));
        run.failure[b] = "the Newton step is not finite (the Jacobian is singular)";
        continue;
      }
      // φ(α) = ½‖r(x + αδ)‖²; with J δ = r, φ'(0) = −‖r‖².
      search[b].emplace(0.5 * norms[b] * norms[b], -norms[b] * norms[b], 1.0);
    }
    std::vector<double> accepted(entries, 0.0);
    auto searching = [&] {
      return std::any_of(search.begin(), search.end(), [](const auto& s) { return s.has_value(); });
    };
    while (searching()) {
      std::vector<double> alpha(entries, 0.0);
      for (size_t b = 0; b < entries; ++b) alpha[b] = search[b] ? search[b]->alpha() : 0.0;
      Tensor trial = run.x + batch_tensor(alpha, batch) * step;
      Tensor trial_residual = system.residual(trial, y);
      std::vector<double> trial_norms = entry_norms(trial_residual, batch);
      std::vector<double> take(entries, 0.0);
      for (size_t b = 0; b < entries; ++b) {
        if (!search[b]) continue;
        ++status.function_evaluations[b];
        runtime::SearchState s = search[b]->observe(0.5 * trial_norms[b] * trial_norms[b]);
        if (s == runtime::SearchState::accept) {
          take[b] = 1;
          norms[b] = trial_norms[b];
          search[b].reset();
        } else if (s == runtime::SearchState::fail) {
          status.diverge(static_cast<int64_t>(b));
          run.failure[b] = "no step along the Newton direction decreased the residual";
          search[b].reset();
        }
      }
      Tensor take_mask = batch_tensor(take, batch) != 0.0;
      run.x = where(take_mask, trial, run.x);
      run.residual = where(take_mask, trial_residual, run.residual);
      for (size_t b = 0; b < entries; ++b) accepted[b] += take[b];
    }
    for (size_t b = 0; b < entries; ++b) {
      if (accepted[b] == 0) continue;
      ++status.iterations[b];
      if (norms[b] <= tolerance[b]) {
        status.converge(static_cast<int64_t>(b));
      } else if (status.iterations[b] >= solve.max_iterations) {
        status.active[b] = false;
      }
    }
    record(run, run.x);
  }
  return run;
}

std::string describe_run(const Solve& solve, const std::string& method, const SolveInfo& info,
                         const std::vector<std::string>& failure, const Shape& batch) {
  std::vector<double> norms = entry_norms(info.residual, batch);
  double max_norm = 0;
  for (double n : norms) max_norm = std::isnan(n) ? n : std::max(max_norm, n);
  std::string what = fmt::format("{} ({})", kWhat, describe(solve, method));
  for (size_t b = 0; b < failure.size(); ++b) {
    if (!failure[b].empty()) {
      return fmt::format(
          "{} diverged at batch entry {}: {}; x holds the last point that decreased the residual", what, b,
          failure[b]);
    }
  }
  std::vector<double> converged = info.converged.to_vector(), iterations = info.iterations.to_vector();
  double max_it = iterations.empty() ? 0 : *std::max_element(iterations.begin(), iterations.end());
  if (std::find(converged.begin(), converged.end(), 0.0) != converged.end()) {
    return fmt::format("{} did not converge within {} iterations. Max residual: {:.3g}", what,
                       solve.max_iterations, max_norm);
  }
  return fmt::format("{} converged in {} iterations (max residual {:.3g})", what, max_it, max_norm);
}

}  // namespace

Tensor solve_nonlinear_system(const NonlinearSystem& system, const Tensor& y, const Solve& solve) {
  auto t0 = std::chrono::steady_clock::now();
  const Tensor& given_x0 = require_x0(solve, kWhat);
  validate_settings(solve, kWhat);
  bool newton = solve.method == "auto" || solve.method == "Newton";
  if (!newton && solve.method != "L-BFGS-B" && solve.method != "BFGS" && solve.method != "GD") {
    throw Error(
        fmt::format("{}: unknown method '{}'; the methods are auto (= Newton), Newton, L-BFGS-B, BFGS and GD",
                    kWhat, solve.method));
  }
  check_x0(given_x0, kWhat);
  if (is_tracer(y) || y.is_sparse()) throw Error(fmt::format("{}: y must be a concrete dense tensor", kWhat));
  TapeSlots slots;  // before f runs: the linear solves of the steps come after this one on the tapes

  // The solve's batch: x0's and y's batch dims; the tolerance per entry is from y.
  const Shape batch = given_x0.shape().batch() & y.shape().batch();
  Tensor x0 = given_x0.shape().batch() == batch ? given_x0 : given_x0 + zeros(batch, given_x0.dtype());
  std::vector<double> tolerance = entry_norms(y, batch);
  for (double& t : tolerance) t = std::max(solve.rel_tol * t, solve.abs_tol);

  SolveInfo info;
  std::vector<std::string> failure(tolerance.size());
  std::string method = newton ? "Newton" : solve.method;
  if (newton) {
    NewtonRun run = run_newton(system, y, solve, x0, tolerance);
    info.x = run.x;
    info.iterations = integers(run.status.iterations, batch);
    info.function_evaluations = integers(run.status.function_evaluations, batch);
    info.converged = booleans(run.status.converged, batch);
    info.diverged = booleans(run.status.diverged, batch);
    if (!run.trajectory.empty())
      info.trajectory = trajectory_tensor(run.trajectory, x0.dtype(), x0.shape().dims());
    failure = run.failure;
  } else {
    info = run_minimizer([&](const Tensor& x) { return system.loss_and_gradient(x, y); }, solve, x0, kWhat,
                         tolerance);
    std::vector<double> diverged = info.diverged.to_vector();
    for (size_t b = 0; b < diverged.size(); ++b) {
      if (diverged[b] != 0) failure[b] = "the line search could not decrease ½‖y − f(x)‖²";
    }
    method += " on ½‖y − f(x)‖²";
  }
  info.solve = solve;
  info.method = newton ? "Newton" : solve.method;
  info.residual = system.residual(info.x, y);
  info.message = describe_run(solve, method, info, failure, batch);
  runtime::logger().debug("{} (x {}): {}; {:.3f} ms", kWhat, x0.shape().str(), info.message,
                          runtime::ms_since(t0));
  return finish_solve(info, &slots);
}

}  // namespace phijit::detail
