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

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/log.h"
#include "runtime/petsc_module/petsc_module.h"
#include "runtime/sparse.h"

namespace phijit::runtime {

namespace {

// The module's error buffer, and its code and message as an Error.
struct ModuleError {
  char text[PHIJIT_PETSC_ERROR_SIZE] = {};
  void check(int code) const {
    if (code != 0) throw Error(std::string(text));
  }
};

// Where an installation relocated from its configured prefix keeps the module: lib/phijit/ next
// to a shared libphijit, or under ../lib of the program that links a static one.
std::string relocated_module_path() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&petsc_available), &info) == 0 || info.dli_fname == nullptr) return {};
  std::string self = info.dli_fname;
  std::string dir = self.substr(0, self.rfind('/') + 1);
  bool shared = self.find("libphijit") != std::string::npos;
  return dir + (shared ? "phijit/libphijit_petsc.so" : "../lib/phijit/libphijit_petsc.so");
}

// libphijit_petsc.so, the only part that links PETSc and MPI (runtime/petsc_module): loaded on
// the first PETSc solve from PHIJIT_PETSC_MODULE, else from where this build put it, where
// installation put it, or where a relocated installation keeps it. RTLD_GLOBAL: Open MPI's own
// plugins look up its symbols.
const PhijitPetscApi& load_module() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("PHIJIT_PETSC_MODULE"); env != nullptr && *env != '\0') {
    candidates = {env};
  } else {
    candidates = {PHIJIT_PETSC_MODULE_BUILD_PATH, PHIJIT_PETSC_MODULE_INSTALL_PATH};
    if (std::string relocated = relocated_module_path(); !relocated.empty()) candidates.push_back(relocated);
  }
  std::string failures;
  for (const std::string& path : candidates) {
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (handle == nullptr) {
      failures += fmt::format("\n  {}: {}", path, dlerror());
      continue;
    }
    auto api_of = reinterpret_cast<PhijitPetscApiFn>(dlsym(handle, "phijit_petsc_api"));
    const PhijitPetscApi* api = api_of != nullptr ? api_of() : nullptr;
    if (api == nullptr || api->version != PHIJIT_PETSC_API_VERSION) {
      failures +=
          fmt::format("\n  {}: not a phijit PETSc module of version {}", path, PHIJIT_PETSC_API_VERSION);
      continue;
    }
    logger().debug("PETSc module loaded from {}", path);
    return *api;
  }
  throw Error(fmt::format(
      "PETSc solves need phijit's PETSc module (libphijit_petsc.so), which could not be loaded from:{}\nSet "
      "PHIJIT_PETSC_MODULE to its path",
      failures));
}

// One operator in PETSc with its solver (the module's), and what it reads in place: the CSR
// pattern and the f64 values, kept alive with it.
struct PetscSystem {
  const PhijitPetscApi* api = nullptr;
  void* handle = nullptr;
  std::shared_ptr<const CsrPattern> pattern;
  BufferPtr source;  // the caller's values: the same buffer again means the same matrix
  BufferPtr values;  // the values PETSc reads, f64: source itself, or an f64 copy of entry's
  const double* entry_values = nullptr;  // where entry's values start in `values`
  int64_t entry = 0, first_row = 0, local_rows = 0;
  bool block = false;  // the pattern holds this process's rows only
  SolveMethod method = SolveMethod::petsc_cg;
  PreconditionerKind preconditioner = PreconditionerKind::none;
  // A solver for Aᵀ that PETSc transposed, made when A's cannot solve transposed (amg).
  std::unique_ptr<PetscSystem> transposed;

  PetscSystem() = default;
  PetscSystem(const PetscSystem&) = delete;
  PetscSystem& operator=(const PetscSystem&) = delete;
  ~PetscSystem() {
    if (handle != nullptr) api->free_system(handle);
  }
};

int module_method(SolveMethod m) {
  switch (m) {
    case SolveMethod::petsc_cg: return phijit_petsc_cg;
    case SolveMethod::petsc_gmres: return phijit_petsc_gmres;
    case SolveMethod::petsc_bicgstab: return phijit_petsc_bicgstab;
    case SolveMethod::petsc_direct: return phijit_petsc_direct;
    case SolveMethod::automatic:
    case SolveMethod::cg:
    case SolveMethod::cg_adaptive:
    case SolveMethod::bicgstab:
    case SolveMethod::gmres:
    case SolveMethod::direct: break;
  }
  throw InternalError("PETSc: not a PETSc method");
}

int module_preconditioner(PreconditionerKind p) {
  switch (p) {
    case PreconditionerKind::none: return phijit_petsc_none;
    case PreconditionerKind::jacobi: return phijit_petsc_jacobi;
    case PreconditionerKind::ilu: return phijit_petsc_ilu;
    case PreconditionerKind::amg: return phijit_petsc_amg;
  }
  throw InternalError("PETSc: unknown preconditioner");
}

// PETSc's state in this process: the module loaded and PETSc started on first use (MPI too,
// unless the program started it), finalised at exit; PETSc is not thread-safe, so every call
// holds the mutex. A few systems are kept, so that solving with the same matrix again (a time
// loop, an adjoint) skips the preconditioner's setup.
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
  const PhijitPetscApi& api;

  int size() const { return api.processes(); }
  int rank() const { return api.rank(); }
  int64_t matrices_set() const { return matrices_set_; }
  int64_t rows_of_last_matrix() const { return rows_of_last_matrix_; }

  // PETSc's split of n rows: this process's first row and count.
  std::pair<int64_t, int64_t> row_block(int64_t n) const {
    int64_t first = 0, count = 0;
    ModuleError e;
    e.check(api.row_block(n, &first, &count, e.text));
    return {first, count};
  }

  // Every process's rows [first, first + count) of x (n values) gathered on every process.
  void gather(int64_t first, int64_t count, double* x) const {
    ModuleError e;
    e.check(api.gather(first, count, x, e.text));
  }

  // A solver for one solve of a matrix-free operator (no preconditioner): a shell matrix over n
  // rows whose product calls apply(context, x_own, y_own). Not kept: there is no setup to reuse.
  std::unique_ptr<PetscSystem> shell_system(int64_t n, SolveMethod method,
                                            int (*apply)(void*, const double*, double*), void* context) {
    auto s = std::make_unique<PetscSystem>();
    s->api = &api;
    s->method = method;
    std::tie(s->first_row, s->local_rows) = row_block(n);
    PhijitPetscOperator op{n, s->first_row, s->local_rows, nullptr, nullptr, nullptr, apply, context};
    ModuleError e;
    e.check(api.make_system(&op, module_method(method), phijit_petsc_none, &s->handle, e.text));
    return s;
  }

  // The solver of matrix entry `entry` of A with these settings: kept, updated with new values
  // on the same pattern (the KSP stays; its preconditioner is set up again), or made. A holds
  // rows [first_row, …) of the system (first_row ≥ 0), or every row (-1), of which this
  // process hands PETSc its block.
  PetscSystem& system(const CsrMatrix& A, int64_t first_row, int64_t entry, SolveMethod method,
                      PreconditionerKind pre) {
    for (auto it = systems_.begin(); it != systems_.end(); ++it) {
      PetscSystem& s = **it;
      if (s.pattern != A.pattern || s.entry != entry || s.method != method || s.preconditioner != pre)
        continue;
      if (s.source != A.values) {
        logger().debug("PETSc: new values for a kept solver ({} rows): its preconditioner is set up again",
                       A.pattern->rows);
        PhijitPetscOperator op = rows_of(s, A);
        ModuleError e;
        e.check(api.set_values(s.handle, &op, e.text));
        s.transposed.reset();
      }
      systems_.splice(systems_.begin(), systems_, it);  // most recently used first
      return s;
    }
    logger().debug("PETSc: a new solver for {} rows, {} entries", A.pattern->rows, A.pattern->nnz());
    auto s = std::make_unique<PetscSystem>();
    s->api = &api;
    s->pattern = A.pattern;
    s->entry = entry;
    s->method = method;
    s->preconditioner = pre;
    s->block = first_row >= 0;
    std::tie(s->first_row, s->local_rows) =
        s->block ? std::pair{first_row, A.pattern->rows} : row_block(A.pattern->rows);
    PhijitPetscOperator op = rows_of(*s, A);
    ModuleError e;
    e.check(api.make_system(&op, module_method(method), module_preconditioner(pre), &s->handle, e.text));
    systems_.push_front(std::move(s));
    while (systems_.size() > kKeptSystems) systems_.pop_back();
    return *systems_.front();
  }

 private:
  static constexpr size_t kKeptSystems = 4;

  PetscState() : api(load_module()) {
    ModuleError e;
    e.check(api.start(e.text));
    logger().debug("PETSc started: {} process(es), this is rank {}", size(), rank());
  }

  static void finalize() {
    PetscState& s = instance();
    std::lock_guard lock(s.mutex);
    s.systems_.clear();
    s.api.finish();
  }

  // This process's rows of entry s.entry of A for the module. PETSc computes in double:
  // float32 values are converted once and kept with the system, so that solving again with
  // the same (float32) matrix reuses the preconditioner's setup.
  PhijitPetscOperator rows_of(PetscSystem& s, const CsrMatrix& A) {
    ++matrices_set_;
    rows_of_last_matrix_ = A.pattern->rows;
    s.source = A.values;
    const int64_t nnz = A.pattern->nnz();
    if (A.values->dtype() == DType::f64) {
      s.values = A.values;
      s.entry_values = A.values->as<double>() + s.entry * nnz;
    } else {  // only this entry's values, converted
      auto f64 = std::make_shared<Buffer>(DType::f64, nnz, Buffer::Uninitialized{});
      for (int64_t k = 0; k < nnz; ++k) f64->as<double>()[k] = A.values->get_real(s.entry * nnz + k);
      s.entry_values = f64->as<double>();
      s.values = std::move(f64);
    }
    const CsrPattern& p = *A.pattern;
    return PhijitPetscOperator{p.cols,
                               s.first_row,
                               s.local_rows,
                               p.row_ptr->as<int64_t>() + (s.block ? 0 : s.first_row),
                               p.col->as<int32_t>(),
                               s.entry_values,
                               nullptr,
                               nullptr};
  }

  std::list<std::unique_ptr<PetscSystem> > systems_;
  int64_t matrices_set_ = 0, rows_of_last_matrix_ = 0;
};

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

// Whether s's solver can solve transposed (its preconditioner can be applied transposed).
bool solves_transposed(const PetscState& petsc, const PetscSystem& s) {
  int yes = 0;
  ModuleError e;
  e.check(petsc.api.solves_transposed(s.handle, &yes, e.text));
  return yes != 0;
}

// The kept solver that solves the system, and whether it solves transposed. For the transpose
// of a matrix (r.transpose_of), that matrix's solver solving transposed, which reuses its
// preconditioner's setup, when it can (else the transpose's own). For this process's rows of
// a matrix whose transpose is the system (r.matrix_transposed), their solver solving
// transposed, or else a solver for the transpose that PETSc makes (the whole transpose exists
// nowhere else).
std::pair<PetscSystem&, bool> system_for(PetscState& petsc, const LinearSolveRequest& r, const CsrMatrix& A,
                                         int64_t entry) {
  if (r.transpose_of != nullptr) {
    PetscSystem& original = petsc.system(*r.transpose_of, -1, entry, r.method, r.preconditioner_kind);
    if (solves_transposed(petsc, original)) return {original, true};
  }
  PetscSystem& s = petsc.system(A, r.first_row, entry, r.method, r.preconditioner_kind);
  if (!r.matrix_transposed || solves_transposed(petsc, s)) return {s, r.matrix_transposed};
  if (!s.transposed) {
    auto t = std::make_unique<PetscSystem>();
    t->api = &petsc.api;
    t->first_row = s.first_row;
    t->local_rows = s.local_rows;
    ModuleError e;
    e.check(petsc.api.make_transposed_system(s.handle, &t->handle, e.text));
    s.transposed = std::move(t);
  }
  return {*s.transposed, false};
}

// x after every iteration of each batch entry's solve, for SolveInfo::trajectory: the module's
// KSP monitor hands over this process's rows of x, which every process gathers, so that every
// process holds the whole trajectory.
class IterateRecorder {
 public:
  // The solve of batch entry `entry` on rows [first, first + local): on_iteration's context.
  struct Watch {
    IterateRecorder* recorder;
    const PetscState* petsc;
    int64_t entry, first, local;
    std::exception_ptr failure;  // what recording threw, where PETSc saw an error code
  };

  // x0: batch × n values.
  IterateRecorder(const double* x0, int64_t batch, int64_t n) : n_(n), iterates_(static_cast<size_t>(batch)) {
    for (int64_t b = 0; b < batch; ++b)
      iterates_[static_cast<size_t>(b)].emplace_back(x0 + b * n, x0 + (b + 1) * n);
  }

  // Iteration 0 is x0, known already; a GMRES restart reports its iteration again (the same x).
  static int on_iteration(void* context, int64_t iteration, const double* x_own) {
    auto* w = static_cast<Watch*>(context);
    if (iteration == 0) return 0;
    try {
      std::vector<double> x(static_cast<size_t>(w->recorder->n_));
      std::copy_n(x_own, w->local, x.begin() + w->first);
      w->petsc->gather(w->first, w->local, x.data());
      set(w->recorder->iterates_[static_cast<size_t>(w->entry)], iteration, std::move(x));
      return 0;
    } catch (...) {  // nothing may unwind through PETSc's C frames
      w->failure = std::current_exception();
      return 1;
    }
  }

  // Entry b's iterates end with its result x (so an entry PETSc left with non-finite values ends
  // with the x0 it returns): `iterations` + 1 of them.
  void finish(int64_t b, const double* x, int64_t iterations) {
    set(iterates_[static_cast<size_t>(b)], iterations, std::vector<double>(x, x + n_));
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
  // list[k] = x, any iterations missing before k (none are expected) holding the last known x.
  static void set(std::vector<std::vector<double> >& list, int64_t k, std::vector<double> x) {
    auto at = static_cast<size_t>(k);
    if (at >= list.size()) {
      std::vector<double> last = list.back();  // not a reference into the vector being resized
      list.resize(at + 1, last);
    }
    list[at] = std::move(x);
  }

  int64_t n_;
  std::vector<std::vector<std::vector<double> > > iterates_;  // per entry, per iteration: n values
};

// Set on a thread while it applies a matrix-free operator inside a PETSc solve: a PETSc solve in
// that operator would wait for the lock its caller holds.
thread_local bool applying_shell_operator = false;

// A matrix-free operator (a plain callable) as a PETSc shell matrix's product: it applies the
// runtime operator to one batch entry's vector, the other entries zero (the operator takes the
// whole batch). Under MPI each process is given its own rows of x: it gathers the whole x,
// applies the operator (replicated, like everything but the solve) and keeps its own rows.
class ShellOperator {
 public:
  ShellOperator(const LinearOperator& op, int64_t batch, DType dtype, const PetscState& petsc)
      : op_(op),
        petsc_(petsc),
        n_(op.rows()),
        in_(dtype, batch * op.rows()),
        out_(dtype, batch * op.rows(), Buffer::Uninitialized{}),
        whole_(static_cast<size_t>(op.rows())) {}

  void set_rows(int64_t first, int64_t local) {
    first_ = first;
    local_ = local;
  }
  // The batch entry the next products are of; counts its applications from 0.
  void set_entry(int64_t entry) {
    for (int64_t i = entry_ * n_; i < (entry_ + 1) * n_; ++i) in_.set_real(i, 0);
    entry_ = entry;
    applications_ = 0;
  }
  int64_t applications() const { return applications_; }

  // What the operator threw inside the product, where PETSc saw only an error code.
  void rethrow_failure() {
    if (failure_ != nullptr) std::rethrow_exception(std::exchange(failure_, nullptr));
  }

  // The module's product callback.
  static int apply(void* context, const double* x_own, double* y_own) {
    auto* self = static_cast<ShellOperator*>(context);
    try {
      self->multiply(x_own, y_own);
      return 0;
    } catch (...) {  // nothing may unwind through PETSc's C frames
      self->failure_ = std::current_exception();
      return 1;
    }
  }

 private:
  void multiply(const double* x_own, double* y_own) {
    std::copy_n(x_own, local_, whole_.begin() + first_);
    petsc_.gather(first_, local_, whole_.data());
    for (int64_t i = 0; i < n_; ++i) in_.set_real(entry_ * n_ + i, whole_[static_cast<size_t>(i)]);
    applying_shell_operator = true;
    struct Reset {
      ~Reset() { applying_shell_operator = false; }
    } reset;
    op_.apply(in_, out_);
    for (int64_t i = 0; i < local_; ++i) y_own[i] = out_.get_real(entry_ * n_ + first_ + i);
    ++applications_;
  }

  const LinearOperator& op_;
  const PetscState& petsc_;
  int64_t n_, entry_ = 0, applications_ = 0, first_ = 0, local_ = 0;
  Buffer in_, out_;            // batch × n in the operator's dtype
  std::vector<double> whole_;  // the whole x of the entry
  std::exception_ptr failure_;
};

// Every batch entry's solve from its x0 (x: batch × n, this process's rows written, then
// gathered): with the matrix's kept solver, or through a shell matrix applying r.op when there
// is no matrix (`dtype`: the operator's). Fills the iterations (the operator's applications for
// a shell) and returns whether each entry broke down; with a recorder, x after every iteration
// goes to it.
std::vector<bool> run_solves(const LinearSolveRequest& r, DType dtype, const double* y, double* x, int64_t n,
                             int64_t batch, IterateRecorder* recorder, KrylovResult& out) {
  std::vector<bool> broke_down(static_cast<size_t>(batch), false);
  PetscState& petsc = PetscState::instance();
  std::lock_guard lock(petsc.mutex);
  std::optional<ShellOperator> shell;
  std::unique_ptr<PetscSystem> shell_system;
  if (r.matrix == nullptr) {
    shell.emplace(*r.op, batch, dtype, petsc);
    shell_system = petsc.shell_system(n, r.method, &ShellOperator::apply, &*shell);
    shell->set_rows(shell_system->first_row, shell_system->local_rows);
  }
  for (int64_t b = 0; b < batch; ++b) {
    auto i = static_cast<size_t>(b);
    if (!std::isfinite(r.tolerance[i])) {  // y holds NaN or inf: nothing to solve
      broke_down[i] = true;
      continue;
    }
    const int64_t entry = r.matrix_of_entry.empty() ? 0 : r.matrix_of_entry[i];
    auto [s, transposed] =
        shell ? std::pair<PetscSystem&, bool>{*shell_system, false} : system_for(petsc, r, *r.matrix, entry);
    if (shell) shell->set_entry(b);
    IterateRecorder::Watch watch{recorder, &petsc, b, s.first_row, s.local_rows, nullptr};
    PhijitPetscSolve solve{transposed ? 1 : 0,
                           r.tolerance[i],
                           std::max(r.max_iterations, 0),
                           y + b * n + s.first_row,
                           x + b * n + s.first_row,
                           recorder != nullptr ? &IterateRecorder::on_iteration : nullptr,
                           &watch};
    PhijitPetscOutcome outcome{};
    ModuleError e;
    int code = petsc.api.solve(s.handle, &solve, &outcome, e.text);
    if (shell) shell->rethrow_failure();  // the operator's own error, rather than PETSc's code for it
    if (watch.failure != nullptr) std::rethrow_exception(watch.failure);
    e.check(code);
    out.iterations[i] = outcome.iterations;
    out.function_evaluations[i] = shell ? shell->applications() : outcome.iterations + 1;
    broke_down[i] = outcome.broke_down != 0;
    petsc.gather(s.first_row, s.local_rows, x + b * n);
  }
  return broke_down;
}

// y − A x when A is this process's block of rows: each process computes its rows, every
// process gathers the whole residual (in x's dtype) and its norm per entry.
void block_residual(const LinearSolveRequest& r, const Buffer& y, const Buffer& x, int64_t batch,
                    KrylovResult& out) {
  const CsrMatrix& A = *r.matrix;
  const int64_t n = A.pattern->cols, rows = A.pattern->rows;
  std::vector<double> whole(static_cast<size_t>(n)), x_own(static_cast<size_t>(rows)), product(x_own.size());
  auto residual = std::make_shared<Buffer>(x.dtype(), batch * n, Buffer::Uninitialized{});
  PetscState& petsc = PetscState::instance();
  std::lock_guard lock(petsc.mutex);
  out.residual_norm.clear();
  for (int64_t b = 0; b < batch; ++b) {
    // A x (or Aᵀ x) by PETSc, from this process's rows of x.
    const int64_t entry = r.matrix_of_entry.empty() ? 0 : r.matrix_of_entry[static_cast<size_t>(b)];
    PetscSystem& s = petsc.system(A, r.first_row, entry, r.method, r.preconditioner_kind);
    for (int64_t i = 0; i < rows; ++i) x_own[static_cast<size_t>(i)] = x.get_real(b * n + r.first_row + i);
    ModuleError e;
    e.check(petsc.api.multiply(s.handle, r.matrix_transposed ? 1 : 0, x_own.data(), product.data(), e.text));
    double* rb = whole.data();
    for (int64_t i = 0; i < rows; ++i)
      rb[r.first_row + i] = y.get_real(b * n + r.first_row + i) - product[static_cast<size_t>(i)];
    petsc.gather(r.first_row, rows, rb);
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
           const std::vector<bool>& broke_down, KrylovResult& out) {
  if (r.matrix == nullptr) {
    true_residual(*r.op, y, x, batch, out);
  } else if (r.first_row >= 0) {
    block_residual(r, y, x, batch, out);
  } else {
    true_residual(*r.matrix, r.matrix_of_entry, y, x, batch, out);
  }
  for (int64_t b = 0; b < batch; ++b) {
    auto i = static_cast<size_t>(b);
    bool diverged = broke_down[i] || !std::isfinite(out.residual_norm[i]);
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

int64_t petsc_rows_of_last_matrix() {
  PetscState& petsc = PetscState::instance();
  std::lock_guard lock(petsc.mutex);
  return petsc.rows_of_last_matrix();
}

std::pair<int64_t, int64_t> petsc_row_block(int64_t n) {
  PetscState& petsc = PetscState::instance();
  std::lock_guard lock(petsc.mutex);
  return petsc.row_block(n);
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
  // The system's n (a matrix may hold this process's rows only).
  const int64_t n = r.matrix != nullptr ? r.matrix->pattern->cols : r.op->rows(), count = batch * n;
  std::vector<double> x0(xv, xv + count);

  KrylovResult out;
  out.iterations.assign(static_cast<size_t>(batch), 0);
  out.function_evaluations.assign(static_cast<size_t>(batch), 0);
  std::optional<IterateRecorder> recorder;
  if (r.record_trajectory) recorder.emplace(x0.data(), batch, n);
  std::vector<bool> broke_down =
      run_solves(r, x.dtype(), yv, xv, n, batch, recorder ? &*recorder : nullptr, out);
  // An entry with non-finite values goes back to x0: the last finite estimate PETSc lets us see.
  for (int64_t b = 0; b < batch; ++b) {
    if (!all_finite(xv + b * n, n)) std::copy_n(x0.data() + b * n, n, xv + b * n);
  }
  if (x64) {
    for (int64_t i = 0; i < count; ++i) x.set_real(i, xv[i]);
  }
  judge(r, y, x, batch, broke_down, out);
  if (recorder) {
    for (int64_t b = 0; b < batch; ++b)
      recorder->finish(b, xv + b * n, out.iterations[static_cast<size_t>(b)]);
    out.trajectory = recorder->trajectory(x.dtype());
  }
  return out;
}

}  // namespace phijit::runtime

#endif
