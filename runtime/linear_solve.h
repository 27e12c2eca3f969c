// The runtime's one linear-solve entry (DESIGN decision 7): a batch of systems on flat buffers,
// by any method — the method and preconditioner names parsed once, tolerances from y, direct
// or Krylov, residuals and trajectories. The frontend maps named dims to these buffers and turns
// the result into SolveInfo, tape entries and exceptions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "runtime/krylov.h"
#include "runtime/solve_method.h"
#include "runtime/sparse.h"
#include "runtime/sparse_solvers.h"

namespace phijit::runtime {

// Per batch entry of y (batch × n values): the residual norm to reach, max(rel_tol·‖y‖₂, abs_tol).
std::vector<double> residual_tolerances(const Buffer& y, int64_t batch, double rel_tol, double abs_tol);

struct LinearSolveRequest {
  SolveMethod method = SolveMethod::cg;  // resolved: never automatic
  // Krylov methods apply `op`; direct factorizes `matrix` (dense: every entry stored row-major).
  // PETSc takes `matrix`, or without one applies `op` (a plain callable, matrix-free).
  const LinearOperator* op = nullptr;
  const CsrMatrix* matrix = nullptr;
  bool dense_matrix = false;
  // Factorizations kept with the matrix (else made for this solve); `transposed`: `direct`
  // holds the factors of Aᵀ, the transposed system's (an adjoint solve reusing the forward's).
  const DirectSolver* direct = nullptr;
  bool transposed = false;
  // PETSc methods: `matrix` is the transpose of this one, whose kept solver solves transposed
  // (an adjoint solve reusing its forward solve's preconditioner). Null: solve with `matrix`.
  const CsrMatrix* transpose_of = nullptr;
  std::vector<int64_t> matrix_of_entry;  // the solve's batch entry b uses matrix entry [b]
  // PETSc methods under MPI: `matrix` holds only rows [first_row, first_row + its rows) of the
  // square system, this process's block as petsc_row_block splits them. -1: every row.
  int64_t first_row = -1;
  // PETSc methods: the system is the transpose of `matrix` (of the matrix whose rows it holds),
  // solved with PETSc's transposed solve.
  bool matrix_transposed = false;
  const Preconditioner* preconditioner = nullptr;
  PreconditionerKind preconditioner_kind = PreconditionerKind::none;  // PETSc methods make their own
  std::vector<double> tolerance;                                      // per batch entry
  int max_iterations = 1000;
  bool record_trajectory = false;
};

// y − A x for the `batch` entries (A's matrix entry per batch entry as in LinearSolveRequest),
// in x's dtype, and its norm per entry: the residual every method is judged by.
void true_residual(const CsrMatrix& A, std::span<const int64_t> matrix_of_entry, const Buffer& y,
                   const Buffer& x, int64_t batch, KrylovResult& out);
// The same with A applied as an operator (a matrix-free solve has no matrix).
void true_residual(const LinearOperator& A, const Buffer& y, const Buffer& x, int64_t batch,
                   KrylovResult& out);

// Solves A x = y for the `batch` systems: y holds batch × n values, x holds x0 and receives the
// solution or, for an entry that diverged, its last finite estimate.
KrylovResult solve_linear_system(const LinearSolveRequest& request, const Buffer& y, Buffer& x,
                                 int64_t batch);

}  // namespace phijit::runtime
