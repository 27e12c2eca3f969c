// Randomized tests of linear extraction (API §5, §6): a seeded generator builds random affine
// functions f(x) (and f(x, k, m) with a coefficient argument k and a mask argument m) as
// expression trees of the linearizable ops, and each is checked against the independent
// answer: f itself, probed with unit vectors (check_by_probing), plus A·x + b == f(x) and
// jit_compile_linear(f)(x) == f(x) for random (also batched) x. The probed A is in turn the
// oracle of autodiff: the VJP of f at a random v (gradient of sum(v · f(x))) must be Aᵀ·v.
//
// Every subexpression keeps x's dims (possibly reordered, possibly with an extra batch dim from
// a batched coefficient); shape-changing ops come in pairs (pad then slice, sum then
// broadcast, stack then sum or slice, concat then slice, rename then rename back).
#include <phijit/phijit.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "linear_helpers.h"
#include "test_helpers.h"

using namespace phijit;

namespace {

template <class... Parts>
std::string cat(const Parts&... parts) {
  std::ostringstream s;
  (s << ... << parts);
  return s.str();
}

// An expression: its evaluation given x, the coefficient k and the mask m, and its text.
using Fn = std::function<Tensor(const Tensor& x, const Tensor& k, const Tensor& m)>;
struct Expr {
  Fn f;
  std::string s;
};

Shape one_dim(const std::string& name, int64_t size, DimType type) {
  return Shape({Dim{name, size, type, {}}});
}

class Generator {
 public:
  Generator(uint64_t seed, bool f32)
      : rng_(seed * 7919 + 17), seed_base_(seed * 1000), dt_(f32 ? DType::f32 : DType::f64) {
    dims_.push_back({"x", uni(3, 6), DimType::spatial});
    if (coin(0.5)) dims_.push_back({"y", uni(2, 4), DimType::spatial});
    if (coin(0.35)) dims_.push_back({"c", uni(2, 3), DimType::channel});
    for (const D& d : dims_) S_ = S_ & one_dim(d.name, d.size, d.type);
    if (coin(0.3)) batch_ = batch("b", uni(2, 3));
    with_args_ = coin(0.5);
    Shape ks = sub_shape(true) & batch_;
    k_ = field(ks);
    k_str_ = cat("k", ks.str());
    Shape ms = sub_shape(true) & (coin(0.5) ? batch_ : Shape());
    m_ = random_uniform(ms, 0, 1, next_seed()) > 0.5;
    m_str_ = cat("m", ms.str());
    k2_ = field(ks);
    m2_ = random_uniform(ms, 0, 1, next_seed()) > 0.5;
  }

  const Shape& x_shape() const { return S_; }
  DType dtype() const { return dt_; }
  bool with_args() const { return with_args_; }
  const Tensor& k() const { return k_; }
  const Tensor& m() const { return m_; }
  const Tensor& k2() const { return k2_; }
  const Tensor& m2() const { return m2_; }
  std::string describe() const {
    return cat("x", S_.str(), " ", dt_ == DType::f32 ? "f32" : "f64", ", ", k_str_, ", ", m_str_,
               with_args_ ? " (k, m are arguments)" : " (k, m are captured constants)");
  }
  uint64_t next_seed() { return seed_base_ + seeds_++; }

  // A random affine expression of at most `depth` levels; the root is never x alone.
  Expr gen(int depth, bool root = false) {
    if (depth <= 0 || budget_ <= 0 || (!root && coin(0.15))) return leaf();
    --budget_;
    switch (uni(0, 22)) {
      case 0: return add(depth);
      case 1: return sub(depth);
      case 2: return neg(depth);
      case 3: return scale(depth);
      case 4: return field_mul(depth);
      case 5: return field_div(depth);
      case 6: return bias(depth);
      case 7: return shift_op(depth);
      case 8: return pad_slice(depth);
      case 9: return laplace_op(depth);
      case 10: return gradient_op(depth);
      case 11: return where_const(depth);
      case 12: return where_arg(depth);
      case 13: return sum_broadcast(depth);
      case 14: return slice_concat(depth);
      case 15: return concat_slice(depth);
      case 16: return stack_op(depth);
      case 17: return rename_op(depth);
      case 18: return k_op(depth);
      case 19: return dense_mix(depth);
      case 20: return slice_index(depth);
      case 21: return grid_sample_op(depth);
      default: return add(depth);
    }
  }

 private:
  struct D {
    std::string name;
    int64_t size;
    DimType type;
  };

  int64_t uni(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }
  bool coin(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  // A constant with two decimals, |c| in [lo, hi], random sign when `sign`.
  double constant(double lo, double hi, bool sign = true) {
    double c = std::round(std::uniform_real_distribution<double>(lo, hi)(rng_) * 100) / 100;
    return sign && coin(0.5) ? -c : c;
  }
  const D& any_dim() { return dims_[static_cast<size_t>(uni(0, static_cast<int64_t>(dims_.size()) - 1))]; }
  std::vector<D> spatial_dims() const {
    std::vector<D> out;
    for (const D& d : dims_)
      if (d.type == DimType::spatial) out.push_back(d);
    return out;
  }
  // A random subset of x's dims (maybe none; at least one when `nonempty`), sometimes with
  // the batch dim.
  Shape sub_shape(bool nonempty = false, bool allow_batch = true) {
    Shape s;
    for (const D& d : dims_)
      if (coin(0.6)) s = s & one_dim(d.name, d.size, d.type);
    if (nonempty && s.rank() == 0) s = one_dim(dims_[0].name, dims_[0].size, dims_[0].type);
    if (allow_batch && batch_.rank() > 0 && coin(0.15)) s = s & batch_;
    return s;
  }
  Tensor cast(const Tensor& t) const { return t.astype(dt_); }
  Tensor field(const Shape& s) { return cast(random_normal(s, next_seed())); }
  std::string field_str(const Shape& s, const char* what = "N") const {
    return cat(what, s.str(), "#", seed_base_ + seeds_ - 1);
  }
  // A field bounded away from zero: |G| in [0.5, 2] with random signs.
  Tensor nonzero_field(const Shape& s) {
    Tensor mag = random_uniform(s, 0.5, 2.0, next_seed());
    Tensor sgn = where(random_uniform(s, 0, 1, next_seed()) > 0.3, Tensor(1.0), Tensor(-1.0));
    return cast(mag * sgn);
  }
  Tensor mask(const Shape& s) { return random_uniform(s, 0, 1, next_seed()) > 0.5; }
  std::pair<Extrapolation, std::string> extrap() {
    Extrapolation e = extrapolation::ZERO;
    switch (uni(0, 4)) {
      case 0: e = extrapolation::ZERO; break;
      case 1: e = extrapolation::ONE; break;
      case 2: e = extrapolation::PERIODIC; break;
      case 3: e = extrapolation::ZERO_GRADIENT; break;
      default: e = extrapolation::constant(constant(0.25, 3)); break;
    }
    return {e, e.str()};
  }
  Tensor zeros_of(const Shape& s) const { return zeros(s, dt_); }
  Shape shape_of(const Expr& e) const { return e.f(zeros_of(S_), k_, m_).shape(); }
  // Makes a and b the same shape (dim order included, as concat needs) by adding zeros of
  // their union where they differ.
  void align(Expr& a, Expr& b) const {
    Shape sa = shape_of(a), sb = shape_of(b);
    if (sa == sb) return;
    Shape u = sa & sb;
    for (Expr* e : {&a, &b}) {
      Tensor z = zeros_of(u);
      e->f = [z, f = e->f](const Tensor& x, const Tensor& k, const Tensor& m) { return z + f(x, k, m); };
      e->s = cat("(0", u.str(), " + ", e->s, ")");
    }
  }

  Expr leaf() {
    return {[](const Tensor& x, const Tensor&, const Tensor&) { return x; }, "x"};
  }

  Expr add(int depth) {
    Expr a = gen(depth - 1), b = gen(depth - 1);
    return {[a, b](const Tensor& x, const Tensor& k, const Tensor& m) { return a.f(x, k, m) + b.f(x, k, m); },
            cat("(", a.s, " + ", b.s, ")")};
  }
  Expr sub(int depth) {
    Expr a = gen(depth - 1), b = gen(depth - 1);
    return {[a, b](const Tensor& x, const Tensor& k, const Tensor& m) { return a.f(x, k, m) - b.f(x, k, m); },
            cat("(", a.s, " - ", b.s, ")")};
  }
  Expr neg(int depth) {
    Expr a = gen(depth - 1);
    return {[a](const Tensor& x, const Tensor& k, const Tensor& m) { return -a.f(x, k, m); }, cat("-", a.s)};
  }
  Expr scale(int depth) {
    Expr a = gen(depth - 1);
    double c = constant(0.5, 2);
    switch (uni(0, 2)) {
      case 0:
        return {[a, c](const Tensor& x, const Tensor& k, const Tensor& m) { return c * a.f(x, k, m); },
                cat("(", c, " * ", a.s, ")")};
      case 1:
        return {[a, c](const Tensor& x, const Tensor& k, const Tensor& m) { return a.f(x, k, m) * c; },
                cat("(", a.s, " * ", c, ")")};
      default:
        return {[a, c](const Tensor& x, const Tensor& k, const Tensor& m) { return a.f(x, k, m) / c; },
                cat("(", a.s, " / ", c, ")")};
    }
  }
  Expr field_mul(int depth) {
    Expr a = gen(depth - 1);
    Shape s = sub_shape();
    Tensor F = field(s);
    std::string fs = field_str(s);
    if (coin(0.5)) {
      return {[a, F](const Tensor& x, const Tensor& k, const Tensor& m) { return a.f(x, k, m) * F; },
              cat("(", a.s, " * ", fs, ")")};
    }
    return {[a, F](const Tensor& x, const Tensor& k, const Tensor& m) { return F * a.f(x, k, m); },
            cat("(", fs, " * ", a.s, ")")};
  }
  Expr field_div(int depth) {
    Expr a = gen(depth - 1);
    Shape s = sub_shape();
    Tensor G = nonzero_field(s);
    std::string gs = field_str(s, "G");
    return {[a, G](const Tensor& x, const Tensor& k, const Tensor& m) { return a.f(x, k, m) / G; },
            cat("(", a.s, " / ", gs, ")")};
  }
  Expr bias(int depth) {
    Expr a = gen(depth - 1);
    if (coin(0.3)) {
      double c = constant(0.1, 3);
      if (coin(0.5)) {
        return {[a, c](const Tensor& x, const Tensor& k, const Tensor& m) { return a.f(x, k, m) + c; },
                cat("(", a.s, " + ", c, ")")};
      }
      return {[a, c](const Tensor& x, const Tensor& k, const Tensor& m) { return c - a.f(x, k, m); },
              cat("(", c, " - ", a.s, ")")};
    }
    Shape s = sub_shape();
    Tensor F = field(s);
    std::string fs = field_str(s);
    switch (uni(0, 2)) {
      case 0:
        return {[a, F](const Tensor& x, const Tensor& k, const Tensor& m) { return a.f(x, k, m) + F; },
                cat("(", a.s, " + ", fs, ")")};
      case 1:
        return {[a, F](const Tensor& x, const Tensor& k, const Tensor& m) { return F - a.f(x, k, m); },
                cat("(", fs, " - ", a.s, ")")};
      default:
        return {[a, F](const Tensor& x, const Tensor& k, const Tensor& m) { return a.f(x, k, m) - F; },
                cat("(", a.s, " - ", fs, ")")};
    }
  }
  Expr shift_op(int depth) {
    Expr a = gen(depth - 1);
    const D d = any_dim();
    int64_t r = std::min<int64_t>(d.size, 3);
    int64_t off = uni(-r, r);
    auto [e, es] = extrap();
    std::string name = d.name;
    return {[a, name, off, e](const Tensor& x, const Tensor& k, const Tensor& m) {
              return shift(a.f(x, k, m), name, off, e);
            },
            cat("shift(", a.s, ", ", name, ", ", off, ", ", es, ")")};
  }
  Expr pad_slice(int depth) {
    Expr a = gen(depth - 1);
    std::map<std::string, std::pair<int64_t, int64_t>> widths;
    std::vector<std::pair<D, int64_t>> slices;  // dim, start
    std::string ws;
    int n = coin(0.3) && dims_.size() > 1 ? 2 : 1;
    for (int i = 0; i < n; ++i) {
      D d = any_dim();
      if (widths.count(d.name)) continue;
      int64_t lo = uni(0, 3), hi = uni(0, 3);
      widths[d.name] = {lo, hi};
      slices.push_back({d, uni(0, lo + hi)});
      ws += cat(ws.empty() ? "" : ", ", d.name, ":(", lo, ",", hi, ")");
    }
    auto [e, es] = extrap();
    // Optionally something on the padded tensor before slicing back.
    Fn inner = [](const Tensor& x, const Tensor&, const Tensor&) { return x; };
    std::string inner_pre, inner_post;
    const D& pd = slices[0].first;
    int64_t padded = pd.size + widths[pd.name].first + widths[pd.name].second;
    switch (uni(0, 3)) {
      case 0: {
        int64_t off = uni(-2, 2);
        auto [e2, es2] = extrap();
        std::string name = pd.name;
        inner = [name, off, e2](const Tensor& p, const Tensor&, const Tensor&) {
          return shift(p, name, off, e2);
        };
        inner_pre = "shift(";
        inner_post = cat(", ", name, ", ", off, ", ", es2, ")");
        break;
      }
      case 1: {
        auto [e2, es2] = extrap();
        inner = [e2](const Tensor& p, const Tensor&, const Tensor&) { return laplace(p, e2); };
        inner_pre = "laplace(";
        inner_post = cat(", ", es2, ")");
        break;
      }
      case 2: {
        Shape fs = one_dim(pd.name, padded, pd.type);
        Tensor F = field(fs);
        std::string fstr = field_str(fs);
        inner = [F](const Tensor& p, const Tensor&, const Tensor&) { return p * F; };
        inner_pre = "(";
        inner_post = cat(" * ", fstr, ")");
        break;
      }
      default: break;
    }
    std::string ss;
    for (const auto& [d, start] : slices)
      ss += cat(".slice(", d.name, ", ", start, ", ", start + d.size, ")");
    return {[a, widths, e, inner, slices](const Tensor& x, const Tensor& k, const Tensor& m) {
              Tensor p = inner(pad(a.f(x, k, m), widths, e), k, m);
              for (const auto& [d, start] : slices) p = p.slice(d.name, start, start + d.size);
              return p;
            },
            cat(inner_pre, "pad(", a.s, ", {", ws, "}, ", es, ")", inner_post, ss)};
  }
  Expr laplace_op(int depth) {
    Expr a = gen(depth - 1);
    auto [e, es] = extrap();
    double dx = std::vector<double>{1, 0.5, 2}[static_cast<size_t>(uni(0, 2))];
    return {[a, e, dx](const Tensor& x, const Tensor& k, const Tensor& m) {
              return laplace(a.f(x, k, m), e, dx);
            },
            cat("laplace(", a.s, ", ", es, ", dx=", dx, ")")};
  }
  Expr gradient_op(int depth) {
    Expr a = gen(depth - 1);
    auto [e, es] = extrap();
    double dx = std::vector<double>{1, 0.5}[static_cast<size_t>(uni(0, 1))];
    int64_t ns = static_cast<int64_t>(spatial_dims().size());
    std::string g = cat("spatial_gradient(", a.s, ", ", es, ", dx=", dx, ")");
    switch (uni(0, 3)) {
      case 0:
        return {[a, e, dx](const Tensor& x, const Tensor& k, const Tensor& m) {
                  return sum(spatial_gradient(a.f(x, k, m), e, dx), "gradient");
                },
                cat("sum(", g, ", gradient)")};
      case 1: {
        int64_t i = uni(0, ns - 1);
        return {[a, e, dx, i](const Tensor& x, const Tensor& k, const Tensor& m) {
                  return spatial_gradient(a.f(x, k, m), e, dx).slice("gradient", i);
                },
                cat(g, ".slice(gradient, ", i, ")")};
      }
      case 2: {
        int64_t i = uni(0, ns - 1);
        return {[a, e, dx, i, ns](const Tensor& x, const Tensor& k, const Tensor& m) {
                  return sum(spatial_gradient(a.f(x, k, m), e, dx).slice("gradient", i, ns), "gradient");
                },
                cat("sum(", g, ".slice(gradient, ", i, ", ", ns, "), gradient)")};
      }
      default: {
        Shape ws = channel("gradient", ns);
        Tensor W = field(ws);
        std::string wstr = field_str(ws);
        return {[a, e, dx, W](const Tensor& x, const Tensor& k, const Tensor& m) {
                  return mean(spatial_gradient(a.f(x, k, m), e, dx) * W, "gradient");
                },
                cat("mean(", g, " * ", wstr, ", gradient)")};
      }
    }
  }
  Expr where_const(int depth) {
    Expr a = gen(depth - 1);
    Shape s = sub_shape();
    Tensor M = mask(s);
    std::string ms = field_str(s, "M");
    switch (uni(0, 3)) {
      case 0: {
        Expr b = gen(depth - 1);
        return {[a, b, M](const Tensor& x, const Tensor& k, const Tensor& m) {
                  return where(M, a.f(x, k, m), b.f(x, k, m));
                },
                cat("where(", ms, ", ", a.s, ", ", b.s, ")")};
      }
      case 1: {
        Shape fs = sub_shape();
        Tensor F = field(fs);
        std::string fstr = field_str(fs);
        return {[a, F, M](const Tensor& x, const Tensor& k, const Tensor& m) {
                  return where(M, a.f(x, k, m), F);
                },
                cat("where(", ms, ", ", a.s, ", ", fstr, ")")};
      }
      case 2: {
        Shape fs = sub_shape();
        Tensor F = field(fs);
        std::string fstr = field_str(fs);
        return {[a, F, M](const Tensor& x, const Tensor& k, const Tensor& m) {
                  return where(M, F, a.f(x, k, m));
                },
                cat("where(", ms, ", ", fstr, ", ", a.s, ")")};
      }
      default: {
        double c = constant(0, 2);
        return {[a, c, M](const Tensor& x, const Tensor& k, const Tensor& m) {
                  return where(M, a.f(x, k, m), Tensor(c));
                },
                cat("where(", ms, ", ", a.s, ", ", c, ")")};
      }
    }
  }
  Expr where_arg(int depth) {
    Expr a = gen(depth - 1);
    switch (uni(0, 2)) {
      case 0: {
        Expr b = gen(depth - 1);
        return {[a, b](const Tensor& x, const Tensor& k, const Tensor& m) {
                  return where(m, a.f(x, k, m), b.f(x, k, m));
                },
                cat("where(m, ", a.s, ", ", b.s, ")")};
      }
      case 1:
        return {[a](const Tensor& x, const Tensor& k, const Tensor& m) {
                  return where(m, Tensor(0.0), a.f(x, k, m));
                },
                cat("where(m, 0, ", a.s, ")")};
      default: {
        Expr b = gen(depth - 1);
        return {[a, b](const Tensor& x, const Tensor& k, const Tensor& m) {
                  return where(k > 0.0, a.f(x, k, m), b.f(x, k, m));
                },
                cat("where(k > 0, ", a.s, ", ", b.s, ")")};
      }
    }
  }
  Expr sum_broadcast(int depth) {
    Expr a = gen(depth - 1);
    const D d = any_dim();
    std::string name = d.name;
    switch (uni(0, 4)) {
      case 0: {
        Expr b = gen(depth - 1);
        return {[a, b, name](const Tensor& x, const Tensor& k, const Tensor& m) {
                  return sum(a.f(x, k, m), name) + b.f(x, k, m);
                },
                cat("(sum(", a.s, ", ", name, ") + ", b.s, ")")};
      }
      case 1: {
        Expr b = gen(depth - 1);
        return {[a, b, name](const Tensor& x, const Tensor& k, const Tensor& m) {
                  return b.f(x, k, m) - mean(a.f(x, k, m), name);
                },
                cat("(", b.s, " - mean(", a.s, ", ", name, "))")};
      }
      case 2: {
        Shape fs = sub_shape() & one_dim(d.name, d.size, d.type);
        Tensor F = field(fs);
        std::string fstr = field_str(fs);
        return {[a, F, name](const Tensor& x, const Tensor& k, const Tensor& m) {
                  return sum(a.f(x, k, m), name) * F;
                },
                cat("(sum(", a.s, ", ", name, ") * ", fstr, ")")};
      }
      case 3: {
        // Every non-batch dim at once, then back through zeros of x's shape.
        Tensor z = zeros_of(S_);
        return {[a, z](const Tensor& x, const Tensor& k, const Tensor& m) { return sum(a.f(x, k, m)) + z; },
                cat("(sum(", a.s, ") + 0", S_.str(), ")")};
      }
      default: {
        std::string names = name;
        const D d2 = any_dim();
        if (d2.name != name) names += "," + d2.name;
        Tensor z = zeros_of(S_);
        return {[a, z, names](const Tensor& x, const Tensor& k, const Tensor& m) {
                  return z + sum(a.f(x, k, m), names);
                },
                cat("(0", S_.str(), " + sum(", a.s, ", ", names, "))")};
      }
    }
  }
  Expr slice_concat(int depth) {
    Expr a = gen(depth - 1), b = gen(depth - 1);
    align(a, b);
    const D d = any_dim();
    int64_t s = uni(0, d.size);
    std::string name = d.name;
    int64_t n = d.size;
    if (coin(0.3) && n >= 3) {  // three pieces
      int64_t t = uni(s, n);
      return {[a, b, name, s, t, n](const Tensor& x, const Tensor& k, const Tensor& m) {
                Tensor ax = a.f(x, k, m), bx = b.f(x, k, m);
                return concat({ax.slice(name, 0, s), bx.slice(name, s, t), ax.slice(name, t, n)}, name);
              },
              cat("concat(", a.s, ".slice(", name, ", 0, ", s, "), ", b.s, ".slice(", name, ", ", s, ", ", t,
                  "), ", a.s, ".slice(", name, ", ", t, ", ", n, "), ", name, ")")};
    }
    return {[a, b, name, s, n](const Tensor& x, const Tensor& k, const Tensor& m) {
              return concat({a.f(x, k, m).slice(name, 0, s), b.f(x, k, m).slice(name, s, n)}, name);
            },
            cat("concat(", a.s, ".slice(", name, ", 0, ", s, "), ", b.s, ".slice(", name, ", ", s, ", ", n,
                "), ", name, ")")};
  }
  Expr concat_slice(int depth) {
    Expr a = gen(depth - 1), b = gen(depth - 1);
    align(a, b);
    const D d = any_dim();
    int64_t start = uni(0, d.size);
    std::string name = d.name;
    int64_t n = d.size;
    return {[a, b, name, start, n](const Tensor& x, const Tensor& k, const Tensor& m) {
              return concat({a.f(x, k, m), b.f(x, k, m)}, name).slice(name, start, start + n);
            },
            cat("concat(", a.s, ", ", b.s, ", ", name, ").slice(", name, ", ", start, ", ", start + n, ")")};
  }
  Expr stack_op(int depth) {
    int64_t count = uni(2, 3);
    std::vector<Expr> parts;
    std::string ps;
    for (int64_t i = 0; i < count; ++i) {
      parts.push_back(gen(depth - 1));
      ps += cat(i ? ", " : "", parts.back().s);
    }
    Shape sd;
    switch (uni(0, 2)) {
      case 0: sd = channel("st", count); break;
      case 1: sd = instance("st", count); break;
      default: sd = batch("st", count); break;
    }
    std::string st = cat("stack({", ps, "}, ", sd.str(), ")");
    auto stacked = [parts, sd](const Tensor& x, const Tensor& k, const Tensor& m) {
      std::vector<Tensor> v;
      for (const Expr& p : parts) v.push_back(p.f(x, k, m));
      return stack(v, sd);
    };
    switch (uni(0, 2)) {
      case 0:
        return {[stacked](const Tensor& x, const Tensor& k, const Tensor& m) {
                  return sum(stacked(x, k, m), "st");
                },
                cat("sum(", st, ", st)")};
      case 1: {
        int64_t i = uni(0, count - 1);
        return {[stacked, i](const Tensor& x, const Tensor& k, const Tensor& m) {
                  return stacked(x, k, m).slice("st", i);
                },
                cat(st, ".slice(st, ", i, ")")};
      }
      default: {
        Shape ws = sub_shape(false, false) & sd;
        Tensor W = field(ws);
        std::string wstr = field_str(ws);
        return {[stacked, W](const Tensor& x, const Tensor& k, const Tensor& m) {
                  return sum(stacked(x, k, m) * W, "st");
                },
                cat("sum(", st, " * ", wstr, ", st)")};
      }
    }
  }
  // grid_sample along one or both spatial dims at fixed coordinates over those dims' cells (so
  // the dims stay), from 1.5 cells before the first to 1.5 after the last.
  Expr grid_sample_op(int depth) {
    Expr a = gen(depth - 1);
    std::vector<D> sp = spatial_dims();
    if (sp.size() == 2 && coin(0.5)) sp.erase(sp.begin() + uni(0, 1));
    Shape points;
    std::vector<std::string> names;
    for (const D& d : sp) {
      points = points & one_dim(d.name, d.size, d.type);
      names.push_back(d.name);
    }
    std::vector<Tensor> components;
    for (const D& d : sp)
      components.push_back(
          cast(random_uniform(points, -1.5, static_cast<double>(d.size) + 0.5, next_seed())));
    Tensor c = stack(components, channel("vector", names));
    std::string cs = field_str(c.shape(), "C");
    auto [e, es] = extrap();
    return {[a, c, e](const Tensor& x, const Tensor& k, const Tensor& m) {
              return grid_sample(a.f(x, k, m), c, e);
            },
            cat("grid_sample(", a.s, ", ", cs, ", ", es, ")")};
  }
  Expr rename_op(int depth) {
    Expr a = gen(depth - 1);
    std::vector<D> sp = spatial_dims();
    int choice = static_cast<int>(uni(0, 2));
    if (choice == 2 && !(sp.size() == 2 && sp[0].size == sp[1].size)) choice = 0;
    if (choice == 0) {  // d -> u, something along u, u -> d
      const D d = any_dim();
      std::string name = d.name;
      Shape us = one_dim("u", d.size, d.type);
      Shape back = one_dim(d.name, d.size, d.type);
      if (coin(0.5)) {
        int64_t off = uni(-2, 2);
        auto [e, es] = extrap();
        return {
            [a, name, us, back, off, e](const Tensor& x, const Tensor& k, const Tensor& m) {
              return rename_dims(shift(rename_dims(a.f(x, k, m), {{name, us}}), "u", off, e), {{"u", back}});
            },
            cat("rename(shift(rename(", a.s, ", ", name, "->u), u, ", off, ", ", es, "), u->", name, ")")};
      }
      Tensor F = field(us);
      std::string fstr = field_str(us);
      return {[a, name, us, back, F](const Tensor& x, const Tensor& k, const Tensor& m) {
                return rename_dims(rename_dims(a.f(x, k, m), {{name, us}}) * F, {{"u", back}});
              },
              cat("rename(rename(", a.s, ", ", name, "->u) * ", fstr, ", u->", name, ")")};
    }
    if (choice == 1) {  // a spatial dim becomes a channel (or instance) dim around a stencil
      const D d = sp[static_cast<size_t>(uni(0, static_cast<int64_t>(sp.size()) - 1))];
      std::string name = d.name;
      Shape back = one_dim(d.name, d.size, DimType::spatial);
      auto [e, es] = extrap();
      if (sp.size() >= 2) {
        Shape q = channel("q", d.size);
        return {[a, name, q, back, e](const Tensor& x, const Tensor& k, const Tensor& m) {
                  return rename_dims(laplace(rename_dims(a.f(x, k, m), {{name, q}}), e), {{"q", back}});
                },
                cat("rename(laplace(rename(", a.s, ", ", name, "->q:channel), ", es, "), q->", name, ")")};
      }
      Shape q = instance("q", d.size);
      int64_t off = uni(-2, 2);
      return {[a, name, q, back, e, off](const Tensor& x, const Tensor& k, const Tensor& m) {
                return rename_dims(shift(rename_dims(a.f(x, k, m), {{name, q}}), "q", off, e), {{"q", back}});
              },
              cat("rename(shift(rename(", a.s, ", ", name, "->q:instance), q, ", off, ", ", es, "), q->",
                  name, ")")};
    }
    // Swap the two spatial dims of equal size (a transpose).
    Shape sx = spatial("x", sp[0].size), sy = spatial("y", sp[1].size);
    return {[a, sx, sy](const Tensor& x, const Tensor& k, const Tensor& m) {
              return rename_dims(a.f(x, k, m), {{"x", sy}, {"y", sx}});
            },
            cat("rename(", a.s, ", x<->y)")};
  }
  Expr k_op(int depth) {
    Expr a = gen(depth - 1);
    switch (uni(0, 3)) {
      case 0:
        return {[a](const Tensor& x, const Tensor& k, const Tensor& m) { return a.f(x, k, m) * k; },
                cat("(", a.s, " * k)")};
      case 1:
        return {[a](const Tensor& x, const Tensor& k, const Tensor& m) { return k * a.f(x, k, m); },
                cat("(k * ", a.s, ")")};
      case 2:
        return {[a](const Tensor& x, const Tensor& k, const Tensor& m) { return a.f(x, k, m) + k; },
                cat("(", a.s, " + k)")};
      default:
        return {
            [a](const Tensor& x, const Tensor& k, const Tensor& m) { return a.f(x, k, m) / (2.0 + k * k); },
            cat("(", a.s, " / (2 + k*k))")};
    }
  }
  // A dense matrix along one dim: dot(a, d, W, "w") with W over (w, d).
  Expr dense_mix(int depth) {
    Expr a = gen(depth - 1);
    const D d = any_dim();
    Shape ws = instance("w", d.size) & one_dim(d.name, d.size, d.type);
    Tensor W = field(ws);
    std::string wstr = field_str(ws);
    std::string name = d.name;
    return {[a, W, name](const Tensor& x, const Tensor& k, const Tensor& m) {
              return dot(a.f(x, k, m), name, W, "w");
            },
            cat("dot(", a.s, ", ", name, ", ", wstr, ", w)")};
  }
  // One index of a dim, broadcast back by an affine or constant operand with that dim.
  Expr slice_index(int depth) {
    Expr a = gen(depth - 1);
    const D d = any_dim();
    int64_t i = uni(0, d.size - 1);
    std::string name = d.name;
    if (coin(0.5)) {
      Expr b = gen(depth - 1);
      return {[a, b, name, i](const Tensor& x, const Tensor& k, const Tensor& m) {
                return a.f(x, k, m).slice(name, i) + b.f(x, k, m);
              },
              cat("(", a.s, ".slice(", name, ", ", i, ") + ", b.s, ")")};
    }
    Shape fs = sub_shape() & one_dim(d.name, d.size, d.type);
    Tensor F = field(fs);
    std::string fstr = field_str(fs);
    return {[a, F, name, i](const Tensor& x, const Tensor& k, const Tensor& m) {
              return F * a.f(x, k, m).slice(name, i);
            },
            cat("(", fstr, " * ", a.s, ".slice(", name, ", ", i, "))")};
  }

  std::mt19937_64 rng_;
  uint64_t seed_base_;
  uint64_t seeds_ = 0;
  int budget_ = 24;  // ops per function at most
  DType dt_;
  std::vector<D> dims_;
  Shape S_, batch_;
  bool with_args_ = false;
  Tensor k_, m_, k2_, m2_;
  std::string k_str_, m_str_;
};

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector()) m = std::max(m, std::abs(v));
  return m;
}

// max |a - b| where a and b have the same dims, possibly in another order: compared per
// entry of their batch dims (which is where the order can differ). Infinity on other shapes.
double diff_any_order(const Tensor& a, const Tensor& b) {
  std::vector<std::string> an = a.shape().names(), bn = b.shape().names();
  std::vector<std::string> as = an, bs = bn;
  std::sort(as.begin(), as.end());
  std::sort(bs.begin(), bs.end());
  if (as != bs) return std::numeric_limits<double>::infinity();
  for (const std::string& n : an)
    if (a.shape().size(n) != b.shape().size(n)) return std::numeric_limits<double>::infinity();
  if (a.shape() == b.shape()) return max_abs_diff(a, b);
  Shape batch = a.shape().batch();
  if (batch.rank() == 0) return std::numeric_limits<double>::infinity();
  std::string d = batch.names()[0];
  double m = 0;
  for (int64_t i = 0; i < batch.size(d); ++i) m = std::max(m, diff_any_order(a.slice(d, i), b.slice(d, i)));
  return m;
}

// Aᵀ·v summed over the dims of the result that x lacks: a batch dim of the function (from a
// batched coefficient) gives one matrix per entry, and the gradient of a batched loss sums them.
Tensor transpose_times(const Tensor& A, const Tensor& v, const Shape& x_shape) {
  Tensor r = matmul(transpose(A), v);
  for (const std::string& n : r.shape().names())
    if (!x_shape.contains(n)) r = sum(r, n);
  return r;
}

// The linear-function oracle of autodiff (DESIGN decision 5): the VJP of the affine f at v, i.e.
// the gradient of sum(v · f(x)) with respect to x (the public gradient), is Aᵀ·v with A the
// matrix extracted from f. With `traced_args`, k and m are arguments of the traced function,
// else captured constants. Tolerance: rel times max_i Σ_j |A_ji|·|v_j|, the magnitude of the
// terms that Aᵀ·v adds up.
void check_vjp_is_transpose(const Fn& fn, bool traced_args, const Tensor& k, const Tensor& m, const Tensor& A,
                            const Tensor& x, uint64_t seed, double rel) {
  Tensor v = random_normal(fn(x, k, m).shape(), seed + 55529).astype(x.dtype());
  auto loss = [fn, v](const Tensor& x, const Tensor& k, const Tensor& m) { return sum(v * fn(x, k, m)); };
  Tensor vjp = traced_args
                   ? gradient(loss, {0}, false)(x, k, m).at(0)
                   : gradient([loss, k, m](const Tensor& x) { return loss(x, k, m); }, {0}, false)(x).at(0);
  INFO("the VJP at a random v");
  CHECK(vjp.dtype() == x.dtype());
  CHECK(vjp.shape() == x.shape());
  double scale = 1 + max_abs(transpose_times(abs(dense(A)), abs(v), x.shape()));
  CHECK(diff_any_order(vjp, transpose_times(A, v, x.shape())) <= rel * scale);
}

// Runs every check on the random function of `seed`.
void check_random_function(uint64_t seed, bool f32, int depth) {
  Generator g(seed, f32);
  Expr e = g.gen(depth, true);
  const Shape S = g.x_shape();
  const DType dt = g.dtype();
  INFO("seed " << seed << ", " << g.describe());
  INFO("f(x) = " << e.s);
  const double rel = f32 ? 1e-5 : 1e-9;
  try {
    Fn fn = e.f;
    Tensor k = g.k(), m = g.m();
    auto f = [fn, k, m](const Tensor& x) { return fn(x, k, m); };
    // Probing runs f in x's dtype.
    auto f_probe = [&](const Tensor& v) { return f(v.astype(dt)); };
    Tensor x = random_normal(S, seed + 99991).astype(dt);
    Tensor fx = f(x);
    Tensor A, b;
    if (!g.with_args()) {
      std::tie(A, b) = matrix_from_function(f, zeros(S, dt));
    } else {
      auto fa = [fn](const Tensor& v, const Tensor& kk, const Tensor& mm) { return fn(v, kk, mm); };
      auto jf = jit_compile_linear(fa);
      std::tie(A, b) = jf.matrix(zeros(S, dt), k, m);
      double scale = 1 + max_abs(fx);
      CHECK(diff_any_order(jf(x, k, m), fx) <= rel * scale);
      // New argument values: same trace, new matrix values.
      Tensor k2 = g.k2(), m2 = g.m2();
      Tensor fx2 = fn(x, k2, m2);
      CHECK(diff_any_order(jf(x, k2, m2), fx2) <= rel * (1 + max_abs(fx2)));
      CHECK(jf.trace_count() == 1);
      auto [A2, b2] = jf.matrix(zeros(S, dt), k2, m2);
      INFO("with the second argument values");
      check_by_probing([&](const Tensor& v) { return fn(v.astype(dt), k2, m2); }, A2, b2, S,
                       rel * (1 + max_abs(dense(A2)) + max_abs(b2)));
    }
    CHECK(A.is_sparse());
    CHECK(A.shape().dual().rank() == S.rank());
    for (const std::string& n : S.names()) CHECK(A.shape().contains("~" + n));
    for (const std::string& n : fx.shape().names()) CHECK(A.shape().contains(n));
    double scale = 1 + max_abs(dense(A)) + max_abs(b) + max_abs(fx);
    check_by_probing(f_probe, A, b, S, rel * scale);
    CHECK(diff_any_order(matmul(A, x) + b, fx) <= rel * scale * (1 + max_abs(x)));
    check_vjp_is_transpose(fn, g.with_args(), k, m, A, x, seed, f32 ? 1e-5 : 1e-10);

    // jit_compile_linear(f)(x) == f(x), for x and for a batched x (compared per entry).
    auto jf = jit_compile_linear(f);
    CHECK(diff_any_order(jf(x), fx) <= rel * scale * (1 + max_abs(x)));
    Tensor xb = random_normal(batch("bx", 2) & S, seed + 77773).astype(dt);
    Tensor yb = jf(xb);
    for (int64_t i = 0; i < 2; ++i) {
      INFO("batched x, entry " << i);
      CHECK(diff_any_order(yb.slice("bx", i), f(xb.slice("bx", i))) <= rel * scale * (1 + max_abs(xb)));
    }
    CHECK(jf.trace_count() == 1);
  } catch (const std::exception& ex) {
    FAIL_CHECK("exception: " << ex.what());
  }
}

}  // namespace

TEST_CASE("linear random: 240 random affine f64 functions match probing, their VJP is Aᵀv",
          "[linear-random]") {
  for (uint64_t seed = 1; seed <= 240; ++seed) check_random_function(seed, false, seed % 3 == 0 ? 5 : 4);
}

TEST_CASE("linear random: 12 random affine f32 functions match probing, their VJP is Aᵀv",
          "[linear-random]") {
  for (uint64_t seed = 5001; seed <= 5012; ++seed) check_random_function(seed, true, 3);
}

// The minimized reproducer of the random failures before c04fe3e: a bias that lacks x's first
// dim was broadcast to (y, x) but read as (x, y). b and jit_compile_linear(f)(x) must keep the
// output's dim order.
TEST_CASE("linear random: a bias along the second dim only keeps the output's dim order", "[linear-random]") {
  Shape s = spatial("x", 2) & spatial("y", 3);
  Tensor c = tensor({10, 20, 30}, spatial("y", 3));
  auto f = [&](const Tensor& x) { return x + c; };
  auto [A, b] = matrix_from_function(f, zeros(s));
  CHECK(b.shape() == s);
  CHECK_VALUES(b, {10, 20, 30, 10, 20, 30});
  check_by_probing(f, A, b, s);
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, s);
  CHECK_VALUES(jit_compile_linear(f)(x), {11, 22, 33, 14, 25, 36});
  // The same through a constant extrapolation along y: shift(x, y, 1, ONE) has b = 1 at y = 2.
  auto g = [](const Tensor& x) { return shift(x, "y", 1, extrapolation::ONE); };
  auto [A2, b2] = matrix_from_function(g, zeros(s));
  CHECK_VALUES(b2, {0, 0, 1, 0, 0, 1});
}
