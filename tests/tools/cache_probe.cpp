// A separate process for the disk-cache tests: compiles one fixed function and prints how
// many modules LLVM compiled and how many came from the disk cache.
#include <phijit/phijit.h>

#include <cstdio>

#include "codegen/jit_engine.h"

using namespace phijit;

int main() {
  auto f =
      jit_compile([](const Tensor& x) { return exp(-x * x) + laplace(x, extrapolation::PERIODIC) * 0.25; });
  Tensor x = linspace(0, 1, spatial("x", 8));
  Tensor y = f(x);
  Tensor expected = exp(-x * x) + laplace(x, extrapolation::PERIODIC) * 0.25;
  double err = max(abs(y - expected)).item();
  auto& engine = codegen::JitEngine::instance();
  std::printf("compiles=%lld disk_hits=%lld error=%g\n", static_cast<long long>(engine.compile_count()),
              static_cast<long long>(engine.disk_hit_count()), err);
  return err < 1e-12 ? 0 : 1;
}
