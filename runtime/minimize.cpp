#include "runtime/minimize.h"

#include <fmt/format.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <memory>
#include <span>
#include <variant>

#include "ir/error.h"
#include "runtime/line_search.h"

namespace phijit::runtime {

MinimizeMethod parse_minimize_method(std::string_view name) {
  if (name == "auto" || name == "L-BFGS-B") return MinimizeMethod::lbfgs;
  if (name == "BFGS") return MinimizeMethod::bfgs;
  if (name == "GD") return MinimizeMethod::gd;
  throw Error(
      fmt::format("minimize: unknown method '{}'; the methods are auto, L-BFGS-B, BFGS and GD", name));
}

std::string_view minimize_method_name(MinimizeMethod method) {
  switch (method) {
    case MinimizeMethod::lbfgs: return "L-BFGS-B";
    case MinimizeMethod::bfgs: return "BFGS";
    case MinimizeMethod::gd: return "GD";
  }
  return "?";
}

namespace {

using Vec = std::span<double>;
using ConstVec = std::span<const double>;

double dot(ConstVec a, ConstVec b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// What a method remembers of each entry's steps, to turn a gradient into a search direction.
// The memory of all entries lives in flat arrays and a call touches only its entry's part, so
// entries advance on different threads.
class Directions {
 public:
  virtual ~Directions() = default;
  // d = −H g for each of the given entries (g and d: batch × n values).
  virtual void directions(std::span<const int64_t> entries, const Buffer& g, Buffer& d) const = 0;
  // Entry b stepped from x (gradient g) to x_new (gradient g_new).
  virtual void update(int64_t b, ConstVec x, ConstVec x_new, ConstVec g, ConstVec g_new) = 0;
  virtual void reset(int64_t b) = 0;
  virtual bool has_memory(int64_t b) const = 0;
};

// Gradient descent: H = I.
class SteepestDescent final : public Directions {
 public:
  explicit SteepestDescent(int64_t n) : n_(n) {}
  void directions(std::span<const int64_t> entries, const Buffer& g, Buffer& d) const override {
    for (int64_t b : entries) {
      for (int64_t i = b * n_; i < (b + 1) * n_; ++i) d.as<double>()[i] = -g.as<double>()[i];
    }
  }
  void update(int64_t, ConstVec, ConstVec, ConstVec, ConstVec) override {}
  void reset(int64_t) override {}
  bool has_memory(int64_t) const override { return false; }

 private:
  int64_t n_;
};

// A pair is kept only with positive curvature sᵀy, which keeps H positive definite.
bool curvature_ok(double sy, double ss, double yy) {
  return sy > 0 && sy * sy > 1e-20 * (ss * yy) && std::isfinite(sy);
}

// L-BFGS: H from the last kLbfgsPairs steps by the two-loop recursion, H₀ = (sᵀy / yᵀy) I. Each
// entry's pairs are a ring of kLbfgsPairs slots.
class Lbfgs final : public Directions {
 public:
  Lbfgs(int64_t batch, int64_t n)
      : n_(n),
        // Uninitialized (a slot is written before it is read) and recycled across calls by Buffer's
        // block cache: a minimize called in a loop does not fault in fresh pages for its pairs.
        pairs_(DType::f64, batch * kLbfgsPairs * 2 * n, Buffer::Uninitialized{}),
        rho_(DType::f64, batch * kLbfgsPairs, Buffer::Uninitialized{}),
        count_(static_cast<size_t>(batch), 0),
        newest_(static_cast<size_t>(batch), 0) {}

  // d = −H g by the two-loop recursion. Small problems (a batch of 2-D Rosenbrocks) run a group
  // of entries side by side, each entry a lane of short vectors; large ones run entry by entry,
  // their loops over the unknowns being long enough.
  void directions(std::span<const int64_t> entries, const Buffer& g, Buffer& d) const override {
    if (n_ > 4) {
      for (int64_t b : entries) two_loop_one(b, g, d);
      return;
    }
    for (size_t first = 0; first < entries.size(); first += kLanes) {
      std::span<const int64_t> group = entries.subspan(first, std::min(kLanes, entries.size() - first));
      switch (n_) {
        case 1: two_loop_lanes<1>(group, g, d); break;
        case 2: two_loop_lanes<2>(group, g, d); break;
        case 3: two_loop_lanes<3>(group, g, d); break;
        default: two_loop_lanes<4>(group, g, d); break;
      }
    }
  }

  void update(int64_t b, ConstVec x, ConstVec x_new, ConstVec g, ConstVec g_new) override {
    switch (n_) {
      case 1: store_pair<1>(b, x, x_new, g, g_new); break;
      case 2: store_pair<2>(b, x, x_new, g, g_new); break;
      case 3: store_pair<3>(b, x, x_new, g, g_new); break;
      case 4: store_pair<4>(b, x, x_new, g, g_new); break;
      default: store_pair<0>(b, x, x_new, g, g_new); break;
    }
  }
  void reset(int64_t b) override { count_[static_cast<size_t>(b)] = 0; }
  bool has_memory(int64_t b) const override { return count_[static_cast<size_t>(b)] > 0; }

 private:
  static constexpr size_t kLanes = 16;

  // Entry b's slot holding the pair k steps back (k = 0: the newest).
  int slot_back(int64_t b, int k) const {
    int at = newest_[static_cast<size_t>(b)] - k;
    return at < 0 ? at + kLbfgsPairs : at;
  }

  // The recursion for up to kLanes entries of kN ≤ 4 unknowns at once: their pairs are copied
  // newest first into lanes (entries innermost), so every step is a loop over the lanes that
  // the compiler vectorizes. A lane's missing pairs (fewer than kLbfgsPairs steps so far, or no
  // entry) are zeros with ρ = 0, which leave q unchanged.
  template <int kN>
  void two_loop_lanes(std::span<const int64_t> group, const Buffer& g, Buffer& d) const {
    constexpr size_t n = kN, L = kLanes;
    alignas(64) double s[kLbfgsPairs][n][L], y[kLbfgsPairs][n][L], rho[kLbfgsPairs][L], alpha[kLbfgsPairs][L];
    alignas(64) double q[n][L];
    int most = 0;
    for (size_t e = 0; e < group.size(); ++e) most = std::max(most, count_[static_cast<size_t>(group[e])]);
    const auto pairs = static_cast<size_t>(most);
    for (size_t e = 0; e < L; ++e) {
      int64_t b = e < group.size() ? group[e] : -1;
      int count = b >= 0 ? count_[static_cast<size_t>(b)] : 0;
      for (size_t i = 0; i < n; ++i) q[i][e] = b >= 0 ? g.as<double>()[b * n_ + static_cast<int64_t>(i)] : 0;
      for (size_t k = 0; k < pairs; ++k) {
        if (static_cast<int>(k) < count) {
          int sl = slot_back(b, static_cast<int>(k));
          const double* pair = pairs_.as<double>() + at(b, sl);
          for (size_t i = 0; i < n; ++i) {
            s[k][i][e] = pair[i];
            y[k][i][e] = pair[n + i];
          }
          rho[k][e] = rho_.as<double>()[static_cast<size_t>(b) * kLbfgsPairs + static_cast<size_t>(sl)];
        } else {
          for (size_t i = 0; i < n; ++i) s[k][i][e] = y[k][i][e] = 0;
          rho[k][e] = 0;
        }
      }
    }
    for (size_t k = 0; k < pairs; ++k) {  // newest first: q −= α_k y_k
      for (size_t e = 0; e < L; ++e) {
        double a = 0;
        for (size_t i = 0; i < n; ++i) a += s[k][i][e] * q[i][e];
        a *= rho[k][e];
        alpha[k][e] = a;
        for (size_t i = 0; i < n; ++i) q[i][e] -= a * y[k][i][e];
      }
    }
    if (pairs > 0) {  // H₀ = γ I with γ = sᵀy / yᵀy of the newest pair (1 without pairs)
      for (size_t e = 0; e < L; ++e) {
        double yy = 0;
        for (size_t i = 0; i < n; ++i) yy += y[0][i][e] * y[0][i][e];
        double gamma = rho[0][e] > 0 ? 1 / (rho[0][e] * yy) : 1.0;
        for (size_t i = 0; i < n; ++i) q[i][e] *= gamma;
      }
    }
    for (size_t k = pairs; k-- > 0;) {  // oldest first: q += (α_k − β) s_k
      for (size_t e = 0; e < L; ++e) {
        double beta = 0;
        for (size_t i = 0; i < n; ++i) beta += y[k][i][e] * q[i][e];
        double c = alpha[k][e] - rho[k][e] * beta;
        for (size_t i = 0; i < n; ++i) q[i][e] += c * s[k][i][e];
      }
    }
    for (size_t e = 0; e < group.size(); ++e) {
      for (size_t i = 0; i < n; ++i) d.as<double>()[group[e] * n_ + static_cast<int64_t>(i)] = -q[i][e];
    }
  }

  // The recursion for one entry (large n: the loops over the unknowns carry the work).
  void two_loop_one(int64_t b, const Buffer& g, Buffer& d) const {
    const auto n = static_cast<size_t>(n_);
    const int count = count_[static_cast<size_t>(b)];
    double* q = d.as<double>() + b * n_;
    std::copy_n(g.as<double>() + b * n_, n, q);
    std::array<double, kLbfgsPairs> alpha{};
    auto pair = [&](int k) { return pairs_.as<double>() + at(b, slot_back(b, k)); };
    auto rho = [&](int k) {
      return rho_.as<double>()[static_cast<size_t>(b) * kLbfgsPairs + static_cast<size_t>(slot_back(b, k))];
    };
    for (int k = 0; k < count; ++k) {  // newest first: q −= α_k y_k
      const double *sk = pair(k), *yk = sk + n;
      double a = rho(k) * dot({sk, n}, {q, n});
      alpha[static_cast<size_t>(k)] = a;
      for (size_t i = 0; i < n; ++i) q[i] -= a * yk[i];
    }
    if (count > 0) {  // H₀ = γ I
      const double* y0 = pair(0) + n;
      double gamma = 1 / (rho(0) * dot({y0, n}, {y0, n}));
      for (size_t i = 0; i < n; ++i) q[i] *= gamma;
    }
    for (int k = count - 1; k >= 0; --k) {  // oldest first: q += (α_k − β) s_k
      const double *sk = pair(k), *yk = sk + n;
      double c = alpha[static_cast<size_t>(k)] - rho(k) * dot({yk, n}, {q, n});
      for (size_t i = 0; i < n; ++i) q[i] += c * sk[i];
    }
    for (size_t i = 0; i < n; ++i) q[i] = -q[i];
  }

  // s = x_new − x and y = g_new − g into entry b's next slot, kept when the curvature is positive.
  template <int kN>
  void store_pair(int64_t b, ConstVec x, ConstVec x_new, ConstVec g, ConstVec g_new) {
    const auto n = kN > 0 ? static_cast<size_t>(kN) : static_cast<size_t>(n_);
    int slot = (newest_[static_cast<size_t>(b)] + 1) % kLbfgsPairs;
    double* sv = pairs_.as<double>() + at(b, slot);
    double* yv = sv + n;
    double sy = 0, ss = 0, yy = 0;
    for (size_t i = 0; i < n; ++i) {
      sv[i] = x_new[i] - x[i];
      yv[i] = g_new[i] - g[i];
      sy += sv[i] * yv[i];
      ss += sv[i] * sv[i];
      yy += yv[i] * yv[i];
    }
    if (!curvature_ok(sy, ss, yy)) return;  // the slot is overwritten next time
    auto i = static_cast<size_t>(b);
    rho_.as<double>()[i * kLbfgsPairs + static_cast<size_t>(slot)] = 1 / sy;
    newest_[i] = slot;
    count_[i] = std::min(count_[i] + 1, kLbfgsPairs);
  }

  size_t at(int64_t b, int slot) const {
    return (static_cast<size_t>(b) * kLbfgsPairs + static_cast<size_t>(slot)) * 2 * static_cast<size_t>(n_);
  }

  int64_t n_;
  Buffer pairs_;  // per entry and slot: s, then y (one region per entry)
  Buffer rho_;
  std::vector<int> count_, newest_;
};

// BFGS with a dense inverse Hessian per entry, scaled by sᵀy / yᵀy before its first update.
class DenseBfgs final : public Directions {
 public:
  DenseBfgs(int64_t batch, int64_t n)
      : n_(n), h_(static_cast<size_t>(batch * n * n)), updated_(static_cast<size_t>(batch)) {
    for (int64_t b = 0; b < batch; ++b) reset(b);
  }
  void directions(std::span<const int64_t> entries, const Buffer& g, Buffer& d) const override {
    for (int64_t b : entries) {
      Eigen::Map<const Eigen::VectorXd> gv(g.as<double>() + b * n_, n_);
      Eigen::Map<Eigen::VectorXd>(d.as<double>() + b * n_, n_) = -(h(b) * gv);
    }
  }
  void update(int64_t b, ConstVec x, ConstVec x_new, ConstVec g, ConstVec g_new) override {
    Eigen::VectorXd sv =
        Eigen::Map<const Eigen::VectorXd>(x_new.data(), n_) - Eigen::Map<const Eigen::VectorXd>(x.data(), n_);
    Eigen::VectorXd yv =
        Eigen::Map<const Eigen::VectorXd>(g_new.data(), n_) - Eigen::Map<const Eigen::VectorXd>(g.data(), n_);
    double sy = sv.dot(yv);
    if (!curvature_ok(sy, sv.squaredNorm(), yv.squaredNorm())) return;
    double rho = 1 / sy;
    auto hb = h(b);
    auto& updated = updated_[static_cast<size_t>(b)];
    if (updated == 0) hb *= 1 / (rho * yv.squaredNorm());
    updated = 1;
    // H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ, expanded into rank-one terms.
    Eigen::VectorXd hy = hb * yv;
    double yhy = yv.dot(hy);
    hb -= rho * (sv * hy.transpose() + hy * sv.transpose());
    hb += (rho * rho * yhy + rho) * (sv * sv.transpose());
  }
  void reset(int64_t b) override {
    h(b).setIdentity();
    updated_[static_cast<size_t>(b)] = 0;
  }
  bool has_memory(int64_t b) const override { return updated_[static_cast<size_t>(b)] != 0; }

 private:
  Eigen::Map<Eigen::MatrixXd> h(int64_t b) { return {h_.data() + static_cast<size_t>(b * n_ * n_), n_, n_}; }
  Eigen::Map<const Eigen::MatrixXd> h(int64_t b) const {
    return {h_.data() + static_cast<size_t>(b * n_ * n_), n_, n_};
  }
  int64_t n_;
  std::vector<double> h_;
  std::vector<uint8_t> updated_;
};

std::unique_ptr<Directions> make_directions(MinimizeMethod method, int64_t batch, int64_t n) {
  switch (method) {
    case MinimizeMethod::lbfgs: return std::make_unique<Lbfgs>(batch, n);
    case MinimizeMethod::bfgs: return std::make_unique<DenseBfgs>(batch, n);
    case MinimizeMethod::gd: return std::make_unique<SteepestDescent>(n);
  }
  return nullptr;
}

using Search = std::variant<WolfeSearch, BacktrackingSearch>;

// The lockstep driver: every tick evaluates f and ∇f once for the whole batch, at each active
// entry's trial point, and each entry's line search takes its values.
class Minimizer {
 public:
  Minimizer(const ValueAndGradient& fg, Buffer& x, int64_t batch, const MinimizeSettings& settings)
      : fg_(fg),
        settings_(settings),
        batch_(batch),
        n_(batch > 0 ? x.count() / batch : 0),
        space_(batch, n_),
        x_(x),
        g_(DType::f64, x.count()),
        trial_(DType::f64, x.count()),
        trial_g_(DType::f64, x.count()),
        d_(DType::f64, x.count()),
        f_(static_cast<size_t>(batch)),
        trial_f_(static_cast<size_t>(batch)),
        tolerance_(static_cast<size_t>(batch)),
        step_memory_(static_cast<size_t>(batch), 0),
        directions_(make_directions(settings.method, batch, n_)),
        searches_(static_cast<size_t>(batch), BacktrackingSearch(0, 0, 0)),  // replaced when started
        events_(static_cast<size_t>(batch)),
        run_events_(static_cast<size_t>((batch + kRun - 1) / kRun)),
        active_(batch),
        result_{BatchStatus(batch), std::vector<MinimizeStop>(static_cast<size_t>(batch)), {}, {}, {}} {}

  MinimizeResult run() {
    start();
    while (active_ > 0) tick();
    result_.f = f_;
    auto g = std::make_shared<Buffer>(DType::f64, g_.count(), Buffer::Uninitialized{});
    std::memcpy(g->data(), g_.data(), g_.bytes());
    result_.gradient = g;
    return std::move(result_);
  }

 private:
  Vec entry(Buffer& b, int64_t e) { return {b.as<double>() + e * n_, static_cast<size_t>(n_)}; }
  BatchStatus& status() { return result_.status; }

  // The measure the convergence rule compares with the tolerance.
  double measure(int64_t b) {
    if (!settings_.residual_tolerance.empty())
      return std::sqrt(2 * std::max(f_[static_cast<size_t>(b)], 0.0));
    Vec g = entry(g_, b);
    return std::sqrt(dot(g, g));
  }

  void record() {
    if (!settings_.record_trajectory) return;
    auto copy = std::make_shared<Buffer>(DType::f64, x_.count(), Buffer::Uninitialized{});
    std::memcpy(copy->data(), x_.data(), x_.bytes());
    result_.trajectory.push_back(copy);
  }

  void start() {
    std::vector<int64_t> starting;  // entries that begin an iteration
    fg_(x_, f_, g_);
    status().count_evaluation();
    record();
    std::memcpy(trial_.data(), x_.data(), x_.bytes());
    for (int64_t b = 0; b < batch_; ++b) {
      auto i = static_cast<size_t>(b);
      Vec g = entry(g_, b);
      double gnorm = std::sqrt(dot(g, g));
      tolerance_[i] = settings_.residual_tolerance.empty()
                          ? std::max(settings_.rel_tol * gnorm, settings_.abs_tol)
                          : settings_.residual_tolerance[i];
      if (!std::isfinite(f_[i]) || !std::isfinite(gnorm)) {
        finish(b, MinimizeStop::not_finite);
      } else if (measure(b) <= tolerance_[i]) {
        finish(b, MinimizeStop::converged);
      } else if (settings_.max_iterations == 0) {
        finish(b, MinimizeStop::max_iterations);
      } else {
        starting.push_back(b);
      }
    }
    begin_iterations(starting);
  }

  // Entry b's next trial point x + α d (its line search's α).
  void place_trial(int64_t b) {
    Vec x = entry(x_, b), d = entry(d_, b), t = entry(trial_, b);
    double a = alpha(b);
    for (size_t k = 0; k < t.size(); ++k) t[k] = x[k] + a * d[k];
  }

  // Entry b is done: why, and how the status shows it.
  void finish(int64_t b, MinimizeStop why) {
    auto i = static_cast<size_t>(b);
    result_.stop[i] = why;
    switch (why) {
      case MinimizeStop::converged: status().converge(b); break;
      case MinimizeStop::max_iterations: status().active[i] = false; break;
      case MinimizeStop::not_finite:
      case MinimizeStop::line_search: status().diverge(b); break;
    }
    --active_;
  }

  // New search directions for the given entries at their current points (all at once: the
  // L-BFGS recursion interleaves them), then each one's line search and first trial point.
  void begin_iterations(std::span<const int64_t> entries) {
    BatchSpace::for_ranges(static_cast<int64_t>(entries.size()), 8 * n_, [&](int64_t first, int64_t last) {
      begin_part(entries.subspan(static_cast<size_t>(first), static_cast<size_t>(last - first)));
    });
  }
  void begin_part(std::span<const int64_t> part) {
    directions_->directions(part, g_, d_);
    for (int64_t b : part) {
      start_search(b);
      place_trial(b);
    }
  }

  void start_search(int64_t b) {
    auto i = static_cast<size_t>(b);
    Vec g = entry(g_, b), d = entry(d_, b);
    double dphi0 = dot(g, d);
    if (!(dphi0 < 0)) {  // not a descent direction (rounding in H): start over from −g
      directions_->reset(b);
      for (int64_t k = 0; k < n_; ++k) d[static_cast<size_t>(k)] = -g[static_cast<size_t>(k)];
      dphi0 = -dot(g, g);
    }
    // A first step of length at most 1 (along −g, whose length need not be that of a step);
    // quasi-Newton directions with memory are scaled already and start at α = 1.
    double first = std::min(1.0, 1 / std::sqrt(-dphi0));
    if (settings_.method == MinimizeMethod::gd) {
      double alpha = step_memory_[i] > 0 ? step_memory_[i] : first;
      searches_[i].emplace<BacktrackingSearch>(f_[i], dphi0, alpha);
    } else {
      searches_[i].emplace<WolfeSearch>(f_[i], dphi0, directions_->has_memory(b) ? 1.0 : first);
    }
  }

  double alpha(int64_t b) {
    return std::visit([](const auto& s) { return s.alpha(); }, searches_[static_cast<size_t>(b)]);
  }

  // What happened to an entry in a tick: it moved on, it finished (why: result_.stop), or both.
  enum Event : uint8_t { kNone = 0, kMoved = 1, kFinished = 2 };

  // One batched evaluation at every entry's trial point (a finished entry's is its x); then each
  // active entry's line search takes its values, in runs of entries in parallel. The few entries
  // that finished are then marked in the status, whose bit vectors one thread writes.
  void tick() {
    fg_(trial_, trial_f_, trial_g_);
    const int64_t runs = (batch_ + kRun - 1) / kRun;
    BatchSpace::for_ranges(runs, kRun * std::max<int64_t>(n_, 8), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) advance_run(r);
    });
    bool moved = false;
    for (int64_t r = 0; r < runs; ++r) {
      uint8_t run = run_events_[static_cast<size_t>(r)];
      moved |= (run & kMoved) != 0;
      if ((run & kFinished) == 0) continue;
      for (int64_t b = r * kRun; b < std::min(batch_, (r + 1) * kRun); ++b) {
        if (events_[static_cast<size_t>(b)] & kFinished) finish(b, result_.stop[static_cast<size_t>(b)]);
      }
    }
    if (moved) record();
  }

  static constexpr int64_t kRun = 64;

  // Run r's active entries take their trial values; those that moved begin their next iteration
  // together, while their memory is still in the cache (and their recursions interleave). The
  // run's events are the union of its entries'.
  void advance_run(int64_t r) {
    std::array<int64_t, kRun> moved{};
    size_t count = 0;
    uint8_t run = kNone;
    for (int64_t b = r * kRun; b < std::min(batch_, (r + 1) * kRun); ++b) {
      auto i = static_cast<size_t>(b);
      events_[i] = kNone;
      if (!status().active[i]) continue;
      ++status().function_evaluations[i];  // one counter per entry: safe across threads
      events_[i] = advance(b);
      if (events_[i] == kMoved) moved[count++] = b;
      run |= events_[i];
    }
    run_events_[static_cast<size_t>(r)] = run;
    begin_part({moved.data(), count});
  }

  // Entry b's line search takes the values at its trial point; on acceptance the entry moves
  // there and, unless it is done, starts its next iteration. Touches entry b's data only.
  uint8_t advance(int64_t b) {
    auto i = static_cast<size_t>(b);
    Vec x = entry(x_, b), g = entry(g_, b), tx = entry(trial_, b), tg = entry(trial_g_, b);
    double slope = dot(tg, entry(d_, b));
    SearchState s =
        std::visit([&](auto& search) { return search.observe(trial_f_[i], slope); }, searches_[i]);
    if (s == SearchState::fail) {
      std::copy(x.begin(), x.end(), tx.begin());  // evaluated at its last point from now on
      result_.stop[i] = MinimizeStop::line_search;
      return kFinished;
    }
    if (s == SearchState::evaluate) {
      place_trial(b);
      return kNone;
    }
    directions_->update(b, x, tx, g, tg);
    step_memory_[i] = 2 * alpha(b);
    std::copy(tx.begin(), tx.end(), x.begin());
    std::copy(tg.begin(), tg.end(), g.begin());
    f_[i] = trial_f_[i];
    ++status().iterations[i];
    if (measure(b) <= tolerance_[i]) {
      result_.stop[i] = MinimizeStop::converged;
      return kMoved | kFinished;
    }
    if (status().iterations[i] >= settings_.max_iterations) {
      result_.stop[i] = MinimizeStop::max_iterations;
      return kMoved | kFinished;
    }
    return kMoved;  // its next iteration begins with its run's (tick)
  }

  const ValueAndGradient& fg_;
  const MinimizeSettings& settings_;
  int64_t batch_, n_;
  BatchSpace space_;
  Buffer& x_;
  Buffer g_, trial_, trial_g_, d_;
  std::vector<double> f_, trial_f_, tolerance_, step_memory_;
  std::unique_ptr<Directions> directions_;
  std::vector<Search> searches_;
  std::vector<uint8_t> events_, run_events_;
  int64_t active_;  // entries not finished
  MinimizeResult result_;
};

}  // namespace

MinimizeResult minimize(const ValueAndGradient& fg, Buffer& x, int64_t batch,
                        const MinimizeSettings& settings) {
  if (x.dtype() != DType::f64) throw InternalError("minimize: the state must be float64");
  int64_t n = batch > 0 ? x.count() / batch : 0;
  if (settings.method == MinimizeMethod::bfgs && (n > kMaxBfgsUnknowns || batch * n * n > kMaxBfgsValues)) {
    throw Error(fmt::format(
        "minimize: BFGS keeps a dense {0}×{0} inverse Hessian for each of {1} problems; it takes at most {2} "
        "unknowns and {3} Hessian values in all. Use method L-BFGS-B for larger problems",
        n, batch, kMaxBfgsUnknowns, kMaxBfgsValues));
  }
  return Minimizer(fg, x, batch, settings).run();
}

}  // namespace phijit::runtime
