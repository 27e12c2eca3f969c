// The PETSc module's C interface. libphijit_petsc.so is the only part of phijit that links PETSc
// and MPI; libphijit loads it (dlopen) on the first PETSc solve, so that a program that never
// solves in PETSc neither loads nor starts them (runtime/petsc_solve.h is the C++ side). Only C
// types cross: nothing of phijit's is linked into the module, and errors come back as a non-zero
// code with a message.
#pragma once

#include <stddef.h>  // NOLINT: a C interface
#include <stdint.h>  // NOLINT

extern "C" {

#define PHIJIT_PETSC_API_VERSION 2
#define PHIJIT_PETSC_ERROR_SIZE 1024  // the size of every `error` buffer

enum PhijitPetscMethod { phijit_petsc_cg, phijit_petsc_gmres, phijit_petsc_bicgstab, phijit_petsc_direct };
enum PhijitPetscPreconditioner { phijit_petsc_none, phijit_petsc_jacobi, phijit_petsc_ilu, phijit_petsc_amg };

// This process's rows [first_row, first_row + local_rows) of an n × n operator. A matrix: its CSR
// rows (row_ptr: local_rows + 1 offsets into cols and values, as stored, not from 0; global
// column indices), read in place on one process (they must outlive the system), copied on
// several. A shell operator (values null): apply(context, x_own, y_own) computes this process's
// rows of A x from its rows of x, collectively on every process.
struct PhijitPetscOperator {
  int64_t n, first_row, local_rows;
  const int64_t* row_ptr;
  const int32_t* cols;
  const double* values;
  int (*apply)(void* context, const double* x_own, double* y_own);  // non-zero: failed
  void* context;
};

// One solve from x's current values: this process's rows of y and x. With on_iteration, it is
// called (collectively) with this process's rows of the current solution after every iteration
// (iteration 0: x0; a GMRES restart reports its iteration again); non-zero: failed.
struct PhijitPetscSolve {
  int transposed;  // solve Aᵀ x = y with A's solver
  double tolerance;
  int max_iterations;
  const double* y_own;
  double* x_own;
  int (*on_iteration)(void* context, int64_t iteration, const double* x_own);
  void* context;
};

struct PhijitPetscOutcome {
  int64_t iterations;
  int broke_down;  // PETSc stopped for another reason than converging or the iteration limit
};

// Each function returns 0, or non-zero with a message in `error` (PHIJIT_PETSC_ERROR_SIZE bytes).
struct PhijitPetscApi {
  int version;
  // Starts PETSc (and MPI, unless the program did): the first call; later calls do nothing.
  int (*start)(char* error);
  // Frees what is left and finalises PETSc if start() initialised it.
  void (*finish)(void);
  int (*processes)(void);
  int (*rank)(void);
  // PETSc's split of n rows: this process's first row and count.
  int (*row_block)(int64_t n, int64_t* first, int64_t* count, char* error);
  // Every process's rows [first, first + count) of `whole` (n values) gathered on every process.
  int (*gather)(int64_t first, int64_t count, double* whole, char* error);
  // A solver for the operator with the method and preconditioner (a shell takes none).
  int (*make_system)(const PhijitPetscOperator* op, int method, int preconditioner, void** system,
                     char* error);
  // New values on the same rows (the preconditioner is set up again on the next solve).
  int (*set_values)(void* system, const PhijitPetscOperator* op, char* error);
  // Whether the system's preconditioner can be applied transposed.
  int (*solves_transposed)(void* system, int* yes, char* error);
  int (*solve)(void* system, const PhijitPetscSolve* solve, PhijitPetscOutcome* outcome, char* error);
  // This process's rows of A x (or Aᵀ x) from its rows of x, collectively.
  int (*multiply)(void* system, int transposed, const double* x_own, double* y_own, char* error);
  // A solver for Aᵀ, transposed by PETSc (where the system's preconditioner cannot be applied
  // transposed), with the same method and preconditioner; it reads nothing of phijit's.
  int (*make_transposed_system)(void* system, void** transposed, char* error);
  void (*free_system)(void* system);
};

// The module's one exported symbol.
const struct PhijitPetscApi* phijit_petsc_api(void);
typedef const struct PhijitPetscApi* (*PhijitPetscApiFn)(void);
}
