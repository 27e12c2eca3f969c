// Helpers shared by the benchmarks: timing with warm-up and medians, the machine description
// and the "goal met / goal missed" lines. Header-only, no phijit dependency.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

inline double max_abs_diff(const double* x, const double* y, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

// 64-byte aligned arrays for the baselines, touched once so that no page fault is timed.
struct AlignedFree {
  void operator()(double* p) const { std::free(p); }
};
using Array = std::unique_ptr<double[], AlignedFree>;
inline Array make_array(int64_t n) {
  auto* p = static_cast<double*>(std::aligned_alloc(64, static_cast<size_t>(n) * sizeof(double)));
  if (p == nullptr) std::abort();
  for (int64_t i = 0; i < n; ++i) p[i] = 0;
  return Array(p);
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Timing {
  double median = 0, min = 0, max = 0;  // seconds
  int reps = 0;
};

inline Timing summarize(const std::vector<double>& samples) {
  Timing t;
  t.median = median(samples);
  t.min = *std::min_element(samples.begin(), samples.end());
  t.max = *std::max_element(samples.begin(), samples.end());
  t.reps = static_cast<int>(samples.size());
  return t;
}

// Runs f `warmup` times untimed, then `reps` times timed; returns the statistics in seconds.
template <class F>
Timing time_it(F&& f, int warmup, int reps) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> samples;
  samples.reserve(static_cast<size_t>(reps));
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    f();
    samples.push_back(seconds_since(t0));
  }
  return summarize(samples);
}

// Lets worker threads that spin after a parallel region (libgomp does, for a while) go to
// sleep before the next variant is timed: on 2 cores a spinning thread halves the other's speed.
inline void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(30)); }

struct Variant {
  std::string name;
  std::function<void()> run;
};

// Times the variants in interleaved rounds (each round runs every variant once, in order),
// so that a machine whose load changes over seconds slows all of them alike. Each variant is
// first run `warmup` times untimed. Returns one Timing per variant, in seconds.
inline std::vector<Timing> time_interleaved(const std::vector<Variant>& variants, int warmup, int reps) {
  for (const Variant& v : variants) {
    for (int i = 0; i < warmup; ++i) v.run();
  }
  std::vector<std::vector<double>> samples(variants.size());
  for (int r = 0; r < reps; ++r) {
    for (size_t k = 0; k < variants.size(); ++k) {
      settle();
      auto t0 = Clock::now();
      variants[k].run();
      samples[k].push_back(seconds_since(t0));
    }
  }
  std::vector<Timing> result;
  for (const auto& s : samples) result.push_back(summarize(s));
  return result;
}

// BENCH_REPS overrides the number of timed repetitions (never fewer than 3).
inline int reps_from_env(int fallback) {
  if (const char* s = std::getenv("BENCH_REPS")) {
    int n = std::atoi(s);
    if (n >= 3) return n;
  }
  return fallback;
}

inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

inline std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v == nullptr ? fallback : v;
}

// The benchmark's title and the machine it runs on.
inline void print_header(const char* title) {
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) < 0) load[0] = load[1] = load[2] = -1;
  std::printf("==== %s ====\n", title);
  std::printf("machine: %s, nproc %ld (hardware threads %u), load average %.2f %.2f %.2f\n",
              cpu_model().c_str(), sysconf(_SC_NPROCESSORS_ONLN), std::thread::hardware_concurrency(),
              load[0], load[1], load[2]);
  std::printf("PHIJIT_NUM_THREADS=%s OMP_NUM_THREADS=%s\n", env_or("PHIJIT_NUM_THREADS", "(unset)").c_str(),
              env_or("OMP_NUM_THREADS", "(unset)").c_str());
}

// One line "goal: ... measured: ... -> goal met|goal missed" (lower is better).
inline bool print_goal(const char* what, double measured, double goal, const char* unit) {
  bool met = measured <= goal;
  std::printf("GOAL %-44s goal <= %.3f %s, measured %.3f %s -> %s\n", what, goal, unit, measured, unit,
              met ? "goal met" : "goal missed");
  return met;
}

}  // namespace bench
