// Baseline of bench_minimize (compiled -O3 -march=native).
#include "bench/minimize_baselines.h"

#include <LBFGS.h>

#include <Eigen/Core>
#include <exception>

namespace bench {

LbfgsppRun lbfgspp_rosenbrock(const double* starts, double* solutions, int64_t problems, double abs_tol) {
  LbfgsppRun run;
  LBFGSpp::LBFGSParam<double> param;
  param.m = 10;
  param.epsilon = abs_tol;
  param.epsilon_rel = 0;
  param.max_iterations = 1000;
  param.linesearch = LBFGSpp::LBFGS_LINESEARCH_BACKTRACKING_STRONG_WOLFE;
  LBFGSpp::LBFGSSolver<double> solver(param);
  auto f = [&run](const Eigen::VectorXd& x, Eigen::VectorXd& g) {
    ++run.evaluations;
    double a = x[0], b = x[1];
    g[0] = -2 * (1 - a) - 400 * a * (b - a * a);
    g[1] = 200 * (b - a * a);
    return (1 - a) * (1 - a) + 100 * (b - a * a) * (b - a * a);
  };
  Eigen::VectorXd x(2);
  for (int64_t p = 0; p < problems; ++p) {
    x << starts[2 * p], starts[2 * p + 1];
    double fx = 0;
    try {
      run.iterations += solver.minimize(f, x, fx);
    } catch (const std::exception&) {
      ++run.failures;  // a line search that could not proceed
    }
    solutions[2 * p] = x[0];
    solutions[2 * p + 1] = x[1];
  }
  return run;
}

}  // namespace bench
