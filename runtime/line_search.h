// Line searches in reverse communication: the caller evaluates φ(α) = f(x + α d) and
// φ'(α) = ∇f(x + α d)·d at the step a search proposes and hands the values back, so that the
// searches of a whole batch of problems share one batched evaluation per step (the minimizers
// of runtime/minimize.h run them in lockstep).
#pragma once

#include <cmath>

namespace phijit::runtime {

enum class SearchState {
  evaluate,  // evaluate at alpha() and call observe
  accept,    // alpha() is the step to take (its values were the last ones observed)
  fail,      // no acceptable step was found
};

// A step meeting the strong Wolfe conditions (Nocedal & Wright, Algorithms 3.5 and 3.6):
// bracketing by doubling, then zoom by safeguarded cubic interpolation. A non-finite φ counts
// as too far. When the evaluations run out after a step with sufficient decrease was seen, that
// step is evaluated once more and accepted (the caller needs its gradient).
class WolfeSearch {
 public:
  static constexpr double kC1 = 1e-4, kC2 = 0.9;
  static constexpr int kMaxEvaluations = 20;

  // A search from φ(0) and φ'(0) < 0 whose first trial is alpha0 > 0.
  WolfeSearch(double phi0, double dphi0, double alpha0);
  double alpha() const { return alpha_; }
  SearchState observe(double phi, double dphi);

 private:
  bool sufficient_decrease(double a, double phi) const { return phi <= phi0_ + kC1 * a * dphi0_; }
  bool curvature(double dphi) const { return std::abs(dphi) <= -kC2 * dphi0_; }
  SearchState bracket(double phi, double dphi);
  SearchState zoom(double phi, double dphi);
  SearchState next(double a);  // evaluate at a, unless the evaluations ran out

  struct Point {
    double a = 0, phi = 0, dphi = 0;
  };
  double phi0_, dphi0_;
  double alpha_;
  bool zooming_ = false;
  bool last_try_ = false;  // alpha_ is the best step seen, evaluated again to be accepted
  int evaluations_ = 0;
  Point prev_;     // bracketing: the previous trial (a = 0: the start)
  Point lo_, hi_;  // zoom: lo satisfies sufficient decrease with the lowest φ; the minimum is between
};

// Sufficient decrease (Armijo) by backtracking, for gradient descent: a failed trial shrinks
// the step by quadratic interpolation, kept within [0.1, 0.5] of it.
class BacktrackingSearch {
 public:
  static constexpr double kC1 = 1e-4;
  static constexpr int kMaxEvaluations = 50;

  BacktrackingSearch(double phi0, double dphi0, double alpha0);
  double alpha() const { return alpha_; }
  // φ' is not needed here (it is taken for the same call as WolfeSearch::observe).
  SearchState observe(double phi, double dphi = 0);

 private:
  double phi0_, dphi0_, alpha_;
  int evaluations_ = 0;
};

}  // namespace phijit::runtime
