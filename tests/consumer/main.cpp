// A user's program against the installed phijit: the public API of <phijit/phijit.h> only. It
// exits non-zero when a value is off.
#include <phijit/phijit.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

int check_compiler_surface();  // compiler_surface.cpp: <phijit/compiler.h>

namespace {

int failures = 0;

void check(const char* what, const std::vector<double>& got, const std::vector<double>& want) {
  bool ok = got.size() == want.size();
  for (size_t i = 0; ok && i < got.size(); ++i)
    ok = std::abs(got[i] - want[i]) <= 1e-9 * (1 + std::abs(want[i]));
  if (!ok) {
    std::fprintf(stderr, "consumer: %s is off:", what);
    for (double v : got) std::fprintf(stderr, " %.17g", v);
    std::fprintf(stderr, " (expected");
    for (double v : want) std::fprintf(stderr, " %.17g", v);
    std::fprintf(stderr, ")\n");
    ++failures;
  }
}

}  // namespace

int main() {
  using namespace phijit;
  Tensor x = tensor({1, 2, 3}, spatial("x", 3));

  // jit_compile: traced once, compiled to native code, reused for a second call of that shape.
  auto f = jit_compile([](const Tensor& u, double scale) { return scale * u * u + 1.0; });
  check("jit_compile(f)(x)", f(x, 2.0).to_vector(), {3, 9, 19});
  check("jit_compile(f)(2x)", f(2.0 * x, 2.0).to_vector(), {9, 33, 73});
  check("trace_count", {static_cast<double>(f.trace_count())}, {1});

  // solve_linear of -laplace (zero boundaries): [[2,-1,0],[-1,2,-1],[0,-1,2]] x = (1, 0, 1) has
  // x = (1, 1, 1), through the extracted sparse matrix.
  auto minus_laplace = jit_compile_linear([](const Tensor& u) { return -laplace(u); });
  Tensor y = tensor({1, 0, 1}, spatial("x", 3));
  Tensor solution =
      solve_linear(minus_laplace, y,
                   Solve{.method = "CG", .rel_tol = 1e-12, .abs_tol = 1e-12, .x0 = zeros(spatial("x", 3))});
  check("solve_linear", solution.to_vector(), {1, 1, 1});

  // gradient: d/dx sum(x²)/2 = x.
  auto grad = gradient([](const Tensor& u) { return l2_loss(u); });
  std::vector<Tensor> value_and_grad = grad(x);
  check("l2_loss", value_and_grad.at(0).to_vector(), {7});
  check("gradient", value_and_grad.at(1).to_vector(), {1, 2, 3});

  // Errors are phijit's: a shape mismatch is a ShapeError.
  try {
    (void)(x + tensor({1, 2}, spatial("x", 2)));
    std::fprintf(stderr, "consumer: adding shapes x=3 and x=2 did not throw\n");
    ++failures;
  } catch (const ShapeError&) {
  }

  // Printing goes through fmt, a public dependency.
  if (fmt::format("{}", x).find("1.000") == std::string::npos) {
    std::fprintf(stderr, "consumer: fmt::format of a tensor gives '%s'\n", fmt::format("{}", x).c_str());
    ++failures;
  }

  failures += check_compiler_surface();
  if (failures == 0) std::printf("consumer: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
