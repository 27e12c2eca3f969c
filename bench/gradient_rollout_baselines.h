// Hand-written C++ of bench_gradient_rollout's simulation (compiled -O3 -march=native -fopenmp):
// steps of u ← u + 0.1·laplace(u) − 0.01·u³ on an nx × ny grid with zero-gradient boundaries,
// then the loss ½|u|², and the gradient of the loss by a hand-written adjoint loop.
#pragma once

#include <cstdint>

namespace bench {

// The loss after `steps` steps; `a`, `b` are nx·ny scratch arrays.
double rollout_loss(const double* u0, int64_t nx, int64_t ny, int steps, double* a, double* b);

// The loss and its gradient with respect to u0. `states` holds (steps + 1)·nx·ny values (every
// state is kept for the adjoint pass), `lambda` and `work` nx·ny each; the gradient ends in `lambda`.
double rollout_loss_and_gradient(const double* u0, int64_t nx, int64_t ny, int steps, double* states,
                                 double* lambda, double* work);

}  // namespace bench
