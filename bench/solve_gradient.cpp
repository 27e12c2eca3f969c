// bench_solve_gradient: linear solves inside compiled code and gradients.
//  (a) loss(y) = l2_loss(x), x = solve_linear(f, y, CG to rel_tol 1e-8 from x0 = 0) on 256², where
//      f(x) = −laplace(x) with zero boundaries as a jit_compile_linear function. value =
//      jit_compile(loss), value and gradient = jit_compile(gradient(loss)): time(value and
//      gradient) / time(value), goal ≤ 2.3 (the gradient is one adjoint solve, which costs what the
//      forward one does). The SolveTape's iteration counts (forward and adjoint) explain the ratio.
//      Reference, timed in the same run: the same done eagerly, the adjoint solve written by hand
//      (f is symmetric, so dloss/dy = f⁻¹(x)); the compiled gradient is checked against it.
//  (b) one step of a 2D flow on 128²: v = u + dt·(ν·laplace(u) − (u·∇)u), a pressure solve
//      −laplace(p) = −div(v) (CG to rel_tol 1e-6 from 0), u ← v − ∇p (central differences, zero
//      boundaries; not an exact projection, as the 5-point laplace is not div∘grad of central
//      differences). jit_compile(step) against the same step run eagerly, goal compiled / eager ≤ 1;
//      both results are compared.
// No OpenMP code runs here (no hand-written baselines), so no OMP_WAIT_POLICY re-exec is needed.
// Should a compiled part throw, or disagree with the eager reference, the Error is printed and
// its goal counts as missed.
// Parts: `bench_solve_gradient [ab]`; BENCH_REPS sets the repetitions.
#include <phijit/phijit.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "bench/bench_util.h"

using namespace phijit;

namespace {

const auto neg_laplace = [](const Tensor& x) { return -laplace(x, extrapolation::ZERO); };
using LinearF = decltype(jit_compile_linear(neg_laplace));

double ms(double seconds) { return seconds * 1e3; }
double max_abs(const Tensor& a) { return phijit::max(abs(a)).item(); }

// "method N it" for every solve on the tape.
std::string tape_str(const SolveTape& tape) {
  std::string s = std::to_string(tape.size()) + " solve(s)";
  for (size_t i = 0; i < tape.size(); ++i) {
    s += (i == 0 ? ": " : ", ") + tape[i].method + " " +
         std::to_string(static_cast<long long>(tape[i].iterations.item())) + " it";
  }
  return s;
}

void print_timings(const std::vector<bench::Variant>& variants, const std::vector<bench::Timing>& t) {
  for (size_t k = 0; k < t.size(); ++k) {
    std::printf("    %-34s %9.2f ms (min %.2f, max %.2f)\n", variants[k].name.c_str(), ms(t[k].median),
                ms(t[k].min), ms(t[k].max));
  }
}

bool print_error(const char* goal, double target, const std::string& error) {
  std::printf("ERROR in the compiled part: %s\n", error.c_str());
  std::printf("GOAL %-44s goal <= %.3f x, not measured -> goal missed\n", goal, target);
  return false;
}

bool value_and_gradient(int reps) {
  constexpr int64_t kN = 256;
  const Shape shape = spatial("x", kN) & spatial("y", kN);
  const LinearF f = jit_compile_linear(neg_laplace);
  const Solve solve{
      .method = "CG", .rel_tol = 1e-8, .abs_tol = 1e-8, .x0 = zeros(shape), .max_iterations = 100000};
  const Tensor y = random_normal(shape, 42);
  auto loss = [f, solve](const Tensor& y) { return l2_loss(solve_linear(f, y, solve)); };
  std::printf(
      "\n(a) l2_loss(solve_linear(-laplace, y, CG rel_tol 1e-8)) on %lld², median of %d interleaved runs\n",
      static_cast<long long>(kN), reps);

  // Eager, with the adjoint solve by hand: it runs today.
  Tensor loss_eager, grad_eager, loss_compiled;
  std::vector<Tensor> both_compiled;
  auto eager_value = [&] { loss_eager = l2_loss(solve_linear(f, y, solve)); };
  auto eager_both = [&] {
    Tensor x = solve_linear(f, y, solve);
    loss_eager = l2_loss(x);
    grad_eager = solve_linear(f, x, solve);
  };
  {
    SolveTape tape;
    eager_both();
    std::printf("    eager, adjoint by hand: loss %.12g, SolveTape %s\n", loss_eager.item(),
                tape_str(tape).c_str());
  }
  std::vector<bench::Variant> variants{{"eager value", eager_value},
                                       {"eager value and gradient (by hand)", eager_both}};

  auto value = jit_compile(loss);
  auto value_and_grad = jit_compile([loss](const Tensor& y) { return gradient(loss)(y); });
  bool compiled = true;
  std::string error;
  try {
    SolveTape tape_value;
    double v = value(y).item();
    std::printf("    compiled value: SolveTape %s\n", tape_str(tape_value).c_str());
    SolveTape tape_grad;
    std::vector<Tensor> vg = value_and_grad(y);
    std::printf("    compiled value and gradient: SolveTape %s\n", tape_str(tape_grad).c_str());
    std::printf("    check: loss compiled %.12g, with the gradient %.12g, eager %.12g\n", v, vg[0].item(),
                loss_eager.item());
    std::printf("    check: max |gradient - by hand| %.3g, max |by hand| %.3g\n", max_abs(vg[1] - grad_eager),
                max_abs(grad_eager));
    // A wrong answer fast is no answer: the goal counts only when both agree with the reference
    // (the solves stop at rel_tol 1e-8).
    if (std::abs(v - loss_eager.item()) > 1e-6 * std::abs(loss_eager.item()) ||
        max_abs(vg[1] - grad_eager) > 1e-6 * max_abs(grad_eager)) {
      throw Error("the compiled loss or gradient disagrees with the eager reference");
    }
    variants.push_back({"compiled value", [&] { loss_compiled = value(y); }});
    variants.push_back({"compiled value and gradient", [&] { both_compiled = value_and_grad(y); }});
  } catch (const Error& e) {
    compiled = false;
    error = e.what();
  }
  std::vector<bench::Timing> t = bench::time_interleaved(variants, 1, reps);
  print_timings(variants, t);
  std::printf("RESULT eager: value and gradient (by hand) / value %.2f\n", t[1].median / t[0].median);
  if (!compiled) return print_error("(a) 256²: compiled value and gradient / value", 2.3, error);
  double ratio = t[3].median / t[2].median;
  std::printf(
      "RESULT compiled: value and gradient / value %.2f; compiled / eager: value %.2f, gradient %.2f\n",
      ratio, t[2].median / t[0].median, t[3].median / t[1].median);
  return bench::print_goal("(a) 256²: compiled value and gradient / value", ratio, 2.3, "x");
}

// Central difference (q[i+1] − q[i−1]) / 2 along dim, zero outside.
Tensor ddx(const Tensor& q, std::string_view dim) {
  return 0.5 * (shift(q, dim, 1, extrapolation::ZERO) - shift(q, dim, -1, extrapolation::ZERO));
}

bool flow_step(int reps) {
  constexpr int64_t kN = 128;
  constexpr double kDt = 0.1, kNu = 0.1;
  const Shape grid = spatial("x", kN) & spatial("y", kN);
  const LinearF f = jit_compile_linear(neg_laplace);
  const Solve solve{
      .method = "CG", .rel_tol = 1e-6, .abs_tol = 0, .x0 = zeros(grid), .max_iterations = 100000};
  auto step = [f, solve](const Tensor& u) {
    Tensor ux = u.slice("vector", 0), uy = u.slice("vector", 1);
    Tensor v = u + kDt * (kNu * laplace(u, extrapolation::ZERO) - ux * ddx(u, "x") - uy * ddx(u, "y"));
    Tensor div = ddx(v.slice("vector", 0), "x") + ddx(v.slice("vector", 1), "y");
    Tensor p = solve_linear(f, -div, solve);
    return v - stack({ddx(p, "x"), ddx(p, "y")}, channel("vector", {"x", "y"}));
  };
  const double pi = 3.141592653589793;
  Tensor X = linspace(0, 1, spatial("x", kN)), Y = linspace(0, 1, spatial("y", kN));
  Tensor u0 =
      stack({sin(2 * pi * X) * cos(pi * Y), -cos(pi * X) * sin(2 * pi * Y)}, channel("vector", {"x", "y"})) +
      0.1 * random_normal(grid & channel("vector", {"x", "y"}), 7);
  std::printf(
      "\n(b) flow step with a pressure solve (CG rel_tol 1e-6) on %lld², median of %d interleaved runs\n",
      static_cast<long long>(kN), reps);

  Tensor u_eager, u_compiled;
  {
    SolveTape tape;
    u_eager = step(u0);
    std::printf("    eager: SolveTape %s; max |u0| %.3f, max |u1| %.3f\n", tape_str(tape).c_str(),
                max_abs(u0), max_abs(u_eager));
  }
  std::vector<bench::Variant> variants{{"eager step", [&] { u_eager = step(u0); }}};
  auto compiled_step = jit_compile(step);
  bool compiled = true;
  std::string error;
  try {
    SolveTape tape;
    u_compiled = compiled_step(u0);
    std::printf("    compiled: SolveTape %s\n", tape_str(tape).c_str());
    std::printf("    check: max |compiled - eager| %.3g\n", max_abs(u_compiled - u_eager));
    if (max_abs(u_compiled - u_eager) > 1e-8 * max_abs(u_eager)) {
      throw Error("the compiled step disagrees with the eager one");
    }
    variants.push_back({"compiled step", [&] { u_compiled = compiled_step(u0); }});
  } catch (const Error& e) {
    compiled = false;
    error = e.what();
  }
  std::vector<bench::Timing> t = bench::time_interleaved(variants, 1, reps);
  print_timings(variants, t);
  if (!compiled) return print_error("(b) 128²: compiled step / eager step", 1.0, error);
  double ratio = t[1].median / t[0].median;
  std::printf("RESULT compiled step / eager step %.2f\n", ratio);
  return bench::print_goal("(b) 128²: compiled step / eager step", ratio, 1.0, "x");
}

}  // namespace

int main(int argc, char** argv) {
  bench::print_header("bench_solve_gradient");
  std::string parts = argc >= 2 ? argv[1] : "ab";
  bool met = true;
  if (parts.find('a') != std::string::npos) met = value_and_gradient(bench::reps_from_env(5)) && met;
  if (parts.find('b') != std::string::npos) met = flow_step(bench::reps_from_env(10)) && met;
  std::printf("\n%s\n", met ? "all goals met" : "some goals missed");
  return 0;
}
