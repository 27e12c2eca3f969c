// Explicit heat diffusion on a named-dim grid: a hot spot spreads out while the insulated
// (zero-gradient) walls keep the total heat constant. The step is compiled by jit_compile.
// Pictures of the initial and final temperature go to ./phijit-pictures/heat/.
#include <phijit/phijit.h>

#include <chrono>
#include <cmath>
#include <iostream>

#include "common/plot.h"

using namespace phijit;

int main() {
  const int64_t n = 256;
  Tensor x = linspace(0, 1, spatial("x", n));
  Tensor y = linspace(0, 1, spatial("y", n));
  Tensor u = exp(-((x - 0.5) * (x - 0.5) + (y - 0.3) * (y - 0.3)) / 0.01);  // (xˢ, yˢ) by broadcasting
  const double heat0 = sum(u).item();
  std::cout << "initial temperature  " << u << "\n";
  std::cout << "total heat           " << heat0 << "\n";
  const std::string dir = examples::picture_dir("heat");
  const ImageOptions colors{.vmin = 0, .vmax = max(u).item(), .scale = 2};
  write_png(u, dir + "/initial.png", colors);

  // rate = diffusivity · dt / dx²; explicit Euler is stable up to 0.25 in 2D.
  auto step = jit_compile(
      [](const Tensor& u, double rate) { return u + rate * laplace(u, extrapolation::ZERO_GRADIENT); });
  Tensor eager = u + 0.2 * laplace(u, extrapolation::ZERO_GRADIENT);
  double compiled_vs_eager = max(abs(step(u, 0.2) - eager)).item();
  std::cout << "compiled step vs eager step, max difference: " << compiled_vs_eager << "\n";

  auto t0 = std::chrono::steady_clock::now();
  std::vector<double> peaks{max(u).item()};
  for (int i = 1; i <= 1000; ++i) {
    u = step(u, 0.2);
    if (i % 10 == 0) peaks.push_back(max(u).item());
    if (i % 250 == 0)
      std::cout << fmt::format("step {:4}: peak {:.4f}, total heat {}\n", i, max(u).item(), sum(u));
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "final temperature    " << u << "\n";
  std::cout << fmt::format("1000 compiled steps on {}x{} in {:.1f} ms ({} trace)\n", n, n, ms,
                           step.trace_count());
  write_png(u, dir + "/final.png", colors);
  examples::plot_lines(dir + "/peak.png", "peak temperature", "step / 10", "max u", {{"peak", peaks}}, false);
  std::cout << "pictures: " << dir << "/{initial,final,peak}.png\n";

  // The example doubles as a test: insulated walls conserve heat, and compiled equals eager.
  double drift = std::abs(sum(u).item() - heat0) / heat0;
  bool ok = drift < 1e-9 && compiled_vs_eager < 1e-12;
  if (!ok)
    std::cout << fmt::format("FAILED: heat drifted by {:.2e} or compiled differs by {:.2e}\n", drift,
                             compiled_vs_eager);
  return ok ? 0 : 1;
}
