// The thread pool: every block runs once, concurrent and nested calls, exceptions, sizes.
#include "runtime/thread_pool.h"

#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <numeric>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "runtime/log.h"

using phijit::runtime::ThreadPool;

namespace {

// Runs every block of [0, n) once and checks the counts.
void check_each_block_once(ThreadPool& pool, int64_t n) {
  std::vector<std::atomic<int>> counts(static_cast<size_t>(n));
  for (auto& c : counts) c.store(0);
  pool.parallel_for(n, [&](int64_t b) { counts[static_cast<size_t>(b)].fetch_add(1); });
  int64_t wrong = 0;
  for (auto& c : counts) wrong += c.load() != 1;
  CHECK(wrong == 0);
}

}  // namespace

TEST_CASE("thread pool: every block runs exactly once", "[thread_pool]") {
  for (int threads : {1, 2, 3, 4, 8}) {
    ThreadPool pool(threads);
    INFO("threads = " << threads);
    CHECK(pool.size() == threads);
    check_each_block_once(pool, 10000);
    check_each_block_once(pool, 2);
    check_each_block_once(pool, 3);
    check_each_block_once(pool, 1);
    int calls = 0;
    pool.parallel_for(0, [&](int64_t) { ++calls; });
    pool.parallel_for(-5, [&](int64_t) { ++calls; });
    CHECK(calls == 0);
  }
}

TEST_CASE("thread pool: blocks run on several threads", "[thread_pool]") {
  ThreadPool pool(4);
  std::mutex m;
  std::set<std::thread::id> ids;
  pool.parallel_for(64, [&](int64_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::lock_guard<std::mutex> lock(m);
    ids.insert(std::this_thread::get_id());
  });
  CHECK(ids.size() > 1);
  CHECK(ids.size() <= 4);
  CHECK(ids.count(std::this_thread::get_id()) == 1);  // the caller works too
}

TEST_CASE("thread pool: many small jobs in a row", "[thread_pool]") {
  ThreadPool pool(4);
  std::atomic<int64_t> total{0};
  for (int rep = 0; rep < 2000; ++rep) {
    pool.parallel_for(1 + rep % 7, [&](int64_t b) { total.fetch_add(b + 1); });
  }
  int64_t expected = 0;
  for (int rep = 0; rep < 2000; ++rep) {
    int64_t n = 1 + rep % 7;
    expected += n * (n + 1) / 2;
  }
  CHECK(total.load() == expected);
}

TEST_CASE("thread pool: concurrent parallel_for from 8 threads", "[thread_pool]") {
  ThreadPool pool(4);
  constexpr int kCallers = 8;
  constexpr int64_t kBlocks = 2000;
  std::vector<std::vector<std::atomic<int>>> counts(kCallers);
  for (auto& c : counts) {
    c = std::vector<std::atomic<int>>(kBlocks);
    for (auto& x : c) x.store(0);
  }
  std::vector<std::thread> callers;
  callers.reserve(kCallers);
  for (int t = 0; t < kCallers; ++t) {
    callers.emplace_back([&, t] {
      for (int rep = 0; rep < 20; ++rep) {
        pool.parallel_for(kBlocks, [&](int64_t b) { counts[t][static_cast<size_t>(b)].fetch_add(1); });
      }
    });
  }
  for (auto& c : callers) c.join();
  int64_t wrong = 0;
  for (auto& c : counts) {
    for (auto& x : c) wrong += x.load() != 20;
  }
  CHECK(wrong == 0);
}

TEST_CASE("thread pool: nested calls run inline", "[thread_pool]") {
  ThreadPool pool(4);
  constexpr int64_t kOuter = 16, kInner = 100;
  std::vector<std::atomic<int>> counts(kOuter * kInner);
  for (auto& c : counts) c.store(0);
  std::atomic<int> wrong_thread{0};
  pool.parallel_for(kOuter, [&](int64_t i) {
    auto outer_thread = std::this_thread::get_id();
    pool.parallel_for(kInner, [&](int64_t j) {
      if (std::this_thread::get_id() != outer_thread) wrong_thread.fetch_add(1);
      counts[static_cast<size_t>(i * kInner + j)].fetch_add(1);
      // A third level, through another pool, stays inline as well.
      ThreadPool::instance().parallel_for(2, [&](int64_t) {
        if (std::this_thread::get_id() != outer_thread) wrong_thread.fetch_add(1);
      });
    });
  });
  int64_t wrong = 0;
  for (auto& c : counts) wrong += c.load() != 1;
  CHECK(wrong == 0);
  CHECK(wrong_thread.load() == 0);
}

TEST_CASE("thread pool: the first exception reaches the caller", "[thread_pool]") {
  for (int threads : {1, 4}) {
    INFO("threads = " << threads);
    ThreadPool pool(threads);
    std::atomic<int64_t> ran{0};
    CHECK_THROWS_WITH(pool.parallel_for(10000,
                                        [&](int64_t b) {
                                          ran.fetch_add(1);
                                          if (b == 10) throw std::runtime_error("block 10 failed");
                                          // Long enough that the failure is seen before the other
                                          // threads run every block (throwing takes microseconds).
                                          std::this_thread::sleep_for(std::chrono::microseconds(20));
                                        }),
                      "block 10 failed");
    // The blocks left when the failure was seen are skipped.
    CHECK(ran.load() < 10000);

    // Every block throws: one exception comes back, the pool keeps working.
    CHECK_THROWS_AS(pool.parallel_for(100, [](int64_t b) { throw std::out_of_range(std::to_string(b)); }),
                    std::out_of_range);
    check_each_block_once(pool, 1000);

    // A single block throws inline.
    CHECK_THROWS_WITH(pool.parallel_for(1, [](int64_t) { throw std::runtime_error("one"); }), "one");
  }
}

TEST_CASE("thread pool: exception in a nested call", "[thread_pool]") {
  ThreadPool pool(3);
  CHECK_THROWS_WITH(pool.parallel_for(8,
                                      [&](int64_t i) {
                                        pool.parallel_for(8, [&](int64_t j) {
                                          if (i == 5 && j == 3) throw std::runtime_error("inner");
                                        });
                                      }),
                    "inner");
  check_each_block_once(pool, 500);
}

TEST_CASE("thread pool: pool of size 1 runs on the caller", "[thread_pool]") {
  ThreadPool pool(1);
  CHECK(pool.size() == 1);
  auto me = std::this_thread::get_id();
  int64_t others = 0, sum = 0;  // plain ints: everything runs on this thread
  pool.parallel_for(1000, [&](int64_t b) {
    others += std::this_thread::get_id() != me;
    sum += b;
  });
  CHECK(others == 0);
  CHECK(sum == 999 * 1000 / 2);
  ThreadPool clamped(0);
  CHECK(clamped.size() == 1);
}

TEST_CASE("thread pool: a parallel sum equals the serial sum", "[thread_pool]") {
  ThreadPool pool(4);
  constexpr int64_t kN = 1 << 20, kBlock = 4096;
  std::vector<int64_t> data(kN);
  for (int64_t i = 0; i < kN; ++i) data[static_cast<size_t>(i)] = (i * 7919) % 1000 - 500;
  int64_t serial = std::accumulate(data.begin(), data.end(), int64_t{0});
  std::vector<int64_t> partial(kN / kBlock, 0);
  pool.parallel_for(kN / kBlock, [&](int64_t b) {
    int64_t s = 0;
    for (int64_t i = b * kBlock; i < (b + 1) * kBlock; ++i) s += data[static_cast<size_t>(i)];
    partial[static_cast<size_t>(b)] = s;
  });
  CHECK(std::accumulate(partial.begin(), partial.end(), int64_t{0}) == serial);

  // Doubles summed in a fixed block order give the serial blocked result bit for bit.
  std::vector<double> x(kN);
  for (int64_t i = 0; i < kN; ++i) x[static_cast<size_t>(i)] = 1.0 / static_cast<double>(i + 1);
  std::vector<double> dpartial(kN / kBlock, 0.0);
  pool.parallel_for(kN / kBlock, [&](int64_t b) {
    double s = 0;
    for (int64_t i = b * kBlock; i < (b + 1) * kBlock; ++i) s += x[static_cast<size_t>(i)];
    dpartial[static_cast<size_t>(b)] = s;
  });
  double blocked = 0, expected = 0;
  for (int64_t b = 0; b < kN / kBlock; ++b) {
    double s = 0;
    for (int64_t i = b * kBlock; i < (b + 1) * kBlock; ++i) s += x[static_cast<size_t>(i)];
    expected += s;
    blocked += dpartial[static_cast<size_t>(b)];
  }
  CHECK(blocked == expected);
}

TEST_CASE("thread pool: the process-wide pool", "[thread_pool]") {
  ThreadPool& pool = ThreadPool::instance();
  CHECK(&pool == &ThreadPool::instance());
  CHECK(pool.size() >= 1);
  check_each_block_once(pool, 10000);
}

TEST_CASE("thread pool: create and destroy many pools", "[thread_pool]") {
  for (int rep = 0; rep < 50; ++rep) {
    ThreadPool pool(1 + rep % 5);
    std::atomic<int> n{0};
    pool.parallel_for(rep % 9, [&](int64_t) { n.fetch_add(1); });
    CHECK(n.load() == rep % 9);
  }
}

// Run in a child process by the test below: the process-wide pool's size is the one expected.
TEST_CASE("thread pool: instance size from the environment (child)", "[.thread_pool_env]") {
  const char* expected = std::getenv("PHIJIT_EXPECTED_THREADS");
  REQUIRE(expected != nullptr);
  int want = std::atoi(expected);
  if (want == 0) want = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  CHECK(ThreadPool::instance().size() == want);
  check_each_block_once(ThreadPool::instance(), 1000);
}

TEST_CASE("thread pool: PHIJIT_NUM_THREADS", "[thread_pool]") {
  std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  auto run = [&](const std::string& env_value, int expected) {
    std::string cmd = "PHIJIT_NUM_THREADS='" + env_value +
                      "' PHIJIT_EXPECTED_THREADS=" + std::to_string(expected) + " '" + self +
                      "' -w NoTests '[.thread_pool_env]' > /dev/null 2>&1";
    INFO(cmd);
    CHECK(std::system(cmd.c_str()) == 0);
  };
  run("3", 3);
  run("1", 1);
  run("abc", 0);  // 0: the hardware's thread count
  run("0", 0);
  run("-2", 0);
  run("4x", 0);
  run("", 0);
}

namespace {

// A thread starter that starts `k` threads and then fails as std::thread does under a limit
// on processes (EAGAIN).
ThreadPool::StartThread failing_after(int k, std::atomic<int>& attempts) {
  return [k, &attempts](std::function<void()> loop) {
    if (attempts.fetch_add(1) >= k) {
      throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
    }
    return std::thread(std::move(loop));
  };
}

// Collects what phijit logs while it lives.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(text_)) {
    phijit::runtime::logger().sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto& sinks = phijit::runtime::logger().sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  std::string text() const { return text_.str(); }

 private:
  std::ostringstream text_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

}  // namespace

TEST_CASE("thread pool: threads that cannot start leave fewer threads, with a warning", "[thread_pool]") {
  // Without the fallback the constructor threw, destroying running workers' std::threads: the
  // process terminated.
  for (int k : {0, 1, 3}) {
    INFO("threads that start: " << k);
    std::atomic<int> attempts{0};
    LogCapture log;
    ThreadPool pool(8, failing_after(k, attempts));
    CHECK(attempts.load() == k + 1);  // no retries after the first failure
    CHECK(pool.size() == k + 1);      // the workers that started and the caller
    check_each_block_once(pool, 10000);
    std::string expected = k == 0 ? "running with the calling thread alone"
                                  : "running with " + std::to_string(k + 1) + " threads";
    CHECK_THAT(log.text(),
               Catch::Contains("thread pool: could not start thread " + std::to_string(k + 2) + " of 8") &&
                   Catch::Contains("Resource temporarily unavailable") && Catch::Contains(expected));
  }
}

TEST_CASE("thread pool: a pool whose threads all started does not warn", "[thread_pool]") {
  std::atomic<int> attempts{0};
  LogCapture log;
  ThreadPool pool(3, failing_after(2, attempts));
  CHECK(pool.size() == 3);
  check_each_block_once(pool, 100);
  CHECK(log.text().empty());
}
