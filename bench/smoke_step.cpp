// bench_smoke_step: one step of the smoke example at 256² (semi-Lagrangian advection by
// grid_sample, buoyancy, CG pressure projection), compiled as one jit_compile function against
// the same step run eagerly, and the compiled step's time split into advection (with the
// forces), the pressure solve and the rest.
#include <phijit/phijit.h>

#include <algorithm>
#include <cstdio>
#include <tuple>

#include "bench/bench_util.h"
#include "examples/smoke/smoke.h"

using namespace phijit;

int main() {
  bench::print_header("bench_smoke_step");
  const int reps = bench::reps_from_env(7);
  const int64_t n = 256;
  const Shape grid = spatial("y", n) & spatial("x", n);
  Tensor inflow = smoke::inflow(n), density = zeros(grid), vy = zeros(grid), vx = zeros(grid);
  auto compiled_step = jit_compile(smoke::step);
  // A developed plume: 30 steps first.
  for (int i = 0; i < 30; ++i)
    std::tie(density, vy, vx, std::ignore, std::ignore) = compiled_step(density, vy, vx, inflow);

  auto compiled_advect = jit_compile(smoke::advect_and_force);
  auto compiled_pressure = jit_compile(smoke::pressure);
  auto [d, uy, ux] = compiled_advect(density, vy, vx, inflow);
  SolveTape tape;
  compiled_pressure(uy, ux);
  int64_t cg_iterations = static_cast<int64_t>(tape[0].iterations.item());

  std::vector<bench::Timing> t = bench::time_interleaved(
      {{"compiled step", [&] { compiled_step(density, vy, vx, inflow); }},
       {"eager step", [&] { smoke::step(density, vy, vx, inflow); }},
       {"compiled advection + forces", [&] { compiled_advect(density, vy, vx, inflow); }},
       {"compiled pressure solve", [&] { compiled_pressure(uy, ux); }}},
      2, reps);
  // The parts are timed on their own, so their sum can exceed the step by the noise of the runs.
  double step = t[0].median, advect = t[2].median, solve = std::min(t[3].median, step - advect);
  std::printf("smoke step at %lld², CG to rel_tol %g (%lld iterations); medians of %d interleaved runs\n",
              static_cast<long long>(n), smoke::kTolerance, static_cast<long long>(cg_iterations), reps);
  std::printf("  compiled step                %8.2f ms\n", step * 1e3);
  std::printf("  eager step                   %8.2f ms  (compiled / eager %.2f)\n", t[1].median * 1e3,
              step / t[1].median);
  std::printf(
      "  split of the compiled step:  advection + forces %.2f ms (%.0f %%), pressure solve %.2f ms (%.0f "
      "%%), "
      "rest %.2f ms (%.0f %%)\n",
      advect * 1e3, 100 * advect / step, solve * 1e3, 100 * solve / step, (step - advect - solve) * 1e3,
      100 * (step - advect - solve) / step);
  bool ok = bench::print_goal("compiled smoke step / eager step", step / t[1].median, 1.0, "x");
  ok &= bench::print_goal("share of the step not in the solve", (step - solve) / step, 0.5, "");
  return ok ? 0 : 1;
}
