// A separate process for the disk-cache tests: compiles one fixed function and prints how
// many modules LLVM compiled, how many came from the disk cache, and the cache directory it
// used ('' when none); it fails when the result is wrong. By default the function is one
// kernel; `cache_probe rollout` compiles a rollout of six identical steps and a sum, which is
// two distinct kernels (the step, and the sum with the last step fused into it).
#include <phijit/phijit.h>

#include <cstdio>
#include <cstring>

#include "codegen/jit_engine.h"

using namespace phijit;

namespace {

Tensor one_kernel(const Tensor& x) { return exp(-x * x) + laplace(x, extrapolation::PERIODIC) * 0.25; }

Tensor rollout(const Tensor& x) {
  Tensor u = x;
  for (int i = 0; i < 6; ++i) u = u + 0.1 * laplace(u) - 0.01 * u * u * u;
  return sum(u);
}

}  // namespace

int main(int argc, char** argv) {
  const bool is_rollout = argc >= 2 && std::strcmp(argv[1], "rollout") == 0;
  Tensor (*fn)(const Tensor&) = is_rollout ? rollout : one_kernel;
  Tensor x = is_rollout ? random_uniform(spatial("x", 16) & spatial("y", 8), 0, 1, 7)
                        : linspace(0, 1, spatial("x", 8));
  Tensor y = jit_compile(fn)(x);
  double err = max(abs(y - fn(x))).item();
  auto& engine = codegen::JitEngine::instance();
  std::printf("compiles=%lld disk_hits=%lld error=%g cache_dir='%s'\n",
              static_cast<long long>(engine.compile_count()), static_cast<long long>(engine.disk_hit_count()),
              err, engine.cache_dir().c_str());
  return err < 1e-12 ? 0 : 1;
}
