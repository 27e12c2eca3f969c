// Solve methods and preconditioners by kind, parsed once from their API names (API §7).
#pragma once

#include <cstdint>
#include <string_view>

namespace phijit::runtime {

enum class SolveMethod : uint8_t {
  automatic,
  cg,
  cg_adaptive,
  bicgstab,
  gmres,
  direct,
  // run in PETSc (runtime/petsc_solve.h)
  petsc_cg,
  petsc_gmres,
  petsc_bicgstab,
  petsc_direct,
};
enum class PreconditionerKind : uint8_t { none, jacobi, ilu, amg /* PETSc methods only */ };

bool is_petsc(SolveMethod method);
// Whether the method needs the system's matrix (a function's is extracted): direct solves and
// any preconditioner. PETSc's Krylov methods without a preconditioner can apply an operator
// (a shell matrix), though the frontend hands PETSc the matrix of every system that has one.
bool needs_matrix(SolveMethod method, PreconditionerKind preconditioner);

// From "auto", "CG", "CG-adaptive", "biCG-stab", "GMRES", "direct", "petsc-CG", "petsc-GMRES",
// "petsc-biCG-stab", "petsc-direct" and "", "jacobi", "ilu", "amg"; an Error listing the names
// otherwise.
SolveMethod parse_solve_method(std::string_view name);
PreconditionerKind parse_preconditioner(std::string_view name);
std::string_view solve_method_name(SolveMethod method);
std::string_view preconditioner_name(PreconditionerKind kind);

}  // namespace phijit::runtime
