// A separate process for the thread-limit test: run under a limit on processes (prlimit
// --nproc), it starts the process-wide thread pool and runs a parallel loop on it. It prints the
// pool's size and the loop's result; it exits 77 (CTest's "skipped") when the limit does not
// stop a plain std::thread, since then the test would not exercise the pool's fallback.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <system_error>
#include <thread>

#include "runtime/thread_pool.h"

int main() {
  try {
    std::thread([] {}).join();
    std::printf("a thread started: the process limit is not in effect\n");
    return 77;
  } catch (const std::system_error&) {
  }
  phijit::runtime::ThreadPool& pool = phijit::runtime::ThreadPool::instance();
  std::atomic<int64_t> sum{0};
  pool.parallel_for(1000, [&](int64_t b) { sum.fetch_add(b); });
  std::printf("threads: %d, sum: %lld\n", pool.size(), static_cast<long long>(sum.load()));
  return sum.load() == 999 * 1000 / 2 ? 0 : 1;
}
