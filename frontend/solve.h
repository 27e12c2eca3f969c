// Linear solves (API §7): solve_linear over dense and sparse matrices, jit_compile_linear
// functions and plain callables (matrix-free), with per-batch convergence, failures as
// exceptions carrying the last estimate, and SolveTape records.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "frontend/jit.h"
#include "frontend/linear.h"
#include "frontend/matrices.h"
#include "frontend/tensor.h"
#include "ir/error.h"

namespace phijit {

enum class Failure { not_converged, diverged };

struct Solve {
  // linear: auto, CG, CG-adaptive, biCG-stab, GMRES, direct. `auto` picks direct for dense
  // matrices, CG for symmetric sparse ones (and symmetric stencils), biCG-stab for
  // non-symmetric ones and for plain callables, whose symmetry is unknown.
  // minimize: auto (= L-BFGS-B), L-BFGS-B, BFGS, GD. solve_nonlinear: auto (= Newton), Newton,
  // or a minimize method on ½‖y − f(x)‖².
  std::string method = "auto";
  double rel_tol = 1e-5;
  double abs_tol = 1e-5;
  std::optional<Tensor> x0;  // required; the solution has x0's dims plus y's batch dims
  int max_iterations = 1000;
  std::vector<Failure> suppress;                // failures that return the last estimate instead of throwing
  std::string preconditioner;                   // "", "jacobi", "ilu"
  std::shared_ptr<const Solve> gradient_solve;  // settings of the adjoint solve (null: same as this, x0 = 0)
  bool grad_for_f = false;                      // also differentiate w.r.t. f's extra arguments
  // solve_nonlinear with Newton's method: the settings of the linear solve of each step (its x0
  // is ignored). Null: method "auto" with a tolerance that tightens as the residual falls.
  std::shared_ptr<const Solve> linear_solve;
};

struct SolveInfo {
  Solve solve;                              // the settings given
  std::string method;                       // the method that ran ("auto" resolved)
  Tensor x, residual;                       // solution or last estimate; y − f(x)
  Tensor iterations, function_evaluations;  // integer tensors, one value per batch entry
  Tensor converged, diverged;               // boolean tensors, one value per batch entry
  std::string message;
  std::optional<Tensor> trajectory;  // x0, then x after every iteration, along batch dim "trajectory"
};

class ConvergenceException : public Error {
 public:
  ConvergenceException(SolveInfo info, const std::string& message)
      : Error(message), result(std::move(info)) {}
  SolveInfo result;
};
class NotConverged : public ConvergenceException {
  using ConvergenceException::ConvergenceException;
};
class Diverged : public ConvergenceException {
  using ConvergenceException::ConvergenceException;
};

// Records every solve this thread runs while the tape is alive (nested tapes each record).
class SolveTape {
 public:
  explicit SolveTape(bool record_trajectories = false);
  ~SolveTape();
  SolveTape(const SolveTape&) = delete;
  SolveTape& operator=(const SolveTape&) = delete;
  size_t size() const { return infos_.size(); }
  const SolveInfo& operator[](size_t i) const;  // in the order the solves started; stays valid

  bool record_trajectories() const { return record_trajectories_; }
  void add(const SolveInfo& info) { infos_.push_back(info); }
  // A slot for a solve that has started, filled when it ends (detail::TapeSlots).
  size_t reserve();
  void fill(size_t slot, const SolveInfo& info);

 private:
  bool record_trajectories_;
  std::deque<SolveInfo> infos_;  // references stay valid while later solves are added
};

namespace detail {

// What solve_linear solves with.
struct LinearSystem {
  std::string kind;              // "matrix", "jit_compile_linear function" or "function"
  std::optional<Tensor> matrix;  // dense or sparse, when at hand
  std::optional<Tensor> offset;  // f(0) when known to be non-zero (subtracted from y)
  // f(x) for x with the solve's batch dims; set for matrix-free solves.
  std::function<Tensor(const Tensor&)> apply;
  bool offset_unknown = false;  // apply's f(0) is still to be found (plain callables)
  std::function<std::pair<Tensor, Tensor>()> build_matrix;  // (A, b) for methods that need A
  // This process's rows of A, set instead of `matrix` for a PETSc solve under MPI (each process
  // extracts only its block); build_matrix then gives the whole A where it is needed (adjoints).
  std::shared_ptr<const RowBlock> own_rows;
  // The system is Aᵀ of own_rows' A (an adjoint): PETSc solves it transposed with A's rows
  // (build_matrix gives the whole Aᵀ).
  bool own_rows_transposed = false;
};

// Whether solves with these settings extract only this process's rows of a linear function's
// matrix: a PETSc method on more than one process (asking starts PETSc).
bool extracts_own_rows(const Solve& solve);

// Solves and finishes (SolveInfo, tapes, exceptions). With `normalize_rhs` each batch entry is
// solved for y / max|y| and scaled back, so that abs_tol does not swallow a tiny y (adjoints).
Tensor solve_linear_system(LinearSystem& system, const Tensor& y, const Solve& solve,
                           bool normalize_rhs = false);
// Whether solving a system of `kind` (LinearSystem::kind) with these settings takes its matrix:
// direct solves and preconditioners do, and PETSc does for every operator but a plain callable,
// which it applies matrix-free through a shell matrix (API §7: a callable is matrix-free).
bool needs_matrix(std::string_view kind, const Solve& solve);
// Solve::x0, or an Error saying that `what` (solve_linear, minimize, ...) needs one.
const Tensor& require_x0(const Solve& solve, std::string_view what = "solve_linear");
// An Error naming the field for settings no solve can run with: max_iterations < 0, negative or
// NaN tolerances (in `solve` and its gradient_solve).
void validate_settings(const Solve& solve, std::string_view what = "solve_linear");
// The same dims (names and sizes), in any order.
bool same_dims(const Shape& a, const Shape& b);
// Dims of y that the operator does not produce (`rows`): as in PhiML, they hold independent
// systems, like batch dims (a channel `vector` of y that x0 lacks).
Shape y_dims_besides(const Tensor& y, const Shape& rows);
// The primal (row) dims of a matrix that multiplies vectors shaped like x0.
Shape matrix_rows(const Tensor& A, const Tensor& x0);
// Whether a sparse matrix equals its transpose (found once per matrix and kept with it).
bool is_symmetric(const Tensor& sparse_matrix);

// A solve inside a trace (DESIGN decision 8): a solve_linear node of the trace's graph, run
// when the program runs. The operator is fixed now (`constant`: a matrix, or a linear
// function of concrete arguments), or `function` — f(x, f_args...) — is traced into a graph of
// its own whose inputs beyond x are the values it reads from the enclosing trace.
struct TracedOperator {
  std::string kind;
  std::function<LinearSystem()> constant;
  std::function<Tensor(const Tensor& x)> function;
};
Tensor trace_solve_linear(const std::shared_ptr<TraceState>& trace, const TracedOperator& op, const Tensor& y,
                          const Solve& solve);
// The trace a solve on `tensors` records into: the innermost trace being recorded on this
// thread or of the tensors (null: the solve runs now).
std::shared_ptr<TraceState> solve_trace(const std::vector<Tensor>& tensors);

// The system of a jit_compile_linear function at concrete arguments: its matrix (or this
// process's rows of it) and offset, and for stencils f itself as native code (applying it moves
// less memory than the CSR matrix).
template <class G, class... Args>
LinearSystem linear_function_system(const LinearFunction<G>& f, bool own_rows, const Tensor& x0,
                                    const Args&... f_args) {
  LinearSystem sys;
  sys.kind = "jit_compile_linear function";
  LinearCore::Affine m = f.affine_of_rows(own_rows, x0, f_args...);
  if (own_rows) {
    sys.own_rows = m.own_rows;
    sys.build_matrix = [f, x0, f_args...] {
      LinearCore::Affine whole = f.affine(x0, f_args...);
      return std::pair{whole.A, whole.b};
    };
  } else {
    sys.matrix = m.A;
  }
  if (!m.zero_bias) sys.offset = m.b;
  if (m.stencil) sys.apply = [f, f_args...](const Tensor& x) { return f.compiled()(x, f_args...); };
  return sys;
}

template <class F>
struct IsLinearFunction : std::false_type {};
template <class F>
struct IsLinearFunction<LinearFunction<F>> : std::true_type {};
template <class F>
struct IsJitFunction : std::false_type {};
template <class F>
struct IsJitFunction<JitFunction<F>> : std::true_type {};

}  // namespace detail

// Solves f(x, f_args...) = y for x (API §7).
template <class F, class... Args>
Tensor solve_linear(F&& f, const Tensor& y, const Solve& solve, const Args&... f_args) {
  using D = std::decay_t<F>;
  const Tensor& x0 = detail::require_x0(solve);
  std::vector<Tensor> tensors{y, x0};
  if constexpr (std::is_same_v<D, Tensor>) tensors.push_back(f);
  (detail::collect_tensor(f_args, tensors), ...);
  if (std::shared_ptr<detail::TraceState> trace = detail::solve_trace(tensors)) {
    detail::TracedOperator op;
    if constexpr (std::is_same_v<D, Tensor>) {
      op.kind = "matrix";
      if (detail::any_tracer({f})) {  // a dense matrix computed in the trace: A·x is traced
        op.function = [&f](const Tensor& x) { return matmul(f, x); };
      } else {
        op.constant = [A = f] { return detail::LinearSystem{.kind = "matrix", .matrix = A}; };
      }
    } else if constexpr (detail::IsLinearFunction<D>::value) {
      op.kind = "jit_compile_linear function";
      if (detail::any_tracer(std::vector<Tensor>(tensors.begin() + 2, tensors.end()))) {
        op.function = [&](const Tensor& x) { return f.function()(x, f_args...); };
      } else {
        op.constant = [f, own_rows = detail::extracts_own_rows(solve),
                       x0 = zeros(x0.shape().non_batch(), x0.dtype()),
                       f_args...] { return detail::linear_function_system(f, own_rows, x0, f_args...); };
      }
    } else {
      op.kind = "function";
      op.function = [&](const Tensor& x) { return f(x, f_args...); };
    }
    return detail::trace_solve_linear(trace, op, y, solve);
  }
  detail::LinearSystem sys;
  if constexpr (std::is_same_v<D, Tensor>) {
    static_assert(sizeof...(Args) == 0, "solve_linear: a matrix takes no extra arguments");
    sys.kind = "matrix";
    sys.matrix = f;
    return detail::solve_linear_system(sys, y, solve);
  } else if constexpr (detail::IsLinearFunction<D>::value) {
    sys = detail::linear_function_system(f, detail::extracts_own_rows(solve), x0, f_args...);
    return detail::solve_linear_system(sys, y, solve);
  } else {
    // Matrix-free application as native code, traced once per key: by f's own cache (a jit
    // function), by one cache per type (a callable without state, such as a lambda without
    // captures, acts alike for every object of its type), or else per solve (a callable's
    // captures may have changed since the last solve).
    sys.kind = "function";
    sys.offset_unknown = true;
    sys.build_matrix = [&] { return matrix_from_function(f, x0, f_args...); };
    if (detail::extracts_own_rows(solve) && detail::needs_matrix(sys.kind, solve)) {
      // Under MPI a PETSc solve that needs the matrix extracts this process's rows only.
      detail::LinearCore::Affine m = LinearFunction<D>(f).affine_of_rows(true, x0, f_args...);
      sys.own_rows = m.own_rows;
      if (!m.zero_bias) sys.offset = m.b;
      sys.offset_unknown = false;
    }
    if constexpr (detail::IsJitFunction<D>::value) {
      sys.apply = [&](const Tensor& x) { return f(x, f_args...); };
    } else if constexpr (std::is_empty_v<D> && std::is_copy_constructible_v<D>) {
      static const JitFunction<D> stateless(f, "solve_linear (matrix-free)");
      sys.apply = [&](const Tensor& x) { return stateless(x, f_args...); };
    } else {
      auto per_solve = JitFunction([&f](const Tensor& x, const Args&... a) { return f(x, a...); },
                                   "solve_linear (matrix-free)");
      sys.apply = [&](const Tensor& x) { return per_solve(x, f_args...); };
      return detail::solve_linear_system(sys, y, solve);  // while per_solve lives
    }
    return detail::solve_linear_system(sys, y, solve);
  }
}

}  // namespace phijit
