// A program run under `mpirun -np N` by tests/tools/petsc_mpi_test.sh: the same program on every
// process (API §7: everything but the PETSc solve runs replicated). Modes:
//   petsc_mpi_probe solve N out   — solves 2-D Poisson (petsc-CG + amg, petsc-GMRES + ilu,
//                                   petsc-direct; eagerly and inside jit_compile; matrix-free
//                                   petsc-CG with a trajectory) and takes a gradient through a
//                                   nonsymmetric solve, checks that PETSc runs on N processes and
//                                   that each extracted only its own rows of the jit_compile_linear
//                                   matrix, writes this process's results to out.<rank>
//   petsc_mpi_probe compare a b.. — exit 0 when every file holds a's values to 1e-8 (relative)
#include <phijit/phijit.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/petsc_solve.h"

using namespace phijit;

namespace {

Tensor neg_laplace(const Tensor& u) { return -laplace(u, extrapolation::ZERO); }

// −∇²u + 2·∂u/∂x (central differences): nonsymmetric.
Tensor advection_diffusion(const Tensor& u) {
  return -laplace(u, extrapolation::ZERO) +
         2.0 * (shift(u, "x", 1, extrapolation::ZERO) - shift(u, "x", -1, extrapolation::ZERO));
}

// Each process handed PETSc only its own block of the matrix's rows.
bool extracted_own_rows(const char* what, int64_t n) {
  int64_t rows = runtime::petsc_rows_of_last_matrix(), own = runtime::petsc_row_block(n).second;
  if (rows == own && (runtime::petsc_processes() == 1 || rows < n)) return true;
  std::fprintf(stderr, "rank %d: %s handed PETSc %lld rows, expected its own %lld of %lld\n",
               runtime::petsc_rank(), what, static_cast<long long>(rows), static_cast<long long>(own),
               static_cast<long long>(n));
  return false;
}

std::vector<double> read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<double> v;
  double d = 0;
  while (in.read(reinterpret_cast<char*>(&d), sizeof d)) v.push_back(d);
  return v;
}

// A callable solved matrix-free (a PETSc shell matrix: each process gathers x, applies f to the
// whole grid and keeps its rows): the solution, then the first iterates of its trajectory, which
// every process must hold whole.
std::vector<double> solve_matrix_free(const Tensor& y, const Tensor& x0) {
  SolveTape tape(true);
  Tensor x =
      solve_linear(neg_laplace, y, Solve{.method = "petsc-CG", .rel_tol = 1e-11, .abs_tol = 0, .x0 = x0});
  std::printf("rank %d: matrix-free petsc-CG converged in %.0f iterations\n", runtime::petsc_rank(),
              tape[0].iterations.item());
  std::vector<double> values = x.to_vector();
  for (int64_t i = 0; i <= 5; ++i) {
    std::vector<double> step = tape[0].trajectory.value().slice("trajectory", i).to_vector();
    values.insert(values.end(), step.begin(), step.end());
  }
  return values;
}

int solve(int processes, const std::string& out) {
  if (runtime::petsc_processes() != processes) {
    std::fprintf(stderr, "PETSc runs on %d processes, expected %d\n", runtime::petsc_processes(), processes);
    return 1;
  }
  Shape g = spatial("x", 48) & spatial("y", 40);
  Tensor y = random_uniform(g, -1, 1, 11);  // the same on every process (a fixed seed)
  auto f = jit_compile_linear(neg_laplace);
  std::vector<double> all;
  for (auto [method, pc] :
       {std::pair{"petsc-CG", "amg"}, std::pair{"petsc-GMRES", "ilu"}, std::pair{"petsc-direct", ""}}) {
    SolveTape tape;
    Tensor x = solve_linear(
        f, y, Solve{.method = method, .rel_tol = 1e-11, .abs_tol = 0, .x0 = zeros(g), .preconditioner = pc});
    std::printf("rank %d: %s %s converged in %.0f iterations\n", runtime::petsc_rank(), method, pc,
                tape[0].iterations.item());
    if (!extracted_own_rows(method, g.volume())) return 1;
    std::vector<double> v = x.to_vector();
    all.insert(all.end(), v.begin(), v.end());
  }
  // A plain callable with a preconditioner: its matrix is extracted, this process's rows only.
  Tensor from_callable = solve_linear(
      neg_laplace, y,
      Solve{.method = "petsc-CG", .rel_tol = 1e-11, .abs_tol = 0, .x0 = zeros(g), .preconditioner = "amg"});
  if (!extracted_own_rows("a callable", g.volume())) return 1;
  std::vector<double> callable = from_callable.to_vector();
  all.insert(all.end(), callable.begin(), callable.end());
  // Inside jit_compile (a solve node whose matrix is extracted when the program runs).
  Solve cg{.method = "petsc-CG", .rel_tol = 1e-11, .abs_tol = 0, .x0 = zeros(g), .preconditioner = "jacobi"};
  auto step = jit_compile([&](const Tensor& u) { return solve_linear(f, u, cg); });
  std::vector<double> stepped = step(y).to_vector();
  if (!extracted_own_rows("jit_compile", g.volume())) return 1;
  all.insert(all.end(), stepped.begin(), stepped.end());
  // A gradient through a nonsymmetric solve: the adjoint solves with the transpose.
  auto h = jit_compile_linear(advection_diffusion);
  Tensor target = random_uniform(g, -1, 1, 12);
  Solve gmres{
      .method = "petsc-GMRES", .rel_tol = 1e-11, .abs_tol = 0, .x0 = zeros(g), .preconditioner = "ilu"};
  auto loss = [&](const Tensor& rhs) { return l2_loss(solve_linear(h, rhs, gmres) - target); };
  std::vector<double> grad = gradient(loss, {0}, false)(y)[0].to_vector();
  // The adjoint solved transposed with the forward's rows: no process held the whole transpose.
  if (!extracted_own_rows("a gradient", g.volume())) return 1;
  all.insert(all.end(), grad.begin(), grad.end());
  // With amg (which hypre cannot apply transposed) PETSc transposes the distributed matrix.
  gmres.preconditioner = "amg";
  std::vector<double> grad_amg = gradient(loss, {0}, false)(y)[0].to_vector();
  if (!extracted_own_rows("a gradient with amg", g.volume())) return 1;
  all.insert(all.end(), grad_amg.begin(), grad_amg.end());
  std::vector<double> v = solve_matrix_free(y, random_uniform(g, -1, 1, 12));
  all.insert(all.end(), v.begin(), v.end());
  std::ofstream file(out + "." + std::to_string(runtime::petsc_rank()), std::ios::binary);
  file.write(reinterpret_cast<const char*>(all.data()),
             static_cast<std::streamsize>(all.size() * sizeof(double)));
  return file ? 0 : 1;
}

int compare(int argc, char** argv) {
  std::vector<double> reference = read(argv[2]);
  double scale = 0;
  for (double v : reference) scale = std::max(scale, std::abs(v));
  if (reference.empty() || scale == 0) return 1;
  for (int k = 3; k < argc; ++k) {
    std::vector<double> v = read(argv[k]);
    if (v.size() != reference.size()) {
      std::fprintf(stderr, "%s: %zu values, expected %zu\n", argv[k], v.size(), reference.size());
      return 1;
    }
    double worst = 0;
    for (size_t i = 0; i < v.size(); ++i) worst = std::max(worst, std::abs(v[i] - reference[i]) / scale);
    std::printf("%s: max relative difference %.2e\n", argv[k], worst);
    if (!(worst <= 1e-8)) return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (!runtime::petsc_available()) return 77;  // skipped
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "solve" && argc == 4) return solve(std::atoi(argv[2]), argv[3]);
  if (mode == "compare" && argc >= 4) return compare(argc, argv);
  std::fprintf(stderr, "usage: petsc_mpi_probe solve N out | compare a b...\n");
  return 2;
}
