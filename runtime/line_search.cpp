#include "runtime/line_search.h"

#include <algorithm>
#include <cmath>

namespace phijit::runtime {

namespace {

// The minimizer of the cubic through (a, φa, φ'a) and (b, φb, φ'b), kept at least 10% of the
// interval away from its ends; the midpoint when the cubic gives none (or b is not finite).
double cubic_step(double a, double phi_a, double dphi_a, double b, double phi_b, double dphi_b) {
  double lo = std::min(a, b), hi = std::max(a, b), margin = 0.1 * (hi - lo);
  double d1 = dphi_a + dphi_b - 3 * (phi_a - phi_b) / (a - b);
  double radicand = d1 * d1 - dphi_a * dphi_b;
  double step = 0.5 * (a + b);
  if (std::isfinite(phi_b) && std::isfinite(dphi_b) && radicand >= 0) {
    double d2 = std::copysign(std::sqrt(radicand), b - a);
    double c = b - (b - a) * (dphi_b + d2 - d1) / (dphi_b - dphi_a + 2 * d2);
    if (std::isfinite(c)) step = c;
  }
  return std::clamp(step, lo + margin, hi - margin);
}

}  // namespace

WolfeSearch::WolfeSearch(double phi0, double dphi0, double alpha0)
    : phi0_(phi0), dphi0_(dphi0), alpha_(alpha0), prev_{0, phi0, dphi0} {}

SearchState WolfeSearch::next(double a) {
  if (evaluations_ < kMaxEvaluations && a != alpha_) {
    alpha_ = a;
    return SearchState::evaluate;
  }
  // Out of evaluations (or the interval has shrunk to nothing): the best step with sufficient
  // decrease, if there is one, is evaluated once more and taken.
  const Point& best = zooming_ ? lo_ : prev_;
  if (best.a > 0 && !last_try_) {
    last_try_ = true;
    alpha_ = best.a;
    return SearchState::evaluate;
  }
  return SearchState::fail;
}

SearchState WolfeSearch::observe(double phi, double dphi) {
  ++evaluations_;
  if (last_try_) return std::isfinite(phi) && std::isfinite(dphi) ? SearchState::accept : SearchState::fail;
  if (!std::isfinite(phi) || !std::isfinite(dphi)) phi = INFINITY;  // too far
  return zooming_ ? zoom(phi, dphi) : bracket(phi, dphi);
}

SearchState WolfeSearch::bracket(double phi, double dphi) {
  Point cur{alpha_, phi, dphi};
  if (!sufficient_decrease(cur.a, phi) || (prev_.a > 0 && phi >= prev_.phi)) {
    zooming_ = true;
    lo_ = prev_;
    hi_ = cur;
  } else if (curvature(dphi)) {
    return SearchState::accept;
  } else if (dphi >= 0) {
    zooming_ = true;
    lo_ = cur;
    hi_ = prev_;
  } else {
    prev_ = cur;
    return next(2 * cur.a);
  }
  return next(cubic_step(lo_.a, lo_.phi, lo_.dphi, hi_.a, hi_.phi, hi_.dphi));
}

SearchState WolfeSearch::zoom(double phi, double dphi) {
  Point cur{alpha_, phi, dphi};
  if (!sufficient_decrease(cur.a, phi) || phi >= lo_.phi) {
    hi_ = cur;
  } else {
    if (curvature(dphi)) return SearchState::accept;
    if (dphi * (hi_.a - lo_.a) >= 0) hi_ = lo_;
    lo_ = cur;
  }
  // An interval below the resolution of α cannot be split any further.
  if (std::abs(hi_.a - lo_.a) <= 1e-14 * std::max(lo_.a, hi_.a)) return next(alpha_);
  return next(cubic_step(lo_.a, lo_.phi, lo_.dphi, hi_.a, hi_.phi, hi_.dphi));
}

BacktrackingSearch::BacktrackingSearch(double phi0, double dphi0, double alpha0)
    : phi0_(phi0), dphi0_(dphi0), alpha_(alpha0) {}

SearchState BacktrackingSearch::observe(double phi, double /*dphi*/) {
  ++evaluations_;
  if (std::isfinite(phi) && phi <= phi0_ + kC1 * alpha_ * dphi0_) return SearchState::accept;
  if (evaluations_ >= kMaxEvaluations) return SearchState::fail;
  // The minimizer of the parabola through φ(0), φ'(0) and φ(α).
  double shrink = 0.1;
  if (std::isfinite(phi)) {
    double q = -dphi0_ * alpha_ / (2 * (phi - phi0_ - dphi0_ * alpha_));
    if (std::isfinite(q)) shrink = std::clamp(q, 0.1, 0.5);
  }
  alpha_ *= shrink;
  return SearchState::evaluate;
}

}  // namespace phijit::runtime
