// bench_trace_memory: resident memory of a jit_compile function called with a new key every
// call — a `double` time step that changes each step (`dt`), or a new grid size (`shape`) — with
// the disk cache off. Traces per function are bounded (PHIJIT_MAX_TRACES) and code no trace uses
// is unloaded, so RSS must stay flat: it prints the growth from call 100 to call N, per call.
// Usage: bench_trace_memory [dt|shape] [N]; run it with PHIJIT_CACHE_DIR= PHIJIT_LOG=error.
#include <phijit/phijit.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

using namespace phijit;

namespace {
long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}
}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "dt";
  const int n = argc > 2 ? std::atoi(argv[2]) : 10000;
  if (n <= 100) {
    std::fprintf(stderr, "N must exceed 100\n");
    return 2;
  }
  auto step = jit_compile([](const Tensor& u, double dt) { return u + dt * laplace(u); });
  auto t0 = std::chrono::steady_clock::now();
  long start = -1;
  for (int i = 0; i < n; ++i) {
    if (mode == "dt") {
      step(linspace(0, 1, spatial("x", 32)), 1e-3 * (1 + i * 1e-4));
    } else {
      step(linspace(0, 1, spatial("x", 2 + i)), 0.1);
    }
    if (i == 99) start = rss_kib();
  }
  long end = rss_kib();
  std::printf(
      "%s: RSS after 100 calls %ld KiB, after %d calls %ld KiB: +%.1f MiB (%.2f KiB per call), %.1f s\n",
      mode.c_str(), start, n, end, (end - start) / 1024.0, double(end - start) / (n - 100),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}
