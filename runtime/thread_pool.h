// A fixed pool of worker threads that compiled kernels are split over.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

namespace phijit::runtime {

class ThreadPool {
 public:
  // The process-wide pool: PHIJIT_NUM_THREADS threads (default: the hardware's), counting
  // the calling thread, which always works too.
  static ThreadPool& instance();
  // Starts a worker thread running `loop` (std::thread by default; tests pass one that fails).
  using StartThread = std::function<std::thread(std::function<void()> loop)>;
  // When a thread cannot be started (std::system_error, e.g. under a limit on processes), the
  // pool warns and works with those started so far, down to the calling thread alone.
  explicit ThreadPool(int num_threads, const StartThread& start_thread = {});
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const;  // threads that work, counting the caller

  // Runs fn(block) for every block in [0, n_blocks) on the pool and the calling thread and
  // returns when all have finished. Safe to call from many threads at once and from inside
  // a block (nested calls run inline). The first exception a block throws is rethrown here
  // after all blocks have stopped.
  void parallel_for(int64_t n_blocks, const std::function<void(int64_t block)>& fn);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace phijit::runtime
