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

// What a method remembers of an entry's steps, to turn a gradient into a search direction.
class DirectionRule {
 public:
  virtual ~DirectionRule() = default;
  virtual void direction(ConstVec g, Vec d) const = 0;  // d = −H g
  // After a step s whose gradient changed by y.
  virtual void update(ConstVec s, ConstVec y) = 0;
  virtual void reset() = 0;
  virtual bool has_memory() const = 0;
};

// Gradient descent: H = I.
class SteepestDescent final : public DirectionRule {
 public:
  void direction(ConstVec g, Vec d) const override {
    for (size_t i = 0; i < g.size(); ++i) d[i] = -g[i];
  }
  void update(ConstVec, ConstVec) override {}
  void reset() override {}
  bool has_memory() const override { return false; }
};

// A pair is kept only with positive curvature sᵀy, which keeps H positive definite.
bool curvature_ok(ConstVec s, ConstVec y) {
  double sy = dot(s, y);
  return sy > 1e-10 * std::sqrt(dot(s, s) * dot(y, y)) && std::isfinite(sy);
}

// L-BFGS: H from the last kLbfgsPairs steps by the two-loop recursion, H₀ = (sᵀy / yᵀy) I.
class Lbfgs final : public DirectionRule {
 public:
  void direction(ConstVec g, Vec d) const override {
    std::vector<double> alpha(pairs_.size());
    std::copy(g.begin(), g.end(), d.begin());
    for (size_t k = pairs_.size(); k-- > 0;) {
      const Pair& p = pairs_[k];
      alpha[k] = p.rho * dot(p.s, d);
      for (size_t i = 0; i < d.size(); ++i) d[i] -= alpha[k] * p.y[i];
    }
    if (!pairs_.empty()) {
      const Pair& last = pairs_.back();
      double gamma = 1 / (last.rho * dot(last.y, last.y));
      for (double& v : d) v *= gamma;
    }
    for (size_t k = 0; k < pairs_.size(); ++k) {
      const Pair& p = pairs_[k];
      double beta = p.rho * dot(p.y, d);
      for (size_t i = 0; i < d.size(); ++i) d[i] += (alpha[k] - beta) * p.s[i];
    }
    for (double& v : d) v = -v;
  }
  void update(ConstVec s, ConstVec y) override {
    if (!curvature_ok(s, y)) return;
    if (pairs_.size() == kLbfgsPairs) pairs_.pop_front();
    pairs_.push_back(Pair{{s.begin(), s.end()}, {y.begin(), y.end()}, 1 / dot(s, y)});
  }
  void reset() override { pairs_.clear(); }
  bool has_memory() const override { return !pairs_.empty(); }

 private:
  struct Pair {
    std::vector<double> s, y;
    double rho;
  };
  std::deque<Pair> pairs_;
};

// BFGS with the dense inverse Hessian, scaled by sᵀy / yᵀy before its first update.
class DenseBfgs final : public DirectionRule {
 public:
  explicit DenseBfgs(int64_t n) : n_(n) { reset(); }
  void direction(ConstVec g, Vec d) const override {
    Eigen::Map<const Eigen::VectorXd> gv(g.data(), n_);
    Eigen::Map<Eigen::VectorXd>(d.data(), n_) = -(h_ * gv);
  }
  void update(ConstVec s, ConstVec y) override {
    if (!curvature_ok(s, y)) return;
    Eigen::Map<const Eigen::VectorXd> sv(s.data(), n_), yv(y.data(), n_);
    double rho = 1 / sv.dot(yv);
    if (!updated_) h_ *= 1 / (rho * yv.squaredNorm());
    updated_ = true;
    // H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ, expanded into rank-one terms.
    Eigen::VectorXd hy = h_ * yv;
    double yhy = yv.dot(hy);
    h_ -= rho * (sv * hy.transpose() + hy * sv.transpose());
    h_ += (rho * rho * yhy + rho) * (sv * sv.transpose());
  }
  void reset() override {
    h_ = Eigen::MatrixXd::Identity(n_, n_);
    updated_ = false;
  }
  bool has_memory() const override { return updated_; }

 private:
  int64_t n_;
  Eigen::MatrixXd h_;
  bool updated_ = false;
};

std::unique_ptr<DirectionRule> make_rule(MinimizeMethod method, int64_t n) {
  switch (method) {
    case MinimizeMethod::lbfgs: return std::make_unique<Lbfgs>();
    case MinimizeMethod::bfgs: return std::make_unique<DenseBfgs>(n);
    case MinimizeMethod::gd: return std::make_unique<SteepestDescent>();
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
        searches_(static_cast<size_t>(batch), BacktrackingSearch(0, 0, 0)),  // replaced when started
        result_{BatchStatus(batch), std::vector<MinimizeStop>(static_cast<size_t>(batch)), {}, {}, {}} {
    for (int64_t b = 0; b < batch; ++b) rules_.push_back(make_rule(settings.method, n_));
  }

  MinimizeResult run() {
    start();
    while (result_.status.any_active()) tick();
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
    fg_(x_, f_, g_);
    status().count_evaluation();
    record();
    for (int64_t b = 0; b < batch_; ++b) {
      auto i = static_cast<size_t>(b);
      Vec g = entry(g_, b);
      double gnorm = std::sqrt(dot(g, g));
      tolerance_[i] = settings_.residual_tolerance.empty()
                          ? std::max(settings_.rel_tol * gnorm, settings_.abs_tol)
                          : settings_.residual_tolerance[i];
      if (!std::isfinite(f_[i]) || !std::isfinite(gnorm)) {
        status().diverge(b);
        result_.stop[i] = MinimizeStop::not_finite;
      } else if (measure(b) <= tolerance_[i]) {
        status().converge(b);
        result_.stop[i] = MinimizeStop::converged;
      } else if (settings_.max_iterations == 0) {
        stop_at_limit(b);
      } else {
        begin_iteration(b);
      }
    }
  }

  void stop_at_limit(int64_t b) {
    status().active[static_cast<size_t>(b)] = false;
    result_.stop[static_cast<size_t>(b)] = MinimizeStop::max_iterations;
  }

  // A new search direction and line search for entry b at its current point.
  void begin_iteration(int64_t b) {
    auto i = static_cast<size_t>(b);
    Vec g = entry(g_, b), d = entry(d_, b);
    rules_[i]->direction(g, d);
    double dphi0 = dot(g, d);
    if (!(dphi0 < 0)) {  // not a descent direction (rounding in H): start over from −g
      rules_[i]->reset();
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
      searches_[i].emplace<WolfeSearch>(f_[i], dphi0, rules_[i]->has_memory() ? 1.0 : first);
    }
  }

  double alpha(int64_t b) {
    return std::visit([](const auto& s) { return s.alpha(); }, searches_[static_cast<size_t>(b)]);
  }

  void tick() {
    std::vector<double> step(static_cast<size_t>(batch_), 0.0);
    for (int64_t b = 0; b < batch_; ++b) {
      if (status().active[static_cast<size_t>(b)]) step[static_cast<size_t>(b)] = alpha(b);
    }
    space_.combine<double>(trial_, x_, step, d_);  // inactive entries stay at x
    fg_(trial_, trial_f_, trial_g_);
    status().count_evaluation();
    std::vector<double> slope = space_.dot<double>(trial_g_, d_);
    bool moved = false;
    for (int64_t b = 0; b < batch_; ++b) {
      auto i = static_cast<size_t>(b);
      if (!status().active[i]) continue;
      SearchState s =
          std::visit([&](auto& search) { return search.observe(trial_f_[i], slope[i]); }, searches_[i]);
      if (s == SearchState::accept) {
        take_step(b);
        moved = true;
      } else if (s == SearchState::fail) {
        status().diverge(b);
        result_.stop[i] = MinimizeStop::line_search;
      }
    }
    if (moved) record();
  }

  // Entry b moves to its trial point.
  void take_step(int64_t b) {
    auto i = static_cast<size_t>(b);
    Vec x = entry(x_, b), g = entry(g_, b), tx = entry(trial_, b), tg = entry(trial_g_, b);
    std::vector<double> s(static_cast<size_t>(n_)), y(static_cast<size_t>(n_));
    for (size_t k = 0; k < s.size(); ++k) {
      s[k] = tx[k] - x[k];
      y[k] = tg[k] - g[k];
    }
    rules_[i]->update(s, y);
    step_memory_[i] = 2 * alpha(b);
    std::copy(tx.begin(), tx.end(), x.begin());
    std::copy(tg.begin(), tg.end(), g.begin());
    f_[i] = trial_f_[i];
    ++status().iterations[i];
    if (measure(b) <= tolerance_[i]) {
      status().converge(b);
      result_.stop[i] = MinimizeStop::converged;
    } else if (status().iterations[i] >= settings_.max_iterations) {
      stop_at_limit(b);
    } else {
      begin_iteration(b);
    }
  }

  const ValueAndGradient& fg_;
  const MinimizeSettings& settings_;
  int64_t batch_, n_;
  BatchSpace space_;
  Buffer& x_;
  Buffer g_, trial_, trial_g_, d_;
  std::vector<double> f_, trial_f_, tolerance_, step_memory_;
  std::vector<std::unique_ptr<DirectionRule>> rules_;
  std::vector<Search> searches_;
  MinimizeResult result_;
};

}  // namespace

MinimizeResult minimize(const ValueAndGradient& fg, Buffer& x, int64_t batch,
                        const MinimizeSettings& settings) {
  if (x.dtype() != DType::f64) throw InternalError("minimize: the state must be float64");
  if (settings.method == MinimizeMethod::bfgs && batch > 0 && x.count() / batch > kMaxBfgsUnknowns) {
    throw Error(fmt::format(
        "minimize: BFGS keeps a dense {0}×{0} inverse Hessian per problem; it takes at most {1} unknowns. "
        "Use method L-BFGS-B for larger problems",
        x.count() / batch, kMaxBfgsUnknowns));
  }
  return Minimizer(fg, x, batch, settings).run();
}

}  // namespace phijit::runtime
