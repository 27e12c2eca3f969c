// Krylov solvers over batches of vectors: CG, CG-adaptive, BiCGStab and restarted GMRES.
// Each batch entry is an independent solve that stops changing once it has converged. Vector
// updates are fused with the dot products they feed and split over the thread pool;
// reductions accumulate in double also for f32 data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/linear_operator.h"
#include "runtime/solve_method.h"

namespace phijit::runtime {

// GMRES restarts after this many inner iterations (its basis holds restart + 1 vectors).
inline constexpr int kGmresRestart = 20;

struct KrylovSettings {
  SolveMethod method = SolveMethod::cg;  // cg, cg_adaptive, bicgstab or gmres
  std::vector<double> tolerance;         // per batch entry: the residual norm ‖y − A x‖₂ to reach
  int max_iterations = 1000;
  const Preconditioner* preconditioner = nullptr;
  bool record_trajectory = false;
};

struct KrylovResult {
  std::vector<int64_t> iterations;            // per batch entry
  std::vector<int64_t> function_evaluations;  // operator applications per batch entry
  std::vector<bool> converged, diverged;
  std::vector<double> residual_norm;  // ‖y − A x‖₂ of the returned x
  BufferPtr residual;                 // y − A x, batch × rows
  std::vector<BufferPtr> trajectory;  // x0, then x after each iteration (when recorded)
};

// Solves A x = y for the `batch` vectors in y (batch × rows), starting from x (batch × cols),
// which receives the result: the solution, or the last finite estimate of an entry that
// diverged. A square operator is required. Convergence is declared on the true residual: when
// the recursive one reaches the tolerance, y − A x is recomputed and the iteration goes on if it
// misses.
KrylovResult solve_krylov(const LinearOperator& A, const Buffer& y, Buffer& x, int64_t batch,
                          const KrylovSettings& settings);

}  // namespace phijit::runtime
