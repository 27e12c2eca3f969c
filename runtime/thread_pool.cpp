#include "runtime/thread_pool.h"

#include <fmt/format.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <mutex>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "runtime/log.h"

namespace phijit::runtime {

namespace {

// True while this thread runs a block: a parallel_for from inside a block runs inline, so a
// block never waits for workers that may all be busy waiting for it.
thread_local bool t_in_block = false;

class InBlockScope {
 public:
  InBlockScope() : saved_(t_in_block) { t_in_block = true; }
  ~InBlockScope() { t_in_block = saved_; }
  InBlockScope(const InBlockScope&) = delete;
  InBlockScope& operator=(const InBlockScope&) = delete;

 private:
  bool saved_;
};

int default_num_threads() {
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// PHIJIT_NUM_THREADS, or the hardware's thread count when it is unset or not a number >= 1.
int num_threads_from_env() {
  const char* env = std::getenv("PHIJIT_NUM_THREADS");
  if (env == nullptr || *env == '\0') return default_num_threads();
  constexpr int kMaxThreads = 4096;
  std::string_view text(env);
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  int n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n < 1 || n > kMaxThreads) {
    int fallback = default_num_threads();
    logger().warn("PHIJIT_NUM_THREADS='{}' is not a thread count in [1, {}]; using {} threads", env,
                  kMaxThreads, fallback);
    return fallback;
  }
  return n;
}

// One parallel_for call. The caller allocates it (the only allocation per call) and shares it
// with the workers that pick it up, so it outlives any worker still touching it.
struct Job {
  Job(const std::function<void(int64_t)>& f, int64_t n) : fn(f), n_blocks(n) {}

  const std::function<void(int64_t)>& fn;
  const int64_t n_blocks;
  const std::chrono::steady_clock::time_point posted_at = std::chrono::steady_clock::now();
  std::atomic<int64_t> next{0};      // the next unclaimed block
  std::atomic<int64_t> finished{0};  // blocks run or skipped; the job is over at n_blocks
  std::atomic<bool> failed{false};
  std::atomic<bool> queued{true};  // still in the pool's queue
  std::exception_ptr error;        // written once, by the thread that set `failed`

  bool exhausted() const { return next.load(std::memory_order_relaxed) >= n_blocks; }

  // Claims and runs blocks until none are left; returns how many this thread claimed (or
  // skipped after a failure).
  int64_t work() {
    InBlockScope scope;
    int64_t claimed = 0;
    for (;;) {
      int64_t b = next.fetch_add(1, std::memory_order_relaxed);
      if (b >= n_blocks) break;
      ++claimed;
      if (failed.load(std::memory_order_relaxed)) continue;  // a failed job skips the rest
      try {
        fn(b);
      } catch (...) {
        if (!failed.exchange(true, std::memory_order_relaxed)) error = std::current_exception();
        // Nobody claims the blocks that are left; this thread counts them as finished.
        int64_t unclaimed = next.exchange(n_blocks, std::memory_order_relaxed);
        if (unclaimed < n_blocks) claimed += n_blocks - unclaimed;
      }
    }
    return claimed;
  }

  void finish(int64_t claimed) {
    if (claimed == 0) return;
    int64_t total = finished.fetch_add(claimed, std::memory_order_acq_rel) + claimed;
    if (total == n_blocks) finished.notify_all();
  }
};

// How long an idle worker watches for the next job before it sleeps. Iterative callers (a
// Krylov solver's next vector op, a minimizer's next step) post jobs with short serial gaps in
// between, and waking a sleeping thread costs tens of microseconds each time. A worker spins
// only while the callers' gaps are that short: after a longer one it sleeps at once, so it does
// not take a core from what the process does between its parallel parts.
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(250);

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

struct ThreadPool::Impl {
  int num_threads = 1;
  std::vector<std::thread> workers;
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::shared_ptr<Job>> queue;  // jobs that may still have unclaimed blocks
  bool stopping = false;
  std::atomic<uint64_t> posted{0};  // jobs queued so far: a spinning worker watches it

  // Returns when a job was posted after the `seen`-th one, or after kSpinBeforeSleep.
  void spin_for_job(uint64_t seen) const {
    auto until = std::chrono::steady_clock::now() + kSpinBeforeSleep;
    for (int i = 1; posted.load(std::memory_order_acquire) == seen; ++i) {
      cpu_relax();
      if (i % 64 == 0 && std::chrono::steady_clock::now() > until) return;
    }
  }

  // The first queued job with unclaimed blocks; null if none. Needs `mutex`.
  std::shared_ptr<Job> runnable_job() const {
    for (const auto& job : queue) {
      if (!job->exhausted()) return job;
    }
    return nullptr;
  }

  void dequeue(const std::shared_ptr<Job>& job) {
    if (!job->queued.exchange(false, std::memory_order_acq_rel)) return;
    std::lock_guard<std::mutex> lock(mutex);
    for (auto it = queue.begin(); it != queue.end(); ++it) {
      if (*it == job) {
        queue.erase(it);
        break;
      }
    }
  }

  void worker_loop() {
    uint64_t seen = posted.load(std::memory_order_acquire);
    bool spin = false;  // whether the caller's last gap between jobs was short
    for (;;) {
      std::shared_ptr<Job> job;
      auto idle_since = std::chrono::steady_clock::now();
      if (spin) spin_for_job(seen);
      {
        std::unique_lock<std::mutex> lock(mutex);
        wake.wait(lock, [&] { return stopping || (job = runnable_job()) != nullptr; });
        if (!job) return;  // stopping, and nothing is left to run
        seen = posted.load(std::memory_order_relaxed);
      }
      // The gap the caller left, not the time this worker took to wake up.
      spin = job->posted_at - idle_since < kSpinBeforeSleep;
      int64_t claimed = job->work();
      dequeue(job);
      job->finish(claimed);
    }
  }
};

ThreadPool& ThreadPool::instance() {
  static ThreadPool pool(num_threads_from_env());
  return pool;
}

ThreadPool::ThreadPool(int num_threads, const StartThread& start_thread) : impl_(std::make_unique<Impl>()) {
  int wanted = num_threads < 1 ? 1 : num_threads;
  impl_->workers.reserve(static_cast<size_t>(wanted - 1));
  for (int i = 1; i < wanted; ++i) {
    auto loop = [impl = impl_.get()] { impl->worker_loop(); };
    try {
      impl_->workers.push_back(start_thread ? start_thread(loop) : std::thread(loop));
    } catch (const std::system_error& e) {
      // A limit on processes or threads (ulimit -u, a container's pids limit): the threads that
      // started do the work. Letting the error escape would destroy the running workers'
      // std::thread objects, which terminates the process.
      logger().warn("thread pool: could not start thread {} of {} ({}); running with {}", i + 1, wanted,
                    e.what(), i == 1 ? "the calling thread alone" : fmt::format("{} threads", i));
      break;
    }
  }
  impl_->num_threads = 1 + static_cast<int>(impl_->workers.size());
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  for (std::thread& t : impl_->workers) t.join();
}

int ThreadPool::size() const { return impl_->num_threads; }

void ThreadPool::parallel_for(int64_t n_blocks, const std::function<void(int64_t block)>& fn) {
  if (n_blocks <= 0) return;
  if (n_blocks == 1 || t_in_block || impl_->workers.empty()) {
    InBlockScope scope;
    for (int64_t b = 0; b < n_blocks; ++b) fn(b);
    return;
  }
  auto job = std::make_shared<Job>(fn, n_blocks);
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->queue.push_back(job);
    impl_->posted.fetch_add(1, std::memory_order_release);
  }
  // Wake only as many workers as there are blocks for besides the caller's own.
  auto helpers = static_cast<int64_t>(impl_->workers.size());
  if (n_blocks - 1 >= helpers) {
    impl_->wake.notify_all();
  } else {
    for (int64_t i = 0; i < n_blocks - 1; ++i) impl_->wake.notify_one();
  }
  int64_t claimed = job->work();
  impl_->dequeue(job);
  job->finish(claimed);
  for (int64_t done = job->finished.load(std::memory_order_acquire); done != n_blocks;
       done = job->finished.load(std::memory_order_acquire)) {
    job->finished.wait(done, std::memory_order_acquire);
  }
  if (job->error) std::rethrow_exception(job->error);
}

}  // namespace phijit::runtime
