// What every solve kind (solve_linear, minimize, solve_nonlinear) does with its result: the
// SolveInfo tensors, the tapes that record it and the exception of a failure — one place for
// all of them (DESIGN decision 7).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "frontend/solve.h"
#include "runtime/interpreter.h"

namespace phijit::detail {

// Whether a tape alive on this thread asks for trajectories.
bool trajectories_requested();

// Slots on the tapes alive now, taken when a solve starts: a solve that runs others (a minimize
// whose f solves) is recorded before them, in the order the solves started.
class TapeSlots {
 public:
  TapeSlots();
  void fill(const SolveInfo& info) const;

 private:
  std::vector<std::pair<SolveTape*, size_t>> slots_;
};

// Every solve ends here: the tapes record it (in `slots`, else at their ends), and a failure not
// in Solve::suppress throws NotConverged or Diverged. Returns info.x.
Tensor finish_solve(const SolveInfo& info, const TapeSlots* slots = nullptr);

// Per-entry counts and flags as tensors of the batch shape.
Tensor integers(const std::vector<int64_t>& v, const Shape& batch);
Tensor booleans(const std::vector<bool>& v, const Shape& batch);
// "<method> with rel_tol=…, abs_tol=…, max_iterations=…[, preconditioner …]" for messages.
std::string describe(const Solve& s, const std::string& method);

// `t` converted to dtype and laid out in the dim order `order` (missing dims broadcast), as a
// buffer of its own (the solvers write into it).
std::shared_ptr<Buffer> owned_layout(const Tensor& t, DType dtype, const std::vector<Dim>& order);
// A buffer laid out in `order` as a tensor, whose Shape may order the same dims otherwise (a
// Shape groups dims by type: a channel dim the solve treats as a batch dim comes after x's).
Tensor tensor_in_order(runtime::BufferPtr b, const std::vector<Dim>& order);
// Snapshots of x (each laid out in `order`) stacked along a new outermost batch dim
// "trajectory" (SolveInfo::trajectory).
Tensor trajectory_tensor(const std::vector<runtime::BufferPtr>& snapshots, DType dtype,
                         const std::vector<Dim>& order);

}  // namespace phijit::detail
