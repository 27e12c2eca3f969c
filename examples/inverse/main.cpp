// An inverse heat problem: the temperature is observed after 20 explicit diffusion steps (with
// a small cubic reaction term), and the initial temperature is recovered by gradient descent
// on ½|simulate(u0) − observed|². The whole descent step (the 20-step simulation, its adjoint
// and the update) is one program compiled by jit_compile around gradient.
#include <phijit/phijit.h>

#include <chrono>
#include <cmath>
#include <iostream>

using namespace phijit;

namespace {

Tensor simulate(const Tensor& u0) {
  Tensor u = u0;
  for (int k = 0; k < 20; ++k) u = u + 0.2 * laplace(u, extrapolation::ZERO_GRADIENT) - 0.05 * u * u * u;
  return u;
}

Tensor misfit(const Tensor& u0, const Tensor& observed) { return l2_loss(simulate(u0) - observed); }

}  // namespace

int main() {
  const int64_t n = 64;
  Tensor x = linspace(0, 1, spatial("x", n));
  Tensor y = linspace(0, 1, spatial("y", n));
  // Two warm blobs of different sizes: the unknown we want back.
  Tensor truth = exp(-((x - 0.3) * (x - 0.3) + (y - 0.6) * (y - 0.6)) / 0.02) +
                 0.5 * exp(-((x - 0.7) * (x - 0.7) + (y - 0.3) * (y - 0.3)) / 0.005);
  Tensor observed = simulate(truth);

  auto descend = jit_compile([](const Tensor& u0, const Tensor& observed, double rate) {
    std::vector<Tensor> loss_and_grad = gradient(misfit, {0})(u0, observed);
    return std::tuple{u0 - rate * loss_and_grad[1], loss_and_grad[0]};
  });
  Tensor guess = zeros(truth.shape());
  auto t0 = std::chrono::steady_clock::now();
  for (int it = 0; it <= 400; ++it) {
    auto [next, loss] = descend(guess, observed, 1.0);
    if (it % 100 == 0) {
      std::cout << fmt::format("iteration {:3}: misfit {:.3e}, |u0 − truth|² / |truth|² = {:.4f}\n", it,
                               loss.item(),
                               sum((guess - truth) * (guess - truth)).item() / sum(truth * truth).item());
    }
    guess = next;
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::cout << fmt::format(
      "401 compiled descent steps (each: 20 steps forward and back) on {}x{} in {:.1f} ms ({} trace)\n", n, n,
      ms, descend.trace_count());
  // The gradient against a finite difference along one direction, as a sanity check users can copy.
  Tensor direction = random_normal(truth.shape(), 5);
  double h = 1e-6;
  double fd =
      (misfit(guess + h * direction, observed).item() - misfit(guess - h * direction, observed).item()) /
      (2 * h);
  double ad = sum(gradient(misfit, {0}, false)(guess, observed)[0] * direction).item();
  std::cout << fmt::format("directional derivative: autodiff {:.9e}, central difference {:.9e}\n", ad, fd);
  // The example doubles as a test (CTest runs it): the unknown must be found and the gradient right.
  double error = sum((guess - truth) * (guess - truth)).item() / sum(truth * truth).item();
  bool ok = error < 1e-2 && std::abs(ad - fd) <= 1e-6 * std::abs(fd);
  if (!ok) std::cout << "FAILED: the recovered initial state or the gradient is off\n";
  return ok ? 0 : 1;
}
