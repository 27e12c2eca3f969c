// Explicit heat diffusion on a named-dim grid: a hot spot spreads out while the insulated
// (zero-gradient) walls keep the total heat constant.
#include <phijit/phijit.h>

#include <iostream>

using namespace phijit;

int main() {
  const int64_t n = 48;
  Tensor x = linspace(0, 1, spatial("x", n));
  Tensor y = linspace(0, 1, spatial("y", n));
  Tensor u = exp(-((x - 0.5) * (x - 0.5) + (y - 0.3) * (y - 0.3)) / 0.01);  // (xˢ, yˢ) by broadcasting
  std::cout << "initial temperature  " << u << "\n";
  std::cout << "total heat           " << sum(u) << "\n";

  const double rate = 0.2;  // diffusivity · dt / dx²; explicit Euler is stable up to 0.25 in 2D
  for (int step = 1; step <= 200; ++step) {
    u = u + rate * laplace(u, extrapolation::ZERO_GRADIENT);
    if (step % 50 == 0)
      std::cout << fmt::format("step {:3}: peak {:.4f}, total heat {}\n", step, max(u).item(), sum(u));
  }
  std::cout << "final temperature    " << u << "\n";
  std::cout << "temperature along x at y=0.3: " << u.slice("y", 14) << "\n";
  std::cout << "centre cell: " << u.slice("x", n / 2).slice("y", 14).item() << "\n";
  return 0;
}
