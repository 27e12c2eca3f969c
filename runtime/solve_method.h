// Solve methods and preconditioners by kind, parsed once from their API names (API §7).
#pragma once

#include <cstdint>
#include <string_view>

namespace phijit::runtime {

enum class SolveMethod : uint8_t { automatic, cg, cg_adaptive, bicgstab, gmres, direct };
enum class PreconditionerKind : uint8_t { none, jacobi, ilu };

// From "auto", "CG", "CG-adaptive", "biCG-stab", "GMRES", "direct" and "", "jacobi", "ilu";
// an Error listing the names otherwise.
SolveMethod parse_solve_method(std::string_view name);
PreconditionerKind parse_preconditioner(std::string_view name);
std::string_view solve_method_name(SolveMethod method);
std::string_view preconditioner_name(PreconditionerKind kind);

}  // namespace phijit::runtime
