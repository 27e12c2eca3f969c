// bench_minimize: batched minimize and solve_nonlinear (issue 13).
//  1. 10,000 independent 2-D Rosenbrock problems as one batch against LBFGSpp solving them one
//     by one (same run): time ratio and evaluations per problem.
//  2. An inverse problem: recover a 128² initial heat field from its state after 20 compiled
//     steps with L-BFGS-B: iterations, time, and time per iteration against one forward+gradient.
//  3. The nonlinear Poisson problem −laplace(u) + u³ = y at 256²: Newton against L-BFGS-B on
//     ½‖r‖², time to rel_tol 1e-8.
#include <phijit/phijit.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "bench/bench_util.h"
#include "bench/minimize_baselines.h"

using namespace phijit;

namespace {

Tensor rosenbrock(const Tensor& p) {
  Tensor a = p.slice("vector", 0), b = p.slice("vector", 1);
  return (1.0 - a) * (1.0 - a) + 100.0 * (b - a * a) * (b - a * a);
}

double total(const Tensor& t) { return sum(t.astype(DType::f64), t.shape()).item(); }

bool rosenbrock_case(int reps) {
  const int64_t problems = 10000;
  const double abs_tol = 1e-5;
  std::mt19937_64 rng(12);
  std::uniform_real_distribution<double> start(-2, 2);
  std::vector<double> starts(2 * problems);
  for (double& s : starts) s = start(rng);
  Tensor x0 = tensor(starts, batch("problem", problems) & channel("vector", {"a", "b"}));
  Solve solve{.method = "L-BFGS-B",
              .rel_tol = 0,
              .abs_tol = abs_tol,
              .x0 = x0,
              .max_iterations = 1000,
              .suppress = {Failure::not_converged, Failure::diverged}};
  std::vector<double> solutions(2 * problems);
  bench::LbfgsppRun baseline;
  SolveInfo info;
  // The first call compiles the kernels; later calls with this plain function trace it again
  // (well under a millisecond) and take the kernels from the cache.
  minimize(rosenbrock, solve);
  auto phijit_run = [&] {
    SolveTape tape;
    minimize(rosenbrock, solve);
    info = tape[0];
  };
  auto lbfgspp_run = [&] {
    baseline = bench::lbfgspp_rosenbrock(starts.data(), solutions.data(), problems, abs_tol);
  };
  std::vector<bench::Timing> t =
      bench::time_interleaved({{"phijit", phijit_run}, {"LBFGSpp", lbfgspp_run}}, 0, reps);

  double converged = total(info.converged);
  double evals = total(info.function_evaluations) / problems, iters = total(info.iterations) / problems;
  double base_evals = static_cast<double>(baseline.evaluations) / problems;
  double off = 0;
  std::vector<double> x = info.x.to_vector();
  for (double v : x) off = std::max(off, std::abs(v - 1));
  double base_off = 0;
  for (double v : solutions) base_off = std::max(base_off, std::abs(v - 1));
  std::printf("1. %lld Rosenbrock problems from uniform starts in [-2, 2]², L-BFGS, stop at |grad| <= %g\n",
              static_cast<long long>(problems), abs_tol);
  std::printf(
      "   phijit (one batch, lockstep): %8.1f ms, %.0f of %lld converged, %.1f iterations and %.1f "
      "evaluations per problem, max |x - 1| %.1e\n",
      t[0].median * 1e3, converged, static_cast<long long>(problems), iters, evals, off);
  std::printf(
      "   LBFGSpp (one by one):         %8.1f ms, %lld failures, %.1f iterations and %.1f evaluations per "
      "problem, max |x - 1| %.1e\n",
      t[1].median * 1e3, static_cast<long long>(baseline.failures),
      static_cast<double>(baseline.iterations) / problems, base_evals, base_off);
  bool ok = converged == static_cast<double>(problems) && off < 1e-4;
  if (!ok) std::printf("FAILED: not every problem converged to (1, 1)\n");
  ok &= bench::print_goal("Rosenbrock batch time / LBFGSpp", t[0].median / t[1].median, 0.5, "x");
  ok &= bench::print_goal("evaluations per problem / LBFGSpp", evals / base_evals, 1.2, "x");
  return ok;
}

Tensor heat_rollout(const Tensor& u) {
  Tensor v = u;
  for (int i = 0; i < 20; ++i) v = v + 0.2 * laplace(v, extrapolation::ZERO);
  return v;
}

bool inverse_heat_case() {
  const Shape grid = spatial("x", 128) & spatial("y", 128);
  Tensor xs = linspace(0, 127, spatial("x", 128)), ys = linspace(0, 127, spatial("y", 128));
  auto bump = [&](double cx, double cy, double w) {
    return exp(-((xs - cx) * (xs - cx) + (ys - cy) * (ys - cy)) / (2 * w * w));
  };
  Tensor truth = bump(40, 60, 8) + 0.5 * bump(90, 30, 12) - 0.7 * bump(80, 95, 6);
  Tensor observed = jit_compile(heat_rollout)(truth);
  auto loss = [&observed](const Tensor& u) { return l2_loss(heat_rollout(u) - observed); };
  Solve solve{.method = "L-BFGS-B",
              .rel_tol = 1e-6,
              .abs_tol = 0,
              .x0 = zeros(grid),
              .max_iterations = 300,
              .suppress = {Failure::not_converged}};
  auto value_and_gradient = gradient(loss, {0}, true);
  value_and_gradient(zeros(grid));  // compiled once
  bench::Timing one = bench::time_interleaved({{"fg", [&] { value_and_gradient(truth * 0.5); }}}, 2, 11)[0];
  SolveTape tape;
  auto t0 = bench::Clock::now();
  Tensor recovered = minimize(loss, solve);
  double seconds = bench::seconds_since(t0);
  double iterations = tape[0].iterations.item(), evaluations = tape[0].function_evaluations.item();
  double error = std::sqrt(total((recovered - truth) * (recovered - truth)) / total(truth * truth));
  std::printf(
      "\n2. inverse heat problem, 128², 20 explicit steps (dt 0.2), L-BFGS-B from 0 (rel_tol 1e-6)\n");
  std::printf(
      "   %.0f iterations, %.0f evaluations, %.1f ms (incl. trace and compile), %.3f ms per iteration;\n"
      "   one forward+gradient %.3f ms (median of 11): %.2f forward+gradient per iteration;\n"
      "   relative recovery error %.3f (the heat equation damps fine scales: not all are recoverable)\n",
      iterations, evaluations, seconds * 1e3, seconds * 1e3 / iterations, one.median * 1e3,
      seconds / iterations / one.median, error);
  return true;
}

Tensor nonlinear_poisson(const Tensor& u) { return -laplace(u) + u * u * u; }

bool nonlinear_poisson_case(const char* regime, const Tensor& y) {
  const Shape grid = y.shape();
  std::printf("\n3. -laplace(u) + u³ = y at 256² (ZERO boundary), rel_tol 1e-8 on |y - f(u)|, %s\n", regime);
  auto run = [&](const char* method, int max_iterations) {
    Solve s{.method = method,
            .rel_tol = 1e-8,
            .abs_tol = 0,
            .x0 = zeros(grid),
            .max_iterations = max_iterations,
            .suppress = {Failure::not_converged}};
    solve_nonlinear(nonlinear_poisson, y, s);  // compiles
    SolveTape tape;
    auto t0 = bench::Clock::now();
    solve_nonlinear(nonlinear_poisson, y, s);
    double seconds = bench::seconds_since(t0);
    double r = std::sqrt(total(tape[0].residual * tape[0].residual) / total(y * y));
    int64_t inner = 0;
    for (size_t i = 1; i < tape.size(); ++i) inner += static_cast<int64_t>(tape[i].iterations.item());
    std::printf("   %-9s %8.1f ms, %5.0f iterations, %6.0f evaluations, relative residual %.1e%s\n", method,
                seconds * 1e3, tape[0].iterations.item(), tape[0].function_evaluations.item(), r,
                tape.size() > 1
                    ? fmt::format(" ({} linear solves, {} CG iterations)", tape.size() - 1, inner).c_str()
                    : "");
    return seconds;
  };
  double newton = run("Newton", 50);
  double lbfgs = run("L-BFGS-B", 20000);
  std::printf("   Newton / L-BFGS-B time: %.3f\n", newton / lbfgs);
  return true;
}

}  // namespace

int main() {
  bench::print_header("bench_minimize");
  const int reps = bench::reps_from_env(5);
  bool ok = rosenbrock_case(reps);
  ok &= inverse_heat_case();
  const Shape grid = spatial("x", 256) & spatial("y", 256);
  ok &= nonlinear_poisson_case("y ~ U(0, 0.01): diffusion-dominated", 0.01 * random_uniform(grid, 0, 1, 3));
  ok &= nonlinear_poisson_case("y ~ U(10, 15): reaction-dominated", 10.0 + random_uniform(grid, 0, 5, 3));
  return ok ? 0 : 1;
}
