// The cache of traced functions (frontend/trace_cache.h) and what jit functions make of it:
// recursion while tracing is an Error (never a wait), each function keeps a bounded number of
// traces and the code of the others is unloaded, and the retrace warning names what changed.
#include "frontend/trace_cache.h"

#include <fmt/format.h>
#include <phijit/phijit.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "codegen/jit_engine.h"
#include "test_helpers.h"

using namespace phijit;
using phijit::codegen::JitEngine;
using phijit::detail::TraceCache;

namespace {

// Runs `fn` on a thread of its own and returns the message of what it threw ("" when it
// returned). A call still running after 60 s is a deadlock: the process ends with a failure
// instead of hanging the suite.
std::string message_of_call(std::function<void()> fn) {
  auto done = std::make_shared<std::promise<std::string>>();
  std::future<std::string> result = done->get_future();
  std::thread([done, fn = std::move(fn)] {
    try {
      fn();
      done->set_value("");
    } catch (const std::exception& e) {
      done->set_value(e.what());
    }
  }).detach();
  if (result.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    std::fprintf(stderr, "FAILED: the call did not return within 60 s (a deadlock)\n");
    std::_Exit(1);
  }
  return result.get();
}

Tensor line(int64_t n) { return linspace(0, 1, spatial("x", n)); }

// Counts the live objects a cache holds.
struct Probe {
  static inline std::atomic<int> live{0};
  int id;
  explicit Probe(int i) : id(i) { ++live; }
  ~Probe() { --live; }
};

auto make_probe(int id) {
  return [id](const TraceCache<Probe>::Miss&) { return std::make_shared<Probe>(id); };
}

}  // namespace

// --- TraceCache -------------------------------------------------------------------------------

TEST_CASE("trace cache: keeps its most recently used entries and frees the others", "[trace_cache]") {
  {
    TraceCache<Probe> cache("test", 3);
    for (int i = 0; i < 10; ++i) CHECK(cache.get_or_make(fmt::format("k{}", i), make_probe(i))->id == i);
    CHECK(cache.trace_count() == 10);
    CHECK(cache.size() == 3);
    CHECK(Probe::live == 3);
    // k7..k9 are kept; using k7 makes k8 the least recently used one, so k10 evicts it.
    CHECK(cache.get_or_make("k7", make_probe(-1))->id == 7);
    CHECK(cache.get_or_make("k10", make_probe(10))->id == 10);
    CHECK(cache.get_or_make("k7", make_probe(-1))->id == 7);
    CHECK(cache.get_or_make("k9", make_probe(-1))->id == 9);
    CHECK(cache.get_or_make("k8", make_probe(-8))->id == -8);  // made again
    CHECK(cache.trace_count() == 12);
    CHECK(Probe::live == 3);
    // An entry in use outlives its eviction, and is freed when its user lets go.
    std::shared_ptr<Probe> held = cache.get_or_make("k9", make_probe(-1));
    cache.clear();
    CHECK(cache.size() == 0);
    CHECK(Probe::live == 1);
    held.reset();
    CHECK(Probe::live == 0);
  }
  CHECK(Probe::live == 0);
}

TEST_CASE("trace cache: a make that throws keeps nothing, and the next call makes it again",
          "[trace_cache]") {
  TraceCache<Probe> cache("test", 4);
  auto fails = [](const TraceCache<Probe>::Miss&) -> std::shared_ptr<Probe> { throw Error("no"); };
  CHECK_THROWS_WITH(cache.get_or_make("k", fails), "no");
  CHECK(cache.size() == 0);
  CHECK(cache.get_or_make("k", make_probe(1))->id == 1);
  CHECK(cache.size() == 1);
}

TEST_CASE("trace cache: each make learns its count and the key made before it", "[trace_cache]") {
  TraceCache<Probe> cache("test", 4);
  std::vector<std::pair<int, std::string>> seen;
  auto record = [&](const TraceCache<Probe>::Miss& miss) {
    seen.emplace_back(miss.count, miss.previous_key);
    return std::make_shared<Probe>(miss.count);
  };
  cache.get_or_make("a", record);
  cache.get_or_make("b", record);
  cache.get_or_make("a", record);  // a hit: no make
  cache.get_or_make("c", record);
  CHECK(seen == std::vector<std::pair<int, std::string>>{{1, ""}, {2, "a"}, {3, "b"}});
}

TEST_CASE("trace cache: a make that asks for a key it is making raises an Error instead of waiting",
          "[trace_cache][errors]") {
  TraceCache<Probe> cache("my_kind", 4);
  std::function<std::shared_ptr<Probe>(const TraceCache<Probe>::Miss&)> make_a, make_b;
  make_a = [&](const TraceCache<Probe>::Miss&) { return cache.get_or_make("b", make_b); };
  make_b = [&](const TraceCache<Probe>::Miss&) { return cache.get_or_make("a", make_a); };  // a → b → a
  const std::string message = message_of_call([&] { cache.get_or_make("a", make_a); });
  CHECK_THAT(message,
             Catch::Contains("my_kind") && Catch::Contains("called itself") && Catch::Contains("'a'"));
  // Nothing stays locked or half made.
  CHECK(cache.size() == 0);
  CHECK(cache.get_or_make("a", make_probe(1))->id == 1);
  CHECK(cache.get_or_make("b", make_probe(2))->id == 2);
}

TEST_CASE("trace cache: threads asking for a key being made wait for it, and it is made once",
          "[trace_cache][threads]") {
  TraceCache<Probe> cache("test", 4);
  std::atomic<int> makes{0};
  auto slow = [&](const TraceCache<Probe>::Miss&) {
    ++makes;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the others arrive meanwhile
    return std::make_shared<Probe>(7);
  };
  std::vector<std::shared_ptr<Probe>> got(8);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < got.size(); ++t)
    threads.emplace_back([&, t] { got[t] = cache.get_or_make("k", slow); });
  for (std::thread& t : threads) t.join();
  CHECK(makes == 1);
  for (const auto& p : got) CHECK(p == got[0]);
}

// --- recursion inside traced functions ------------------------------------------------------

TEST_CASE("a jit function that calls itself with a concrete tensor while traced raises an Error",
          "[jit][errors]") {
  const Tensor c = line(5);
  std::function<Tensor(const Tensor&)> self;
  auto f = jit_compile([&](const Tensor& x) { return x + self(c); });  // c has x's key
  self = [&](const Tensor& x) { return f(x); };
  for (int attempt = 0; attempt < 2; ++attempt) {  // the first error leaves nothing locked
    const std::string message = message_of_call([&] { f(line(5)); });
    CHECK_THAT(message, Catch::Contains("jit_compile:") && Catch::Contains("called itself") &&
                            Catch::Contains("(xˢ=5)") && Catch::Contains("traced"));
  }
  // Other keys of the same function still trace and run.
  auto g = jit_compile([&](const Tensor& x) { return x * 2.0; });
  CHECK_VALUES(g(line(3)), {0.0, 1.0, 2.0});
}

TEST_CASE("a cycle of concrete calls between two keys of a jit function raises an Error", "[jit][errors]") {
  const Tensor a = line(4), b = line(6);
  std::function<Tensor(const Tensor&)> self;
  // Each shape calls the function on the other one: (x=4) → (x=6) → (x=4).
  auto f = jit_compile([&](const Tensor& x) { return x + sum(self(x.shape() == a.shape() ? b : a)); });
  self = [&](const Tensor& x) { return f(x); };
  const std::string message = message_of_call([&] { f(a); });
  CHECK_THAT(message, Catch::Contains("jit_compile:") && Catch::Contains("called itself") &&
                          Catch::Contains("(xˢ=4)"));
  CHECK(f.trace_count() == 2);
}

TEST_CASE("a jit function may call itself with a concrete tensor of another key while traced", "[jit]") {
  const Tensor small = line(3);
  std::function<Tensor(const Tensor&)> self;
  auto f = jit_compile([&](const Tensor& x) {
    if (x.shape() == small.shape()) return x * 2.0;
    return x + sum(self(small));  // traced on its own; its result is a constant of this trace
  });
  self = [&](const Tensor& x) { return f(x); };
  CHECK(message_of_call([&] { CHECK_VALUES(f(line(5)), {3.0, 3.25, 3.5, 3.75, 4.0}); }).empty());
  CHECK(f.trace_count() == 2);
}

TEST_CASE("gradient and jit_compile_linear functions that call themselves while traced raise an Error",
          "[jit][errors]") {
  const Tensor c = line(5);
  std::function<std::vector<Tensor>(const Tensor&)> grad_self;
  auto grad = gradient([&](const Tensor& x) { return sum(x * x) + grad_self(c).at(0); });
  grad_self = [&](const Tensor& x) { return grad(x); };
  CHECK_THAT(message_of_call([&] { grad(line(5)); }),
             Catch::Contains("gradient:") && Catch::Contains("called itself"));

  std::function<Tensor(const Tensor&)> linear_self;
  auto linear = jit_compile_linear([&](const Tensor& x) { return x * 2.0 + linear_self(c); });
  linear_self = [&](const Tensor& x) { return linear(x); };
  CHECK_THAT(message_of_call([&] { linear(line(5)); }),
             Catch::Contains("jit_compile_linear:") && Catch::Contains("called itself"));
}

// --- bounded traces and unloaded code ---------------------------------------------------------

TEST_CASE("a jit function keeps PHIJIT_MAX_TRACES traces; the code of the others is unloaded", "[jit]") {
  ScopedEnv env("PHIJIT_MAX_TRACES", "4");
  JitEngine& engine = JitEngine::instance();
  // The engine also keeps the code of its last kRecentLoads loads: counts are taken without it.
  auto loaded_in_use = [&] {
    engine.unload_unused();
    return engine.loaded_count();
  };
  const int64_t loaded = loaded_in_use();
  const size_t keys = engine.cached_key_count();
  {
    // One kernel per shape.
    auto f = jit_compile([](const Tensor& x) { return x * 2.0 + 1.0; });
    for (int64_t n = 1; n <= 10; ++n) {
      CHECK(f(line(n)).to_vector().front() == 1.0);
      CHECK(engine.loaded_count() <= loaded + JitEngine::kRecentLoads);
      CHECK(loaded_in_use() == loaded + std::min<int64_t>(n, 4));
    }
    CHECK(f.trace_count() == 10);
    CHECK(engine.cached_key_count() == keys + 4);
    f(line(10));  // kept
    CHECK(f.trace_count() == 10);
    CHECK_VALUES(f(line(2)), {1.0, 3.0});  // evicted: traced and compiled again
    CHECK(f.trace_count() == 11);
    CHECK(loaded_in_use() == loaded + 4);
    // clear_cache lets go of every kernel of the function.
    f.clear_cache();
    CHECK(loaded_in_use() == loaded);
    CHECK(engine.cached_key_count() == keys);
    f(line(3));
    CHECK(loaded_in_use() == loaded + 1);
  }
  // So does destroying it.
  CHECK(loaded_in_use() == loaded);
  CHECK(engine.cached_key_count() == keys);
}

TEST_CASE("kernels shared by live traces stay loaded when one of their functions goes", "[jit]") {
  JitEngine& engine = JitEngine::instance();
  engine.unload_unused();
  const int64_t loaded = engine.loaded_count();
  auto f = jit_compile([](const Tensor& x) { return x * 2.0 + 1.0; });
  f(line(7));
  {
    auto g = jit_compile([](const Tensor& x) { return x * 2.0 + 1.0; });  // the same kernel
    const int64_t compiles = engine.compile_count();
    g(line(7));
    CHECK(engine.compile_count() == compiles);
    CHECK(engine.loaded_count() == loaded + 1);
  }
  engine.unload_unused();
  CHECK(engine.loaded_count() == loaded + 1);
  CHECK_VALUES(f(line(3)), {1.0, 2.0, 3.0});
  CHECK_VALUES(f(line(7)), {1.0, 1.0 + 1.0 / 3, 1.0 + 2.0 / 3, 2.0, 1.0 + 4.0 / 3, 1.0 + 5.0 / 3, 3.0});
}

TEST_CASE("a double argument that changes every call keeps at most 64 traces by default", "[jit]") {
  JitEngine& engine = JitEngine::instance();
  engine.unload_unused();
  const int64_t loaded = engine.loaded_count();
  auto step = jit_compile([](const Tensor& u, double dt) { return u + dt * laplace(u); });
  const Tensor u = line(8);
  for (int i = 1; i <= 65; ++i) {
    const double dt = 1e-3 * i;
    CHECK_VALUES(step(u, dt), (u + dt * laplace(u)).to_vector());
  }
  CHECK(step.trace_count() == 65);
  CHECK(engine.loaded_count() == loaded + 1);  // a scalar is a parameter: one kernel for all
  step(u, 65e-3);                              // the 64 latest are kept
  step(u, 2e-3);
  CHECK(step.trace_count() == 65);
  step(u, 1e-3);  // the oldest was evicted
  CHECK(step.trace_count() == 66);
  // As a tensor, the time step is an input of one trace.
  auto tensor_step = jit_compile([](const Tensor& u, const Tensor& dt) { return u + dt * laplace(u); });
  for (int i = 1; i <= 20; ++i) {
    const double dt = 1e-3 * i;
    CHECK_VALUES(tensor_step(u, Tensor(dt)), (u + dt * laplace(u)).to_vector());
  }
  CHECK(tensor_step.trace_count() == 1);
}

TEST_CASE("PHIJIT_MAX_TRACES that is not a positive number warns and keeps the default", "[jit]") {
  ScopedEnv env("PHIJIT_MAX_TRACES", "0");
  std::string out = capture_stderr([] { jit_compile([](const Tensor& x) { return x; }); });
  CHECK_THAT(out, Catch::Contains("PHIJIT_MAX_TRACES='0'") && Catch::Contains("64"));
  CHECK(detail::max_traces_from_env() == detail::kDefaultMaxTraces);
  ScopedEnv valid("PHIJIT_MAX_TRACES", "5");
  CHECK(detail::max_traces_from_env() == 5);
}

// --- the retrace warning ----------------------------------------------------------------------

TEST_CASE("the retrace warning names the number argument that changed and how to make it a tensor", "[jit]") {
  auto f = jit_compile([](const Tensor& x, const std::string&, double dt) { return x * dt; });
  const Tensor x = line(4);
  std::string out = capture_stderr([&] {
    for (int i = 1; i <= 8; ++i) f(x, "euler", 0.125 * i);
  });
  CHECK(f.trace_count() == 8);
  CHECK_THAT(out, Catch::Contains("traced 8 times") &&
                      Catch::Contains("Argument 2 (a number) changed from "
                                      "0.875 to 1") &&
                      Catch::Contains("const Tensor&") && Catch::Contains("Tensor(1)"));
}

TEST_CASE("the retrace warning names a changed tensor shape, and a string holding the key's separator",
          "[jit]") {
  auto f = jit_compile([](const Tensor& x, const std::string& mode) { return mode.empty() ? x : x * 2.0; });
  std::string shapes = capture_stderr([&] {
    for (int64_t n = 1; n <= 8; ++n) f(line(n), "a;b");
  });
  CHECK_THAT(shapes, Catch::Contains("Argument 0 (a tensor) changed from float64(xˢ=7) to float64(xˢ=8)"));
  auto g = jit_compile([](const Tensor& x, const std::string& mode) { return mode.empty() ? x : x * 2.0; });
  std::string strings = capture_stderr([&] {
    for (int i = 1; i <= 8; ++i) g(line(2), fmt::format("a;{}", i));
  });
  CHECK_THAT(strings, Catch::Contains("Argument 1 changed from \"a;7\" to \"a;8\""));
}

TEST_CASE("the retrace warning of a gradient counts arguments as jit_compile does", "[jit]") {
  auto g = gradient([](const Tensor& x, double a) { return sum(x * x) * a; });
  std::string out = capture_stderr([&] {
    for (int i = 1; i <= 8; ++i) g(line(3), static_cast<double>(i));
  });
  CHECK_THAT(out,
             Catch::Contains("gradient:") && Catch::Contains("Argument 1 (a number) changed from 7 to 8"));
}
