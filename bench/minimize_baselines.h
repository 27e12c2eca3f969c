// The baseline of bench_minimize: LBFGSpp (Debian's liblbfgspp-dev 0.1.0), compiled -O3
// -march=native, solving independent problems one after another.
#pragma once

#include <cstdint>

namespace bench {

struct LbfgsppRun {
  int64_t evaluations = 0, iterations = 0, failures = 0;
};
// Minimizes the 2-D Rosenbrock function from each start (a, b interleaved) with LBFGSpp's
// L-BFGS (10 pairs, a backtracking line search to the strong Wolfe conditions, stop at ‖∇f‖₂ ≤ abs_tol); writes the solutions.
LbfgsppRun lbfgspp_rosenbrock(const double* starts, double* solutions, int64_t problems, double abs_tol);

}  // namespace bench
