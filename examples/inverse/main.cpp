// An inverse heat problem: the temperature is observed after 20 explicit diffusion steps (with
// a small cubic reaction term), and the initial temperature is recovered by minimize (L-BFGS-B)
// on ½|simulate(u0) − observed|². Every evaluation of the loss and its gradient runs one
// compiled program: the 20 steps forward and their adjoint. Pictures of the truth, the
// observation and the recovery, and the loss curve, go to ./phijit-pictures/inverse/.
#include <phijit/phijit.h>

#include <chrono>
#include <cmath>
#include <iostream>

#include "common/plot.h"

using namespace phijit;

namespace {

Tensor simulate(const Tensor& u0) {
  Tensor u = u0;
  for (int k = 0; k < 20; ++k) u = u + 0.2 * laplace(u, extrapolation::ZERO_GRADIENT) - 0.05 * u * u * u;
  return u;
}

Tensor misfit(const Tensor& u0, const Tensor& observed) { return l2_loss(simulate(u0) - observed); }

double relative_error(const Tensor& a, const Tensor& truth) {
  return sum((a - truth) * (a - truth)).item() / sum(truth * truth).item();
}

}  // namespace

int main() {
  const int64_t n = 64;
  Tensor x = linspace(0, 1, spatial("x", n));
  Tensor y = linspace(0, 1, spatial("y", n));
  // Two warm blobs of different sizes: the unknown we want back.
  Tensor truth = exp(-((x - 0.3) * (x - 0.3) + (y - 0.6) * (y - 0.6)) / 0.02) +
                 0.5 * exp(-((x - 0.7) * (x - 0.7) + (y - 0.3) * (y - 0.3)) / 0.005);
  Tensor observed = simulate(truth);

  SolveTape tape(/*record_trajectories=*/true);
  auto t0 = std::chrono::steady_clock::now();
  Tensor recovered = minimize([&observed](const Tensor& u0) { return misfit(u0, observed); },
                              Solve{.method = "L-BFGS-B",
                                    .rel_tol = 1e-6,
                                    .abs_tol = 0,
                                    .x0 = zeros(truth.shape()),
                                    .max_iterations = 500});
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const SolveInfo& info = tape[0];
  double error = relative_error(recovered, truth);
  std::cout << info.message << "\n";
  std::cout << fmt::format(
      "{} evaluations of the loss and its gradient (20 steps forward and back) on {}x{} in "
      "{:.1f} ms; |u0 − truth|² / |truth|² = {:.2e}\n",
      info.function_evaluations.item(), n, n, ms, error);

  // The loss after every iteration, from the recorded trajectory.
  examples::Series loss{"½|simulate(u0) − observed|²", {}};
  for (int64_t k = 0; k < info.trajectory->shape().size("trajectory"); ++k)
    loss.values.push_back(misfit(info.trajectory->slice("trajectory", k), observed).item());
  const std::string dir = examples::picture_dir("inverse");
  const ImageOptions colors{.vmin = 0, .vmax = max(truth).item(), .scale = 4};
  write_png(truth, dir + "/truth.png", colors);
  write_png(observed, dir + "/observed.png", colors);
  write_png(recovered, dir + "/recovered.png", colors);
  examples::plot_lines(dir + "/loss.png", "inverse heat problem, L-BFGS-B", "iteration", "loss", {loss},
                       true);
  std::cout << "pictures: " << dir << "/{truth,observed,recovered,loss}.png\n";

  // The gradient against a finite difference along one direction, as a sanity check users can copy.
  Tensor direction = random_normal(truth.shape(), 5);
  Tensor guess = 0.5 * recovered;
  double h = 1e-6;
  double fd =
      (misfit(guess + h * direction, observed).item() - misfit(guess - h * direction, observed).item()) /
      (2 * h);
  double ad = sum(gradient(misfit, {0}, false)(guess, observed)[0] * direction).item();
  std::cout << fmt::format("directional derivative: autodiff {:.9e}, central difference {:.9e}\n", ad, fd);
  // The example doubles as a test (CTest runs it): the unknown must be found and the gradient right.
  bool ok = error < 1e-3 && std::abs(ad - fd) <= 1e-6 * std::abs(fd);
  if (!ok) std::cout << "FAILED: the recovered initial state or the gradient is off\n";
  return ok ? 0 : 1;
}
