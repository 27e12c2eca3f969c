// libphijit_petsc.so: the PETSc solves behind runtime/petsc_solve.cpp, as a module that only
// links PETSc and MPI (petsc_module.h). libphijit serialises the calls (PETSc is not
// thread-safe) and keeps the buffers that PETSc reads in place alive.
#include "runtime/petsc_module/petsc_module.h"

#include <petscksp.h>

#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

static_assert(sizeof(PetscInt) == sizeof(int32_t), "phijit hands PETSc its int32 column indices in place");
static_assert(sizeof(PetscScalar) == sizeof(double), "phijit's PETSc solves are in real double precision");

namespace {

// Errors leave the functions below as this, and the C entries turn it into a code and a message.
struct Failure {
  PetscErrorCode code;
  char message[PHIJIT_PETSC_ERROR_SIZE];
};

// A PETSc call's error as a Failure with PETSc's message and what was being done.
void check(PetscErrorCode code, const char* what) {
  if (code == 0) return;
  const char* text = nullptr;
  PetscErrorMessage(code, &text, nullptr);
  Failure f{code, {}};
  std::snprintf(f.message, sizeof f.message, "PETSc failed to %s: %s (error %d)", what,
                text != nullptr ? text : "?", static_cast<int>(code));
  throw f;
}

// Runs `body`; a Failure becomes its code and message.
template <class Body>
int guarded(char* error, Body&& body) {
  try {
    body();
    return 0;
  } catch (const Failure& f) {
    std::snprintf(error, PHIJIT_PETSC_ERROR_SIZE, "%s", f.message);
    return f.code != 0 ? static_cast<int>(f.code) : 1;
  }
}

struct State {
  bool started = false, initialised_here = false;
  int size = 1, rank = 0;
};
State state;

// One operator in PETSc with its solver. The row offsets are converted to PetscInt from 0; the
// column indices and values are read in place on one process.
struct System {
  PhijitPetscOperator op{};
  int method = phijit_petsc_cg, preconditioner = phijit_petsc_none;
  std::vector<PetscInt> row_offsets;
  Mat matrix = nullptr;
  KSP ksp = nullptr;
  Vec rhs = nullptr, solution = nullptr;
  // The running solve's iterations go to `watched` when it has on_iteration. The monitor is
  // installed on the first such solve and stays: PETSc removes monitors only all at once, which
  // would drop those of PETSC_OPTIONS (-ksp_monitor) too.
  const PhijitPetscSolve* watched = nullptr;
  Vec work = nullptr;  // where KSPBuildSolution may form x

  ~System() {
    VecDestroy(&work);
    VecDestroy(&rhs);
    VecDestroy(&solution);
    KSPDestroy(&ksp);
    MatDestroy(&matrix);
  }
};

// y = A x for a shell operator: phijit applies it to this process's rows.
PetscErrorCode shell_multiply(Mat m, Vec x, Vec y) {
  PetscFunctionBeginUser;
  System* s = nullptr;
  PetscCall(MatShellGetContext(m, &s));
  const PetscScalar* xv = nullptr;
  PetscScalar* yv = nullptr;
  PetscCall(VecGetArrayRead(x, &xv));
  PetscCall(VecGetArray(y, &yv));
  int failed = s->op.apply(s->op.context, xv, yv);
  PetscCall(VecRestoreArray(y, &yv));
  PetscCall(VecRestoreArrayRead(x, &xv));
  PetscCheck(failed == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "phijit's operator failed (its error follows)");
  PetscFunctionReturn(0);
}

// The Mat of the operator's rows (a shell when it has no values).
void set_matrix(System& s, const PhijitPetscOperator& op) {
  if (op.n > std::numeric_limits<PetscInt>::max() ||
      (op.values != nullptr &&
       op.row_ptr[op.local_rows] - op.row_ptr[0] > std::numeric_limits<PetscInt>::max())) {
    Failure f{PETSC_ERR_ARG_OUTOFRANGE, {}};
    std::snprintf(
        f.message, sizeof f.message,
        "PETSc (32-bit indices) takes at most 2^31-1 rows and entries per process; the system has %lld "
        "rows",
        static_cast<long long>(op.n));
    throw f;
  }
  auto n = static_cast<PetscInt>(op.n), local = static_cast<PetscInt>(op.local_rows);
  Mat m = nullptr;
  if (op.values == nullptr) {
    check(MatCreateShell(PETSC_COMM_WORLD, local, local, n, n, &s, &m), "make a shell matrix");
    check(MatShellSetOperation(m, MATOP_MULT, reinterpret_cast<void (*)(void)>(shell_multiply)),
          "set the shell's product");
  } else {
    s.row_offsets.resize(static_cast<size_t>(local) + 1);
    for (PetscInt r = 0; r <= local; ++r)
      s.row_offsets[static_cast<size_t>(r)] = static_cast<PetscInt>(op.row_ptr[r] - op.row_ptr[0]);
    auto* cols = const_cast<PetscInt*>(op.cols + op.row_ptr[0]);         // NOLINT: PETSc only reads them
    auto* values = const_cast<PetscScalar*>(op.values + op.row_ptr[0]);  // NOLINT
    if (state.size == 1) {
      check(MatCreateSeqAIJWithArrays(PETSC_COMM_SELF, n, n, s.row_offsets.data(), cols, values, &m),
            "wrap the CSR matrix");
    } else {
      check(MatCreateMPIAIJWithArrays(PETSC_COMM_WORLD, local, local, n, n, s.row_offsets.data(), cols,
                                      values, &m),
            "distribute the CSR matrix");
    }
  }
  MatDestroy(&s.matrix);
  s.matrix = m;
  s.op = op;
  if (s.ksp != nullptr) check(KSPSetOperators(s.ksp, m, m), "set the new matrix");
}

// BoomerAMG smooths with one forward Gauss-Seidel sweep down and one backward sweep up (a
// symmetric V-cycle, as CG needs) in natural order, where PETSc's default is a symmetric sweep
// each way in C/F order: at 1024² half the smoothing work for one more CG iteration, 15 % less
// time with setup on one process and 10 % on two (docs/PERFORMANCE.md). PETSC_OPTIONS that name
// these options win.
void set_amg_defaults() {
  const std::pair<const char*, const char*> defaults[] = {
      {"-pc_hypre_boomeramg_relax_type_down", "SOR/Jacobi"},
      {"-pc_hypre_boomeramg_relax_type_up", "backward-SOR/Jacobi"},
      {"-pc_hypre_boomeramg_no_CF", nullptr}};
  for (auto [name, value] : defaults) {
    PetscBool given = PETSC_FALSE;
    check(PetscOptionsHasName(nullptr, nullptr, name, &given), "read the options");
    if (!given) check(PetscOptionsSetValue(nullptr, name, value), "set BoomerAMG's options");
  }
}

void set_preconditioner(PC pc, int preconditioner) {
  switch (preconditioner) {
    case phijit_petsc_none: check(PCSetType(pc, PCNONE), "choose no preconditioner"); return;
    case phijit_petsc_jacobi: check(PCSetType(pc, PCJACOBI), "choose Jacobi"); return;
    case phijit_petsc_ilu:
      // ILU(0) is sequential: in parallel, ILU(0) of each process's diagonal block.
      check(PCSetType(pc, state.size == 1 ? PCILU : PCBJACOBI), "choose ILU");
      return;
    case phijit_petsc_amg:
#ifdef PETSC_HAVE_HYPRE
      check(PCSetType(pc, PCHYPRE), "choose hypre");
      check(PCHYPRESetType(pc, "boomeramg"), "choose BoomerAMG");
      set_amg_defaults();
#else
      check(PCSetType(pc, PCGAMG), "choose GAMG");
#endif
      return;
  }
  throw Failure{PETSC_ERR_ARG_OUTOFRANGE, "unknown preconditioner"};
}

void make_solver(System& s) {
  check(KSPCreate(PETSC_COMM_WORLD, &s.ksp), "create a solver");
  check(KSPSetOperators(s.ksp, s.matrix, s.matrix), "set the matrix");
  PC pc = nullptr;
  check(KSPGetPC(s.ksp, &pc), "get the preconditioner");
  switch (s.method) {
    case phijit_petsc_cg: check(KSPSetType(s.ksp, KSPCG), "choose CG"); break;
    case phijit_petsc_gmres: check(KSPSetType(s.ksp, KSPGMRES), "choose GMRES"); break;
    case phijit_petsc_bicgstab: check(KSPSetType(s.ksp, KSPBCGS), "choose BiCGStab"); break;
    case phijit_petsc_direct:
      check(KSPSetType(s.ksp, KSPPREONLY), "choose a direct solve");
      check(PCSetType(pc, PCLU), "choose LU");
      // In parallel PETSc's own LU is sequential only: MUMPS factorizes distributed.
      if (state.size > 1) check(PCFactorSetMatSolverType(pc, MATSOLVERMUMPS), "choose MUMPS");
      break;
    default: throw Failure{PETSC_ERR_ARG_OUTOFRANGE, "unknown method"};
  }
  if (s.method != phijit_petsc_direct) {
    set_preconditioner(pc, s.preconditioner);
    // Convergence on the unpreconditioned residual ‖y − A x‖, which GMRES and BiCGStab report
    // with the preconditioner on the right; CG reports it on either side.
    if (s.method != phijit_petsc_cg) check(KSPSetPCSide(s.ksp, PC_RIGHT), "precondition on the right");
    check(KSPSetNormType(s.ksp, KSP_NORM_UNPRECONDITIONED), "use the true residual's norm");
    check(KSPSetInitialGuessNonzero(s.ksp, PETSC_TRUE), "start from x0");
  }
  check(KSPSetFromOptions(s.ksp), "read PETSC_OPTIONS");
  check(MatCreateVecs(s.matrix, &s.solution, &s.rhs), "make vectors");
}

// Reports the current solution after every iteration of a watched solve (KSPBuildSolution:
// GMRES forms it from its basis only when asked).
PetscErrorCode report_iteration(KSP ksp, PetscInt iteration, PetscReal, void* context) {
  PetscFunctionBeginUser;
  auto* s = static_cast<System*>(context);
  if (s->watched == nullptr) PetscFunctionReturn(0);
  Vec x = nullptr;
  PetscCall(KSPBuildSolution(ksp, s->work, &x));
  const PetscScalar* xv = nullptr;
  PetscCall(VecGetArrayRead(x, &xv));
  int failed = s->watched->on_iteration(s->watched->context, iteration, xv);
  PetscCall(VecRestoreArrayRead(x, &xv));
  PetscCheck(failed == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "phijit failed to record an iteration");
  PetscFunctionReturn(0);
}

void solve(System& s, const PhijitPetscSolve& r, PhijitPetscOutcome& out) {
  // The tolerance as PETSc's absolute one (rtol 0) and no divergence test of PETSc's:
  // non-finite values are found afterwards.
  check(
      KSPSetTolerances(s.ksp, 0.0, r.tolerance, PETSC_MAX_REAL, r.max_iterations > 0 ? r.max_iterations : 0),
      "set the tolerances");
  if (r.on_iteration != nullptr && s.work == nullptr) {
    check(VecDuplicate(s.solution, &s.work), "make a work vector");
    check(KSPMonitorSet(s.ksp, report_iteration, &s, nullptr), "watch the iterations");
  }
  s.watched = r.on_iteration != nullptr ? &r : nullptr;
  check(VecPlaceArray(s.rhs, r.y_own), "place y");
  check(VecPlaceArray(s.solution, r.x_own), "place x");
  PetscErrorCode code =
      r.transposed != 0 ? KSPSolveTranspose(s.ksp, s.rhs, s.solution) : KSPSolve(s.ksp, s.rhs, s.solution);
  VecResetArray(s.rhs);
  VecResetArray(s.solution);
  s.watched = nullptr;
  check(code, "solve");
  PetscInt iterations = 0;
  KSPConvergedReason reason = KSP_CONVERGED_ITERATING;
  KSPGetIterationNumber(s.ksp, &iterations);
  KSPGetConvergedReason(s.ksp, &reason);
  out.iterations = iterations;
  out.broke_down = reason < 0 && reason != KSP_DIVERGED_ITS;
}

// The C entries.

int start(char* error) {
  return guarded(error, [] {
    if (state.started) return;
    PetscBool initialised = PETSC_FALSE;
    PetscInitialized(&initialised);
    if (!initialised) {
      check(PetscInitializeNoArguments(), "initialise");
      state.initialised_here = true;
    }
    // Errors come back as codes; PETSc prints nothing.
    PetscPushErrorHandler(PetscReturnErrorHandler, nullptr);
    MPI_Comm_size(PETSC_COMM_WORLD, &state.size);
    MPI_Comm_rank(PETSC_COMM_WORLD, &state.rank);
    state.started = true;
  });
}

void finish() {
  if (state.initialised_here) PetscFinalize();
  state = State{};
}

int processes() { return state.size; }
int rank() { return state.rank; }

int row_block(int64_t n, int64_t* first, int64_t* count, char* error) {
  return guarded(error, [&] {
    if (n > std::numeric_limits<PetscInt>::max()) {
      Failure f{PETSC_ERR_ARG_OUTOFRANGE, {}};
      std::snprintf(f.message, sizeof f.message,
                    "PETSc (32-bit indices) takes at most 2^31-1 rows; the system has %lld",
                    static_cast<long long>(n));
      throw f;
    }
    auto global = static_cast<PetscInt>(n);
    PetscInt local = PETSC_DECIDE, before = 0;
    check(PetscSplitOwnership(PETSC_COMM_WORLD, &local, &global), "split the rows");
    MPI_Exscan(&local, &before, 1, MPIU_INT, MPI_SUM, PETSC_COMM_WORLD);
    *first = state.rank == 0 ? 0 : before;
    *count = local;
  });
}

int gather(int64_t first, int64_t count, double* whole, char* error) {
  return guarded(error, [&] {
    if (state.size == 1) return;
    std::vector<int> counts(static_cast<size_t>(state.size)), starts(static_cast<size_t>(state.size));
    int local = static_cast<int>(count), begin = static_cast<int>(first);
    MPI_Allgather(&local, 1, MPI_INT, counts.data(), 1, MPI_INT, PETSC_COMM_WORLD);
    MPI_Allgather(&begin, 1, MPI_INT, starts.data(), 1, MPI_INT, PETSC_COMM_WORLD);
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, whole, counts.data(), starts.data(), MPI_DOUBLE,
                   PETSC_COMM_WORLD);
  });
}

int make_system(const PhijitPetscOperator* op, int method, int preconditioner, void** system, char* error) {
  auto* s = new System();
  s->method = method;
  s->preconditioner = preconditioner;
  int code = guarded(error, [&] {
    set_matrix(*s, *op);
    make_solver(*s);
  });
  if (code != 0) {
    delete s;
    s = nullptr;
  }
  *system = s;
  return code;
}

int set_values(void* system, const PhijitPetscOperator* op, char* error) {
  return guarded(error, [&] { set_matrix(*static_cast<System*>(system), *op); });
}

int solves_transposed(void* system, int* yes, char* error) {
  return guarded(error, [&] {
    auto& s = *static_cast<System*>(system);
    PC pc = nullptr;
    PetscBool can = PETSC_FALSE;
    check(KSPGetPC(s.ksp, &pc), "get the preconditioner");
    check(PCApplyTransposeExists(pc, &can), "ask whether the preconditioner transposes");
    // A shell has no transposed product; BoomerAMG's transposed cycle (hypre_BoomerAMGSolveT)
    // supports Jacobi smoothing only, not the Gauss-Seidel it is set up with.
    *yes = can && s.op.values != nullptr && s.preconditioner != phijit_petsc_amg;
  });
}

int solve_entry(void* system, const PhijitPetscSolve* r, PhijitPetscOutcome* out, char* error) {
  return guarded(error, [&] { solve(*static_cast<System*>(system), *r, *out); });
}

int multiply(void* system, int transposed, const double* x_own, double* y_own, char* error) {
  return guarded(error, [&] {
    auto& s = *static_cast<System*>(system);
    check(VecPlaceArray(s.solution, x_own), "place x");
    check(VecPlaceArray(s.rhs, y_own), "place y");
    PetscErrorCode code = transposed != 0 ? MatMultTranspose(s.matrix, s.solution, s.rhs)
                                          : MatMult(s.matrix, s.solution, s.rhs);
    VecResetArray(s.rhs);
    VecResetArray(s.solution);
    check(code, "multiply");
  });
}

int make_transposed_system(void* system, void** transposed, char* error) {
  const auto& s = *static_cast<System*>(system);
  auto* t = new System();
  t->method = s.method;
  t->preconditioner = s.preconditioner;
  t->op = s.op;
  int code = guarded(error, [&] {
    check(MatTranspose(s.matrix, MAT_INITIAL_MATRIX, &t->matrix), "transpose the matrix");
    make_solver(*t);
  });
  if (code != 0) {
    delete t;
    t = nullptr;
  }
  *transposed = t;
  return code;
}

void free_system(void* system) { delete static_cast<System*>(system); }

const PhijitPetscApi kApi{PHIJIT_PETSC_API_VERSION,
                          start,
                          finish,
                          processes,
                          rank,
                          row_block,
                          gather,
                          make_system,
                          set_values,
                          solves_transposed,
                          solve_entry,
                          multiply,
                          make_transposed_system,
                          free_system};

}  // namespace

extern "C" __attribute__((visibility("default"))) const PhijitPetscApi* phijit_petsc_api(void) {
  return &kApi;
}
