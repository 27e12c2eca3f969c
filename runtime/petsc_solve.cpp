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

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "runtime/log.h"
#include "runtime/petsc_module/petsc_module.h"
#include "runtime/sparse_solvers.h"

namespace phijit::runtime {

namespace {

// The module's error buffer, and its code and message as an Error.
struct ModuleError {
  char text[PHIJIT_PETSC_ERROR_SIZE] = {};
  void check(int code) const {
    if (code != 0) throw Error(std::string(text));
  }
};

// libphijit_petsc.so, the only part that links PETSc and MPI (runtime/petsc_module): loaded on
// the first PETSc solve from PHIJIT_PETSC_MODULE, else from where this build put it, else from
// where installation put it. RTLD_GLOBAL: Open MPI's own plugins look up its symbols.
const PhijitPetscApi& load_module() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("PHIJIT_PETSC_MODULE"); env != nullptr && *env != '\0') {
    candidates = {env};
  } else {
    candidates = {PHIJIT_PETSC_MODULE_BUILD_PATH, PHIJIT_PETSC_MODULE_INSTALL_PATH};
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
  BufferPtr values;  // the values PETSc reads, f64 (source itself, or its f64 copy)
  int64_t entry = 0, first_row = 0, local_rows = 0;
  bool block = false;  // the pattern holds this process's rows only
  SolveMethod method = SolveMethod::petsc_cg;
  PreconditionerKind preconditioner = PreconditionerKind::none;

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
    s.values = with_values_dtype(A, DType::f64).values;
    const CsrPattern& p = *A.pattern;
    return PhijitPetscOperator{p.cols,
                               s.first_row,
                               s.local_rows,
                               p.row_ptr->as<int64_t>() + (s.block ? 0 : s.first_row),
                               p.col->as<int32_t>(),
                               s.values->as<double>() + s.entry * p.nnz(),
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

// The kept solver that solves with A: for the transpose of a matrix (r.transpose_of), that
// matrix's solver solving transposed, which reuses its preconditioner's setup, when its
// preconditioner can be applied transposed (else A's own).
std::pair<PetscSystem&, bool> system_for(PetscState& petsc, const LinearSolveRequest& r, const CsrMatrix& A,
                                         int64_t entry) {
  if (r.transpose_of != nullptr) {
    PetscSystem& original = petsc.system(*r.transpose_of, -1, entry, r.method, r.preconditioner_kind);
    int transposes = 0;
    ModuleError e;
    e.check(petsc.api.solves_transposed(original.handle, &transposes, e.text));
    if (transposes != 0) return {original, true};
  }
  return {petsc.system(A, r.first_row, entry, r.method, r.preconditioner_kind), false};
}

// Every batch entry's solve from its x0 (x: batch × n, this process's rows written, then
// gathered); fills the iterations and returns whether each entry broke down.
std::vector<bool> run_solves(const LinearSolveRequest& r, const CsrMatrix& A, const double* y, double* x,
                             int64_t batch, KrylovResult& out) {
  const int64_t n = A.pattern->cols;
  std::vector<bool> broke_down(static_cast<size_t>(batch), false);
  PetscState& petsc = PetscState::instance();
  std::lock_guard lock(petsc.mutex);
  for (int64_t b = 0; b < batch; ++b) {
    auto i = static_cast<size_t>(b);
    if (!std::isfinite(r.tolerance[i])) {  // y holds NaN or inf: nothing to solve
      broke_down[i] = true;
      continue;
    }
    const int64_t entry = r.matrix_of_entry.empty() ? 0 : r.matrix_of_entry[i];
    auto [s, transposed] = system_for(petsc, r, A, entry);
    PhijitPetscSolve solve{transposed ? 1 : 0,
                           r.tolerance[i],
                           std::max(r.max_iterations, 0),
                           y + b * n + s.first_row,
                           x + b * n + s.first_row,
                           nullptr,
                           nullptr};
    PhijitPetscOutcome outcome{};
    ModuleError e;
    e.check(petsc.api.solve(s.handle, &solve, &outcome, e.text));
    out.iterations[i] = outcome.iterations;
    out.function_evaluations[i] = outcome.iterations + 1;
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
  Buffer product(x.dtype(), batch * rows, Buffer::Uninitialized{});
  csr_operator(A, {r.matrix_of_entry.begin(), r.matrix_of_entry.end()})->apply(x, product);
  std::vector<double> whole(static_cast<size_t>(batch * n));
  auto residual = std::make_shared<Buffer>(x.dtype(), batch * n, Buffer::Uninitialized{});
  PetscState& petsc = PetscState::instance();
  std::lock_guard lock(petsc.mutex);
  out.residual_norm.clear();
  for (int64_t b = 0; b < batch; ++b) {
    double* rb = whole.data() + b * n;
    for (int64_t i = 0; i < rows; ++i)
      rb[r.first_row + i] = y.get_real(b * n + r.first_row + i) - product.get_real(b * rows + i);
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
  if (r.first_row >= 0) {
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
  std::vector<bool> broke_down = run_solves(r, A, yv, xv, batch, out);
  // An entry with non-finite values goes back to x0: the last finite estimate PETSc lets us see.
  for (int64_t b = 0; b < batch; ++b) {
    if (!all_finite(xv + b * n, n)) std::copy_n(x0.data() + b * n, n, xv + b * n);
  }
  if (x64) {
    for (int64_t i = 0; i < count; ++i) x.set_real(i, xv[i]);
  }
  judge(r, y, x, batch, broke_down, out);
  // PETSc's iterations are not observed one by one: the trajectory is x0 and the result.
  if (r.record_trajectory)
    out.trajectory = {buffer_of(x0.data(), count, x.dtype()), buffer_of(xv, count, x.dtype())};
  return out;
}

}  // namespace phijit::runtime

#endif
