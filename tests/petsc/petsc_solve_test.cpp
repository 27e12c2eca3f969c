// PETSc solves (API §7 "Backends", runtime/petsc_solve.h): every method and preconditioner
// against phijit's direct solve on 2-D and 3-D Poisson and a nonsymmetric advection-diffusion
// operator; every operator kind; batches; float32; failures and suppress; gradients through a
// PETSc solve; and the errors. Without PETSc in the build, the methods' Error is checked instead.
#include "runtime/petsc_solve.h"

#include <phijit/phijit.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

using namespace phijit;
using Catch::Contains;

namespace {

Tensor neg_laplace(const Tensor& u) { return -laplace(u, extrapolation::ZERO); }

// −∇²u + c·∂u/∂x (central differences): nonsymmetric for c ≠ 0.
Tensor advection_diffusion(const Tensor& u) {
  return -laplace(u, extrapolation::ZERO) +
         2.0 * (shift(u, "x", 1, extrapolation::ZERO) - shift(u, "x", -1, extrapolation::ZERO));
}

// −∇²u and the advection-diffusion operator written so that they cannot be extracted into a
// matrix: maximum(u, u) − u is 0, but matrix_from_function rejects a maximum of values that
// depend on x (NotLinearError). A solve with them has applied them.
Tensor neg_laplace_unextractable(const Tensor& u) { return neg_laplace(u) + (maximum(u, u) - u); }
Tensor advection_diffusion_unextractable(const Tensor& u) {
  return advection_diffusion(u) + (maximum(u, u) - u);
}

double max_abs(const Tensor& t) { return max(abs(t), t.shape()).item(); }  // over batch dims too
double norm(const Tensor& t) { return std::sqrt(sum(t * t).item()); }

Solve settings(const std::string& method, const std::string& pc, const Tensor& x0, double rel_tol = 1e-10) {
  return Solve{.method = method,
               .rel_tol = rel_tol,
               .abs_tol = 0,
               .x0 = x0,
               .max_iterations = 5000,
               .preconditioner = pc};
}

const std::vector<std::string> kIterative = {"petsc-CG", "petsc-GMRES", "petsc-biCG-stab"};
const std::vector<std::string> kPreconditioners = {"", "jacobi", "ilu", "amg"};

}  // namespace

// Whether this process has mapped a library whose file name contains `name`.
bool library_loaded(const std::string& name) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find(name) != std::string::npos) return true;
  }
  return false;
}

// CTest runs every test case in its own process; the two below are first in this file so that
// running the binary alone also meets them before any other PETSc solve.
TEST_CASE("petsc: PETSc and MPI are loaded by the first PETSc solve, not before", "[petsc]") {
  if (!runtime::petsc_available()) return;
  if (library_loaded("libphijit_petsc")) return;  // an earlier test case of this process solved in PETSc
  Shape g = spatial("x", 8);
  Tensor y = ones(g);
  solve_linear(neg_laplace, y, settings("CG", "", zeros(g)));
  CHECK_FALSE(library_loaded("libpetsc"));
  CHECK_FALSE(library_loaded("libmpi"));
  solve_linear(neg_laplace, y, settings("petsc-CG", "", zeros(g)));
  CHECK(library_loaded("libphijit_petsc"));
  CHECK(library_loaded("libpetsc"));
  CHECK(library_loaded("libmpi"));
}

TEST_CASE("petsc: a missing PETSc module is an Error naming where it was looked for", "[petsc][errors]") {
  if (!runtime::petsc_available() || library_loaded("libphijit_petsc")) return;
  ::setenv("PHIJIT_PETSC_MODULE", "/nonexistent/libphijit_petsc.so", 1);
  Shape g = spatial("x", 8);
  CHECK_THROWS_WITH(solve_linear(neg_laplace, ones(g), settings("petsc-CG", "", zeros(g))),
                    Contains("could not be loaded from") && Contains("/nonexistent/libphijit_petsc.so") &&
                        Contains("PHIJIT_PETSC_MODULE"));
  ::unsetenv("PHIJIT_PETSC_MODULE");
  // The next solve loads it from where the build put it.
  CHECK(max_abs(solve_linear(neg_laplace, ones(g), settings("petsc-CG", "", zeros(g), 1e-12)) -
                solve_linear(neg_laplace, ones(g), settings("direct", "", zeros(g), 0))) <= 1e-9);
}

TEST_CASE("petsc: without PETSc the methods say how to enable them", "[petsc][errors]") {
  if (runtime::petsc_available()) return;
  Shape g = spatial("x", 4);
  CHECK_THROWS_WITH(
      solve_linear(neg_laplace, ones(g), settings("petsc-CG", "", zeros(g))),
      Contains("runs in PETSc, and this phijit was built without it") && Contains("-DPHIJIT_WITH_PETSC=ON"));
}

TEST_CASE("petsc: every method and preconditioner matches the direct solve", "[petsc]") {
  if (!runtime::petsc_available()) return;
  struct Case {
    const char* name;
    Shape grid;
    Tensor (*f)(const Tensor&);
    bool symmetric;
  };
  for (const Case& c :
       {Case{"2-D Poisson", spatial("x", 24) & spatial("y", 20), neg_laplace, true},
        Case{"3-D Poisson", spatial("x", 10) & spatial("y", 8) & spatial("z", 9), neg_laplace, true},
        Case{"advection-diffusion", spatial("x", 24) & spatial("y", 16), advection_diffusion, false}}) {
    auto f = jit_compile_linear(c.f);
    Tensor y = random_uniform(c.grid, -1, 1, 7);
    Tensor reference = solve_linear(f, y, settings("direct", "", zeros(c.grid), 0));
    double scale = max_abs(reference);
    for (const std::string& method : kIterative) {
      if (method == "petsc-CG" && !c.symmetric) continue;  // CG needs a symmetric operator
      for (const std::string& pc : kPreconditioners) {
        INFO(c.name << ", " << method << ", preconditioner '" << pc << "'");
        SolveTape tape;
        Tensor x = solve_linear(f, y, settings(method, pc, zeros(c.grid)));
        CHECK(max_abs(x - reference) <= 1e-7 * scale);
        CHECK(tape[0].converged.item() == 1);
        CHECK(tape[0].method == method);
        CHECK(tape[0].iterations.item() >= 1);
        // The convergence rule is phijit's: the true residual against rel_tol · ‖y‖.
        CHECK(std::sqrt(sum(tape[0].residual * tape[0].residual).item()) <=
              1e-10 * std::sqrt(sum(y * y).item()) * (1 + 1e-9));
      }
    }
    INFO(c.name << ", petsc-direct");
    Tensor x = solve_linear(f, y, settings("petsc-direct", "", zeros(c.grid)));
    CHECK(max_abs(x - reference) <= 1e-10 * scale);
  }
}

TEST_CASE("petsc: amg needs few iterations on Poisson", "[petsc]") {
  if (!runtime::petsc_available()) return;
  Shape g = spatial("x", 96) & spatial("y", 96);
  auto f = jit_compile_linear(neg_laplace);
  Tensor y = random_uniform(g, 0, 1, 2);
  SolveTape tape;
  solve_linear(f, y, settings("petsc-CG", "", zeros(g), 1e-8));
  solve_linear(f, y, settings("petsc-CG", "amg", zeros(g), 1e-8));
  CHECK(tape[0].iterations.item() > 150);
  CHECK(tape[1].iterations.item() <= 15);
}

TEST_CASE("petsc: matrices, jit_compile_linear functions and callables", "[petsc]") {
  if (!runtime::petsc_available()) return;
  Shape g = spatial("x", 12) & spatial("y", 10);
  Tensor y = random_uniform(g, -1, 1, 4);
  auto f = jit_compile_linear(neg_laplace);
  Tensor reference = solve_linear(f, y, settings("direct", "", zeros(g), 0));
  Tensor A = matrix_from_function(neg_laplace, zeros(g)).first;
  for (const char* pc : {"", "amg"}) {
    INFO("preconditioner '" << pc << "'");
    CHECK(max_abs(solve_linear(A, y, settings("petsc-CG", pc, zeros(g))) - reference) <= 1e-8);
    CHECK(max_abs(solve_linear(f, y, settings("petsc-CG", pc, zeros(g))) - reference) <= 1e-8);
    // A callable's matrix is extracted for amg (PETSc is handed it), not without a preconditioner.
    const int64_t matrices_before = runtime::petsc_matrices_set();
    CHECK(max_abs(solve_linear(neg_laplace, y, settings("petsc-CG", pc, zeros(g))) - reference) <= 1e-8);
    auto capturing = [&y](const Tensor& u) { return neg_laplace(u) + 0.0 * sum(y).item(); };
    CHECK(max_abs(solve_linear(capturing, y, settings("petsc-CG", pc, zeros(g))) - reference) <= 1e-8);
    CHECK(runtime::petsc_matrices_set() - matrices_before == (std::string(pc).empty() ? 0 : 2));
  }
}

TEST_CASE("petsc: batches, x0 and float32", "[petsc]") {
  if (!runtime::petsc_available()) return;
  Shape g = spatial("x", 16) & spatial("y", 12);
  auto f = jit_compile_linear(neg_laplace);
  Tensor y = random_uniform(batch("b", 3) & g, -1, 1, 9);
  Tensor reference = solve_linear(f, y, settings("direct", "", zeros(g), 0));
  SolveTape tape;
  Tensor x = solve_linear(f, y, settings("petsc-GMRES", "ilu", zeros(g)));
  CHECK(x.shape().contains("b"));
  CHECK(max_abs(x - reference) <= 1e-8);
  CHECK(tape[0].iterations.shape() == batch("b", 3));
  // Starting at the solution: no iteration is needed.
  Tensor again = solve_linear(f, y, settings("petsc-CG", "jacobi", reference, 1e-6));
  CHECK(tape[1].iterations.to_vector() == std::vector<double>{0, 0, 0});
  CHECK(max_abs(again - reference) <= 1e-12);
  // float32: PETSc computes in double, the result comes back as float32.
  Tensor x32 = solve_linear(f, y.astype(DType::f32), settings("petsc-CG", "amg", zeros(g, DType::f32), 1e-5));
  CHECK(x32.dtype() == DType::f32);
  CHECK(max_abs(x32.astype(DType::f64) - reference) <= 1e-4 * max_abs(reference));
  // Its matrix is converted once: a second solve with it reuses the preconditioner's setup.
  const int64_t set_before = runtime::petsc_matrices_set();
  Tensor x32_again =
      solve_linear(f, 2.0 * y.astype(DType::f32), settings("petsc-CG", "amg", zeros(g, DType::f32), 1e-5));
  CHECK(runtime::petsc_matrices_set() == set_before);
  CHECK(max_abs(x32_again.astype(DType::f64) - 2.0 * reference) <= 2e-4 * max_abs(reference));
}

TEST_CASE("petsc: not converging raises NotConverged with the last estimate, unless suppressed",
          "[petsc][errors]") {
  if (!runtime::petsc_available()) return;
  Shape g = spatial("x", 32) & spatial("y", 32);
  auto f = jit_compile_linear(neg_laplace);
  Tensor y = ones(g);
  Solve s = settings("petsc-CG", "", zeros(g), 1e-12);
  s.max_iterations = 3;
  try {
    solve_linear(f, y, s);
    FAIL("expected NotConverged");
  } catch (const NotConverged& e) {
    CHECK(e.result.iterations.item() == 3);
    CHECK(e.result.converged.item() == 0);
    CHECK(e.result.diverged.item() == 0);
    CHECK(max_abs(e.result.x) > 0);  // three CG steps moved away from x0
    CHECK_THAT(std::string(e.what()), Contains("petsc-CG"));
  }
  s.suppress = {Failure::not_converged};
  SolveTape tape;
  Tensor x = solve_linear(f, y, s);
  CHECK(tape[0].converged.item() == 0);
  CHECK(max_abs(x) > 0);
}

TEST_CASE("petsc: non-finite values raise Diverged with the last finite estimate", "[petsc][errors]") {
  if (!runtime::petsc_available()) return;
  Shape g = spatial("x", 8) & spatial("y", 8);
  auto f = jit_compile_linear(neg_laplace);
  std::vector<double> values(64, 1.0);
  values[10] = std::nan("");
  Tensor y = tensor(values, g);
  Tensor x0 = full(g, 0.5);
  for (const char* method : {"petsc-CG", "petsc-GMRES", "petsc-direct"}) {
    INFO(method);
    try {
      solve_linear(f, y, settings(method, "", x0));
      FAIL("expected Diverged");
    } catch (const Diverged& e) {
      CHECK(e.result.diverged.item() == 1);
      CHECK(e.result.converged.item() == 0);
      CHECK(max_abs(e.result.x - x0) == 0);  // x0: PETSc's iterates were not finite
    }
  }
}

TEST_CASE("petsc: gradients flow through a PETSc solve (the adjoint solve too)", "[petsc][gradient]") {
  if (!runtime::petsc_available()) return;
  Shape g = spatial("x", 10) & spatial("y", 8);
  auto f = jit_compile_linear(advection_diffusion);
  Tensor target = random_uniform(g, -1, 1, 5);
  auto loss_with = [&](const std::string& method, const std::string& pc) {
    return [=](const Tensor& y) {
      Solve s = settings(method, pc, zeros(g));
      return l2_loss(solve_linear(f, y, s) - target);
    };
  };
  Tensor y = random_uniform(g, -1, 1, 6);
  Tensor reference = gradient(loss_with("direct", ""), {0}, false)(y)[0];
  for (const char* pc : {"amg", "ilu", "jacobi", ""}) {
    INFO("preconditioner '" << pc << "'");
    SolveTape tape;
    const int64_t set_before = runtime::petsc_matrices_set();
    Tensor grad = gradient(loss_with("petsc-GMRES", pc), {0}, false)(y)[0];
    CHECK(max_abs(grad - reference) <= 1e-7 * max_abs(reference));
    REQUIRE(tape.size() == 2);  // the forward solve, then the adjoint solve
    CHECK(tape[1].method == "petsc-GMRES");
    CHECK(tape[1].converged.item() == 1);
    // PETSc's transposed solve with the forward solve's solver: one matrix handed to PETSc.
    // BoomerAMG cannot cycle transposed with its Gauss-Seidel smoothing: it sets up on Aᵀ.
    CHECK(runtime::petsc_matrices_set() - set_before == (std::string(pc) == "amg" ? 2 : 1));
  }
  // petsc-direct: the adjoint solves with the forward's LU factors.
  const int64_t set_before = runtime::petsc_matrices_set();
  Tensor grad = gradient(loss_with("petsc-direct", ""), {0}, false)(y)[0];
  CHECK(max_abs(grad - reference) <= 1e-9 * max_abs(reference));
  CHECK(runtime::petsc_matrices_set() - set_before == 1);
}

TEST_CASE("petsc: a trajectory holds x after every iteration, as phijit's own CG's does", "[petsc][tape]") {
  if (!runtime::petsc_available()) return;
  Shape g = spatial("x", 12) & spatial("y", 10);
  auto f = jit_compile_linear(neg_laplace);
  Tensor y = random_uniform(g, -1, 1, 21);
  Tensor x0 = random_uniform(g, -1, 1, 22);
  // The jit_compile_linear function goes to PETSc as its matrix, the callable matrix-free.
  using SolveWith = std::function<Tensor(const Tensor&, const Solve&)>;
  const SolveWith function = [&](const Tensor& rhs, const Solve& s) { return solve_linear(f, rhs, s); };
  const SolveWith callable = [](const Tensor& rhs, const Solve& s) {
    return solve_linear(neg_laplace, rhs, s);
  };
  for (const SolveWith& solve_with : {function, callable}) {
    SolveTape tape(true);
    solve_with(y, settings("CG", "", x0));
    Tensor x = solve_with(y, settings("petsc-CG", "", x0));
    REQUIRE(tape.size() == 2);
    REQUIRE(tape[0].trajectory);
    REQUIRE(tape[1].trajectory);
    const Tensor &own = *tape[0].trajectory, &petsc = *tape[1].trajectory;
    const int64_t k = petsc.shape().size("trajectory");
    INFO(tape[1].message);
    CHECK(k == static_cast<int64_t>(tape[1].iterations.item()) + 1);
    CHECK(petsc.shape() == (batch("trajectory", k) & g));
    CHECK(max_abs(petsc.slice("trajectory", 0) - x0) == 0);
    CHECK(max_abs(petsc.slice("trajectory", k - 1) - x) == 0);
    // The same algorithm from the same x0: the same iterates but for rounding, which grows with
    // the iterations.
    REQUIRE(k > 10);
    for (int64_t i = 1; i <= 10; ++i) {
      INFO("iteration " << i);
      Tensor expected = own.slice("trajectory", i);
      CHECK(max_abs(petsc.slice("trajectory", i) - expected) <= 1e-8 * max_abs(expected));
    }
  }
}

TEST_CASE("petsc: a batch's trajectory holds an entry that finished early at its result", "[petsc][tape]") {
  if (!runtime::petsc_available()) return;
  Shape g = spatial("x", 10) & spatial("y", 8);
  auto f = jit_compile_linear(neg_laplace);
  Tensor y = random_uniform(g, -1, 1, 23);
  Tensor solution = solve_linear(f, y, settings("direct", "", zeros(g), 0));
  // Entry 1 starts near the solution: it needs fewer iterations than entry 0, which starts at 0.
  Tensor x0 = stack({zeros(g), solution + 1e-5 * random_uniform(g, -1, 1, 29)}, batch("b", 2));
  SolveTape tape(true);
  Tensor x = solve_linear(f, y, settings("petsc-CG", "", x0));
  REQUIRE(tape[0].trajectory);
  const Tensor& t = *tape[0].trajectory;
  std::vector<double> iterations = tape[0].iterations.to_vector();
  REQUIRE(iterations.size() == 2);
  REQUIRE(iterations[1] >= 1);
  REQUIRE(iterations[1] < iterations[0]);
  const int64_t k = t.shape().size("trajectory");
  CHECK(k == static_cast<int64_t>(iterations[0]) + 1);
  CHECK(max_abs(t.slice("trajectory", 0) - x0) == 0);
  CHECK(max_abs(t.slice("trajectory", k - 1) - x) == 0);
  for (auto i = static_cast<int64_t>(iterations[1]); i < k; ++i) {
    INFO("step " << i);
    CHECK(max_abs(t.slice("trajectory", i).slice("b", 1) - x.slice("b", 1)) == 0);
  }
  // Each entry's steps are those of its solve alone.
  for (int64_t b = 0; b < 2; ++b) {
    INFO("entry " << b);
    SolveTape alone(true);
    solve_linear(f, y, settings("petsc-CG", "", x0.slice("b", b)));
    REQUIRE(alone[0].trajectory);
    const int64_t steps = static_cast<int64_t>(iterations[static_cast<size_t>(b)]) + 1;
    CHECK(max_abs(*alone[0].trajectory - t.slice("b", b).slice("trajectory", 0, steps)) == 0);
  }
}

TEST_CASE("petsc: a GMRES + jacobi trajectory ends at x, its residual falling", "[petsc][tape]") {
  if (!runtime::petsc_available()) return;
  Shape g = spatial("x", 24) & spatial("y", 16);
  auto f = jit_compile_linear(advection_diffusion);
  Tensor y = random_uniform(g, -1, 1, 24);
  SolveTape tape(true);
  Tensor x = solve_linear(f, y, settings("petsc-GMRES", "jacobi", zeros(g)));
  REQUIRE(tape[0].trajectory);
  const Tensor& t = *tape[0].trajectory;
  const int64_t k = t.shape().size("trajectory");
  INFO(tape[0].message);
  CHECK(k == static_cast<int64_t>(tape[0].iterations.item()) + 1);
  CHECK(k > 31);  // past GMRES's restart (30 in PETSc)
  CHECK(max_abs(t.slice("trajectory", k - 1) - x) == 0);
  // With the preconditioner on the right GMRES minimizes ‖y − A x‖ over a growing space (and
  // restarts from the x it reached): the true residual never rises.
  std::vector<double> residuals;
  for (int64_t i = 0; i < k; ++i)
    residuals.push_back(norm(y - advection_diffusion(t.slice("trajectory", i))));
  for (size_t i = 1; i < residuals.size(); ++i) {
    INFO("iteration " << i);
    CHECK(residuals[i] <= residuals[i - 1] * (1 + 1e-9));
    if (i >= 5) CHECK(residuals[i] < 0.99 * residuals[i - 5]);  // and it falls as it goes
  }
  CHECK(residuals.back() <= 1e-10 * norm(y) * (1 + 1e-9));
}

TEST_CASE("petsc: a callable runs matrix-free through a shell matrix without a preconditioner", "[petsc]") {
  if (!runtime::petsc_available()) return;
  Shape g = spatial("x", 16) & spatial("y", 12);
  Tensor y = random_uniform(g, -1, 1, 25);
  struct Case {
    const char* method;
    Tensor (*f)(const Tensor&);
    Tensor (*same_f)(const Tensor&);  // the same operator, extractable: for the reference
  };
  for (const Case& c : {Case{"petsc-CG", neg_laplace_unextractable, neg_laplace},
                        Case{"petsc-GMRES", advection_diffusion_unextractable, advection_diffusion},
                        Case{"petsc-biCG-stab", advection_diffusion_unextractable, advection_diffusion}}) {
    INFO(c.method);
    Tensor reference = solve_linear(jit_compile_linear(c.same_f), y, settings("direct", "", zeros(g), 0));
    const int64_t matrices_before = runtime::petsc_matrices_set();
    SolveTape tape;
    Tensor x = solve_linear(c.f, y, settings(c.method, "", zeros(g)));
    CHECK(max_abs(x - reference) <= 1e-8 * max_abs(reference));
    CHECK(tape[0].converged.item() == 1);
    CHECK(runtime::petsc_matrices_set() == matrices_before);  // PETSc was handed no matrix
    // The true residual of the verdict is f's (no matrix to compute it with).
    CHECK(max_abs(tape[0].residual - (y - c.same_f(x))) <= 1e-12 * max_abs(y));
    CHECK(norm(tape[0].residual) <= 1e-10 * norm(y) * (1 + 1e-9));
    // CG applies f once for the initial residual and once per iteration.
    if (std::string(c.method) == "petsc-CG")
      CHECK(tape[0].function_evaluations.item() == tape[0].iterations.item() + 1);
    CHECK(tape[0].function_evaluations.item() > tape[0].iterations.item());
  }
  // Methods that need the matrix extract it: this callable has none to extract.
  CHECK_THROWS_AS(solve_linear(neg_laplace_unextractable, y, settings("petsc-CG", "amg", zeros(g))),
                  NotLinearError);
  CHECK_THROWS_AS(solve_linear(neg_laplace_unextractable, y, settings("petsc-direct", "", zeros(g))),
                  NotLinearError);
}

TEST_CASE("petsc: matrix-free batches, float32, failures and a callable's errors", "[petsc]") {
  if (!runtime::petsc_available()) return;
  Shape g = spatial("x", 12) & spatial("y", 10);
  Tensor y = random_uniform(batch("b", 3) & g, -1, 1, 26);
  auto f = jit_compile_linear(neg_laplace);
  Tensor reference = solve_linear(f, y, settings("direct", "", zeros(g), 0));
  SolveTape tape;
  Tensor x = solve_linear(neg_laplace_unextractable, y, settings("petsc-CG", "", zeros(g)));
  CHECK(max_abs(x - reference) <= 1e-8 * max_abs(reference));
  CHECK(tape[0].iterations.shape() == batch("b", 3));
  CHECK(tape[0].converged.to_vector() == std::vector<double>{1, 1, 1});
  // A batch entry of the operator itself: f scales each entry by its own factor.
  Tensor k = tensor({1, 2, 4}, batch("b", 3));
  auto scaled = [&k](const Tensor& u) { return k * neg_laplace_unextractable(u); };
  Tensor xk = solve_linear(scaled, y, settings("petsc-GMRES", "", zeros(g)));
  CHECK(max_abs(xk - reference / k) <= 1e-8 * max_abs(reference));
  // float32: PETSc computes in double, f in float32.
  Tensor x32 = solve_linear(neg_laplace_unextractable, y.astype(DType::f32),
                            settings("petsc-CG", "", zeros(g, DType::f32), 1e-5));
  CHECK(x32.dtype() == DType::f32);
  CHECK(max_abs(x32.astype(DType::f64) - reference) <= 1e-4 * max_abs(reference));
  // Running out of iterations: NotConverged with the last estimate.
  Solve few = settings("petsc-CG", "", zeros(g));
  few.max_iterations = 2;
  CHECK_THROWS_AS(solve_linear(neg_laplace_unextractable, y, few), NotConverged);
  // f's own error comes through PETSc unchanged.
  auto wrong_dims = [](const Tensor& u) { return u + zeros(spatial("x", 5)); };
  CHECK_THROWS_AS(solve_linear(wrong_dims, y, settings("petsc-CG", "", zeros(g))), ShapeError);
  // A PETSc solve inside f would wait for the PETSc solve that applies f: an Error instead.
  auto nested = [g](const Tensor& u) {
    return neg_laplace(u) + 1e-3 * solve_linear(neg_laplace, u, settings("petsc-CG", "", zeros(g)));
  };
  CHECK_THROWS_WITH(
      solve_linear(nested, y.slice("b", 0), settings("petsc-CG", "", zeros(g))),
      Contains("a PETSc solve inside the function of a matrix-free PETSc solve is not supported"));
}

TEST_CASE("petsc: the adjoint of a matrix-free PETSc solve applies the transpose of f", "[petsc][gradient]") {
  if (!runtime::petsc_available()) return;
  Shape g = spatial("x", 10) & spatial("y", 8);
  Tensor target = random_uniform(g, -1, 1, 27);
  // advection_diffusion is not symmetric: an adjoint solved with f instead of fᵀ is wrong.
  auto loss_with = [&](const std::string& method) {
    return [=](const Tensor& y) {
      return l2_loss(solve_linear(advection_diffusion, y, settings(method, "", zeros(g))) - target);
    };
  };
  Tensor y = random_uniform(g, -1, 1, 28);
  // ∇_y ½‖A⁻¹y − target‖² = A⁻ᵀ (A⁻¹y − target), solved directly with the transposed matrix.
  Tensor A = matrix_from_function(advection_diffusion, zeros(g)).first;
  Tensor x = solve_linear(A, y, settings("direct", "", zeros(g), 0));
  Tensor reference = solve_linear(transpose(A), x - target, settings("direct", "", zeros(g), 0));
  const int64_t matrices_before = runtime::petsc_matrices_set();
  SolveTape tape;
  Tensor grad = gradient(loss_with("petsc-GMRES"), {0}, false)(y)[0];
  CHECK(max_abs(grad - reference) <= 1e-7 * max_abs(reference));
  REQUIRE(tape.size() == 2);  // the forward solve, then the adjoint solve
  CHECK(tape[1].method == "petsc-GMRES");
  CHECK(runtime::petsc_matrices_set() == matrices_before);  // both applied f (or fᵀ), no matrix
}

TEST_CASE("petsc: bad combinations are errors that say what to use", "[petsc][errors]") {
  Shape g = spatial("x", 4);
  CHECK_THROWS_WITH(
      solve_linear(neg_laplace, ones(g), settings("CG", "amg", zeros(g))),
      Contains("the preconditioner 'amg' (algebraic multigrid) runs in PETSc; use method petsc-CG"));
  CHECK_THROWS_WITH(solve_linear(neg_laplace, ones(g), settings("petsc-direct", "jacobi", zeros(g))),
                    Contains("petsc-direct factorizes the matrix and takes no preconditioner, got 'jacobi'"));
  CHECK_THROWS_WITH(solve_linear(neg_laplace, ones(g), settings("petsc-cg", "", zeros(g))),
                    Contains("unknown method 'petsc-cg'") && Contains("'petsc-CG'"));
}
