// Batched minimizers (DESIGN decision 7): `batch` independent problems of n unknowns advance in
// lockstep, with one batched evaluation of f and ∇f per step for all of them, while each entry
// runs its own line search, convergence test and counts (runtime/batched.h's BatchStatus). A
// finished entry stops changing and stops counting. The state is f64 whatever f's dtype.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "runtime/batched.h"
#include "runtime/interpreter.h"

namespace phijit::runtime {

enum class MinimizeMethod : uint8_t {
  lbfgs,  // limited-memory BFGS (kLbfgsPairs pairs), strong Wolfe line search
  bfgs,   // dense inverse Hessian, strong Wolfe line search (small problems)
  gd,     // steepest descent with backtracking
};
inline constexpr int kLbfgsPairs = 10;
// BFGS keeps n² values per entry: larger problems are refused (L-BFGS-B is the method for them).
inline constexpr int64_t kMaxBfgsUnknowns = 2048;
inline constexpr int64_t kMaxBfgsValues = int64_t{1} << 27;  // 1 GiB of Hessians over the batch

// From "auto" (= "L-BFGS-B"), "L-BFGS-B", "BFGS", "GD"; an Error listing the names otherwise.
MinimizeMethod parse_minimize_method(std::string_view name);
std::string_view minimize_method_name(MinimizeMethod method);

// f and ∇f at x (batch × n values) for every entry: f gets batch values, g batch × n. Finished
// entries are evaluated at their last point too (their values are not used).
using ValueAndGradient = std::function<void(const Buffer& x, std::vector<double>& f, Buffer& g)>;

struct MinimizeSettings {
  MinimizeMethod method = MinimizeMethod::lbfgs;
  double rel_tol = 1e-5, abs_tol = 1e-5;
  int max_iterations = 1000;
  bool record_trajectory = false;
  // When set (one value per entry), an entry converges once √(2 f) is at most this value — the
  // residual rule of solve_nonlinear on f = ½‖r‖² — instead of by its gradient norm.
  std::vector<double> residual_tolerance;
};

enum class MinimizeStop : uint8_t {
  converged,
  max_iterations,
  not_finite,   // f or ∇f is not finite at x0
  line_search,  // no step decreased f enough (the precision of f may be exhausted)
};

struct MinimizeResult {
  BatchStatus status;
  std::vector<MinimizeStop> stop;     // per entry
  std::vector<double> f;              // at the returned x
  BufferPtr gradient;                 // at the returned x, batch × n
  std::vector<BufferPtr> trajectory;  // x0, then x after every step in which some entry moved
};

// Minimizes the `batch` problems from x (f64, batch × n), which receives the results: the
// minimum, or the last accepted point of an entry that failed (always finite when x0 is).
MinimizeResult minimize(const ValueAndGradient& fg, Buffer& x, int64_t batch,
                        const MinimizeSettings& settings);

}  // namespace phijit::runtime
