// Linear solves in PETSc (API §7 "Backends"): the methods petsc-CG, petsc-GMRES, petsc-biCG-stab
// and petsc-direct with the preconditioners jacobi, ilu and amg, on a CSR matrix — or, for the
// Krylov methods without a preconditioner, on a matrix-free operator that PETSc applies through
// a shell matrix. Built with PHIJIT_WITH_PETSC; without it the entry throws an Error saying how
// to enable it. PETSc (and MPI, when PETSc starts it) is initialised on the first solve and
// finalised at exit.
//
// Under `mpirun -np N` every process holds the whole matrix (or operator) and vectors (the rest
// of the program runs replicated); each hands PETSc only its own block of rows, PETSc solves in
// parallel, and every process receives the whole solution (and the whole trajectory).
#pragma once

#include <cstdint>

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

// The number of processes of PETSc's communicator and this one's rank (1 and 0 without MPI);
// starts PETSc.
int petsc_processes();
int petsc_rank();

}  // namespace phijit::runtime
