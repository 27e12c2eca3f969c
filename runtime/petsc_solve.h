// Linear solves in PETSc (API §7 "Backends"): the methods petsc-CG, petsc-GMRES, petsc-biCG-stab
// and petsc-direct with the preconditioners jacobi, ilu and amg, on a CSR matrix — or, for the
// Krylov methods without a preconditioner, on a matrix-free operator that PETSc applies through
// a shell matrix. Built with PHIJIT_WITH_PETSC; without it the entry throws an Error saying how
// to enable it. PETSc and MPI are linked only into the module libphijit_petsc.so
// (runtime/petsc_module), which is loaded, and PETSc (and MPI, when PETSc starts it) initialised,
// on the first PETSc solve, and finalised at exit.
//
// Under `mpirun -np N` every process holds the vectors and the operator (the rest of the program
// runs replicated) and the whole matrix, or only its own block of rows (LinearSolveRequest::
// first_row: a jit_compile_linear function's matrix extracted per process); each hands PETSc its
// own block of rows, PETSc solves in parallel, and every process receives the whole solution
// (and the whole trajectory).
#pragma once

#include <cstdint>
#include <utility>

#include "runtime/linear_solve.h"

namespace phijit::runtime {

// Whether this build has PETSc.
bool petsc_available();

// The PETSc methods of solve_linear_system (r.method one of them; r.matrix set, or else r.op
// applied matrix-free): each batch entry is a KSPSolve from its x0; converged on the true
// residual ‖y − A x‖₂ ≤ tolerance. With r.record_trajectory, x after every iteration (read by a
// KSP monitor) makes the trajectory, laid out as solve_krylov's.
KrylovResult solve_with_petsc(const LinearSolveRequest& r, const Buffer& y, Buffer& x, int64_t batch);

// How many matrices (new ones, or new values for a kept solver) this process has handed PETSc:
// each one costs a preconditioner setup. For tests.
int64_t petsc_matrices_set();

// The rows of the last CSR matrix this process handed PETSc: the whole matrix's, or only its
// own block's (a jit_compile_linear function's matrix under MPI). For tests.
int64_t petsc_rows_of_last_matrix();

// This process's block of the rows of an n-row system as PETSc splits them (first, count):
// near-equal consecutive blocks in rank order. {0, n} without MPI; starts PETSc.
std::pair<int64_t, int64_t> petsc_row_block(int64_t n);

// The number of processes of PETSc's communicator and this one's rank (1 and 0 without MPI);
// starts PETSc.
int petsc_processes();
int petsc_rank();

}  // namespace phijit::runtime
