// bench_gradient_rollout: the cost of a gradient through a simulation.
//  (a) 20 steps of u ← u + 0.1·laplace(u) − 0.01·u³ on 256² (zero-gradient boundaries) and
//      l2_loss at the end, jit-compiled: time(value and gradient) / time(value), goal ≤ 2.5;
//      the same simulation written by hand in C++ (forward, and a hand-written adjoint loop),
//      timed in the same run, with the ratio of phijit's gradient to the hand-written one.
//  (b) first-call time (trace + passes + compile + run) of 1, 10 and 100 steps, forward and
//      gradient; the goal: 100 steps ≤ 2× 10 steps. Disk cache off, a fresh shape per call.
//  (c) peak RSS of the gradient of 100 and 1000 steps on 256², each in a child process,
//      against the states a reverse pass must keep (steps × 256² × 8 bytes).
#include <phijit/phijit.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench/bench_util.h"
#include "bench/gradient_rollout_baselines.h"

using namespace phijit;

namespace {

Tensor step(const Tensor& u) { return u + 0.1 * laplace(u, extrapolation::ZERO_GRADIENT) - 0.01 * u * u * u; }

auto rollout_loss(int steps) {
  return [steps](const Tensor& u) {
    Tensor v = u;
    for (int k = 0; k < steps; ++k) v = step(v);
    return l2_loss(v);
  };
}

Tensor initial_state(int64_t nx, int64_t ny) {
  return 0.5 * random_normal(spatial("x", nx) & spatial("y", ny), 1);
}

double ms(double seconds) { return seconds * 1e3; }

// Returns phijit's time(value and gradient) / time(value) on an n × n grid.
double runtime_ratio(int64_t kN) {
  constexpr int kSteps = 20;
  const int reps = bench::reps_from_env(15);
  Tensor u0 = initial_state(kN, kN);
  auto value = jit_compile(rollout_loss(kSteps));
  auto value_and_grad = jit_compile([](const Tensor& u) { return gradient(rollout_loss(kSteps))(u); });

  std::vector<double> u0_values = u0.to_vector();
  int64_t n = kN * kN;
  bench::Array a = bench::make_array(n), b = bench::make_array(n), lambda = bench::make_array(n),
               work = bench::make_array(n), states = bench::make_array((kSteps + 1) * n);
  double hand_loss = 0, phijit_loss = 0;
  Tensor phijit_grad;
  std::vector<bench::Timing> t = bench::time_interleaved(
      {{"phijit value", [&] { phijit_loss = value(u0).item(); }},
       {"phijit value and gradient", [&] { phijit_grad = value_and_grad(u0)[1]; }},
       {"hand value",
        [&] { hand_loss = bench::rollout_loss(u0_values.data(), kN, kN, kSteps, a.get(), b.get()); }},
       {"hand value and gradient",
        [&] {
          bench::rollout_loss_and_gradient(u0_values.data(), kN, kN, kSteps, states.get(), lambda.get(),
                                           work.get());
        }}},
      2, reps);
  std::vector<double> g = phijit_grad.to_vector();
  std::printf("\n(a) %d steps on %lld² (one state: %lld KiB), median of %d interleaved runs\n", kSteps,
              static_cast<long long>(kN), static_cast<long long>(kN * kN * 8 / 1024), reps);
  std::printf(
      "    check: loss phijit %.12g hand %.12g; max |gradient difference| %.3g (max |gradient| %.3g)\n",
      phijit_loss, hand_loss, bench::max_abs_diff(g.data(), lambda.get(), n),
      bench::max_abs_diff(g.data(), std::vector<double>(static_cast<size_t>(n), 0.0).data(), n));
  const char* names[] = {"phijit value", "phijit value and gradient", "hand value",
                         "hand value and gradient"};
  for (size_t k = 0; k < t.size(); ++k) {
    std::printf("    %-28s %8.3f ms (min %.3f, max %.3f)\n", names[k], ms(t[k].median), ms(t[k].min),
                ms(t[k].max));
  }
  double ratio = t[1].median / t[0].median;
  std::printf("RESULT time(value and gradient) / time(value): phijit %.2f, hand-written %.2f\n", ratio,
              t[3].median / t[2].median);
  std::printf("RESULT phijit / hand-written: value %.2f, value and gradient %.2f\n",
              t[0].median / t[2].median, t[1].median / t[3].median);
  return ratio;
}

// Trace, passes, compile and one run, on a shape no earlier call used.
template <class F>
double first_call_ms(F f, int64_t ny) {
  Tensor u = initial_state(64, ny);
  auto t0 = bench::Clock::now();
  f(u);
  return ms(bench::seconds_since(t0));
}

bool first_calls() {
  std::printf(
      "\n(b) first call (trace, passes, compile, run) on 64 × ny, a new ny per call, disk cache off\n");
  int64_t ny = 64;
  first_call_ms(jit_compile(rollout_loss(1)), ny++);  // the LLJIT, the pool and libmvec are set up here
  const int reps = 3;
  double forward[3], backward[3];
  const int steps[3] = {1, 10, 100};
  for (int s = 0; s < 3; ++s) {
    std::vector<double> f, g;
    for (int r = 0; r < reps; ++r) {
      f.push_back(first_call_ms(jit_compile(rollout_loss(steps[s])), ny++));
      g.push_back(first_call_ms(
          jit_compile([s = steps[s]](const Tensor& u) { return gradient(rollout_loss(s))(u); }), ny++));
    }
    forward[s] = bench::median(f);
    backward[s] = bench::median(g);
    std::printf("    %3d steps: forward %9.1f ms, value and gradient %9.1f ms (medians of %d)\n", steps[s],
                forward[s], backward[s], reps);
  }
  std::printf("RESULT first call 100 steps / 10 steps: forward %.2f, gradient %.2f\n",
              forward[2] / forward[1], backward[2] / backward[1]);
  bool met = bench::print_goal("(b) first call 100 / 10 steps, forward", forward[2] / forward[1], 2.0, "x");
  return bench::print_goal("(b) first call 100 / 10 steps, gradient", backward[2] / backward[1], 2.0, "x") &&
         met;
}

// The child of (c): one gradient of `steps` steps on 256², then its peak RSS.
int rss_child(int steps) {
  auto g = jit_compile([steps](const Tensor& u) { return gradient(rollout_loss(steps), {0}, false)(u)[0]; });
  Tensor grad = g(initial_state(256, 256));
  std::vector<double> v = grad.to_vector();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("CHILD peak_rss_kib=%ld first=%g\n", usage.ru_maxrss, v[0]);
  return 0;
}

double child_peak_rss_mib(int steps) {
  std::string cmd = "/proc/" + std::to_string(getpid()) + "/exe --rss-child " + std::to_string(steps);
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  long kib = -1;
  char line[512];
  while (std::fgets(line, sizeof line, p) != nullptr) std::sscanf(line, "CHILD peak_rss_kib=%ld", &kib);
  pclose(p);
  return static_cast<double>(kib) / 1024;
}

void peak_memory() {
  std::printf("\n(c) peak RSS of a jit-compiled gradient of a rollout on 256² (each in a fresh process)\n");
  for (int steps : {100, 1000}) {
    double states_mib = static_cast<double>(steps) * 256 * 256 * 8 / (1024.0 * 1024.0);
    double rss = child_peak_rss_mib(steps);
    std::printf(
        "RESULT %4d steps: peak RSS %.0f MiB; the states a reverse pass keeps: %.0f MiB (ratio %.2f)\n",
        steps, rss, states_mib, rss / states_mib);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "--rss-child") == 0) return rss_child(std::atoi(argv[2]));
  // libgomp's idle threads spin, taking a core from phijit's kernels timed right after them (and
  // the hand loops lose theirs to phijit's workers). It reads this when it is loaded, so the
  // benchmark restarts itself with it set.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);
  }
  setenv("PHIJIT_CACHE_DIR", "", 1);  // before the first phijit call: no compiled code from disk
  bench::print_header("bench_gradient_rollout");
  // Parts to run: "abc" by default, or e.g. `bench_gradient_rollout a`.
  std::string parts = argc >= 2 ? argv[1] : "abc";
  bool met = true;
  if (parts.find('a') != std::string::npos) {
    // 256² is the goal's size; at 64² every state of the rollout fits in the L2 cache, which
    // shows how much of the ratio is memory traffic.
    runtime_ratio(64);
    met = bench::print_goal("(a) 256²: value and gradient / value", runtime_ratio(256), 2.5, "x") && met;
  }
  if (parts.find('b') != std::string::npos) met = first_calls() && met;
  if (parts.find('c') != std::string::npos) peak_memory();
  std::printf("\n%s\n", met ? "all goals met" : "some goals missed");
  return 0;
}
