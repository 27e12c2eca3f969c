// bench_poisson_amg: time to rel_tol 1e-6 for 2-D Poisson (−laplace, zero boundary) at 512²,
// 1024² and 2048² (issue 16): phijit's CG and CG + ilu, Eigen's CG, and petsc-CG with amg
// (hypre's BoomerAMG) on 1 process and on 2 (the benchmark runs itself under mpirun), all in the
// same run. PETSc's time is given with the preconditioner's setup (the first solve with a matrix)
// and without it (a second solve, which reuses the setup); the setup is their difference.
// BENCH_POISSON_SIZES (e.g. "512,1024") limits the sizes: at 2048² the unpreconditioned CGs take
// minutes.
#include <phijit/phijit.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/poisson_cg_baselines.h"
#include "runtime/petsc_solve.h"

using namespace phijit;

namespace {

Tensor neg_laplace(const Tensor& u) { return -laplace(u, extrapolation::ZERO); }

constexpr double kTol = 1e-6;

Shape grid(int64_t n) { return spatial("x", n) & spatial("y", n); }
Tensor rhs(int64_t n) { return random_uniform(grid(n), 0, 1, 1); }

struct Run {
  double ms = 0;
  int64_t iterations = 0;
};

template <class F>
Run timed_solve(const F& f, const Tensor& y, const Solve& s) {
  SolveTape tape;
  auto t0 = bench::Clock::now();
  solve_linear(f, y, s);
  Run r{bench::seconds_since(t0) * 1e3, static_cast<int64_t>(tape[0].iterations.item())};
  if (tape[0].converged.item() != 1) std::printf("FAILED: %s did not converge\n", s.method.c_str());
  return r;
}

Solve to_tolerance(const std::string& method, const std::string& pc, int64_t n) {
  return Solve{.method = method,
               .rel_tol = kTol,
               .abs_tol = 0,
               .x0 = zeros(grid(n)),
               .max_iterations = 100000,
               .preconditioner = pc};
}

// petsc-CG + amg: the first solve with the matrix (with the setup), then a second (without).
struct PetscRun {
  Run with_setup, without_setup;
};
PetscRun petsc_amg(int64_t n) {
  auto f = jit_compile_linear(neg_laplace);
  Tensor y = rhs(n);
  // The matrix is extracted once (not part of PETSc's time): an untimed one-iteration solve.
  Solve warm = to_tolerance("petsc-CG", "", n);
  warm.max_iterations = 1;
  warm.suppress = {Failure::not_converged};
  solve_linear(f, y, warm);
  PetscRun r;
  r.with_setup = timed_solve(f, y, to_tolerance("petsc-CG", "amg", n));
  r.without_setup = timed_solve(f, y, to_tolerance("petsc-CG", "amg", n));
  return r;
}

// The 2-process run: this program under mpirun in child mode; rank 0 prints the figures.
bool petsc_amg_two_processes(int64_t n, PetscRun& out) {
  std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::string command =
      "PHIJIT_NUM_THREADS=1 OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none "
      "mpirun --oversubscribe " +
      std::string(geteuid() == 0 ? "--allow-run-as-root " : "") + "-np 2 " + self + " --petsc-child " +
      std::to_string(n) + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return false;
  char line[512];
  bool found = false;
  while (std::fgets(line, sizeof line, pipe) != nullptr) {
    long long i1 = 0, i2 = 0;
    if (std::sscanf(line, "PETSC_CHILD %lf %lld %lf %lld", &out.with_setup.ms, &i1, &out.without_setup.ms,
                    &i2) == 4) {
      out.with_setup.iterations = i1;
      out.without_setup.iterations = i2;
      found = true;
    }
  }
  return pclose(pipe) == 0 && found;
}

int petsc_child(int64_t n) {
  PetscRun r = petsc_amg(n);
  if (runtime::petsc_rank() == 0) {
    std::printf("PETSC_CHILD %.3f %lld %.3f %lld\n", r.with_setup.ms,
                static_cast<long long>(r.with_setup.iterations), r.without_setup.ms,
                static_cast<long long>(r.without_setup.iterations));
  }
  return runtime::petsc_processes() == 2 ? 0 : 1;
}

std::vector<int64_t> sizes() {
  std::vector<int64_t> out;
  const char* env = std::getenv("BENCH_POISSON_SIZES");
  std::stringstream list(env != nullptr ? env : "512,1024,2048");
  std::string item;
  while (std::getline(list, item, ',')) out.push_back(std::stoll(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--petsc-child") == 0) return petsc_child(std::atoll(argv[2]));
  bench::print_header("bench_poisson_amg");
  if (!runtime::petsc_available()) {
    std::printf("phijit was built without PETSc (PHIJIT_WITH_PETSC): nothing to measure\n");
    return 0;
  }
  std::printf("2-D Poisson (-laplace, ZERO), y ~ U(0, 1), to rel_tol %g from x = 0; one solve each (ms)\n",
              kTol);
  std::printf("%6s %16s %16s %16s %26s %26s %10s\n", "n", "CG", "CG+ilu", "Eigen CG", "petsc-CG+amg 1 proc",
              "petsc-CG+amg 2 procs", "amg setup");
  // The 2-process runs first: once this process has started MPI (as a singleton), an mpirun
  // started from it inherits its MPI environment and fails.
  std::vector<PetscRun> two(sizes().size());
  std::vector<bool> two_ok(sizes().size());
  for (size_t k = 0; k < sizes().size(); ++k) two_ok[k] = petsc_amg_two_processes(sizes()[k], two[k]);
  bool ok = true;
  for (size_t k = 0; k < sizes().size(); ++k) {
    const int64_t n = sizes()[k];
    auto f = jit_compile_linear(neg_laplace);
    Tensor y = rhs(n);
    Run cg = timed_solve(f, y, to_tolerance("CG", "", n));
    Run ilu = timed_solve(f, y, to_tolerance("CG", "ilu", n));
    bench::EigenPoissonCG eigen(n);
    std::vector<double> b = y.to_vector(), x(b.size(), 0.0);
    auto t0 = bench::Clock::now();
    int64_t eigen_it = eigen.solve(b.data(), x.data(), 100000, kTol);
    Run eigen_cg{bench::seconds_since(t0) * 1e3, eigen_it};
    PetscRun one = petsc_amg(n);
    auto cell = [](const Run& r) { return fmt::format("{:.0f} ({} it)", r.ms, r.iterations); };
    std::printf("%6lld %16s %16s %16s %26s %26s %10s\n", static_cast<long long>(n), cell(cg).c_str(),
                cell(ilu).c_str(), cell(eigen_cg).c_str(),
                fmt::format("{:.0f} / {:.0f} ({} it)", one.with_setup.ms, one.without_setup.ms,
                            one.with_setup.iterations)
                    .c_str(),
                two_ok[k] ? fmt::format("{:.0f} / {:.0f} ({} it)", two[k].with_setup.ms,
                                        two[k].without_setup.ms, two[k].with_setup.iterations)
                                .c_str()
                          : "failed",
                fmt::format("{:.0f}", one.with_setup.ms - one.without_setup.ms).c_str());
    if (n == 1024) {
      ok &= bench::print_goal("petsc-CG+amg (1 process, with setup) / phijit CG at 1024²",
                              one.with_setup.ms / cg.ms, 0.1, "x");
    }
    ok &= two_ok[k];
  }
  std::printf(
      "(petsc columns: with the preconditioner's setup / a second solve reusing it; amg setup = their "
      "difference, 1 process)\n");
  return ok ? 0 : 1;
}
