#include <phijit/phijit.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "codegen/jit_engine.h"
#include "test_helpers.h"

using namespace phijit;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  return max(abs(a - b), a.shape()).item();
}

Tensor grid(uint64_t seed, int64_t nx = 19, int64_t ny = 11) {
  return random_normal(batch("b", 2) & spatial("x", nx) & spatial("y", ny), seed);
}

int64_t compiles() { return codegen::JitEngine::instance().compile_count(); }

std::string run_probe(const std::string& cache_dir, const std::string& env = "") {
  std::string cmd = env + " PHIJIT_CACHE_DIR='" + cache_dir + "' " + PHIJIT_CACHE_PROBE + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  int status = pclose(p);
  INFO(out);
  REQUIRE(status == 0);
  return out;
}

}  // namespace

TEST_CASE("jit_compile matches eager evaluation of a fused stencil expression") {
  auto eager = [](const Tensor& x, const Tensor& y) {
    return sin(x) * 2.0 + laplace(y, extrapolation::PERIODIC) - x / (abs(y) + 1.0) +
           shift(x, "y", -2, extrapolation::ZERO_GRADIENT) *
               pad(y, {{"x", {1, 1}}}, extrapolation::ONE).slice("x", 1, -1);
  };
  auto f = jit_compile(eager);
  Tensor x = grid(1), y = grid(2);
  CHECK(max_abs_diff(f(x, y), eager(x, y)) < 1e-12);
  CHECK(f.trace_count() == 1);
}

TEST_CASE("jit_compile returns tuples and vectors, with reductions") {
  auto f =
      jit_compile([](const Tensor& x) { return std::make_tuple(sum(x), max(x, "x"), mean(x * x, "x,y")); });
  Tensor x = grid(3, 300, 7);
  auto [s, m, mm] = f(x);
  CHECK(max_abs_diff(s, sum(x)) < 1e-9);
  CHECK(max_abs_diff(m, max(x, "x")) == 0);
  CHECK(max_abs_diff(mm, mean(x * x, "x,y")) < 1e-12);
  auto g = jit_compile([](const Tensor& x) { return std::vector<Tensor>{x + 1.0, min(x)}; });
  std::vector<Tensor> r = g(x);
  REQUIRE(r.size() == 2);
  CHECK(max_abs_diff(r[0], x + 1.0) == 0);
  CHECK(max_abs_diff(r[1], min(x)) == 0);
}

TEST_CASE("jit_compile retraces per shape, dtype and auxiliary value, and clear_cache drops traces") {
  auto f =
      jit_compile([](const Tensor& x, double scale, bool negate) { return negate ? -x * scale : x * scale; });
  Tensor x = grid(4);
  CHECK(f(x, 2.0, false).to_vector() == (x * 2.0).to_vector());
  CHECK(f(x, 2.0, false).to_vector() == (x * 2.0).to_vector());
  CHECK(f.trace_count() == 1);
  CHECK(f(x, 3.0, false).to_vector() == (x * 3.0).to_vector());
  CHECK(f.trace_count() == 2);
  CHECK(f(x, 3.0, true).to_vector() == (-x * 3.0).to_vector());
  CHECK(f.trace_count() == 3);
  f(grid(4, 5, 5), 3.0, true);
  CHECK(f.trace_count() == 4);
  f(x.astype(DType::f32), 3.0, true);
  CHECK(f.trace_count() == 5);
  f.clear_cache();
  f(x, 2.0, false);
  CHECK(f.trace_count() == 6);
}

TEST_CASE("string and integer auxiliary arguments are part of the key") {
  auto f = jit_compile([](const Tensor& x, const std::string& mode, int power) {
    Tensor y = mode == "square" ? x * x : abs(x);
    for (int i = 1; i < power; ++i) y = y * x;
    return y;
  });
  Tensor x = grid(12);
  CHECK(max_abs_diff(f(x, "square", 1), x * x) == 0);
  CHECK(max_abs_diff(f(x, "abs", 1), abs(x)) == 0);
  CHECK(max_abs_diff(f(x, "abs", 2), abs(x) * x) == 0);
  CHECK(max_abs_diff(f(x, std::string("abs"), 2), abs(x) * x) == 0);
  CHECK(f.trace_count() == 3);
}

TEST_CASE("traces that differ only in a scalar value share one compiled module") {
  auto f = jit_compile([](const Tensor& x, double a) { return exp(x * a) + a; });
  Tensor x = grid(5);
  f(x, 0.25);
  int64_t before = compiles();
  Tensor y = f(x, 0.5);
  CHECK(f.trace_count() == 2);
  CHECK(compiles() == before);
  CHECK(max_abs_diff(y, exp(x * 0.5) + 0.5) < 1e-12);
  // A captured tensor is a constant of the trace and reaches the kernel as a buffer too.
  Tensor c = grid(6);
  auto g = jit_compile([c](const Tensor& x) { return x * c; });
  CHECK(max_abs_diff(g(x), x * c) == 0);
}

TEST_CASE("a jit function called from eight threads traces and compiles each key once") {
  auto f = jit_compile([](const Tensor& x) { return tanh(x) * laplace(x) + 1.0; });
  Tensor x = grid(7, 64, 33);
  Tensor expected = tanh(x) * laplace(x) + 1.0;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        if (max_abs_diff(f(x), expected) > 1e-12) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(wrong == 0);
  CHECK(f.trace_count() == 1);
}

TEST_CASE("jit functions nest, and reading a tracer's values is a clear error") {
  auto inner = jit_compile([](const Tensor& x) { return x * x; });
  auto outer = jit_compile([&](const Tensor& x) { return inner(x) + 1.0; });
  Tensor x = grid(8);
  CHECK(max_abs_diff(outer(x), x * x + 1.0) == 0);
  CHECK(inner.trace_count() == 0);  // inlined into the outer trace
  auto bad = jit_compile([](const Tensor& x) { return x * sum(x).item(); });
  CHECK_THROWS_WITH(bad(x), Catch::Contains("traced") && Catch::Contains("item()"));
}

TEST_CASE("large inputs are split over the thread pool and stay exact") {
  auto f = jit_compile([](const Tensor& x) { return std::make_tuple(x * 2.0 - 1.0, sum(x), max(x, "y")); });
  Tensor x = random_uniform(spatial("x", 700) & spatial("y", 300), 0, 1, 9);
  auto [a, s, m] = f(x);
  CHECK(max_abs_diff(a, x * 2.0 - 1.0) == 0);
  CHECK(s.item() == Approx(sum(x).item()).epsilon(1e-12));
  CHECK(max_abs_diff(m, max(x, "y")) == 0);
}

TEST_CASE("PHIJIT_DUMP=ir prints the graph after tracing and after each pass, with phase times") {
  ScopedEnv env("PHIJIT_DUMP", "ir");
  auto f = jit_compile([](const Tensor& x) { return (x * 1.0) + 0.0; });
  std::string out = capture_stderr([&] { f(grid(10)); });
  CHECK_THAT(out, Catch::Contains("=== IR after tracing ==="));
  CHECK_THAT(out, Catch::Contains("=== IR after simplify_algebra"));  // x * 1 → x
  CHECK_THAT(out, Catch::Contains("unchanged"));
  CHECK_THAT(out, Catch::Contains("LLVM compile"));
  CHECK_THAT(out, Catch::Contains("trace"));
  CHECK_THAT(out, Catch::Contains("=== run"));
}

TEST_CASE("a second process reuses the disk cache and a corrupt cache file is replaced") {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("phijit_cache_test_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  CHECK_THAT(run_probe(dir.string()), Catch::Contains("compiles=1 disk_hits=0"));
  CHECK_THAT(run_probe(dir.string()), Catch::Contains("compiles=0 disk_hits=1"));
  // PHIJIT_DUMP=asm on a disk-cache hit: no listing, but a line saying where the code came from.
  std::string dumped = run_probe(dir.string(), "PHIJIT_DUMP=llvm,asm");
  CHECK_THAT(dumped,
             Catch::Contains("was loaded from the disk cache") && !Catch::Contains("phijit assembly of"));
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path());
  REQUIRE(files.size() == 1);
  // Truncate it: the next process must ignore it, compile, and write a good one again.
  std::filesystem::resize_file(files[0], std::filesystem::file_size(files[0]) / 2);
  CHECK_THAT(run_probe(dir.string()), Catch::Contains("compiles=1 disk_hits=0"));
  CHECK_THAT(run_probe(dir.string()), Catch::Contains("compiles=0 disk_hits=1"));
  // Garbage of the right length is rejected by the checksum.
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(files[0]) - 16));
    f.write("garbage-garbage!", 16);
  }
  CHECK_THAT(run_probe(dir.string()), Catch::Contains("compiles=1 disk_hits=0"));
  CHECK_THAT(run_probe(""), Catch::Contains("compiles=1 disk_hits=0"));  // empty disables it
  std::filesystem::remove_all(dir);
}

TEST_CASE("the eighth trace of one function logs a warning that names the cause") {
  auto f = jit_compile([](const Tensor& x, double a) { return x * a; });
  Tensor x = grid(11);
  std::string out = capture_stderr([&] {
    for (int i = 1; i <= 8; ++i) f(x, static_cast<double>(i));
  });
  CHECK(f.trace_count() == 8);
  CHECK_THAT(out, Catch::Contains("traced 8 times") && Catch::Contains("auxiliary argument"));
}
