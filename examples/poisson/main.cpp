// The masked Poisson problem of PhiFlow's optimization guide: inside the domain x obeys
// 2·laplace(x) = y, inside an obstacle x = y is prescribed. jit_compile_linear extracts the
// operator's sparse matrix once; solve_linear runs it as a compiled stencil (matrix-free) or
// with the matrix (direct, ILU), and a SolveTape records every solve. Pictures of the mask, the
// solution and each method's residual history go to ./phijit-pictures/poisson/.
#include <phijit/phijit.h>

#include <cmath>
#include <iostream>

#include "common/plot.h"

using namespace phijit;

int main() {
  const int64_t n = 128;
  Shape grid = spatial("x", n) & spatial("y", n);
  Tensor px = linspace(0, 1, spatial("x", n));
  Tensor py = linspace(0, 1, spatial("y", n));
  // The obstacle: a disc; `mask` is true where the Poisson equation holds.
  Tensor mask = (px - 0.6) * (px - 0.6) + (py - 0.5) * (py - 0.5) > 0.15 * 0.15;
  Tensor source = exp(-((px - 0.25) * (px - 0.25) + (py - 0.5) * (py - 0.5)) / 0.005);
  Tensor y = where(mask, -source, 0.0);  // the obstacle holds x at 0

  auto f = jit_compile_linear([&](const Tensor& x) { return where(mask, 2.0 * laplace(x), x); });
  auto [A, b] = f.matrix(zeros(grid));
  std::cout << "operator matrix   " << A << "\n";

  SolveTape tape(/*record_trajectories=*/true);
  Tensor x_auto = solve_linear(f, y, Solve{.rel_tol = 1e-6, .abs_tol = 0, .x0 = zeros(grid)});
  Tensor x_ilu = solve_linear(
      f, y,
      Solve{.method = "GMRES", .rel_tol = 1e-6, .abs_tol = 0, .x0 = zeros(grid), .preconditioner = "ilu"});
  Tensor x_direct = solve_linear(f, y, Solve{.method = "direct", .x0 = zeros(grid)});
  // The guide's call: CG to rel_tol 1e-3 (the operator is not symmetric; CG may still get there).
  Tensor x_cg = solve_linear(f, y,
                             Solve{.method = "CG",
                                   .rel_tol = 1e-3,
                                   .abs_tol = 0,
                                   .x0 = zeros(grid),
                                   .suppress = {Failure::not_converged, Failure::diverged}});

  std::cout << "\nSolveTape: " << tape.size() << " solves\n";
  for (size_t i = 0; i < tape.size(); ++i) {
    const SolveInfo& s = tape[i];
    Tensor r = y - f(s.x);
    std::cout << fmt::format(
        "  [{}] {:<10} iterations {:>4}  evaluations {:>4}  converged {}  |y - f(x)| = {:.2e}\n", i, s.method,
        s.iterations.item(), s.function_evaluations.item(), s.converged.item() != 0 ? "yes" : "no ",
        sqrt(sum(r * r)).item());
    std::cout << "      " << s.message << "\n";
  }
  std::cout << "\nsolution          " << x_auto << "\n";
  double auto_vs_direct = max(abs(x_auto - x_direct)).item(),
         ilu_vs_direct = max(abs(x_ilu - x_direct)).item();
  std::cout << "max |auto - direct| = " << auto_vs_direct << ", max |GMRES+ILU - direct| = " << ilu_vs_direct
            << "\n";

  const std::string dir = examples::picture_dir("poisson");
  write_png(mask.astype(DType::f64), dir + "/mask.png", {.colormap = "gray", .scale = 3});
  write_png(x_direct, dir + "/solution.png", {.colormap = "RdBu", .scale = 3});
  // |y − f(x_k)| along each solve's trajectory (x0, then x after every iteration).
  std::vector<examples::Series> histories;
  for (size_t i = 0; i < tape.size(); ++i) {
    const SolveInfo& s = tape[i];
    if (!s.trajectory) continue;
    examples::Series h{s.method + (s.solve.preconditioner.empty() ? "" : " + " + s.solve.preconditioner), {}};
    for (int64_t k = 0; k < s.trajectory->shape().size("trajectory"); ++k) {
      Tensor r = y - f(s.trajectory->slice("trajectory", k));
      h.values.push_back(std::sqrt(sum(r * r).item()));
    }
    histories.push_back(std::move(h));
  }
  examples::plot_lines(dir + "/residuals.png", "masked Poisson problem: residual per iteration", "iteration",
                       "|y - f(x)|", histories, true);
  std::cout << "pictures: " << dir << "/{mask,solution,residuals}.png\n";

  // The example doubles as a test: the methods agree with the direct solve.
  bool ok = auto_vs_direct < 1e-4 && ilu_vs_direct < 1e-4;
  if (!ok) std::cout << "FAILED: the iterative solutions differ from the direct one\n";
  return ok ? 0 : 1;
}
