// The JIT engine end to end: hand-built modules are compiled, cached in memory and on disk,
// and called; broken modules raise phijit::Error without taking the process down.
#include "codegen/jit_engine.h"

#include <fmt/format.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "codegen/host_compiler.h"
#include "ir/error.h"

namespace fs = std::filesystem;
using phijit::codegen::HostCompiler;
using phijit::codegen::JitEngine;
using phijit::codegen::KernelFn;
using phijit::codegen::LoadedObject;

namespace {

// The engine reads PHIJIT_CACHE_DIR once, when first used: point it at a fresh directory
// before any test runs, so that runs neither see nor litter each other's objects.
struct TestCacheDir {
  fs::path path;
  TestCacheDir() {
    std::string pattern = (fs::temp_directory_path() / "phijit-jit-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = pattern;
    ::setenv("PHIJIT_CACHE_DIR", pattern.c_str(), 1);
  }
  ~TestCacheDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};
const TestCacheDir kCacheDir;

using Body = std::function<llvm::Value*(llvm::IRBuilder<>&, llvm::Module&, llvm::Value*)>;

// Adds `void name(i64 begin, i64 end, i32 block, ptr params)` computing
// params[0][i] = body(params[1][i]) over doubles for i in [begin, end).
void add_map_kernel(llvm::Module& m, const std::string& name, const Body& body) {
  llvm::LLVMContext& ctx = m.getContext();
  llvm::IRBuilder<> b(ctx);
  llvm::Type* i64 = b.getInt64Ty();
  llvm::Type* ptr = b.getPtrTy();
  llvm::Type* f64 = b.getDoubleTy();
  auto* type = llvm::FunctionType::get(b.getVoidTy(), {i64, i64, b.getInt32Ty(), ptr}, false);
  auto* f = llvm::Function::Create(type, llvm::Function::ExternalLinkage, name, m);
  llvm::Value* begin = f->getArg(0);
  llvm::Value* end = f->getArg(1);
  llvm::Value* params = f->getArg(3);
  auto* entry = llvm::BasicBlock::Create(ctx, "entry", f);
  auto* loop = llvm::BasicBlock::Create(ctx, "loop", f);
  auto* exit = llvm::BasicBlock::Create(ctx, "exit", f);

  b.SetInsertPoint(entry);
  llvm::Value* out = b.CreateLoad(ptr, params, "out");
  llvm::Value* in = b.CreateLoad(ptr, b.CreateConstGEP1_64(ptr, params, 1), "in");
  b.CreateCondBr(b.CreateICmpSLT(begin, end), loop, exit);

  b.SetInsertPoint(loop);
  llvm::PHINode* i = b.CreatePHI(i64, 2, "i");
  i->addIncoming(begin, entry);
  llvm::Value* x = b.CreateLoad(f64, b.CreateGEP(f64, in, i), "x");
  b.CreateStore(body(b, m, x), b.CreateGEP(f64, out, i));
  llvm::Value* next = b.CreateAdd(i, b.getInt64(1), "next");
  i->addIncoming(next, loop);
  b.CreateCondBr(b.CreateICmpSLT(next, end), loop, exit);

  b.SetInsertPoint(exit);
  b.CreateRetVoid();
}

Body times(double factor) {
  return [factor](llvm::IRBuilder<>& b, llvm::Module&, llvm::Value* x) {
    return b.CreateFMul(llvm::ConstantFP::get(b.getDoubleTy(), factor), x);
  };
}

Body exp_intrinsic() {
  return [](llvm::IRBuilder<>& b, llvm::Module&, llvm::Value* x) {
    return b.CreateUnaryIntrinsic(llvm::Intrinsic::exp, x);
  };
}

// A call to libm's tanh, declared free of side effects as phijit's kernels declare it.
Body tanh_call() {
  return [](llvm::IRBuilder<>& b, llvm::Module& m, llvm::Value* x) {
    llvm::FunctionCallee tanh = m.getOrInsertFunction("tanh", x->getType(), x->getType());
    llvm::CallInst* call = b.CreateCall(tanh, {x});
    call->setDoesNotAccessMemory();
    call->setDoesNotThrow();
    return call;
  };
}

// Runs `kernel` over [begin, end) of `in` and returns the output (zero elsewhere).
std::vector<double> run(KernelFn kernel, const std::vector<double>& in, int64_t begin, int64_t end) {
  std::vector<double> out(in.size(), 0.0);
  std::vector<void*> params = {out.data(), const_cast<double*>(in.data())};
  kernel(begin, end, 0, params.data());
  return out;
}

std::vector<double> iota(size_t n, double start, double step) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + step * static_cast<double>(i);
  return v;
}

// Whether the object calls a libmvec variant (_ZGV<isa>N<lanes>v_<fn>) of `fn`.
bool calls_vector_variant(const std::string& object, const std::string& fn) {
  const std::string suffix = "v_" + fn + std::string(1, '\0');
  for (size_t at = object.find(suffix); at != std::string::npos; at = object.find(suffix, at + 1)) {
    if (at >= 7 && object.substr(at - 7, 7).find("_ZGV") != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("jit: a loaded kernel computes over its range", "[jit]") {
  JitEngine& jit = JitEngine::instance();
  const int64_t compiles = jit.compile_count();
  LoadedObject obj =
      jit.load("test: out = 2 * in", {"k"}, [](llvm::Module& m) { add_map_kernel(m, "k", times(2)); });
  CHECK(jit.compile_count() == compiles + 1);
  REQUIRE(obj.kernels.size() == 1);
  REQUIRE(obj.kernels[0] != nullptr);
  CHECK(obj.keep_alive != nullptr);

  const std::vector<double> in = iota(100, -3.0, 0.25);
  std::vector<double> out = run(obj.kernels[0], in, 0, 100);
  for (size_t i = 0; i < in.size(); ++i) CHECK(out[i] == 2 * in[i]);

  out = run(obj.kernels[0], in, 10, 20);
  for (size_t i = 0; i < in.size(); ++i) CHECK(out[i] == (i >= 10 && i < 20 ? 2 * in[i] : 0.0));
}

TEST_CASE("jit: loading the same key again does not recompile", "[jit]") {
  JitEngine& jit = JitEngine::instance();
  int builds = 0;
  auto build = [&](llvm::Module& m) {
    ++builds;
    add_map_kernel(m, "k", times(2));
  };
  LoadedObject first = jit.load("test: out = 2 * in, twice", {"k"}, build);
  const int64_t compiles = jit.compile_count();
  const int64_t disk_hits = jit.disk_hit_count();
  LoadedObject second = jit.load("test: out = 2 * in, twice", {"k"}, build);
  CHECK(builds == 1);
  CHECK(jit.compile_count() == compiles);
  CHECK(jit.disk_hit_count() == disk_hits);
  CHECK(second.kernels.at(0) == first.kernels.at(0));
  const std::vector<double> in = iota(7, 1.0, 1.0);
  CHECK(run(second.kernels[0], in, 0, 7) == iota(7, 2.0, 2.0));
}

TEST_CASE("jit: equal symbol names in different modules do not clash", "[jit]") {
  JitEngine& jit = JitEngine::instance();
  LoadedObject two =
      jit.load("test: k doubles", {"k"}, [](llvm::Module& m) { add_map_kernel(m, "k", times(2)); });
  LoadedObject three =
      jit.load("test: k triples", {"k"}, [](llvm::Module& m) { add_map_kernel(m, "k", times(3)); });
  const std::vector<double> in = {1.0, 2.0};
  CHECK(run(two.kernels[0], in, 0, 2) == std::vector<double>{2.0, 4.0});
  CHECK(run(three.kernels[0], in, 0, 2) == std::vector<double>{3.0, 6.0});
}

TEST_CASE("jit: several kernels of one module, asked for in any order", "[jit]") {
  JitEngine& jit = JitEngine::instance();
  auto build = [](llvm::Module& m) {
    add_map_kernel(m, "k0", times(2));
    add_map_kernel(m, "k1", times(5));
  };
  LoadedObject both = jit.load("test: two kernels", {"k0", "k1"}, build);
  LoadedObject reversed = jit.load("test: two kernels", {"k1", "k0"}, build);
  REQUIRE(both.kernels.size() == 2);
  CHECK(reversed.kernels == std::vector<KernelFn>{both.kernels[1], both.kernels[0]});
  CHECK(run(both.kernels[1], {1.0}, 0, 1) == std::vector<double>{5.0});
}

TEST_CASE("jit: a module that fails the verifier raises phijit::Error", "[jit][errors]") {
  JitEngine& jit = JitEngine::instance();
  // A block without a terminator.
  auto broken = [](llvm::Module& m) {
    llvm::IRBuilder<> b(m.getContext());
    auto* type = llvm::FunctionType::get(b.getVoidTy(), {}, false);
    auto* f = llvm::Function::Create(type, llvm::Function::ExternalLinkage, "k", m);
    b.SetInsertPoint(llvm::BasicBlock::Create(m.getContext(), "entry", f));
    b.CreateAdd(b.getInt64(1), b.getInt64(2));
  };
  const int64_t compiles = jit.compile_count();
  CHECK_THROWS_AS(jit.load("test: broken", {"k"}, broken), phijit::Error);
  CHECK_THROWS_WITH(jit.load("test: broken", {"k"}, broken), Catch::Contains("invalid"));
  CHECK(jit.compile_count() == compiles);
  // The process and the engine carry on.
  LoadedObject fine =
      jit.load("test: fine after broken", {"k"}, [](llvm::Module& m) { add_map_kernel(m, "k", times(2)); });
  CHECK(run(fine.kernels[0], {4.0}, 0, 1) == std::vector<double>{8.0});
}

TEST_CASE("jit: errors while building propagate and are not cached", "[jit][errors]") {
  JitEngine& jit = JitEngine::instance();
  CHECK_THROWS_AS(
      jit.load("test: build throws", {"k"}, [](llvm::Module&) { throw phijit::ShapeError("no"); }),
      phijit::ShapeError);
  LoadedObject retried =
      jit.load("test: build throws", {"k"}, [](llvm::Module& m) { add_map_kernel(m, "k", times(2)); });
  CHECK(run(retried.kernels[0], {1.5}, 0, 1) == std::vector<double>{3.0});
}

TEST_CASE("jit: asking for a symbol the module lacks raises phijit::Error", "[jit][errors]") {
  JitEngine& jit = JitEngine::instance();
  auto build = [](llvm::Module& m) { add_map_kernel(m, "k", times(2)); };
  CHECK_THROWS_AS(jit.load("test: missing symbol", {"nope"}, build), phijit::Error);
  LoadedObject obj = jit.load("test: missing symbol", {"k"}, build);
  CHECK(run(obj.kernels[0], {1.0}, 0, 1) == std::vector<double>{2.0});
  // Also when the object comes from the memory cache.
  CHECK_THROWS_AS(jit.load("test: missing symbol", {"k", "nope"}, build), phijit::Error);
}

TEST_CASE("jit: exp vectorizes through libmvec and stays accurate", "[jit][libmvec]") {
  auto build = [](llvm::Module& m) { add_map_kernel(m, "k", exp_intrinsic()); };
  const HostCompiler compiler;
  CHECK(calls_vector_variant(compiler.compile("exp test", build, nullptr), "exp"));

  LoadedObject obj = JitEngine::instance().load("test: exp", {"k"}, build);
  const std::vector<double> in = iota(1000, -30.0, 0.061);
  const std::vector<double> out = run(obj.kernels[0], in, 0, 1000);
  for (size_t i = 0; i < in.size(); ++i) {
    INFO("exp(" << in[i] << ")");
    CHECK(std::abs(out[i] - std::exp(in[i])) <= 1e-14 * std::exp(in[i]));
  }
}

TEST_CASE("jit: tanh (no intrinsic in LLVM 19's preset) vectorizes too", "[jit][libmvec]") {
  auto build = [](llvm::Module& m) { add_map_kernel(m, "k", tanh_call()); };
  const HostCompiler compiler;
  CHECK(calls_vector_variant(compiler.compile("tanh test", build, nullptr), "tanh"));

  LoadedObject obj = JitEngine::instance().load("test: tanh", {"k"}, build);
  const std::vector<double> in = iota(1001, -5.0, 0.01);
  const std::vector<double> out = run(obj.kernels[0], in, 0, 1001);
  for (size_t i = 0; i < in.size(); ++i) {
    INFO("tanh(" << in[i] << ")");
    CHECK(std::abs(out[i] - std::tanh(in[i])) <= 1e-14 * std::abs(std::tanh(in[i])) + 1e-300);
  }
}

TEST_CASE("jit: concurrent loads of one key compile it once", "[jit][threads]") {
  JitEngine& jit = JitEngine::instance();
  const int64_t compiles = jit.compile_count();
  std::atomic<int> builds{0};
  auto build = [&](llvm::Module& m) {
    ++builds;
    // Keeps the compile in flight while the other threads arrive.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    add_map_kernel(m, "k", times(7));
  };
  // Each thread keeps what it loaded: the code lives only as long as a LoadedObject does.
  std::vector<LoadedObject> objects(8);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < objects.size(); ++t) {
    threads.emplace_back([&, t] { objects[t] = jit.load("test: concurrent", {"k"}, build); });
  }
  for (std::thread& t : threads) t.join();
  CHECK(builds == 1);
  CHECK(jit.compile_count() == compiles + 1);
  for (const LoadedObject& o : objects) {
    REQUIRE(o.kernels.at(0) == objects[0].kernels.at(0));
  }
  CHECK(run(objects[0].kernels[0], {1.0}, 0, 1) == std::vector<double>{7.0});
}

namespace {

struct Baseline {
  int64_t loaded;
  size_t keys;
};
// The counts after unloading what only the recent loads keep, so that later counts are exact.
Baseline unload_unused(JitEngine& jit) {
  jit.unload_unused();
  return {jit.loaded_count(), jit.cached_key_count()};
}

}  // namespace

TEST_CASE("jit: an object no LoadedObject uses stays for the next recent loads, then is unloaded", "[jit]") {
  JitEngine& jit = JitEngine::instance();
  const Baseline base = unload_unused(jit);
  int builds = 0;
  auto build = [&](llvm::Module& m) {
    ++builds;
    add_map_kernel(m, "k", times(4));
  };
  std::optional<LoadedObject> first = jit.load("test: unloaded", {"k"}, build);
  std::optional<LoadedObject> second = jit.load("test: unloaded", {"k"}, build);
  CHECK(builds == 1);
  CHECK(jit.loaded_count() == base.loaded + 1);
  CHECK(jit.cached_key_count() == base.keys + 1);
  const KernelFn kernel = first->kernels.at(0);
  first.reset();
  second.reset();
  // Unused, but loaded recently: loading it again costs nothing.
  CHECK(jit.loaded_count() == base.loaded + 1);
  const int64_t compiles = jit.compile_count(), disk_hits = jit.disk_hit_count();
  CHECK(jit.load("test: unloaded", {"k"}, build).kernels.at(0) == kernel);
  CHECK(jit.compile_count() + jit.disk_hit_count() == compiles + disk_hits);
  // kRecentLoads other loads later it is gone, and its key with it.
  for (int i = 0; i < JitEngine::kRecentLoads; ++i) {
    jit.load(fmt::format("test: pushes out {}", i), {"k"},
             [&](llvm::Module& m) { add_map_kernel(m, "k", times(i)); });
  }
  CHECK(jit.loaded_count() == base.loaded + JitEngine::kRecentLoads);
  CHECK(jit.cached_key_count() == base.keys + JitEngine::kRecentLoads);
  jit.unload_unused();
  CHECK(jit.loaded_count() == base.loaded);
  CHECK(jit.cached_key_count() == base.keys);
  // Loading it again reads it from the disk cache (or compiles it) and links it anew.
  LoadedObject again = jit.load("test: unloaded", {"k"}, build);
  CHECK(jit.compile_count() + jit.disk_hit_count() == compiles + disk_hits + JitEngine::kRecentLoads + 1);
  CHECK(jit.loaded_count() == base.loaded + 1);
  CHECK(run(again.kernels.at(0), {2.0}, 0, 1) == std::vector<double>{8.0});
  // Code in use stays loaded whatever is loaded after it.
  jit.unload_unused();
  CHECK(jit.loaded_count() == base.loaded + 1);
  CHECK(run(again.kernels.at(0), {3.0}, 0, 1) == std::vector<double>{12.0});
}

TEST_CASE("jit: loading and releasing one key from many threads at once leaks nothing", "[jit][threads]") {
  JitEngine& jit = JitEngine::instance();
  const Baseline base = unload_unused(jit);
  constexpr int kThreads = 8, kRounds = 40;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        // Two keys, so that loads, unloads and waits for a compile interleave.
        const double factor = 2 + (t + r) % 2;
        LoadedObject obj = jit.load(fmt::format("test: load and release {}", factor), {"k"},
                                    [&](llvm::Module& m) { add_map_kernel(m, "k", times(factor)); });
        if (run(obj.kernels.at(0), {1.0, 2.0}, 0, 2) != std::vector<double>{factor, 2 * factor}) ++wrong;
        if (r % 4 == t % 4) jit.unload_unused();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  CHECK(wrong == 0);
  jit.unload_unused();
  CHECK(jit.loaded_count() == base.loaded);
  CHECK(jit.cached_key_count() == base.keys);
}

TEST_CASE("jit: of 200 objects loaded and released one after another, at most kRecentLoads stay", "[jit]") {
  // A new shape per call used to keep its code loaded for good (~38 KiB each).
  JitEngine& jit = JitEngine::instance();
  const Baseline base = unload_unused(jit);
  int64_t most = 0;
  for (int i = 0; i < 200; ++i) {
    LoadedObject obj = jit.load(fmt::format("test: one of many {}", i), {"k"},
                                [&](llvm::Module& m) { add_map_kernel(m, "k", times(i)); });
    REQUIRE(run(obj.kernels.at(0), {1.0}, 0, 1) == std::vector<double>{static_cast<double>(i)});
    most = std::max(most, jit.loaded_count() - base.loaded);
  }
  CHECK(most == JitEngine::kRecentLoads);
  CHECK(jit.cached_key_count() == base.keys + JitEngine::kRecentLoads);
  jit.unload_unused();
  CHECK(jit.loaded_count() == base.loaded);
  CHECK(jit.cached_key_count() == base.keys);
}

TEST_CASE("jit: concurrent loads of distinct keys compile and link each of them", "[jit][threads]") {
  // compile_schedule loads the distinct kernels of a program from the thread pool at once.
  JitEngine& jit = JitEngine::instance();
  const int64_t compiles = jit.compile_count();
  constexpr int kThreads = 8, kKeysPerThread = 4;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kKeysPerThread; ++k) {
        const double factor = 1 + t * kKeysPerThread + k;
        LoadedObject obj = jit.load(fmt::format("test: distinct concurrent {}", factor), {"k"},
                                    [&](llvm::Module& m) { add_map_kernel(m, "k", times(factor)); });
        if (run(obj.kernels.at(0), {1.0, 2.0}, 0, 2) != std::vector<double>{factor, 2 * factor}) ++wrong;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  CHECK(wrong == 0);
  CHECK(jit.compile_count() == compiles + kThreads * kKeysPerThread);
}

TEST_CASE("jit: compiled objects are written to the disk cache", "[jit][disk]") {
  JitEngine& jit = JitEngine::instance();
  REQUIRE(jit.cache_dir() == kCacheDir.path.string());
  jit.load("test: written to disk", {"k"}, [](llvm::Module& m) { add_map_kernel(m, "k", times(2)); });
  int objects = 0;
  for (const auto& e : fs::directory_iterator(kCacheDir.path)) {
    CHECK(e.path().extension() == ".o");  // no temporary files left behind
    ++objects;
  }
  CHECK(objects >= 1);
}

TEST_CASE("jit: PHIJIT_DUMP=llvm,asm prints the optimized IR and the assembly", "[jit][dump]") {
  // Captures stderr in a file for the duration of one compile.
  const fs::path captured = kCacheDir.path.parent_path() / fmt::format("phijit-dump-test-{}.txt", ::getpid());
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  REQUIRE(std::freopen(captured.c_str(), "w", stderr) != nullptr);
  ::setenv("PHIJIT_DUMP", "ir,llvm,asm", 1);
  std::string object;
  try {
    const HostCompiler compiler;
    object = compiler.compile(
        "dump_test", [](llvm::Module& m) { add_map_kernel(m, "k", times(2)); }, nullptr);
  } catch (...) {
  }
  ::unsetenv("PHIJIT_DUMP");
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);

  std::ifstream in(captured);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  fs::remove(captured);
  CHECK(object.substr(0, 4) ==
        "\x7f"
        "ELF");
  CHECK_THAT(text, Catch::Contains("phijit LLVM IR of dump_test") && Catch::Contains("define void @k(") &&
                       Catch::Contains("phijit assembly of dump_test") && Catch::Contains("k:"));
}
