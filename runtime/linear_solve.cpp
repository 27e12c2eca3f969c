#include "runtime/linear_solve.h"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ir/error.h"
#include "runtime/petsc_solve.h"
#include "runtime/sparse_solvers.h"

namespace phijit::runtime {

namespace {

constexpr std::array<std::pair<SolveMethod, std::string_view>, 10> kMethods = {{
    {SolveMethod::automatic, "auto"},
    {SolveMethod::cg, "CG"},
    {SolveMethod::cg_adaptive, "CG-adaptive"},
    {SolveMethod::bicgstab, "biCG-stab"},
    {SolveMethod::gmres, "GMRES"},
    {SolveMethod::direct, "direct"},
    {SolveMethod::petsc_cg, "petsc-CG"},
    {SolveMethod::petsc_gmres, "petsc-GMRES"},
    {SolveMethod::petsc_bicgstab, "petsc-biCG-stab"},
    {SolveMethod::petsc_direct, "petsc-direct"},
}};
constexpr std::array<std::pair<PreconditionerKind, std::string_view>, 4> kPreconditioners = {{
    {PreconditionerKind::none, ""},
    {PreconditionerKind::jacobi, "jacobi"},
    {PreconditionerKind::ilu, "ilu"},
    {PreconditionerKind::amg, "amg"},
}};

template <class Kind, size_t N>
Kind parse(std::string_view what, std::string_view name,
           const std::array<std::pair<Kind, std::string_view>, N>& all) {
  std::vector<std::string> quoted;
  for (const auto& [kind, spelled] : all) {
    if (spelled == name) return kind;
    quoted.push_back(fmt::format("'{}'", spelled));
  }
  throw Error(
      fmt::format("solve_linear: unknown {} '{}'; expected one of {}", what, name, fmt::join(quoted, ", ")));
}

template <class Kind, size_t N>
std::string_view name_of(Kind kind, const std::array<std::pair<Kind, std::string_view>, N>& all) {
  for (const auto& [k, spelled] : all) {
    if (k == kind) return spelled;
  }
  return "?";
}

BufferPtr copy_of(const Buffer& b) {
  auto out = std::make_shared<Buffer>(b.dtype(), b.count(), Buffer::Uninitialized{});
  std::memcpy(out->data(), b.data(), b.bytes());
  return out;
}

// A direct solve: the factorizations of Eigen, then the true residual per entry.
KrylovResult solve_direct_system(const LinearSolveRequest& r, const Buffer& y, Buffer& x, int64_t batch) {
  const CsrMatrix& A = *r.matrix;
  int64_t n = A.pattern->rows;
  BufferPtr x0 = r.record_trajectory ? copy_of(x) : nullptr;
  // A dense matrix's CSR values are its row-major entries: dense LU takes them as they are.
  std::optional<DirectSolver> own;
  const DirectSolver* solver = r.direct;
  if (solver == nullptr) solver = &(r.dense_matrix ? own.emplace(A.values, n) : own.emplace(A));
  std::vector<bool> ok = solver->solve(r.matrix_of_entry, y, x, r.transposed);
  KrylovResult out;
  true_residual(A, r.matrix_of_entry, y, x, batch, out);
  for (int64_t b = 0; b < batch; ++b) {
    bool good = ok[static_cast<size_t>(b)] && std::isfinite(out.residual_norm[static_cast<size_t>(b)]);
    out.converged.push_back(good);
    out.diverged.push_back(!good);
  }
  out.iterations.assign(static_cast<size_t>(batch), 0);
  out.function_evaluations.assign(static_cast<size_t>(batch), 1);
  if (r.record_trajectory) out.trajectory = {x0, copy_of(x)};
  return out;
}

}  // namespace

SolveMethod parse_solve_method(std::string_view name) { return parse("method", name, kMethods); }

bool is_petsc(SolveMethod method) {
  switch (method) {
    case SolveMethod::petsc_cg:
    case SolveMethod::petsc_gmres:
    case SolveMethod::petsc_bicgstab:
    case SolveMethod::petsc_direct: return true;
    case SolveMethod::automatic:
    case SolveMethod::cg:
    case SolveMethod::cg_adaptive:
    case SolveMethod::bicgstab:
    case SolveMethod::gmres:
    case SolveMethod::direct: return false;
  }
  return false;
}

bool needs_matrix(SolveMethod method, PreconditionerKind preconditioner) {
  return method == SolveMethod::direct || method == SolveMethod::petsc_direct ||
         preconditioner != PreconditionerKind::none;
}
PreconditionerKind parse_preconditioner(std::string_view name) {
  return parse("preconditioner", name, kPreconditioners);
}
std::string_view solve_method_name(SolveMethod method) { return name_of(method, kMethods); }
std::string_view preconditioner_name(PreconditionerKind kind) { return name_of(kind, kPreconditioners); }

std::vector<double> residual_tolerances(const Buffer& y, int64_t batch, double rel_tol, double abs_tol) {
  int64_t n = batch > 0 ? y.count() / batch : 0;
  std::vector<double> out;
  for (int64_t b = 0; b < batch; ++b) {
    double s = 0;
    for (int64_t i = b * n; i < (b + 1) * n; ++i) s += y.get_real(i) * y.get_real(i);
    out.push_back(std::max(rel_tol * std::sqrt(s), abs_tol));
  }
  return out;
}

void true_residual(const CsrMatrix& A, std::span<const int64_t> matrix_of_entry, const Buffer& y,
                   const Buffer& x, int64_t batch, KrylovResult& out) {
  true_residual(*csr_operator(A, {matrix_of_entry.begin(), matrix_of_entry.end()}), y, x, batch, out);
}

void true_residual(const LinearOperator& A, const Buffer& y, const Buffer& x, int64_t batch,
                   KrylovResult& out) {
  const int64_t n = A.rows();
  auto residual = std::make_shared<Buffer>(x.dtype(), batch * n, Buffer::Uninitialized{});
  A.apply(x, *residual);
  out.residual_norm.clear();
  for (int64_t b = 0; b < batch; ++b) {
    double s = 0;
    for (int64_t i = b * n; i < (b + 1) * n; ++i) {
      double v = y.get_real(i) - residual->get_real(i);
      residual->set_real(i, v);
      s += v * v;
    }
    out.residual_norm.push_back(std::sqrt(s));
  }
  out.residual = residual;
}

KrylovResult solve_linear_system(const LinearSolveRequest& r, const Buffer& y, Buffer& x, int64_t batch) {
  switch (r.method) {
    case SolveMethod::direct:
      if (r.matrix == nullptr) throw InternalError("solve_linear_system: a direct solve needs the matrix");
      return solve_direct_system(r, y, x, batch);
    case SolveMethod::cg:
    case SolveMethod::cg_adaptive:
    case SolveMethod::bicgstab:
    case SolveMethod::gmres: {
      if (r.op == nullptr) throw InternalError("solve_linear_system: a Krylov solve needs the operator");
      KrylovSettings settings{r.method, r.tolerance, r.max_iterations, r.preconditioner, r.record_trajectory};
      return solve_krylov(*r.op, y, x, batch, settings);
    }
    case SolveMethod::petsc_cg:
    case SolveMethod::petsc_gmres:
    case SolveMethod::petsc_bicgstab:
    case SolveMethod::petsc_direct:
      if (r.matrix == nullptr && r.op == nullptr)
        throw InternalError("solve_linear_system: a PETSc solve needs the matrix or the operator");
      return solve_with_petsc(r, y, x, batch);
    case SolveMethod::automatic: break;
  }
  throw InternalError("solve_linear_system: the method must be resolved before the solve ('auto')");
}

}  // namespace phijit::runtime
