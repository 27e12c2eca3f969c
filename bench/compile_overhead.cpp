// bench_compile_overhead: what jit_compile costs besides running kernels.
//  (a) a cold compile of a ~50-op elementwise/stencil function (disk cache off, a fresh shape
//      per repetition), split into trace, passes and LLVM phases from phijit's debug log;
//  (b) a disk-cache hit: one child process compiles into a fresh PHIJIT_CACHE_DIR, a second
//      child loads the same functions from it;
//  (c) the per-call overhead of a cached jit function on a 1-element input;
//  (d) the first call of a heat rollout of 1, 10 and 100 identical steps (disk cache off, a new
//      shape per call), against the 10-step rollout as the baseline.
// The child processes are this binary re-executed with --disk-child.
#include <phijit/phijit.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "codegen/jit_engine.h"

using namespace phijit;

namespace {

// --- phijit's debug log, captured to read the phase timings ---------------------------------

struct Phases {
  double trace_ms = -1, compile_ms = -1;  // JitCore: trace; compile_graph (passes + codegen)
  int nodes = -1;
  // JitEngine, summed over the LLVM compiles (or disk loads) of one call: a program may have
  // several of them, which may run in parallel, so these are CPU times, not wall times.
  double llvm_ms = -1, build_ms = -1, optimize_ms = -1, codegen_ms = -1, link_ms = -1;
  double disk_load_ms = -1;
  int llvm_compiles = 0, disk_loads = 0;
};

// Adds a logged time to a sum that starts as -1 ("not logged").
void add_to(double& sum, double ms) { sum = (sum < 0 ? 0 : sum) + ms; }

class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // The phases logged since the last call.
  Phases take() {
    std::lock_guard lock(mutex_);
    Phases p = phases_;
    phases_ = Phases{};
    return p;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string s(msg.payload.data(), msg.payload.size());
    // The retrace warning is expected here: the benchmark traces at a new shape on purpose.
    if (msg.level >= spdlog::level::warn && s.find("has been traced") == std::string::npos) {
      std::fprintf(stderr, "[phijit] %s\n", s.c_str());
    }
    if (size_t at = s.find("' in "); s.find("traced key '") != std::string::npos && at != std::string::npos) {
      std::sscanf(s.c_str() + at, "' in %lf ms (%d nodes), compiled in %lf ms", &phases_.trace_ms,
                  &phases_.nodes, &phases_.compile_ms);
    } else if (size_t at = s.find(": compiled in "); at != std::string::npos) {
      double llvm = 0, build = 0, optimize = 0, codegen = 0, link = 0;
      std::sscanf(s.c_str() + at, ": compiled in %lf ms (build IR %lf, optimize %lf, codegen %lf, link %lf)",
                  &llvm, &build, &optimize, &codegen, &link);
      add_to(phases_.llvm_ms, llvm);
      add_to(phases_.build_ms, build);
      add_to(phases_.optimize_ms, optimize);
      add_to(phases_.codegen_ms, codegen);
      add_to(phases_.link_ms, link);
      ++phases_.llvm_compiles;
    } else if (size_t at = s.find(": disk cache hit, loaded in "); at != std::string::npos) {
      double load = 0;
      std::sscanf(s.c_str() + at, ": disk cache hit, loaded in %lf ms", &load);
      add_to(phases_.disk_load_ms, load);
      ++phases_.disk_loads;
    }
  }
  void flush_() override {}

 private:
  Phases phases_;
};

std::shared_ptr<CaptureSink> g_sink;
std::shared_ptr<spdlog::logger> g_logger;

// Registers the "phijit" logger before phijit creates its own (runtime/log.h lets the
// application do so); debug level, so every trace and compile reports its timing.
void capture_phijit_log() {
  g_sink = std::make_shared<CaptureSink>();
  g_logger = std::make_shared<spdlog::logger>("phijit", g_sink);
  g_logger->set_level(spdlog::level::debug);
  spdlog::register_logger(g_logger);
}

// --- the function under test ---------------------------------------------------------------

// Two steps of a made-up explicit update: ~26 ops each (sin, exp, sqrt, where, clip, shifts
// with ZERO and PERIODIC boundaries, a laplace). The traced node count is printed.
Tensor fifty_ops(const Tensor& u, const Tensor& v) {
  using extrapolation::PERIODIC;
  using extrapolation::ZERO;
  Tensor r = u;
  for (int step = 0; step < 2; ++step) {
    Tensor g = r * v - sin(r) * 0.3;
    Tensor sx = shift(r, "x", 1, ZERO) - shift(r, "x", -1, ZERO);
    Tensor sy = shift(v, "y", 1, PERIODIC) + shift(v, "y", -1, PERIODIC);
    Tensor w = where(r > 0.0, sqrt(abs(g)), exp(-(g * g)));
    r = clip(g + 0.5 * sx * sy - w / (1.0 + abs(v)) + 0.1 * laplace(r, ZERO), -10, 10);
  }
  return r;
}

// About the same op count with no stencils: sin, exp, sqrt, abs, where, clip, arithmetic.
Tensor fifty_elementwise(const Tensor& u, const Tensor& v) {
  Tensor r = u;
  for (int step = 0; step < 2; ++step) {
    Tensor g = r * v - sin(r) * 0.3;
    Tensor w = where(r > 0.0, sqrt(abs(g)), exp(-(g * g)));
    r = clip(g + 0.5 * g * v - w / (1.0 + abs(v)) + 0.1 * (r - v) * (r + v), -10, 10);
  }
  return r;
}

Shape grid(int64_t nx, int64_t ny) { return spatial("x", nx) & spatial("y", ny); }

struct FirstCall {
  double first_ms, run_ms;
  Phases phases;
};

// Times the first call of `f` at a new shape (trace + compile or load + run) and the second
// call (run only).
template <class F>
FirstCall first_call(const F& f, int64_t nx, int64_t ny) {
  Tensor u = random_normal(grid(nx, ny), 1), v = random_normal(grid(nx, ny), 2);
  g_sink->take();
  auto t0 = bench::Clock::now();
  Tensor y1 = f(u, v);
  double first = bench::seconds_since(t0);
  Phases phases = g_sink->take();
  // The run time of a call: the median of a few (a single one is noisy at this size).
  std::vector<double> runs;
  for (int i = 0; i < 5; ++i) {
    auto t1 = bench::Clock::now();
    Tensor y2 = f(u, v);
    runs.push_back(bench::seconds_since(t1));
  }
  return {first * 1e3, bench::median(runs) * 1e3, phases};
}

double median_of(const std::vector<FirstCall>& calls, double (*get)(const FirstCall&)) {
  std::vector<double> v;
  for (const FirstCall& c : calls) v.push_back(get(c));
  return bench::median(v);
}

// Cold compiles of `f` at `reps` new shapes (64.. x ny); prints the phases, returns the median
// of first call - run in ms.
template <class F>
double cold_compiles(const char* title, const F& f, int reps, int64_t ny) {
  std::vector<FirstCall> cold;
  for (int k = 0; k < reps; ++k) cold.push_back(first_call(f, 64 + k, ny));
  auto med = [&](double (*get)(const FirstCall&)) { return median_of(cold, get); };
  double cold_ms = med([](const FirstCall& c) { return c.first_ms - c.run_ms; });
  std::printf("  %s; %d traced nodes\n", title, cold[0].phases.nodes);
  std::printf("    first call - run      %8.3f ms   (first call %.3f ms, run %.3f ms)\n", cold_ms,
              med([](const FirstCall& c) { return c.first_ms; }),
              med([](const FirstCall& c) { return c.run_ms; }));
  std::printf("      trace               %8.3f ms\n",
              med([](const FirstCall& c) { return c.phases.trace_ms; }));
  std::printf("      compile_graph       %8.3f ms\n",
              med([](const FirstCall& c) { return c.phases.compile_ms; }));
  std::printf("        LLVM compiles %d, CPU time summed over them %.3f ms\n", cold[0].phases.llvm_compiles,
              med([](const FirstCall& c) { return c.phases.llvm_ms; }));
  std::printf("        LLVM: build IR %.3f, optimize %.3f, codegen %.3f, link %.3f ms\n",
              med([](const FirstCall& c) { return c.phases.build_ms; }),
              med([](const FirstCall& c) { return c.phases.optimize_ms; }),
              med([](const FirstCall& c) { return c.phases.codegen_ms; }),
              med([](const FirstCall& c) { return c.phases.link_ms; }));
  return cold_ms;
}

// --- (d) a rollout of identical steps ---------------------------------------------------------

// `steps` explicit steps of a heat equation with a cubic sink, u += 0.1·Δu − 0.01·u³: the
// rollout the compile-once-per-distinct-kernel issue measured.
Tensor heat_rollout(const Tensor& u0, int steps) {
  Tensor u = u0;
  for (int i = 0; i < steps; ++i) u = u + 0.1 * laplace(u) - 0.01 * u * u * u;
  return u;
}

constexpr int kRolloutSteps[] = {1, 10, 100};
constexpr int kRolloutRounds = 3;

struct RolloutCall {
  double first_ms = 0, run_ms = 0;
  int64_t llvm_compiles = 0;
  Phases phases;
};

// The first call of a `steps`-step rollout on a 256 × ny grid that no call used before (so no
// kernel of it is in the memory cache), then one more call for the run time alone.
RolloutCall rollout_first_call(int steps, int64_t ny) {
  auto rollout = jit_compile(heat_rollout);
  Tensor u = random_uniform(grid(256, ny), 0, 1, 3);
  auto& engine = codegen::JitEngine::instance();
  const int64_t compiles0 = engine.compile_count();
  g_sink->take();
  auto t0 = bench::Clock::now();
  Tensor first = rollout(u, steps);
  RolloutCall call;
  call.first_ms = bench::seconds_since(t0) * 1e3;
  call.phases = g_sink->take();
  call.llvm_compiles = engine.compile_count() - compiles0;
  auto t1 = bench::Clock::now();
  Tensor again = rollout(u, steps);
  call.run_ms = bench::seconds_since(t1) * 1e3;
  return call;
}

// Returns the median first call of the 100-step rollout divided by that of the 10-step one.
double rollout_compiles() {
  std::map<int, std::vector<RolloutCall>> calls;
  int64_t ny = 256;
  // Interleaved rounds, so that a change in the machine's load hits every step count alike.
  for (int round = 0; round < kRolloutRounds; ++round) {
    for (int steps : kRolloutSteps) calls[steps].push_back(rollout_first_call(steps, ny++));
  }
  std::printf(
      "\n(d) heat rollout u += 0.1*laplace(u) - 0.01*u^3 on 256 x (256..%lld), disk cache off, a new grid\n"
      "    per call; median of %d interleaved rounds\n",
      static_cast<long long>(ny - 1), kRolloutRounds);
  std::printf(
      "    steps  first call (ms)  first - run  run (ms)  LLVM compiles  trace (ms)  compile_graph (ms)\n");
  std::map<int, double> first_ms;
  for (int steps : kRolloutSteps) {
    const std::vector<RolloutCall>& c = calls[steps];
    auto med = [&](double (*get)(const RolloutCall&)) {
      std::vector<double> v;
      for (const RolloutCall& call : c) v.push_back(get(call));
      return bench::median(v);
    };
    first_ms[steps] = med([](const RolloutCall& r) { return r.first_ms; });
    std::printf("    %5d  %15.1f  %11.1f  %8.2f  %13.0f  %10.2f  %18.1f\n", steps, first_ms[steps],
                med([](const RolloutCall& r) { return r.first_ms - r.run_ms; }),
                med([](const RolloutCall& r) { return r.run_ms; }),
                med([](const RolloutCall& r) { return static_cast<double>(r.llvm_compiles); }),
                med([](const RolloutCall& r) { return r.phases.trace_ms; }),
                med([](const RolloutCall& r) { return r.phases.compile_ms; }));
  }
  const double ratio = first_ms[100] / first_ms[10];
  std::printf(
      "RESULT rollout first call: 1 step %.1f ms, 10 steps %.1f ms, 100 steps %.1f ms; 100/10 = %.2f\n",
      first_ms[1], first_ms[10], first_ms[100], ratio);
  return ratio;
}

constexpr int kDiskFunctions = 11;

// The child of part (b): PHIJIT_CACHE_DIR is set by the parent. Warms the engine up on one
// shape, then calls the function at kDiskFunctions further shapes and reports medians.
int disk_child() {
  capture_phijit_log();
  auto f = jit_compile(fifty_ops);
  first_call(f, 40, 40);  // the LLJIT, the thread pool and libmvec are set up here
  std::vector<FirstCall> calls;
  for (int k = 0; k < kDiskFunctions; ++k) calls.push_back(first_call(f, 48 + k, 40));
  auto& engine = codegen::JitEngine::instance();
  std::printf(
      "CHILD compiles=%lld disk_hits=%lld first_minus_run_ms=%.4f run_ms=%.4f load_ms=%.4f trace_ms=%.4f "
      "compile_graph_ms=%.4f llvm_ms=%.4f\n",
      static_cast<long long>(engine.compile_count()), static_cast<long long>(engine.disk_hit_count()),
      median_of(calls, [](const FirstCall& c) { return c.first_ms - c.run_ms; }),
      median_of(calls, [](const FirstCall& c) { return c.run_ms; }),
      median_of(calls, [](const FirstCall& c) { return c.phases.disk_load_ms; }),
      median_of(calls, [](const FirstCall& c) { return c.phases.trace_ms; }),
      median_of(calls, [](const FirstCall& c) { return c.phases.compile_ms; }),
      median_of(calls, [](const FirstCall& c) { return c.phases.llvm_ms; }));
  return 0;
}

struct ChildReport {
  long long compiles = -1, disk_hits = -1;
  double first_minus_run_ms = -1, run_ms = -1, load_ms = -1, trace_ms = -1, compile_graph_ms = -1,
         llvm_ms = -1;
};

ChildReport run_child(const std::string& cache_dir) {
  std::string cmd =
      "PHIJIT_CACHE_DIR='" + cache_dir + "' /proc/" + std::to_string(getpid()) + "/exe --disk-child";
  ChildReport r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char line[1024];
  while (std::fgets(line, sizeof line, p) != nullptr) {
    if (std::strncmp(line, "CHILD ", 6) != 0) {
      std::fputs(line, stdout);
      continue;
    }
    std::sscanf(
        line,
        "CHILD compiles=%lld disk_hits=%lld first_minus_run_ms=%lf run_ms=%lf load_ms=%lf trace_ms=%lf "
        "compile_graph_ms=%lf llvm_ms=%lf",
        &r.compiles, &r.disk_hits, &r.first_minus_run_ms, &r.run_ms, &r.load_ms, &r.trace_ms,
        &r.compile_graph_ms, &r.llvm_ms);
  }
  if (pclose(p) != 0) r.compiles = -1;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "--disk-child") == 0) return disk_child();
  // Before the first phijit call: the JIT engine reads it once. Empty disables the disk cache.
  setenv("PHIJIT_CACHE_DIR", "", 1);
  capture_phijit_log();
  bench::print_header("bench_compile_overhead");
  bool all_met = true;

  // (a) cold compiles ---------------------------------------------------------------------
  const int reps = bench::reps_from_env(11);
  auto f = jit_compile(fifty_ops);
  FirstCall init = first_call(f, 32, 64);  // includes creating the LLJIT, the pool, libmvec
  std::printf(
      "\n(a) cold compiles, disk cache off, a new shape per repetition (x = 64..; y = 64, 65, 66 for the\n"
      "    three functions, so that none reuses a kernel another compiled), median of %d;\n"
      "    the first call in the process (LLJIT set-up included) took %.2f ms\n",
      reps, init.first_ms);
  double cold_ms = cold_compiles(
      "fifty_ops: ~50 elementwise + stencil ops (sin, exp, sqrt, abs, where, clip,\n"
      "    shifts ZERO/PERIODIC, laplace)",
      f, reps, 64);
  // The same amount of elementwise work without stencils: no boundary loops to generate.
  double cold_elementwise_ms = cold_compiles("fifty_elementwise: ~50 elementwise ops, no stencils",
                                             jit_compile(fifty_elementwise), reps, 65);
  // The fixed cost of a compile: a 2-op kernel.
  double cold_trivial_ms =
      cold_compiles("trivial: u*2 + v, 2 ops",
                    jit_compile([](const Tensor& u, const Tensor& v) { return u * 2.0 + v; }), reps, 66);
  std::printf("    LLVM compiles in this process: %lld\n",
              static_cast<long long>(codegen::JitEngine::instance().compile_count()));
  std::printf("RESULT cold compile %.3f ms (elementwise only %.3f ms, trivial %.3f ms)\n", cold_ms,
              cold_elementwise_ms, cold_trivial_ms);
  // The compiler-core issue asks for <= 30 ms (DESIGN.md estimates ~10 ms).
  all_met &= bench::print_goal("(a) cold compile, first call - run", cold_ms, 30.0, "ms");
  all_met &= bench::print_goal("(a) same, elementwise only", cold_elementwise_ms, 30.0, "ms");

  // (b) disk cache hit in a fresh process ---------------------------------------------------
  char dir_template[] = "/tmp/phijit_bench_cache_XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    std::printf("FAILED: cannot create a temporary cache directory\n");
    return 1;
  }
  std::string dir = dir_template;
  ChildReport writer = run_child(dir);
  ChildReport reader = run_child(dir);
  std::filesystem::remove_all(dir);
  std::printf(
      "\n(b) disk cache: child A compiles %d shapes of fifty_ops into a fresh PHIJIT_CACHE_DIR, child B\n"
      "    (a new process) calls the same shapes; both set up the engine on another shape first\n",
      kDiskFunctions);
  std::printf("    child A: compiles %lld, disk hits %lld, first call - run %.3f ms (LLVM %.3f ms)\n",
              writer.compiles, writer.disk_hits, writer.first_minus_run_ms, writer.llvm_ms);
  std::printf("    child B: compiles %lld, disk hits %lld, first call - run %.3f ms (run %.3f ms)\n",
              reader.compiles, reader.disk_hits, reader.first_minus_run_ms, reader.run_ms);
  std::printf("      trace %.3f ms, compile_graph %.3f ms, of which disk read + link %.3f ms\n",
              reader.trace_ms, reader.compile_graph_ms, reader.load_ms);
  // Child B must load from disk exactly what child A compiled (one object per distinct kernel).
  if (writer.compiles <= 0 || reader.compiles != 0 || reader.disk_hits != writer.compiles) {
    std::printf("FAILED: child B should compile nothing and hit the disk %lld times\n", writer.compiles);
    return 1;
  }
  std::printf("RESULT disk hit %.3f ms (object load alone %.3f ms)\n", reader.first_minus_run_ms,
              reader.load_ms);
  all_met &= bench::print_goal("(b) disk-cache hit, first call - run", reader.first_minus_run_ms, 1.0, "ms");

  // (c) per-call overhead ----------------------------------------------------------------
  g_logger->set_level(spdlog::level::warn);
  auto g = jit_compile([](const Tensor& x) { return x * 2.0 + 1.0; });
  Tensor one = tensor({1.5}, spatial("x", 1));
  Tensor check = g(one);
  if (check.item() != 4.0) {
    std::printf("FAILED: g(1.5) = %g, expected 4\n", check.item());
    return 1;
  }
  constexpr int kCalls = 100000;
  for (int i = 0; i < 1000; ++i) Tensor y = g(one);
  std::vector<double> per_call;
  per_call.reserve(kCalls);
  auto t_all = bench::Clock::now();
  for (int i = 0; i < kCalls; ++i) {
    auto t0 = bench::Clock::now();
    Tensor y = g(one);
    per_call.push_back(bench::seconds_since(t0));
  }
  double total = bench::seconds_since(t_all);
  bench::Timing t = bench::summarize(per_call);
  std::sort(per_call.begin(), per_call.end());
  std::printf(
      "\n(c) per-call overhead: y = x*2 + 1 on a 1-element tensor, cached, %d calls timed one by one\n",
      kCalls);
  std::printf("    median %.3f us, min %.3f us, p90 %.3f us, p99 %.3f us, mean (incl. timer) %.3f us\n",
              t.median * 1e6, t.min * 1e6, per_call[kCalls * 9 / 10] * 1e6, per_call[kCalls * 99 / 100] * 1e6,
              total / kCalls * 1e6);
  std::printf("RESULT per-call overhead %.3f us\n", t.median * 1e6);
  all_met &= bench::print_goal("(c) per-call overhead, 1 element", t.median * 1e6, 5.0, "us");

  // (d) compile once per distinct kernel ----------------------------------------------------
  g_logger->set_level(spdlog::level::debug);
  const double rollout_ratio = rollout_compiles();
  all_met &= bench::print_goal("(d) rollout first call, 100 steps / 10 steps", rollout_ratio, 2.0, "");
  std::printf("\n%s\n", all_met ? "all goals met" : "some goals missed");
  return 0;
}
