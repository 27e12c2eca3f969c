#include "runtime/krylov.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <memory>

#include "ir/error.h"
#include "runtime/batched.h"

namespace phijit::runtime {

namespace {

bool finite(double v) { return std::isfinite(v); }

template <class T>
class Solver {
 public:
  Solver(const LinearOperator& A, const Buffer& y, Buffer& x, int64_t batch, const KrylovSettings& s)
      : A_(A), y_(y), x_(x), B_(batch), n_(A.rows()), s_(s), blocks_(batch, A.rows()), status_(batch) {}

  KrylovResult run() {
    record();
    switch (s_.method) {
      case SolveMethod::cg: cg(); break;
      case SolveMethod::cg_adaptive: cg_adaptive(); break;
      case SolveMethod::bicgstab: bicgstab(); break;
      case SolveMethod::gmres: gmres(); break;
      case SolveMethod::automatic:
      case SolveMethod::direct:
      case SolveMethod::petsc_cg:
      case SolveMethod::petsc_gmres:
      case SolveMethod::petsc_bicgstab:
      case SolveMethod::petsc_direct:
        throw InternalError(
            fmt::format("solve_krylov: '{}' is not a Krylov method", solve_method_name(s_.method)));
    }
    // The returned residual is always the true one.
    auto r = vec();
    res_.residual_norm = residual(*r, false);
    res_.residual = r;
    res_.iterations = std::move(status_.iterations);
    res_.function_evaluations = std::move(status_.function_evaluations);
    res_.converged = std::move(status_.converged);
    res_.diverged = std::move(status_.diverged);
    return std::move(res_);
  }

 private:
  using Vec = std::shared_ptr<Buffer>;
  Vec vec() const { return std::make_shared<Buffer>(y_.dtype(), B_ * n_, Buffer::Uninitialized{}); }
  static T* ptr(Buffer& v) { return v.as<T>(); }
  static const T* ptr(const Buffer& v) { return v.as<T>(); }
  size_t at(int64_t b) const { return static_cast<size_t>(b); }
  bool any_active() const { return status_.any_active(); }

  void apply(const Buffer& in, Buffer& out, bool count = true) {
    A_.apply(in, out);
    if (count) status_.count_evaluation();
  }
  // z = M⁻¹ r, or z aliases r without a preconditioner.
  void precondition(const Vec& r, Vec& z) {
    if (s_.preconditioner == nullptr) {
      z = r;
      return;
    }
    if (!z || z == r) z = vec();
    s_.preconditioner->apply(*r, *z);
  }
  void copy(const Buffer& from, Buffer& to) const { std::memcpy(to.data(), from.data(), from.bytes()); }

  std::vector<double> dot(const Buffer& a, const Buffer& c) const { return blocks_.dot<T>(a, c); }

  // r = y − A x and its norms; marks entries whose residual is not finite as diverged.
  std::vector<double> residual(Buffer& r, bool count = true) {
    apply(x_, r, count);
    const T* py = ptr(y_);
    T* pr = ptr(r);
    std::vector<double> rr = blocks_.reduce<1>([&](int64_t b, int64_t i0, int64_t i1, double* acc) {
      double s = 0;
      for (int64_t i = b * n_ + i0; i < b * n_ + i1; ++i) {
        pr[i] = py[i] - pr[i];
        s += double(pr[i]) * double(pr[i]);
      }
      acc[0] += s;
    })[0];
    for (double& v : rr) v = std::sqrt(v);
    return rr;
  }

  void diverge(int64_t b) { status_.diverge(b); }
  // The state before the first iteration: converged, diverged (a NaN in y or x0) or active.
  void start(const std::vector<double>& norms) { status_.start(norms, s_.tolerance); }

  // Entries whose recursive residual norm reached the tolerance: confirmed on the true
  // residual (then they stop), or r is replaced by the true residual and `restart` says so.
  std::vector<bool> confirm(const std::vector<double>& norms, Buffer& r) {
    std::vector<bool> restart(at(B_), false), candidate(at(B_), false);
    bool any = false;
    for (int64_t b = 0; b < B_; ++b) {
      candidate[at(b)] = status_.active[at(b)] && norms[at(b)] <= s_.tolerance[at(b)];
      any = any || candidate[at(b)];
    }
    if (!any) return restart;
    auto rt = vec();
    std::vector<double> true_norms = residual(*rt);
    for (int64_t b = 0; b < B_; ++b) {
      if (!candidate[at(b)]) continue;
      if (true_norms[at(b)] <= s_.tolerance[at(b)]) {
        status_.converge(b);
      } else {
        restart[at(b)] = true;
        std::memcpy(ptr(r) + b * n_, ptr(*rt) + b * n_, static_cast<size_t>(n_) * sizeof(T));
      }
    }
    return restart;
  }

  void record() {
    if (!s_.record_trajectory) return;
    auto c = vec();
    copy(x_, *c);
    res_.trajectory.push_back(c);
  }

  // One iteration done by the active entries; `bad[b]` (x or r not finite) makes b diverge
  // after `revert` restores its previous x.
  template <class Revert>
  void step_done(const std::vector<double>& bad, Revert revert) {
    for (int64_t b = 0; b < B_; ++b) {
      if (!status_.active[at(b)]) continue;
      ++status_.iterations[at(b)];
      if (!finite(bad[at(b)])) {
        revert(b);
        diverge(b);
      }
    }
    record();
  }

  // x += a·u (+ c·w), r = v − α·q ... the fused updates of each method, with r·r and a check
  // that x stayed finite (Σ x·0 is NaN exactly when some x is not finite).
  std::array<std::vector<double>, 2> update_x_r(const std::vector<double>& a, const Buffer& u, Buffer& r,
                                                const Buffer& q) {
    T* px = ptr(x_);
    T* pr = ptr(r);
    const T* pu = ptr(u);
    const T* pq = ptr(q);
    return blocks_.reduce<2>([&](int64_t b, int64_t i0, int64_t i1, double* acc) {
      auto ab = static_cast<T>(a[at(b)]);
      if (ab == T(0)) {
        for (int64_t i = b * n_ + i0; i < b * n_ + i1; ++i) acc[0] += double(pr[i]) * double(pr[i]);
        return;
      }
      double rr[4] = {0, 0, 0, 0}, bad[4] = {0, 0, 0, 0};
      int64_t i = b * n_ + i0, end = b * n_ + i1;
      for (; i + 4 <= end; i += 4) {
        for (int q = 0; q < 4; ++q) {
          px[i + q] += ab * pu[i + q];
          pr[i + q] -= ab * pq[i + q];
          rr[q] += double(pr[i + q]) * double(pr[i + q]);
          bad[q] += double(px[i + q]) * 0.0;
        }
      }
      for (; i < end; ++i) {
        px[i] += ab * pu[i];
        pr[i] -= ab * pq[i];
        rr[0] += double(pr[i]) * double(pr[i]);
        bad[0] += double(px[i]) * 0.0;
      }
      acc[0] += (rr[0] + rr[1]) + (rr[2] + rr[3]);
      acc[1] += (bad[0] + bad[1]) + (bad[2] + bad[3]);
    });
  }
  void revert_x(int64_t b, double a, const Buffer& u) {
    const T* pu = ptr(u);
    T* px = ptr(x_);
    for (int64_t i = b * n_; i < (b + 1) * n_; ++i) px[i] -= static_cast<T>(a) * pu[i];
  }
  // out = u + c·w per entry.
  void combine(Buffer& out, const Buffer& u, const std::vector<double>& c, const Buffer& w) {
    blocks_.combine<T>(out, u, c, w);
  }
  // A step size num/den for the active entries; a zero or non-finite one is a breakdown.
  std::vector<double> ratio(const std::vector<double>& num, const std::vector<double>& den) {
    std::vector<double> out(at(B_), 0.0);
    for (int64_t b = 0; b < B_; ++b) {
      if (!status_.active[at(b)]) continue;
      double v = num[at(b)] / den[at(b)];
      if (den[at(b)] == 0 || !finite(v)) {
        diverge(b);
      } else {
        out[at(b)] = v;
      }
    }
    return out;
  }
  static bool restart_any(const std::vector<bool>& restart) {
    return std::find(restart.begin(), restart.end(), true) != restart.end();
  }
  static std::vector<double> sqrt_of(std::vector<double> v) {
    for (double& e : v) e = std::sqrt(e);
    return v;
  }

  void cg() {
    Vec r = vec(), z, p = vec(), Ap = vec();
    start(residual(*r));
    precondition(r, z);
    copy(*z, *p);
    std::vector<double> rz = dot(*r, *z);
    for (int it = 0; it < s_.max_iterations && any_active(); ++it) {
      apply(*p, *Ap);
      std::vector<double> alpha = ratio(rz, dot(*p, *Ap));
      auto [rr, bad] = update_x_r(alpha, *p, *r, *Ap);
      step_done(bad, [&](int64_t b) { revert_x(b, alpha[at(b)], *p); });
      std::vector<bool> restart = confirm(sqrt_of(rr), *r);
      if (!any_active()) break;
      precondition(r, z);
      // Without a preconditioner z is r, and r·r came with the update.
      std::vector<double> rz_new = z == r && !restart_any(restart) ? rr : dot(*r, *z), beta(at(B_), 0.0);
      for (int64_t b = 0; b < B_; ++b) {
        if (!status_.active[at(b)] || restart[at(b)]) continue;  // inactive entries keep finite directions
        beta[at(b)] = rz_new[at(b)] / rz[at(b)];
        if (!finite(beta[at(b)])) diverge(b);
      }
      combine(*p, *z, beta, *p);
      rz = std::move(rz_new);
    }
  }

  // PhiML's adaptive CG: the step and the new direction come from the current residual, which
  // keeps it going where plain CG's recurrences lose orthogonality.
  void cg_adaptive() {
    Vec r = vec(), z, dx = vec(), dy = vec();
    start(residual(*r));
    precondition(r, z);
    copy(*z, *dx);
    apply(*dx, *dy);
    for (int it = 0; it < s_.max_iterations && any_active(); ++it) {
      std::vector<double> dx_dy = dot(*dx, *dy);
      std::vector<double> step = ratio(dot(*dx, *r), dx_dy);
      auto [rr, bad] = update_x_r(step, *dx, *r, *dy);
      step_done(bad, [&](int64_t b) { revert_x(b, step[at(b)], *dx); });
      std::vector<bool> restart = confirm(sqrt_of(rr), *r);
      if (!any_active()) break;
      precondition(r, z);
      std::vector<double> z_dy = dot(*z, *dy), c(at(B_), 0.0);
      for (int64_t b = 0; b < B_; ++b) {
        c[at(b)] =
            !status_.active[at(b)] || restart[at(b)] || dx_dy[at(b)] == 0 ? 0.0 : -z_dy[at(b)] / dx_dy[at(b)];
      }
      combine(*dx, *z, c, *dx);
      apply(*dx, *dy);
    }
  }

  // BiCGStab with right preconditioning (van der Vorst): two operator applications per
  // iteration.
  void bicgstab() {
    Vec r = vec(), r0 = vec(), p = vec(), v = vec(), s = vec(), t = vec(), ph, sh;
    start(residual(*r));
    copy(*r, *r0);
    std::vector<double> rho(at(B_), 1.0), alpha(at(B_), 1.0), omega(at(B_), 1.0);
    std::fill_n(ptr(*p), B_ * n_, T(0));
    std::fill_n(ptr(*v), B_ * n_, T(0));
    for (int it = 0; it < s_.max_iterations && any_active(); ++it) {
      std::vector<double> rho_new = dot(*r0, *r), beta(at(B_), 0.0);
      for (int64_t b = 0; b < B_; ++b) {
        if (!status_.active[at(b)]) continue;
        beta[at(b)] = rho_new[at(b)] / rho[at(b)] * alpha[at(b)] / omega[at(b)];
        if (rho_new[at(b)] == 0 || !finite(beta[at(b)])) diverge(b);
      }
      // p = r + β (p − ω v)
      {
        T* pp = ptr(*p);
        const T* pr = ptr(*r);
        const T* pv = ptr(*v);
        blocks_.run([&](int64_t, int64_t b, int64_t i0, int64_t i1) {
          auto bb = static_cast<T>(beta[at(b)]), wb = static_cast<T>(omega[at(b)]);
          for (int64_t i = b * n_ + i0; i < b * n_ + i1; ++i) pp[i] = pr[i] + bb * (pp[i] - wb * pv[i]);
        });
      }
      precondition(p, ph);
      apply(*ph, *v);
      alpha = ratio(rho_new, dot(*r0, *v));
      // s = r − α v
      combine(*s, *r, negate(alpha), *v);
      precondition(s, sh);
      apply(*sh, *t);
      auto tt_ts = blocks_.reduce<2>([&](int64_t b, int64_t i0, int64_t i1, double* acc) {
        const T* pt = ptr(*t);
        const T* ps = ptr(*s);
        for (int64_t i = b * n_ + i0; i < b * n_ + i1; ++i) {
          acc[0] += double(pt[i]) * double(pt[i]);
          acc[1] += double(pt[i]) * double(ps[i]);
        }
      });
      // ω = t·s / t·t; t = 0 means s = 0: the half step already solved it (ω = 0).
      for (int64_t b = 0; b < B_; ++b)
        omega[at(b)] = tt_ts[0][at(b)] == 0 ? 0.0 : tt_ts[1][at(b)] / tt_ts[0][at(b)];
      // x += α p̂ + ω ŝ; r = s − ω t
      T* px = ptr(x_);
      T* pr = ptr(*r);
      auto rr_bad = blocks_.reduce<2>([&](int64_t b, int64_t i0, int64_t i1, double* acc) {
        if (!status_.active[at(b)]) {
          for (int64_t i = b * n_ + i0; i < b * n_ + i1; ++i) acc[0] += double(pr[i]) * double(pr[i]);
          return;
        }
        auto ab = static_cast<T>(alpha[at(b)]), wb = static_cast<T>(omega[at(b)]);
        const T* pph = ptr(*ph);
        const T* psh = ptr(*sh);
        const T* ps = ptr(*s);
        const T* pt = ptr(*t);
        for (int64_t i = b * n_ + i0; i < b * n_ + i1; ++i) {
          px[i] += ab * pph[i] + wb * psh[i];
          pr[i] = ps[i] - wb * pt[i];
          acc[0] += double(pr[i]) * double(pr[i]);
          acc[1] += double(px[i]) * 0.0;
        }
      });
      step_done(rr_bad[1], [&](int64_t b) {
        revert_x(b, alpha[at(b)], *ph);
        revert_x(b, omega[at(b)], *sh);
      });
      std::vector<bool> restart = confirm(sqrt_of(rr_bad[0]), *r);
      for (int64_t b = 0; b < B_; ++b) {
        if (restart[at(b)]) {  // start over from the true residual
          std::memcpy(ptr(*r0) + b * n_, ptr(*r) + b * n_, static_cast<size_t>(n_) * sizeof(T));
          rho[at(b)] = alpha[at(b)] = omega[at(b)] = 1;
          std::fill_n(ptr(*p) + b * n_, n_, T(0));
          std::fill_n(ptr(*v) + b * n_, n_, T(0));
        } else {
          rho[at(b)] = rho_new[at(b)];
        }
        if (status_.active[at(b)] && omega[at(b)] == 0 && !restart[at(b)]) diverge(b);  // stagnation
      }
    }
  }
  static std::vector<double> negate(std::vector<double> v) {
    for (double& e : v) e = -e;
    return v;
  }

  // Restarted GMRES with right preconditioning: modified Gram–Schmidt, Givens rotations, and
  // per entry the least-squares solution of the step where it converged.
  void gmres() {
    const int m = kGmresRestart;
    Vec r = vec(), w = vec(), zt;
    std::vector<Vec> V;
    std::vector<double> norms = residual(*r);
    start(norms);
    auto nb = at(B_);
    // Per entry: Hessenberg columns (rotated to upper triangular), rotations and g.
    std::vector<std::vector<double>> H(nb), cs(nb), sn(nb), g(nb);
    int total = 0;
    while (total < s_.max_iterations && any_active()) {
      V.resize(1);
      if (!V[0]) V[0] = vec();
      for (int64_t b = 0; b < B_; ++b) {
        g[at(b)].assign(static_cast<size_t>(m + 1), 0.0);
        g[at(b)][0] = norms[at(b)];
        H[at(b)].assign(static_cast<size_t>((m + 1) * m), 0.0);
        cs[at(b)].assign(static_cast<size_t>(m), 0.0);
        sn[at(b)].assign(static_cast<size_t>(m), 0.0);
      }
      scale(*V[0], *r, inverse(norms));
      std::vector<int> steps(nb, 0);      // inner steps each entry takes this cycle
      std::vector<bool> done(nb, false);  // reached the tolerance (or a breakdown) this cycle
      std::vector<bool> breakdown(nb, false);
      for (int64_t b = 0; b < B_; ++b) done[at(b)] = !status_.active[at(b)];
      int j = 0;
      for (; j < m && total < s_.max_iterations && std::find(done.begin(), done.end(), false) != done.end();
           ++j) {
        ++total;
        precondition(V[static_cast<size_t>(j)], zt);
        apply(*zt, *w);
        for (int i = 0; i <= j; ++i) {
          std::vector<double> h = dot(*w, *V[static_cast<size_t>(i)]);
          for (int64_t b = 0; b < B_; ++b) H[at(b)][static_cast<size_t>(i * m + j)] = h[at(b)];
          combine(*w, *w, negate(h), *V[static_cast<size_t>(i)]);
        }
        std::vector<double> hn = sqrt_of(dot(*w, *w));
        V.push_back(vec());
        scale(*V.back(), *w, inverse(hn));
        for (int64_t b = 0; b < B_; ++b) {
          if (done[at(b)]) continue;
          std::vector<double>& Hb = H[at(b)];
          auto h = [&](int i, int k) -> double& { return Hb[static_cast<size_t>(i * m + k)]; };
          h(j + 1, j) = hn[at(b)];
          for (int i = 0; i < j; ++i) {  // earlier rotations
            double a = h(i, j), c = h(i + 1, j);
            h(i, j) = cs[at(b)][static_cast<size_t>(i)] * a + sn[at(b)][static_cast<size_t>(i)] * c;
            h(i + 1, j) = -sn[at(b)][static_cast<size_t>(i)] * a + cs[at(b)][static_cast<size_t>(i)] * c;
          }
          double a = h(j, j), c = h(j + 1, j), d = std::hypot(a, c);
          if (!finite(d)) {
            diverge(b);
            done[at(b)] = true;
            continue;
          }
          cs[at(b)][static_cast<size_t>(j)] = d == 0 ? 1 : a / d;
          sn[at(b)][static_cast<size_t>(j)] = d == 0 ? 0 : c / d;
          h(j, j) = d;
          h(j + 1, j) = 0;
          g[at(b)][static_cast<size_t>(j + 1)] =
              -sn[at(b)][static_cast<size_t>(j)] * g[at(b)][static_cast<size_t>(j)];
          g[at(b)][static_cast<size_t>(j)] *= cs[at(b)][static_cast<size_t>(j)];
          steps[at(b)] = j + 1;
          ++status_.iterations[at(b)];
          // |g[j+1]| is the residual norm of the step. A zero h(j+1, j) ends the Krylov space:
          // the exact solution, unless h(j, j) is zero too (a singular operator: breakdown).
          if (std::abs(g[at(b)][static_cast<size_t>(j + 1)]) <= s_.tolerance[at(b)] || hn[at(b)] == 0) {
            done[at(b)] = true;
            if (hn[at(b)] == 0 && d == 0) breakdown[at(b)] = true;
          }
        }
        if (s_.record_trajectory) {  // x of this step, formed only when recorded
          auto saved = vec();
          copy(x_, *saved);
          add_correction(V, steps, H, g, zt);
          record();
          copy(*saved, x_);
        }
      }
      add_correction(V, steps, H, g, zt);
      norms = residual(*r);
      for (int64_t b = 0; b < B_; ++b) {
        if (!status_.active[at(b)]) continue;
        if (!finite(norms[at(b)])) {
          diverge(b);
        } else if (norms[at(b)] <= s_.tolerance[at(b)]) {
          status_.converge(b);
        } else if (breakdown[at(b)] || (steps[at(b)] == 0 && j > 0)) {
          diverge(b);  // no progress possible
        }
      }
    }
  }
  static std::vector<double> inverse(std::vector<double> v) {
    for (double& e : v) e = e == 0 ? 0.0 : 1.0 / e;
    return v;
  }
  void scale(Buffer& out, const Buffer& in, const std::vector<double>& c) {
    T* po = ptr(out);
    const T* pi = ptr(in);
    blocks_.run([&](int64_t, int64_t b, int64_t i0, int64_t i1) {
      auto cb = static_cast<T>(c[at(b)]);
      for (int64_t i = b * n_ + i0; i < b * n_ + i1; ++i) po[i] = cb * pi[i];
    });
  }
  // x += M⁻¹ (V y) with y solving each entry's triangular system of its `steps`.
  void add_correction(const std::vector<Vec>& V, const std::vector<int>& steps,
                      const std::vector<std::vector<double>>& H, const std::vector<std::vector<double>>& g,
                      Vec& zt) {
    const int m = kGmresRestart;
    std::vector<std::vector<double>> coef(at(B_));
    int k_max = 0;
    for (int64_t b = 0; b < B_; ++b) {
      int k = steps[at(b)];
      k_max = std::max(k_max, k);
      std::vector<double>& y = coef[at(b)];
      y.assign(static_cast<size_t>(k), 0.0);
      for (int i = k - 1; i >= 0; --i) {
        double s = g[at(b)][static_cast<size_t>(i)];
        for (int l = i + 1; l < k; ++l)
          s -= H[at(b)][static_cast<size_t>(i * m + l)] * y[static_cast<size_t>(l)];
        double d = H[at(b)][static_cast<size_t>(i * m + i)];
        y[static_cast<size_t>(i)] = d == 0 ? 0.0 : s / d;
      }
    }
    if (k_max == 0) return;
    auto u = vec();
    std::fill_n(ptr(*u), B_ * n_, T(0));
    for (int i = 0; i < k_max; ++i) {
      std::vector<double> c(at(B_), 0.0);
      for (int64_t b = 0; b < B_; ++b) {
        if (i < steps[at(b)]) c[at(b)] = coef[at(b)][static_cast<size_t>(i)];
      }
      combine(*u, *u, c, *V[static_cast<size_t>(i)]);
    }
    precondition(u, zt);
    std::vector<double> one(at(B_), 1.0);
    combine(x_, x_, one, *zt);
  }

  const LinearOperator& A_;
  const Buffer& y_;
  Buffer& x_;
  int64_t B_, n_;
  const KrylovSettings& s_;
  BatchSpace blocks_;
  BatchStatus status_;
  KrylovResult res_;  // the trajectory as it is recorded; the rest is filled in at the end
};

}  // namespace

KrylovResult solve_krylov(const LinearOperator& A, const Buffer& y, Buffer& x, int64_t batch,
                          const KrylovSettings& settings) {
  if (A.rows() != A.cols()) {
    throw Error(fmt::format("solve_krylov: {} needs a square operator, got {} rows and {} columns",
                            solve_method_name(settings.method), A.rows(), A.cols()));
  }
  if (y.dtype() != x.dtype() || (y.dtype() != DType::f32 && y.dtype() != DType::f64)) {
    throw Error(fmt::format("solve_krylov: y and x must share a float dtype, got {} and {}",
                            dtype_name(y.dtype()), dtype_name(x.dtype())));
  }
  if (y.count() != batch * A.rows() || x.count() != batch * A.cols() ||
      static_cast<int64_t>(settings.tolerance.size()) != batch) {
    throw InternalError("solve_krylov: y, x and the tolerances must hold one entry per batch vector");
  }
  if (y.dtype() == DType::f32) return Solver<float>(A, y, x, batch, settings).run();
  return Solver<double>(A, y, x, batch, settings).run();
}

}  // namespace phijit::runtime
