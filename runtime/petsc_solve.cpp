#include "runtime/petsc_solve.h"

#include <fmt/format.h>

#include "ir/error.h"

#ifndef PHIJIT_WITH_PETSC

namespace phijit::runtime {

bool petsc_available() { return false; }
int petsc_processes() { return 1; }
int petsc_rank() { return 0; }
int64_t petsc_matrices_set() { return 0; }

KrylovResult solve_with_petsc(const LinearSolveRequest& r, const Buffer&, Buffer&, int64_t) {
  throw Error(fmt::format(
      "solve_linear: method '{}' runs in PETSc, and this phijit was built without it. Install Debian's "
      "libpetsc-real-dev (scripts/install-deps.sh does) and configure again with -DPHIJIT_WITH_PETSC=ON",
      solve_method_name(r.method)));
}

}  // namespace phijit::runtime

#else

#include <petscksp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "runtime/log.h"
#include "runtime/sparse_solvers.h"

namespace phijit::runtime {

namespace {

class IterateRecorder;

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
// converted. With several processes each holds its own block of rows, which PETSc copies.
struct PetscSystem {
  std::shared_ptr<const CsrPattern> pattern;
  BufferPtr source;  // the caller's values: the same buffer again means the same matrix
  BufferPtr values;  // the values the Mat reads, f64 (source itself, or its f64 copy)
  int64_t entry = 0;
  SolveMethod method = SolveMethod::petsc_cg;
  PreconditionerKind preconditioner = PreconditionerKind::none;
  std::vector<PetscInt> row_offsets;  // this process's rows, from 0
  PetscInt first_row = 0, local_rows = 0;
  Mat matrix = nullptr;
  KSP ksp = nullptr;
  Vec rhs = nullptr, solution = nullptr;
  // The iterates of the running KSPSolve go to `recorder` when set (a trajectory is recorded);
  // its monitor is installed on the first such solve (IterateRecorder::Watch).
  IterateRecorder* recorder = nullptr;
  bool monitored = false;

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
  int rank() const { return rank_; }

  // The solver of matrix entry `entry` of A with these settings: kept, updated with new values
  // on the same pattern (the KSP stays; its preconditioner is set up again), or made.
  PetscSystem& system(const CsrMatrix& A, int64_t entry, SolveMethod method, PreconditionerKind pre) {
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
    set_rows(*s);
    set_matrix(*s, A);
    make_solver(*s);
    systems_.push_front(std::move(s));
    while (systems_.size() > kKeptSystems) systems_.pop_back();
    return *systems_.front();
  }

  // This process's block of n rows as PETSc splits them (PETSC_DECIDE: near-equal blocks): its
  // first row and count.
  std::pair<PetscInt, PetscInt> row_block(int64_t n) const {
    if (n > std::numeric_limits<PetscInt>::max())
      throw Error(fmt::format("PETSc (32-bit indices) takes at most 2^31-1 rows; the system has {}", n));
    auto rows = static_cast<PetscInt>(n);
    PetscInt local = PETSC_DECIDE, first = 0;
    check(PetscSplitOwnership(PETSC_COMM_WORLD, &local, &rows), "split the rows");
    MPI_Exscan(&local, &first, 1, MPIU_INT, MPI_SUM, PETSC_COMM_WORLD);
    return {rank_ == 0 ? 0 : first, local};
  }

  // A solver for one solve of a matrix-free operator: a shell Mat whose product is `multiply`
  // with `context`, over n rows split as row_block says. Not kept: without a preconditioner
  // there is no setup to reuse.
  std::unique_ptr<PetscSystem> shell_system(int64_t n, SolveMethod method, void* context,
                                            PetscErrorCode (*multiply)(Mat, Vec, Vec)) const {
    auto s = std::make_unique<PetscSystem>();
    s->method = method;
    std::tie(s->first_row, s->local_rows) = row_block(n);
    auto rows = static_cast<PetscInt>(n);
    check(MatCreateShell(PETSC_COMM_WORLD, s->local_rows, s->local_rows, rows, rows, context, &s->matrix),
          "make a shell matrix");
    check(MatShellSetOperation(s->matrix, MATOP_MULT,
                               reinterpret_cast<void (*)(void)>(multiply)),  // NOLINT: PETSc's signature
          "set the shell's product");
    make_solver(*s);
    return s;
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

  // This process's block of rows, as PETSc splits them (PETSC_DECIDE: near-equal blocks).
  void set_rows(PetscSystem& s) const {
    const CsrPattern& p = *s.pattern;
    if (p.rows > std::numeric_limits<PetscInt>::max() || p.nnz() > std::numeric_limits<PetscInt>::max()) {
      throw Error(
          fmt::format("PETSc (32-bit indices) takes at most 2^31-1 rows and entries; the matrix has {} "
                      "rows and {} entries",
                      p.rows, p.nnz()));
    }
    auto n = static_cast<PetscInt>(p.rows);
    PetscInt local = PETSC_DECIDE;
    check(PetscSplitOwnership(PETSC_COMM_WORLD, &local, &n), "split the rows");
    PetscInt first = 0;
    MPI_Exscan(&local, &first, 1, MPIU_INT, MPI_SUM, PETSC_COMM_WORLD);
    if (rank_ == 0) first = 0;
    s.first_row = first;
    s.local_rows = local;
    const int64_t* rp = p.row_ptr->as<int64_t>();
    s.row_offsets.resize(static_cast<size_t>(local) + 1);
    for (PetscInt r = 0; r <= local; ++r)
      s.row_offsets[static_cast<size_t>(r)] = static_cast<PetscInt>(rp[first + r] - rp[first]);
  }

  // The Mat of entry s.entry of A's values. PETSc computes in double: float32 values are
  // converted once and kept with the system, so that solving again with the same (float32)
  // matrix reuses the preconditioner's setup.
  void set_matrix(PetscSystem& s, const CsrMatrix& A) {
    ++matrices_set_;
    const CsrPattern& p = *A.pattern;
    BufferPtr f64 = with_values_dtype(A, DType::f64).values;
    auto* cols = const_cast<PetscInt*>(p.col->as<int32_t>());  // NOLINT: PETSc only reads them
    auto* values = const_cast<PetscScalar*>(f64->as<double>()) + s.entry * p.nnz();  // NOLINT
    Mat m = nullptr;
    auto n = static_cast<PetscInt>(p.rows);
    if (size_ == 1) {
      check(MatCreateSeqAIJWithArrays(PETSC_COMM_SELF, n, n, s.row_offsets.data(), cols, values, &m),
            "wrap the CSR matrix");
    } else {
      int64_t offset = p.row_ptr->as<int64_t>()[s.first_row];
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
  int64_t matrices_set_ = 0;
};

// Every process's block of x gathered into every process's whole x.
void gather_rows(const PetscSystem& s, double* x, int size) {
  if (size == 1) return;
  std::vector<int> counts(static_cast<size_t>(size)), starts(static_cast<size_t>(size));
  int local = static_cast<int>(s.local_rows), first = static_cast<int>(s.first_row);
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

// x after every iteration of each batch entry's KSPSolve, for SolveInfo::trajectory: a KSP
// monitor asks KSPBuildSolution for x (GMRES forms it only when asked) and gathers every
// process's rows, so that every process holds the whole vector.
class IterateRecorder {
 public:
  // While alive, the iterations of s's KSPSolve are recorded as batch entry `entry`'s (nothing
  // with a null recorder). The monitor is installed on a system's first recorded solve and stays
  // (PETSc cannot remove one monitor alone, and removing all would drop PETSC_OPTIONS' own): a
  // solve that records nothing costs it one call per iteration that returns at once.
  class Watch {
   public:
    Watch(IterateRecorder* recorder, PetscSystem& s, int64_t entry) : s_(s) {
      if (recorder == nullptr) return;
      if (!s.monitored) {
        check(KSPMonitorSet(s.ksp, &IterateRecorder::on_iteration, &s, nullptr), "watch the iterations");
        s.monitored = true;
      }
      recorder->entry_ = entry;
      s.recorder = recorder;
    }
    ~Watch() { s_.recorder = nullptr; }
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

   private:
    PetscSystem& s_;
  };

  // x0: batch × n values.
  IterateRecorder(const double* x0, int64_t batch, int64_t n, int processes)
      : n_(n), processes_(processes), iterates_(static_cast<size_t>(batch)) {
    for (int64_t b = 0; b < batch; ++b)
      iterates_[static_cast<size_t>(b)].emplace_back(x0 + b * n, x0 + (b + 1) * n);
  }

  // Entry b's iterates end with its result x (so an entry PETSc left with non-finite values ends
  // with the x0 it returns): `iterations` + 1 of them.
  void finish(int64_t b, const double* x, int64_t iterations) {
    std::vector<std::vector<double> >& list = iterates_[static_cast<size_t>(b)];
    set(list, iterations, std::vector<double>(x, x + n_));
  }

  // As the Krylov solvers give it: x0, then one buffer (batch × n) per iteration, in which an
  // entry that finished earlier holds its result.
  std::vector<BufferPtr> trajectory(DType dtype) const {
    size_t steps = 0;
    for (const auto& list : iterates_) steps = std::max(steps, list.size());
    const auto batch = static_cast<int64_t>(iterates_.size());
    std::vector<BufferPtr> out;
    std::vector<double> step(static_cast<size_t>(batch * n_));
    for (size_t k = 0; k < steps; ++k) {
      for (int64_t b = 0; b < batch; ++b) {
        const auto& list = iterates_[static_cast<size_t>(b)];
        const std::vector<double>& x = list[std::min(k, list.size() - 1)];
        std::copy(x.begin(), x.end(), step.begin() + b * n_);
      }
      out.push_back(buffer_of(step.data(), batch * n_, dtype));
    }
    return out;
  }

 private:
  // Iteration 0 is x0, known already; a GMRES restart reports its iteration again (the same x).
  static PetscErrorCode on_iteration(KSP ksp, PetscInt iteration, PetscReal, void* system) {
    auto* s = static_cast<PetscSystem*>(system);
    if (s->recorder == nullptr || iteration == 0) return 0;
    try {
      s->recorder->record(ksp, *s, iteration);
    } catch (...) {  // nothing may unwind through PETSc's C frames
      return PETSC_ERR_LIB;
    }
    return 0;
  }

  void record(KSP ksp, const PetscSystem& s, PetscInt iteration) {
    Vec current = nullptr;
    check(KSPBuildSolution(ksp, nullptr, &current), "form the current x");
    const PetscScalar* own = nullptr;
    check(VecGetArrayRead(current, &own), "read the current x");
    std::vector<double> x(static_cast<size_t>(n_));
    std::copy_n(own, s.local_rows, x.begin() + s.first_row);
    VecRestoreArrayRead(current, &own);
    gather_rows(s, x.data(), processes_);
    set(iterates_[static_cast<size_t>(entry_)], iteration, std::move(x));
  }

  // list[k] = x, any iterations missing before k (none are expected) holding the last known x.
  static void set(std::vector<std::vector<double> >& list, int64_t k, std::vector<double> x) {
    std::vector<double> last = list.back();
    list.resize(static_cast<size_t>(k) + 1, last);
    list[static_cast<size_t>(k)] = std::move(x);
  }

  int64_t n_;
  int processes_;
  int64_t entry_ = 0;
  std::vector<std::vector<std::vector<double> > > iterates_;  // per entry, per iteration: n values
};

// Set on a thread while it applies a matrix-free operator inside a PETSc solve: a PETSc solve in
// that operator would wait for the lock its caller holds.
thread_local bool applying_shell_operator = false;

// A matrix-free operator (a plain callable) as a PETSc shell matrix: MatMult applies the runtime
// operator to one batch entry's vector, the other entries zero (the operator takes the whole
// batch). Under MPI each process is given its own rows of x: it gathers the whole x, applies the
// operator (replicated, like everything but the solve) and keeps its own rows of A x.
class ShellOperator {
 public:
  ShellOperator(const LinearOperator& op, int64_t batch, DType dtype)
      : op_(op),
        n_(op.rows()),
        in_(dtype, batch * op.rows()),
        out_(dtype, batch * op.rows(), Buffer::Uninitialized{}),
        whole_(static_cast<size_t>(op.rows())) {}

  // This process's rows (of the shell's row split) and every process's, for the gather.
  void distribute(PetscInt first_row, PetscInt local_rows, int processes) {
    first_ = first_row;
    local_ = local_rows;
    processes_ = processes;
    if (processes == 1) return;
    counts_.resize(static_cast<size_t>(processes));
    starts_.resize(static_cast<size_t>(processes));
    int local = static_cast<int>(local_rows), first = static_cast<int>(first_row);
    MPI_Allgather(&local, 1, MPI_INT, counts_.data(), 1, MPI_INT, PETSC_COMM_WORLD);
    MPI_Allgather(&first, 1, MPI_INT, starts_.data(), 1, MPI_INT, PETSC_COMM_WORLD);
  }

  // The batch entry the next products are of; counts its applications from 0.
  void set_entry(int64_t entry) {
    for (int64_t i = entry_ * n_; i < (entry_ + 1) * n_; ++i) in_.set_real(i, 0);
    entry_ = entry;
    applications_ = 0;
  }
  int64_t applications() const { return applications_; }

  // What the operator threw inside MatMult, where PETSc saw only an error code.
  void rethrow_failure() {
    if (failure_ == nullptr) return;
    std::exception_ptr failure = std::exchange(failure_, nullptr);
    std::rethrow_exception(failure);
  }

  static PetscErrorCode multiply(Mat A, Vec x, Vec y) {
    ShellOperator* self = nullptr;
    if (PetscErrorCode code = MatShellGetContext(A, &self); code != 0) return code;
    const PetscScalar* in = nullptr;
    PetscScalar* out = nullptr;
    if (PetscErrorCode code = VecGetArrayRead(x, &in); code != 0) return code;
    if (PetscErrorCode code = VecGetArray(y, &out); code != 0) return code;
    PetscErrorCode code = 0;
    try {
      self->apply(in, out);
    } catch (...) {  // nothing may unwind through PETSc's C frames
      self->failure_ = std::current_exception();
      code = PETSC_ERR_LIB;
    }
    VecRestoreArray(y, &out);
    VecRestoreArrayRead(x, &in);
    return code;
  }

 private:
  void apply(const double* own_x, double* own_y) {
    std::copy_n(own_x, local_, whole_.begin() + first_);
    if (processes_ > 1) {
      MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, whole_.data(), counts_.data(), starts_.data(),
                     MPI_DOUBLE, PETSC_COMM_WORLD);
    }
    for (int64_t i = 0; i < n_; ++i) in_.set_real(entry_ * n_ + i, whole_[static_cast<size_t>(i)]);
    applying_shell_operator = true;
    struct Reset {
      ~Reset() { applying_shell_operator = false; }
    } reset;
    op_.apply(in_, out_);
    for (PetscInt i = 0; i < local_; ++i) own_y[i] = out_.get_real(entry_ * n_ + first_ + i);
    ++applications_;
  }

  const LinearOperator& op_;
  int64_t n_, entry_ = 0, applications_ = 0;
  Buffer in_, out_;            // batch × n in the operator's dtype
  std::vector<double> whole_;  // the whole x of the entry
  PetscInt first_ = 0, local_ = 0;
  int processes_ = 1;
  std::vector<int> counts_, starts_;
  std::exception_ptr failure_;
};

// Every batch entry's KSPSolve from its x0 (x: batch × n, this process's rows written, then
// gathered); fills the iterations and returns PETSc's reason per entry. With a recorder, x after
// every iteration goes to it.
std::vector<KSPConvergedReason> run_solves(const LinearSolveRequest& r, const CsrMatrix& A, const double* y,
                                           double* x, int64_t batch, IterateRecorder* recorder,
                                           KrylovResult& out) {
  const int64_t n = A.pattern->rows;
  std::vector<KSPConvergedReason> reasons(static_cast<size_t>(batch), KSP_CONVERGED_ITERATING);
  PetscState& petsc = PetscState::instance();
  std::lock_guard lock(petsc.mutex);
  for (int64_t b = 0; b < batch; ++b) {
    auto i = static_cast<size_t>(b);
    if (!std::isfinite(r.tolerance[i])) {  // y holds NaN or inf: nothing to solve
      reasons[i] = KSP_DIVERGED_NANORINF;
      continue;
    }
    PetscSystem& s = petsc.system(A, r.matrix_of_entry.empty() ? 0 : r.matrix_of_entry[i], r.method,
                                  r.preconditioner_kind);
    // The entry's tolerance as PETSc's absolute one (rtol 0) and no divergence test of PETSc's:
    // non-finite values are found afterwards.
    check(KSPSetTolerances(s.ksp, 0.0, r.tolerance[i], PETSC_MAX_REAL, std::max(r.max_iterations, 0)),
          "set the tolerances");
    check(VecPlaceArray(s.rhs, y + b * n + s.first_row), "place y");
    check(VecPlaceArray(s.solution, x + b * n + s.first_row), "place x");
    IterateRecorder::Watch watch(recorder, s, b);
    PetscErrorCode code = KSPSolve(s.ksp, s.rhs, s.solution);
    VecResetArray(s.rhs);
    VecResetArray(s.solution);
    check(code, "solve");
    PetscInt iterations = 0;
    KSPGetIterationNumber(s.ksp, &iterations);
    KSPGetConvergedReason(s.ksp, &reasons[i]);
    out.iterations[i] = iterations;
    out.function_evaluations[i] = iterations + 1;
    gather_rows(s, x + b * n, petsc.size());
  }
  return reasons;
}

// run_solves for a matrix-free operator (r.op, no matrix; `dtype` the operator's): one shell
// matrix for the batch, each entry's KSPSolve applying the operator to that entry. The operator
// applications are counted as they happen.
std::vector<KSPConvergedReason> run_shell_solves(const LinearSolveRequest& r, DType dtype, const double* y,
                                                 double* x, int64_t batch, IterateRecorder* recorder,
                                                 KrylovResult& out) {
  const int64_t n = r.op->rows();
  std::vector<KSPConvergedReason> reasons(static_cast<size_t>(batch), KSP_CONVERGED_ITERATING);
  PetscState& petsc = PetscState::instance();
  std::lock_guard lock(petsc.mutex);
  ShellOperator shell(*r.op, batch, dtype);
  std::unique_ptr<PetscSystem> s = petsc.shell_system(n, r.method, &shell, &ShellOperator::multiply);
  shell.distribute(s->first_row, s->local_rows, petsc.size());
  for (int64_t b = 0; b < batch; ++b) {
    auto i = static_cast<size_t>(b);
    if (!std::isfinite(r.tolerance[i])) {  // y holds NaN or inf: nothing to solve
      reasons[i] = KSP_DIVERGED_NANORINF;
      continue;
    }
    shell.set_entry(b);
    check(KSPSetTolerances(s->ksp, 0.0, r.tolerance[i], PETSC_MAX_REAL, std::max(r.max_iterations, 0)),
          "set the tolerances");
    check(VecPlaceArray(s->rhs, y + b * n + s->first_row), "place y");
    check(VecPlaceArray(s->solution, x + b * n + s->first_row), "place x");
    PetscErrorCode code = 0;
    {
      IterateRecorder::Watch watch(recorder, *s, b);
      code = KSPSolve(s->ksp, s->rhs, s->solution);
    }
    VecResetArray(s->rhs);
    VecResetArray(s->solution);
    shell.rethrow_failure();  // the operator's own error, rather than PETSc's code for it
    check(code, "solve");
    PetscInt iterations = 0;
    KSPGetIterationNumber(s->ksp, &iterations);
    KSPGetConvergedReason(s->ksp, &reasons[i]);
    out.iterations[i] = iterations;
    out.function_evaluations[i] = shell.applications();
    gather_rows(*s, x + b * n, petsc.size());
  }
  return reasons;
}

// The verdicts from the true residual (every process holds the whole matrix, or operator):
// converged on phijit's rule; diverged on a breakdown or non-finite values. Running out of
// iterations is neither.
void judge(const LinearSolveRequest& r, const Buffer& y, const Buffer& x, int64_t batch,
           const std::vector<KSPConvergedReason>& reasons, KrylovResult& out) {
  if (r.matrix != nullptr) {
    true_residual(*r.matrix, r.matrix_of_entry, y, x, batch, out);
  } else {
    true_residual(*r.op, y, x, batch, out);
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

int petsc_processes() { return PetscState::instance().size(); }
int petsc_rank() { return PetscState::instance().rank(); }

KrylovResult solve_with_petsc(const LinearSolveRequest& r, const Buffer& y, Buffer& x, int64_t batch) {
  if (r.transposed) throw InternalError("solve_with_petsc: the system's own matrix is expected");
  if (r.preconditioner != nullptr)
    throw InternalError("solve_with_petsc: PETSc makes its own preconditioner");
  if (applying_shell_operator) {
    throw Error(
        "solve_linear: a PETSc solve inside the function of a matrix-free PETSc solve is not supported "
        "(PETSc runs one solve at a time); use one of phijit's own methods for one of the two");
  }
  // PETSc computes in double: a float32 solve's vectors go through f64 copies (its matrix is
  // converted once per system, in PetscState).
  std::shared_ptr<Buffer> y64 = y.dtype() == DType::f64 ? nullptr : as_f64(y);
  std::shared_ptr<Buffer> x64 = x.dtype() == DType::f64 ? nullptr : as_f64(x);
  const double* yv = y64 ? y64->as<double>() : y.as<double>();
  double* xv = x64 ? x64->as<double>() : x.as<double>();
  const int64_t n = r.matrix != nullptr ? r.matrix->pattern->rows : r.op->rows(), count = batch * n;
  std::vector<double> x0(xv, xv + count);

  KrylovResult out;
  out.iterations.assign(static_cast<size_t>(batch), 0);
  out.function_evaluations.assign(static_cast<size_t>(batch), 0);
  std::optional<IterateRecorder> recorder;
  if (r.record_trajectory) recorder.emplace(x0.data(), batch, n, petsc_processes());
  IterateRecorder* record = recorder ? &*recorder : nullptr;
  std::vector<KSPConvergedReason> reasons = r.matrix != nullptr
                                                ? run_solves(r, *r.matrix, yv, xv, batch, record, out)
                                                : run_shell_solves(r, x.dtype(), yv, xv, batch, record, out);
  // An entry with non-finite values goes back to x0: the last finite estimate PETSc lets us see.
  for (int64_t b = 0; b < batch; ++b) {
    if (!all_finite(xv + b * n, n)) std::copy_n(x0.data() + b * n, n, xv + b * n);
  }
  if (x64) {
    for (int64_t i = 0; i < count; ++i) x.set_real(i, xv[i]);
  }
  judge(r, y, x, batch, reasons, out);
  if (recorder) {
    for (int64_t b = 0; b < batch; ++b)
      recorder->finish(b, xv + b * n, out.iterations[static_cast<size_t>(b)]);
    out.trajectory = recorder->trajectory(x.dtype());
  }
  return out;
}

}  // namespace phijit::runtime

#endif
