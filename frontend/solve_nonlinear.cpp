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

// Newton's method from x0 (with every batch dim of the solve): each iteration one linear solve
// for the steps of all active entries, then backtracking rounds, each one evaluation of f for all.
class Newton {
 public:
  Newton(const NonlinearSystem& system, const Tensor& y, const Solve& solve, const Tensor& x0,
         const std::vector<double>& tolerance)
      : system_(system),
        y_(y),
        solve_(solve),
        tolerance_(tolerance),
        batch_(x0.shape().batch()),
        entries_(static_cast<size_t>(batch_.volume())),
        run_{x0,
             system.residual(x0, y),
             runtime::BatchStatus(batch_.volume()),
             std::vector<std::string>(entries_),
             {}},
        c0_(zeros(y.shape().non_batch(), x0.dtype())) {}

  NewtonRun run() {
    start();
    while (status().any_active()) iterate();
    return std::move(run_);
  }

 private:
  using Searches = std::vector<std::optional<runtime::BacktrackingSearch>>;

  runtime::BatchStatus& status() { return run_.status; }

  void start() {
    status().count_evaluation();
    record();
    norms_ = first_norms_ = entry_norms(run_.residual, batch_);
    status().start(norms_, tolerance_);
    for (size_t b = 0; b < entries_; ++b) {
      if (status().diverged[b]) run_.failure[b] = "the residual y − f(x0) is not finite";
      if (status().active[b] && solve_.max_iterations == 0) status().active[b] = false;
    }
  }

  void iterate() {
    Tensor step = newton_step();
    Searches searches = start_searches(step);
    std::vector<bool> moved(entries_, false);
    while (std::any_of(searches.begin(), searches.end(), [](const auto& s) { return s.has_value(); }))
      search_round(step, searches, moved);
    for (size_t b = 0; b < entries_; ++b) {
      if (!moved[b]) continue;
      ++status().iterations[b];
      if (norms_[b] <= tolerance_[b]) {
        status().converge(static_cast<int64_t>(b));
      } else if (status().iterations[b] >= solve_.max_iterations) {
        status().active[b] = false;
      }
    }
    record();
  }

  // δ with J δ = y − f(x) for the active entries (zero for the others).
  Tensor newton_step() {
    double relative = 0;
    std::vector<double> active(entries_, 0.0);
    for (size_t b = 0; b < entries_; ++b) {
      if (!status().active[b]) continue;
      active[b] = 1;
      relative = std::max(relative, norms_[b] / std::max(first_norms_[b], 1e-300));
    }
    return solve_linear(system_.jacobian(run_.x, c0_), run_.residual * batch_tensor(active, batch_),
                        newton_step_settings(solve_, relative, run_.x));
  }

  // A backtracking search along δ for each active entry whose step is finite.
  Searches start_searches(const Tensor& step) {
    std::vector<double> step_norms = entry_norms(step, batch_);
    Searches searches(entries_);
    for (size_t b = 0; b < entries_; ++b) {
      if (!status().active[b]) continue;
      if (!std::isfinite(step_norms[b])) {
        fail(b, "the Newton step is not finite (the Jacobian is singular)");
        continue;
      }
      // φ(α) = ½‖r(x + αδ)‖²; with J δ = r, φ'(0) = −‖r‖².
      searches[b].emplace(0.5 * norms_[b] * norms_[b], -norms_[b] * norms_[b], 1.0);
    }
    return searches;
  }

  // One evaluation of f at every searching entry's trial point; entries that accept move there.
  void search_round(const Tensor& step, Searches& searches, std::vector<bool>& moved) {
    std::vector<double> alpha(entries_, 0.0);
    for (size_t b = 0; b < entries_; ++b) alpha[b] = searches[b] ? searches[b]->alpha() : 0.0;
    Tensor trial = run_.x + batch_tensor(alpha, batch_) * step;
    Tensor trial_residual = system_.residual(trial, y_);
    std::vector<double> trial_norms = entry_norms(trial_residual, batch_);
    std::vector<double> take(entries_, 0.0);
    for (size_t b = 0; b < entries_; ++b) {
      if (!searches[b]) continue;
      ++status().function_evaluations[b];
      runtime::SearchState s = searches[b]->observe(0.5 * trial_norms[b] * trial_norms[b]);
      if (s == runtime::SearchState::evaluate) continue;
      if (s == runtime::SearchState::accept) {
        take[b] = 1;
        moved[b] = true;
        norms_[b] = trial_norms[b];
      } else {
        fail(b, "no step along the Newton direction decreased the residual");
      }
      searches[b].reset();
    }
    Tensor take_mask = batch_tensor(take, batch_) != 0.0;
    run_.x = where(take_mask, trial, run_.x);
    run_.residual = where(take_mask, trial_residual, run_.residual);
  }

  void record() {
    if (trajectories_requested()) run_.trajectory.push_back(dense_buffer(run_.x));
  }

  void fail(size_t b, const char* why) {
    status().diverge(static_cast<int64_t>(b));
    run_.failure[b] = why;
  }

  const NonlinearSystem& system_;
  const Tensor& y_;
  const Solve& solve_;
  const std::vector<double>& tolerance_;
  const Shape batch_;
  const size_t entries_;
  NewtonRun run_;
  const Tensor c0_;  // zeros shaped like f's value without batch dims (the Jacobian's columns)
  std::vector<double> norms_, first_norms_;  // ‖y − f(x)‖ per entry, now and at x0
};

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
    NewtonRun run = Newton(system, y, solve, x0, tolerance).run();
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
