#include "runtime/petsc_solve.h"

#include <fmt/format.h>

#include "ir/error.h"

#ifndef PHIJIT_WITH_PETSC

namespace phijit::runtime {

bool petsc_available() { return false; }
int petsc_processes() { return 1; }
int petsc_rank() { return 0; }
int64_t petsc_matrices_set() { return 0; }
int64_t petsc_rows_of_last_matrix() { return 0; }
std::pair<int64_t, int64_t> petsc_row_block(int64_t n) { return {0, n}; }

KrylovResult solve_with_petsc(const LinearSolveRequest& r, const Buffer&, Buffer&, int64_t) {
  throw Error(fmt::format(
      "solve_linear: method '{}' runs in PETSc, and this phijit was built without it. Install Debian's "
      "libpetsc-real-dev (scripts/install-deps.sh does) and configure again with -DPHIJIT_WITH_PETSC=ON",
      solve_method_name(r.method)));
}

}  // namespace phijit::runtime

#else

#include <petscksp.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <list>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "runtime/log.h"
#include "runtime/sparse_solvers.h"

namespace phijit::runtime {

namespace {

// A PETSc call's error code as an Error with PETSc's message and what phijit was doing.
void check(PetscErrorCode code, const char* what) {
  if (code == 0) return;
  const char* text = nullptr;
  PetscErrorMessage(code, &text, nullptr);
  throw Error(fmt::format("PETSc failed to {}: {} (error {})", what, text != nullptr ? text : "?",
                          static_cast<int>(code)));
}

// One system matrix in PETSc with its solver. Sequentially the Mat uses the CSR's column indices
// and values in place (PetscInt is int32 like the CSR's columns); only the row offsets are
// converted. With several processes each hands PETSc its own block of rows, which PETSc copies:
// a row block extracted for this process (LinearSolveRequest::first_row), or its rows of the
// whole matrix.
struct PetscSystem {
  std::shared_ptr<const CsrPattern> pattern;
  BufferPtr source;  // the caller's values: the same buffer again means the same matrix
  BufferPtr values;  // the values the Mat reads, f64 (source itself, or its f64 copy)
  int64_t entry = 0;
  SolveMethod method = SolveMethod::petsc_cg;
  PreconditionerKind preconditioner = PreconditionerKind::none;
  std::vector<PetscInt> row_offsets;  // this process's rows, from 0
  PetscInt first_row = 0, local_rows = 0;
  bool block = false;  // the pattern holds this process's rows only
  Mat matrix = nullptr;
  KSP ksp = nullptr;
  Vec rhs = nullptr, solution = nullptr;

  PetscSystem() = default;
  PetscSystem(const PetscSystem&) = delete;
  PetscSystem& operator=(const PetscSystem&) = delete;
  ~PetscSystem() {
    VecDestroy(&rhs);
    VecDestroy(&solution);
    KSPDestroy(&ksp);
    MatDestroy(&matrix);
  }
};

// PETSc's state in this process: initialised on first use (MPI too, unless the program started
// it), finalised at exit; PETSc is not thread-safe, so every call holds the mutex. A few systems
// are kept, so that solving with the same matrix again (a time loop, an adjoint) skips the
// preconditioner's setup.
class PetscState {
 public:
  static PetscState& instance() {
    static PetscState* state = [] {
      auto* s = new PetscState();  // NOLINT: finalised by the atexit handler, never destroyed
      std::atexit([] { PetscState::finalize(); });
      return s;
    }();
    return *state;
  }

  std::mutex mutex;

  int size() const { return size_; }
  int64_t matrices_set() const { return matrices_set_; }
  int64_t rows_of_last_matrix() const { return rows_of_last_matrix_; }
  int rank() const { return rank_; }

  // The solver of matrix entry `entry` of A with these settings: kept, updated with new values
  // on the same pattern (the KSP stays; its preconditioner is set up again), or made.
  PetscSystem& system(const CsrMatrix& A, int64_t first_row, int64_t entry, SolveMethod method,
                      PreconditionerKind pre) {
    for (auto it = systems_.begin(); it != systems_.end(); ++it) {
      PetscSystem& s = **it;
      if (s.pattern != A.pattern || s.entry != entry || s.method != method || s.preconditioner != pre)
        continue;
      if (s.source != A.values) {
        logger().debug("PETSc: new values for a kept solver ({} rows): its preconditioner is set up again",
                       A.pattern->rows);
        set_matrix(s, A);
      }
      systems_.splice(systems_.begin(), systems_, it);  // most recently used first
      return s;
    }
    logger().debug("PETSc: a new solver for {} rows, {} entries", A.pattern->rows, A.pattern->nnz());
    auto s = std::make_unique<PetscSystem>();
    s->pattern = A.pattern;
    s->entry = entry;
    s->method = method;
    s->preconditioner = pre;
    set_rows(*s, first_row);
    set_matrix(*s, A);
    make_solver(*s);
    systems_.push_front(std::move(s));
    while (systems_.size() > kKeptSystems) systems_.pop_back();
    return *systems_.front();
  }

 private:
  static constexpr size_t kKeptSystems = 4;

  PetscState() {
    PetscBool started = PETSC_FALSE;
    PetscInitialized(&started);
    if (!started) {
      check(PetscInitializeNoArguments(), "initialise");
      initialised_here_ = true;
    }
    // Errors come back as codes that check() turns into exceptions; PETSc prints nothing.
    PetscPushErrorHandler(PetscReturnErrorHandler, nullptr);
    MPI_Comm_size(PETSC_COMM_WORLD, &size_);
    MPI_Comm_rank(PETSC_COMM_WORLD, &rank_);
    logger().debug("PETSc started: {} process(es), this is rank {}", size_, rank_);
  }

  static void finalize() {
    PetscState& s = instance();
    std::lock_guard lock(s.mutex);
    s.systems_.clear();
    if (s.initialised_here_) PetscFinalize();
  }

  // This process's block of rows: the given block (first_row ≥ 0: the pattern holds only its
  // rows), or its block of the whole pattern's rows as PETSc splits them.
  void set_rows(PetscSystem& s, int64_t first_row) const {
    const CsrPattern& p = *s.pattern;
    if (p.cols > std::numeric_limits<PetscInt>::max() || p.nnz() > std::numeric_limits<PetscInt>::max()) {
      throw Error(
          fmt::format("PETSc (32-bit indices) takes at most 2^31-1 rows and entries; the matrix has {} "
                      "rows and {} entries",
                      p.cols, p.nnz()));
    }
    const bool block = first_row >= 0;
    auto [first, local] = block ? std::pair{first_row, p.rows} : row_block(p.rows);
    s.first_row = static_cast<PetscInt>(first);
    s.local_rows = static_cast<PetscInt>(local);
    s.block = block;
    const int64_t* rp = p.row_ptr->as<int64_t>();
    const int64_t from = block ? 0 : first;
    s.row_offsets.resize(static_cast<size_t>(local) + 1);
    for (int64_t r = 0; r <= local; ++r)
      s.row_offsets[static_cast<size_t>(r)] = static_cast<PetscInt>(rp[from + r] - rp[from]);
  }

 public:
  // PETSc's split of n rows (PETSC_DECIDE: near-equal blocks in rank order).
  std::pair<int64_t, int64_t> row_block(int64_t n) const {
    if (n > std::numeric_limits<PetscInt>::max()) {
      throw Error(fmt::format("PETSc (32-bit indices) takes at most 2^31-1 rows; the system has {}", n));
    }
    auto global = static_cast<PetscInt>(n);
    PetscInt local = PETSC_DECIDE;
    check(PetscSplitOwnership(PETSC_COMM_WORLD, &local, &global), "split the rows");
    PetscInt first = 0;
    MPI_Exscan(&local, &first, 1, MPIU_INT, MPI_SUM, PETSC_COMM_WORLD);
    if (rank_ == 0) first = 0;
    return {first, local};
  }

 private:
  // The Mat of entry s.entry of A's values. PETSc computes in double: float32 values are
  // converted once and kept with the system, so that solving again with the same (float32)
  // matrix reuses the preconditioner's setup.
  void set_matrix(PetscSystem& s, const CsrMatrix& A) {
    ++matrices_set_;
    rows_of_last_matrix_ = A.pattern->rows;
    const CsrPattern& p = *A.pattern;
    BufferPtr f64 = with_values_dtype(A, DType::f64).values;
    auto* cols = const_cast<PetscInt*>(p.col->as<int32_t>());  // NOLINT: PETSc only reads them
    auto* values = const_cast<PetscScalar*>(f64->as<double>()) + s.entry * p.nnz();  // NOLINT
    Mat m = nullptr;
    auto n = static_cast<PetscInt>(p.cols);
    if (size_ == 1) {
      check(MatCreateSeqAIJWithArrays(PETSC_COMM_SELF, n, n, s.row_offsets.data(), cols, values, &m),
            "wrap the CSR matrix");
    } else {
      int64_t offset = s.block ? 0 : p.row_ptr->as<int64_t>()[s.first_row];
      check(MatCreateMPIAIJWithArrays(PETSC_COMM_WORLD, s.local_rows, s.local_rows, n, n,
                                      s.row_offsets.data(), cols + offset, values + offset, &m),
            "distribute the CSR matrix");
    }
    MatDestroy(&s.matrix);
    s.matrix = m;
    s.source = A.values;
    s.values = std::move(f64);
    if (s.ksp != nullptr) check(KSPSetOperators(s.ksp, m, m), "set the new matrix");
  }

  // BoomerAMG smooths with one forward Gauss-Seidel sweep down and one backward sweep up (a
  // symmetric V-cycle, as CG needs) in natural order, where PETSc's default is a symmetric sweep
  // each way in C/F order: at 1024² half the smoothing work for one more CG iteration, 15 % less
  // time with setup on one process and 10 % on two (docs/PERFORMANCE.md). PETSC_OPTIONS that name
  // these options win.
  static void set_amg_defaults() {
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

  void make_solver(PetscSystem& s) const {
    check(KSPCreate(PETSC_COMM_WORLD, &s.ksp), "create a solver");
    check(KSPSetOperators(s.ksp, s.matrix, s.matrix), "set the matrix");
    PC pc = nullptr;
    check(KSPGetPC(s.ksp, &pc), "get the preconditioner");
    switch (s.method) {
      case SolveMethod::petsc_cg: check(KSPSetType(s.ksp, KSPCG), "choose CG"); break;
      case SolveMethod::petsc_gmres: check(KSPSetType(s.ksp, KSPGMRES), "choose GMRES"); break;
      case SolveMethod::petsc_bicgstab: check(KSPSetType(s.ksp, KSPBCGS), "choose BiCGStab"); break;
      case SolveMethod::petsc_direct:
        check(KSPSetType(s.ksp, KSPPREONLY), "choose a direct solve");
        check(PCSetType(pc, PCLU), "choose LU");
        // In parallel PETSc's own LU is sequential only: MUMPS factorizes distributed.
        if (size_ > 1) check(PCFactorSetMatSolverType(pc, MATSOLVERMUMPS), "choose MUMPS");
        break;
      default: throw InternalError("PETSc: not a PETSc method");
    }
    if (s.method != SolveMethod::petsc_direct) {
      switch (s.preconditioner) {
        case PreconditionerKind::none: check(PCSetType(pc, PCNONE), "choose no preconditioner"); break;
        case PreconditionerKind::jacobi: check(PCSetType(pc, PCJACOBI), "choose Jacobi"); break;
        case PreconditionerKind::ilu:
          // ILU(0) is sequential: in parallel, ILU(0) of each process's diagonal block.
          check(PCSetType(pc, size_ == 1 ? PCILU : PCBJACOBI), "choose ILU");
          break;
        case PreconditionerKind::amg:
#ifdef PETSC_HAVE_HYPRE
          check(PCSetType(pc, PCHYPRE), "choose hypre");
          check(PCHYPRESetType(pc, "boomeramg"), "choose BoomerAMG");
          set_amg_defaults();
#else
          check(PCSetType(pc, PCGAMG), "choose GAMG");
#endif
          break;
      }
      // Convergence on the unpreconditioned residual ‖y − A x‖, which GMRES and BiCGStab report
      // with the preconditioner on the right; CG reports it on either side.
      if (s.method != SolveMethod::petsc_cg)
        check(KSPSetPCSide(s.ksp, PC_RIGHT), "precondition on the right");
      check(KSPSetNormType(s.ksp, KSP_NORM_UNPRECONDITIONED), "use the true residual's norm");
      check(KSPSetInitialGuessNonzero(s.ksp, PETSC_TRUE), "start from x0");
    }
    check(KSPSetFromOptions(s.ksp), "read PETSC_OPTIONS");
    check(MatCreateVecs(s.matrix, &s.solution, &s.rhs), "make vectors");
  }

  std::list<std::unique_ptr<PetscSystem> > systems_;
  int size_ = 1, rank_ = 0;
  bool initialised_here_ = false;
  int64_t matrices_set_ = 0, rows_of_last_matrix_ = 0;
};

// Every process's block of rows [first, first + local) of x gathered into every process's whole x.
void gather_rows(int64_t first_row, int64_t local_rows, double* x, int size) {
  if (size == 1) return;
  std::vector<int> counts(static_cast<size_t>(size)), starts(static_cast<size_t>(size));
  int local = static_cast<int>(local_rows), first = static_cast<int>(first_row);
  MPI_Allgather(&local, 1, MPI_INT, counts.data(), 1, MPI_INT, PETSC_COMM_WORLD);
  MPI_Allgather(&first, 1, MPI_INT, starts.data(), 1, MPI_INT, PETSC_COMM_WORLD);
  MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, counts.data(), starts.data(), MPI_DOUBLE,
                 PETSC_COMM_WORLD);
}

std::shared_ptr<Buffer> as_f64(const Buffer& b) {
  auto out = std::make_shared<Buffer>(DType::f64, b.count(), Buffer::Uninitialized{});
  for (int64_t i = 0; i < b.count(); ++i) out->as<double>()[i] = b.get_real(i);
  return out;
}

// n values as a buffer of `dtype`.
BufferPtr buffer_of(const double* v, int64_t n, DType dtype) {
  auto out = std::make_shared<Buffer>(dtype, n, Buffer::Uninitialized{});
  if (dtype == DType::f64) {
    std::memcpy(out->data(), v, static_cast<size_t>(n) * sizeof(double));
  } else {
    for (int64_t i = 0; i < n; ++i) out->set_real(i, v[i]);
  }
  return out;
}

bool all_finite(const double* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i])) return false;
  }
  return true;
}

// The kept solver that solves with A: for the transpose of a matrix (r.transpose_of), that
// matrix's solver solving transposed, which reuses its preconditioner's setup, when its
// preconditioner can be applied transposed (else A's own). BoomerAMG's transposed cycle
// (hypre_BoomerAMGSolveT) supports Jacobi smoothing only, not the Gauss-Seidel it sets up with.
std::pair<PetscSystem&, bool> system_for(PetscState& petsc, const LinearSolveRequest& r, const CsrMatrix& A,
                                         int64_t entry) {
  if (r.transpose_of != nullptr && r.preconditioner_kind != PreconditionerKind::amg) {
    PetscSystem& original = petsc.system(*r.transpose_of, -1, entry, r.method, r.preconditioner_kind);
    PC pc = nullptr;
    PetscBool can_transpose = PETSC_FALSE;
    check(KSPGetPC(original.ksp, &pc), "get the preconditioner");
    check(PCApplyTransposeExists(pc, &can_transpose), "ask whether the preconditioner transposes");
    if (can_transpose) return {original, true};
  }
  return {petsc.system(A, r.first_row, entry, r.method, r.preconditioner_kind), false};
}

// Every batch entry's KSPSolve from its x0 (x: batch × n, this process's rows written, then
// gathered); fills the iterations and returns PETSc's reason per entry.
std::vector<KSPConvergedReason> run_solves(const LinearSolveRequest& r, const CsrMatrix& A, const double* y,
                                           double* x, int64_t batch, KrylovResult& out) {
  const int64_t n = A.pattern->cols;
  std::vector<KSPConvergedReason> reasons(static_cast<size_t>(batch), KSP_CONVERGED_ITERATING);
  PetscState& petsc = PetscState::instance();
  std::lock_guard lock(petsc.mutex);
  for (int64_t b = 0; b < batch; ++b) {
    auto i = static_cast<size_t>(b);
    if (!std::isfinite(r.tolerance[i])) {  // y holds NaN or inf: nothing to solve
      reasons[i] = KSP_DIVERGED_NANORINF;
      continue;
    }
    const int64_t entry = r.matrix_of_entry.empty() ? 0 : r.matrix_of_entry[i];
    auto [s, transposed] = system_for(petsc, r, A, entry);
    // The entry's tolerance as PETSc's absolute one (rtol 0) and no divergence test of PETSc's:
    // non-finite values are found afterwards.
    check(KSPSetTolerances(s.ksp, 0.0, r.tolerance[i], PETSC_MAX_REAL, std::max(r.max_iterations, 0)),
          "set the tolerances");
    check(VecPlaceArray(s.rhs, y + b * n + s.first_row), "place y");
    check(VecPlaceArray(s.solution, x + b * n + s.first_row), "place x");
    PetscErrorCode code =
        transposed ? KSPSolveTranspose(s.ksp, s.rhs, s.solution) : KSPSolve(s.ksp, s.rhs, s.solution);
    VecResetArray(s.rhs);
    VecResetArray(s.solution);
    check(code, "solve");
    PetscInt iterations = 0;
    KSPGetIterationNumber(s.ksp, &iterations);
    KSPGetConvergedReason(s.ksp, &reasons[i]);
    out.iterations[i] = iterations;
    out.function_evaluations[i] = iterations + 1;
    gather_rows(s.first_row, s.local_rows, x + b * n, petsc.size());
  }
  return reasons;
}

// y − A x when A is this process's block of rows: each process computes its rows, every
// process gathers the whole residual (in x's dtype) and its norm per entry.
void block_residual(const LinearSolveRequest& r, const Buffer& y, const Buffer& x, int64_t batch,
                    KrylovResult& out) {
  const CsrMatrix& A = *r.matrix;
  const int64_t n = A.pattern->cols, rows = A.pattern->rows;
  Buffer product(x.dtype(), batch * rows, Buffer::Uninitialized{});
  csr_operator(A, {r.matrix_of_entry.begin(), r.matrix_of_entry.end()})->apply(x, product);
  std::vector<double> whole(static_cast<size_t>(batch * n));
  auto residual = std::make_shared<Buffer>(x.dtype(), batch * n, Buffer::Uninitialized{});
  out.residual_norm.clear();
  for (int64_t b = 0; b < batch; ++b) {
    double* rb = whole.data() + b * n;
    for (int64_t i = 0; i < rows; ++i)
      rb[r.first_row + i] = y.get_real(b * n + r.first_row + i) - product.get_real(b * rows + i);
    gather_rows(r.first_row, rows, rb, petsc_processes());
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      residual->set_real(b * n + i, rb[i]);
      sum += rb[i] * rb[i];
    }
    out.residual_norm.push_back(std::sqrt(sum));
  }
  out.residual = residual;
}

// The verdicts from the true residual: converged on phijit's rule; diverged on a breakdown or
// non-finite values. Running out of iterations is neither.
void judge(const LinearSolveRequest& r, const Buffer& y, const Buffer& x, int64_t batch,
           const std::vector<KSPConvergedReason>& reasons, KrylovResult& out) {
  if (r.first_row >= 0) {
    block_residual(r, y, x, batch, out);
  } else {
    true_residual(*r.matrix, r.matrix_of_entry, y, x, batch, out);
  }
  for (int64_t b = 0; b < batch; ++b) {
    auto i = static_cast<size_t>(b);
    bool broke_down = reasons[i] < 0 && reasons[i] != KSP_DIVERGED_ITS;
    bool diverged = broke_down || !std::isfinite(out.residual_norm[i]);
    out.diverged.push_back(diverged);
    out.converged.push_back(!diverged && out.residual_norm[i] <= r.tolerance[i]);
  }
}

}  // namespace

bool petsc_available() { return true; }

int64_t petsc_matrices_set() {
  PetscState& petsc = PetscState::instance();
  std::lock_guard lock(petsc.mutex);
  return petsc.matrices_set();
}

std::pair<int64_t, int64_t> petsc_row_block(int64_t n) {
  PetscState& petsc = PetscState::instance();
  std::lock_guard lock(petsc.mutex);
  return petsc.row_block(n);
}

int64_t petsc_rows_of_last_matrix() {
  PetscState& petsc = PetscState::instance();
  std::lock_guard lock(petsc.mutex);
  return petsc.rows_of_last_matrix();
}

int petsc_processes() { return PetscState::instance().size(); }
int petsc_rank() { return PetscState::instance().rank(); }

KrylovResult solve_with_petsc(const LinearSolveRequest& r, const Buffer& y, Buffer& x, int64_t batch) {
  if (r.transposed) throw InternalError("solve_with_petsc: the system's own matrix is expected");
  if (r.preconditioner != nullptr)
    throw InternalError("solve_with_petsc: PETSc makes its own preconditioner");
  // PETSc computes in double: a float32 solve's vectors go through f64 copies (its matrix is
  // converted once per system, in PetscState).
  const CsrMatrix& A = *r.matrix;
  std::shared_ptr<Buffer> y64 = y.dtype() == DType::f64 ? nullptr : as_f64(y);
  std::shared_ptr<Buffer> x64 = x.dtype() == DType::f64 ? nullptr : as_f64(x);
  const double* yv = y64 ? y64->as<double>() : y.as<double>();
  double* xv = x64 ? x64->as<double>() : x.as<double>();
  const int64_t n = A.pattern->cols, count = batch * n;
  std::vector<double> x0(xv, xv + count);

  KrylovResult out;
  out.iterations.assign(static_cast<size_t>(batch), 0);
  out.function_evaluations.assign(static_cast<size_t>(batch), 0);
  std::vector<KSPConvergedReason> reasons = run_solves(r, A, yv, xv, batch, out);
  // An entry with non-finite values goes back to x0: the last finite estimate PETSc lets us see.
  for (int64_t b = 0; b < batch; ++b) {
    if (!all_finite(xv + b * n, n)) std::copy_n(x0.data() + b * n, n, xv + b * n);
  }
  if (x64) {
    for (int64_t i = 0; i < count; ++i) x.set_real(i, xv[i]);
  }
  judge(r, y, x, batch, reasons, out);
  // PETSc's iterations are not observed one by one: the trajectory is x0 and the result.
  if (r.record_trajectory)
    out.trajectory = {buffer_of(x0.data(), count, x.dtype()), buffer_of(xv, count, x.dtype())};
  return out;
}

}  // namespace phijit::runtime

#endif
