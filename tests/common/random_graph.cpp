#include "common/random_graph.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "ir/builder.h"

namespace phijit::testing {

namespace {

using ir::Attrs;
using ir::Op;
using ir::Value;

// splitmix64: the same stream on every platform and standard library.
class Rng {
 public:
  // The seed is hashed first: seeds s and s+1 must not give shifted copies of one stream.
  explicit Rng(uint64_t seed) : state_(mix(seed + 0x2545F4914F6CDD1DULL)) {}
  uint64_t next() { return mix(state_ += 0x9E3779B97F4A7C15ULL); }
  int64_t uniform(int64_t lo, int64_t hi) {  // inclusive
    if (hi <= lo) return lo;
    return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1));
  }
  double real(double lo, double hi) { return lo + (hi - lo) * static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool coin(double p = 0.5) { return real(0, 1) < p; }
  template <class T>
  T choose(const std::vector<T>& v) {
    return v[static_cast<size_t>(uniform(0, static_cast<int64_t>(v.size()) - 1))];
  }

 private:
  static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t state_;
};

// A value the generator can build on: `bound` is a static upper bound of its magnitude,
// `exact` says compiled code computes it without rounding (so discontinuous ops may read it).
struct Val {
  Value v;
  double bound = 0;
  bool exact = false;
};

constexpr double kMaxBound = 16;

bool compatible(const Shape& a, const Shape& b) {
  for (const Dim& d : a.dims()) {
    int i = b.index_of(d.name);
    if (i >= 0 && (b.dims()[static_cast<size_t>(i)].size != d.size ||
                   b.dims()[static_cast<size_t>(i)].type != d.type)) {
      return false;
    }
  }
  return true;
}

class Builder {
 public:
  Builder(uint64_t seed, const RandomGraphOptions& options)
      : rng_(seed), smooth_(options.smooth), every_feature_(options.every_ir_feature) {}

  ir::Graph build() {
    f_ = rng_.coin() && !smooth_ ? DType::f32 : DType::f64;
    // x is usually small; sometimes long enough for vector loops with remainders, and rarely
    // so long that kernels are split into several blocks on the thread pool.
    double size_class = rng_.real(0, 1);
    int64_t x = size_class < 1.0 / 32  ? rng_.uniform(2000, 3000)
                : size_class < 1.0 / 6 ? rng_.uniform(18, 300)
                                       : rng_.uniform(1, 17);
    pool_ = {Dim{"b", rng_.uniform(1, 3), DimType::batch, {}}, Dim{"x", x, DimType::spatial, {}},
             Dim{"y", rng_.uniform(1, 9), DimType::spatial, {}},
             Dim{"c", rng_.uniform(1, 3), DimType::channel, {}}};
    int n_inputs = static_cast<int>(rng_.uniform(1, 4));
    for (int i = 0; i < n_inputs; ++i) {
      Shape s = random_pool_shape(0.6);
      if (i > 0 && rng_.coin(0.2)) {
        Value v = g_.add_input(s, DType::i32);
        ints_.push_back({v, 5, true});
      } else {
        Value v = g_.add_input(s, f_);
        floats_.push_back({v, 2, true});
      }
    }
    if (!ints_.empty() && rng_.coin(0.7)) cast_int();  // an int input usually flows into the math
    int n_steps = static_cast<int>(rng_.uniform(3, 25));
    for (int i = 0; i < n_steps; ++i) step();
    if (every_feature_) {
      int n_features = static_cast<int>(rng_.uniform(4, 12));
      for (int i = 0; i < n_features; ++i) feature_step();
    }

    // Outputs: the last float value, then a few others (sometimes a boolean or integer one). A
    // smooth graph's float outputs are values that vary with its float inputs, where it has any:
    // the loss of the gradient tests is built from them.
    std::vector<Val> outputs_pool = smooth_ ? varying(floats_) : floats_;
    if (outputs_pool.empty()) outputs_pool = floats_;
    std::vector<Value> outs = {outputs_pool.back().v};
    int n_outputs = static_cast<int>(rng_.uniform(1, 3));
    for (int tries = 0; static_cast<int>(outs.size()) < n_outputs && tries < 10; ++tries) {
      double r = rng_.real(0, 1);
      Value v = r < 0.15 && !bools_.empty() ? pick(bools_).v
                : r < 0.3 && !ints_.empty() ? pick(ints_).v
                                            : pick(outputs_pool).v;
      if (std::find(outs.begin(), outs.end(), v) == outs.end()) outs.push_back(v);
    }
    for (Value v : outs) g_.add_output(v);
    return std::move(g_);
  }

 private:
  Rng rng_;
  bool smooth_;         // see RandomGraphOptions::smooth
  bool every_feature_;  // see RandomGraphOptions::every_ir_feature
  ir::Graph g_;
  DType f_ = DType::f64;
  std::vector<Dim> pool_;
  std::vector<Val> floats_, ints_, bools_;  // values of dtype f_, integer dtypes, boolean
  std::vector<Val> other_floats_;           // every_ir_feature: floats of the dtype that is not f_
  int fresh_dims_ = 0;

  const Shape& shape(Value v) const { return g_.type(v).shape; }
  DType dtype(Value v) const { return g_.type(v).dtype; }

  // The values of `pool` that vary with the graph's float inputs: depend on them other than
  // through sign or a where's condition (piecewise constant).
  std::vector<Val> varying(const std::vector<Val>& pool) const {
    std::vector<bool> depends(static_cast<size_t>(g_.size()), false);
    for (size_t i = 0; i < depends.size(); ++i) {
      const ir::Node& n = g_.nodes()[i];
      depends[i] = n.op == Op::input && is_float(n.type.dtype);
      if (n.op == Op::sign || !is_float(n.type.dtype)) continue;
      for (size_t k = n.op == Op::where ? 1 : 0; k < n.inputs.size(); ++k) {
        depends[i] = depends[i] || depends[static_cast<size_t>(n.inputs[k].id)];
      }
    }
    std::vector<Val> out;
    for (const Val& v : pool) {
      if (depends[static_cast<size_t>(v.v.id)]) out.push_back(v);
    }
    return out;
  }

  // A shape over a random subset of the pool's dims; the two spatial dims in either order.
  Shape random_pool_shape(double p) {
    std::vector<Dim> dims;
    for (const Dim& d : pool_) {
      if (rng_.coin(p)) dims.push_back(d);
    }
    if (dims.size() >= 2 && rng_.coin(0.3)) std::reverse(dims.begin(), dims.end());  // y before x
    return Shape(dims);
  }

  // Recent values are picked more often, so steps tend to chain.
  Val pick(const std::vector<Val>& pool) {
    if (rng_.coin(0.5)) {
      size_t n = std::min<size_t>(3, pool.size());
      return pool[pool.size() - 1 - static_cast<size_t>(rng_.uniform(0, static_cast<int64_t>(n) - 1))];
    }
    return rng_.choose(pool);
  }
  std::optional<Val> pick_if(const std::vector<Val>& pool, const auto& ok) {
    std::vector<Val> c;
    for (const Val& v : pool) {
      if (ok(v)) c.push_back(v);
    }
    if (c.empty()) return std::nullopt;
    return pick(c);
  }
  std::optional<Val> pick_compatible(const std::vector<Val>& pool, const Shape& s, bool exact_only = false) {
    return pick_if(pool, [&](const Val& v) { return compatible(shape(v.v), s) && (!exact_only || v.exact); });
  }

  Value scalar(double c, DType dt) {
    auto b = std::make_shared<Buffer>(dt, 1);
    b->set_real(0, c);
    return g_.add_constant(std::move(b), Shape());
  }
  Value fscalar(double c) { return scalar(c, f_); }

  Value tensor_constant(const Shape& s, DType dt) {
    auto b = std::make_shared<Buffer>(dt, s.volume());
    for (int64_t i = 0; i < s.volume(); ++i) {
      if (is_float(dt)) {
        b->set_real(i, rng_.real(-1, 1));
      } else {
        b->set_int(i, rng_.uniform(-3, 3));
      }
    }
    return g_.add_constant(std::move(b), s);
  }

  Value add(Op op, std::vector<Value> in, Attrs a = {}) { return g_.add(op, std::move(in), std::move(a)); }
  Value unary(Op op, Value a) { return add(op, {a}); }
  Value binary(Op op, Value a, Value b) { return add(op, {a, b}); }

  // Scales a float value by a power of two (exactly) so that its bound stays <= kMaxBound.
  Val bounded(Val v) {
    if (v.bound <= kMaxBound) return v;
    int k = static_cast<int>(std::ceil(std::log2(v.bound / kMaxBound)));
    double f = std::ldexp(1.0, -k);
    return {binary(Op::mul, v.v, fscalar(f)), v.bound * f, v.exact};
  }
  void push_float(Val v) { floats_.push_back(bounded(v)); }

  Extrapolation random_extrapolation(DType dt) {
    switch (rng_.uniform(0, 4)) {
      case 0: return extrapolation::ZERO;
      case 1: return extrapolation::ONE;
      case 2: return extrapolation::PERIODIC;
      case 3: return extrapolation::ZERO_GRADIENT;
      default:
        if (dt == DType::boolean) return extrapolation::ONE;
        if (is_integer(dt)) return extrapolation::constant(rng_.choose(std::vector<double>{2, -3}));
        return extrapolation::constant(rng_.choose(std::vector<double>{0.5, -1.5, 2, 3.25}));
    }
  }
  static double extrapolation_bound(const Extrapolation& e) {
    return e.kind() == Extrapolation::Kind::constant ? std::fabs(e.value()) : 0;
  }

  // The pool a value of dtype dt lives in.
  std::vector<Val>& pool_of(DType dt) {
    return dt == DType::boolean ? bools_ : is_integer(dt) ? ints_ : floats_;
  }
  // A value for a layout or stencil op: usually a float, sometimes an integer or boolean one;
  // with need_rank, one with at least one dim (none if there is no such value).
  std::optional<Val> pick_any(bool need_rank) {
    for (int tries = 0; tries < 8; ++tries) {
      double r = rng_.real(0, 1);
      const std::vector<Val>& pool = r < 0.1 && !bools_.empty()  ? bools_
                                     : r < 0.2 && !ints_.empty() ? ints_
                                                                 : floats_;
      Val v = pick(pool);
      if (!need_rank || shape(v.v).rank() > 0) return v;
    }
    return pick_if(floats_, [&](const Val& v) { return shape(v.v).rank() > 0; });
  }
  void push_like(Val v) {
    if (dtype(v.v) == f_) {
      push_float(v);
    } else {
      pool_of(dtype(v.v)).push_back(v);
    }
  }

  // |a|, for the positive operands of log, sqrt, div and pow. Smooth graphs take sqrt(a² + 1)
  // instead: within 1 of |a| and without abs's kink at 0, which an inexact a can come close to.
  Value magnitude(Value a) {
    if (!smooth_) return unary(Op::abs, a);
    return unary(Op::sqrt, binary(Op::add, binary(Op::mul, a, a), fscalar(1)));
  }
  double magnitude_bound(const Val& a) const { return smooth_ ? a.bound + 1 : a.bound; }
  bool magnitude_exact(const Val& a) const { return a.exact && !smooth_; }

  // ---- steps ----------------------------------------------------------------------------

  void step() {
    struct Choice {
      int weight;
      void (Builder::*fn)();
    };
    static const std::vector<Choice> kChoices = {
        {30, &Builder::unary_step},   {25, &Builder::binary_step},     {7, &Builder::where_step},
        {6, &Builder::scalar_step},   {4, &Builder::constant_step},    {10, &Builder::shift_step},
        {5, &Builder::pad_step},      {5, &Builder::slice_step},       {3, &Builder::expand_step},
        {8, &Builder::reduce_step},   {3, &Builder::concat_step},      {3, &Builder::stack_step},
        {1, &Builder::rename_step},   {4, &Builder::int_step},         {2, &Builder::cast_bool},
        {1, &Builder::isfinite_step}, {4, &Builder::grid_sample_step}, {1, &Builder::grid_transpose_step},
    };
    int total = 0;
    for (const Choice& c : kChoices) total += c.weight;
    int r = static_cast<int>(rng_.uniform(0, total - 1));
    for (const Choice& c : kChoices) {
      if (r < c.weight) {
        (this->*c.fn)();
        return;
      }
      r -= c.weight;
    }
  }

  void unary_step() {
    Val a = pick(floats_);
    switch (rng_.uniform(0, 10)) {
      case 0: push_float({unary(Op::neg, a.v), a.bound, a.exact}); return;
      case 1: push_float({unary(Op::abs, a.v), a.bound, a.exact}); return;
      case 2:
        if (a.exact) {
          push_float({unary(Op::sign, a.v), 1, true});
          return;
        }
        [[fallthrough]];
      case 3: push_float({unary(Op::tanh, a.v), 1, false}); return;
      case 4: push_float({unary(Op::exp, unary(Op::tanh, a.v)), std::exp(1.0), false}); return;
      case 5:
        push_float({unary(Op::log, binary(Op::add, magnitude(a.v), fscalar(1))),
                    std::log1p(magnitude_bound(a)), false});
        return;
      case 6: push_float({unary(Op::sin, a.v), std::min(1.0, a.bound), false}); return;
      case 7: push_float({unary(Op::cos, a.v), 1, false}); return;
      case 8: {
        // sqrt is steep at 0: an inexact operand is kept away from it (a smooth graph's always is).
        Value arg = magnitude(a.v);
        if (!magnitude_exact(a)) arg = binary(Op::add, arg, fscalar(0.5));
        push_float({unary(Op::sqrt, arg), std::sqrt(magnitude_bound(a) + 0.5), false});
        return;
      }
      case 9: push_float({unary(Op::tan, unary(Op::tanh, a.v)), std::tan(1.0), false}); return;
      default: push_float({unary(Op::sin, binary(Op::mul, a.v, fscalar(2))), 1, false}); return;
    }
  }

  // A second operand broadcastable with a: another value, or a new constant.
  Val partner(const Shape& s, bool exact_only = false) {
    if (rng_.coin(0.85)) {
      if (auto b = pick_compatible(floats_, s, exact_only)) return *b;
    }
    if (rng_.coin(0.5))
      return {fscalar(rng_.choose(std::vector<double>{-1.5, -0.75, 0.25, 0.5, 1.25, 2})), 2, true};
    return {tensor_constant(compatible_constant_shape(s), f_), 1, true};
  }
  Shape compatible_constant_shape(const Shape& s) {
    std::vector<Dim> dims;
    for (const Dim& d : pool_) {
      if (compatible(Shape({d}), s) && rng_.coin(0.5)) dims.push_back(d);
    }
    return Shape(dims);
  }

  void binary_with(Val a, Val b) {
    if (rng_.coin(0.5)) std::swap(a, b);
    switch (rng_.uniform(0, 7)) {
      case 0: push_float({binary(Op::add, a.v, b.v), a.bound + b.bound, false}); return;
      case 1: push_float({binary(Op::sub, a.v, b.v), a.bound + b.bound, false}); return;
      case 2:
      case 3: push_float({binary(Op::mul, a.v, b.v), a.bound * b.bound, false}); return;
      case 4: {
        Value den = binary(Op::add, magnitude(b.v), fscalar(0.5));
        push_float({binary(Op::div, a.v, den), 2 * a.bound, false});
        return;
      }
      case 5:
        push_float({binary(Op::minimum, a.v, b.v), std::max(a.bound, b.bound), a.exact && b.exact});
        return;
      case 6:
        push_float({binary(Op::maximum, a.v, b.v), std::max(a.bound, b.bound), a.exact && b.exact});
        return;
      default: {
        if (smooth_ && rng_.coin()) {
          // An exponent that depends on the inputs too (in [-1, 1], on a base >= 1.125), so that
          // the exponent's derivative a^b·log(a) is exercised.
          Value base = binary(Op::add, magnitude(a.v), fscalar(0.125));
          push_float({binary(Op::pow, base, unary(Op::tanh, b.v)), magnitude_bound(a) + 0.125, false});
          return;
        }
        double p = rng_.choose(std::vector<double>{0.5, 1.5, 2, 3, -0.5, -1, 0.25});
        Value base = binary(Op::add, magnitude(a.v), fscalar(0.125));
        double bound = p > 0 ? std::pow(magnitude_bound(a) + 0.125, p) : std::pow(0.125, p);
        push_float({binary(Op::pow, base, fscalar(p)), bound, false});
        return;
      }
    }
  }

  void binary_step() {
    Val a = pick(floats_);
    binary_with(a, partner(shape(a.v)));
  }

  void scalar_step() {
    Val a = pick(floats_);
    double c = rng_.choose(std::vector<double>{-2, -0.5, 0.25, 0.75, 1, 1.5, 3});
    binary_with(a, {fscalar(c), std::fabs(c), true});
  }

  void constant_step() {
    Val a = pick(floats_);
    Val c{tensor_constant(compatible_constant_shape(shape(a.v)), f_), 1, true};
    floats_.push_back(c);
    binary_with(a, c);
  }

  // A boolean value from a comparison of exactly computed values.
  std::optional<Val> comparison(const Shape& with) {
    Op op = rng_.choose(std::vector<Op>{Op::lt, Op::le, Op::gt, Op::ge, Op::eq, Op::ne});
    bool use_ints = !ints_.empty() && rng_.coin(0.25);
    const std::vector<Val>& pool = use_ints ? ints_ : floats_;
    std::optional<Val> a = pick_compatible(pool, with, true);
    if (!a) return std::nullopt;
    DType dt = dtype(a->v);
    std::optional<Val> b;
    if (rng_.coin(0.6)) {
      b = pick_if(pool, [&](const Val& v) {
        return v.exact && dtype(v.v) == dt && compatible(shape(v.v), shape(a->v)) &&
               compatible(shape(v.v), with);
      });
    }
    Value bv = b              ? b->v
               : is_float(dt) ? scalar(rng_.choose(std::vector<double>{-1, -0.5, 0, 0.25, 1}), dt)
                              : scalar(static_cast<double>(rng_.uniform(-2, 2)), dt);
    // eq/ne of independent random values is almost always false; comparing a value with its
    // own maximum against another gives ties half the time.
    if ((op == Op::eq || op == Op::ne) && rng_.coin(0.6)) bv = binary(Op::maximum, a->v, bv);
    Val r{binary(op, a->v, bv), 1, true};
    bools_.push_back(r);
    return r;
  }

  void where_step() {
    Val a = pick(floats_);
    std::optional<Val> cond;
    if (!bools_.empty() && rng_.coin(0.3)) cond = pick_compatible(bools_, shape(a.v));
    if (!cond) cond = comparison(shape(a.v));
    if (!cond) {
      unary_step();
      return;
    }
    Shape s = shape(a.v) & shape(cond->v);
    Val b = partner(s);
    if (rng_.coin(0.5)) std::swap(a, b);
    push_float({add(Op::where, {cond->v, a.v, b.v}), std::max(a.bound, b.bound), a.exact && b.exact});
  }

  void shift_step() {
    std::optional<Val> any = pick_any(true);
    if (!any) {
      unary_step();
      return;
    }
    Val a = *any;
    const Shape s = shape(a.v);  // a copy: adding nodes moves the graph's storage
    Attrs at;
    at.names = {rng_.choose(s.names())};
    at.ints = {rng_.uniform(-2, 2)};
    at.extrap = random_extrapolation(dtype(a.v));
    push_like({add(Op::shift, {a.v}, at), std::max(a.bound, extrapolation_bound(at.extrap)), a.exact});
  }

  void pad_step() {
    std::optional<Val> any = pick_any(true);
    if (!any) {
      unary_step();
      return;
    }
    Val a = *any;
    Shape s = shape(a.v);
    std::vector<std::string> names = s.names();
    Attrs at;
    at.extrap = random_extrapolation(dtype(a.v));
    int n_dims = std::min<int>(static_cast<int>(names.size()), static_cast<int>(rng_.uniform(1, 2)));
    for (int k = 0; k < n_dims; ++k) {
      std::string n = names[static_cast<size_t>(rng_.uniform(0, static_cast<int64_t>(names.size()) - 1))];
      if (std::find(at.names.begin(), at.names.end(), n) != at.names.end()) continue;
      at.names.push_back(n);
      int64_t lo = rng_.uniform(0, 2), hi = rng_.uniform(lo == 0 ? 1 : 0, 2);
      at.ints.push_back(lo);
      at.ints.push_back(hi);
    }
    Val r{add(Op::pad, {a.v}, at), std::max(a.bound, extrapolation_bound(at.extrap)), a.exact};
    if (rng_.coin(0.5)) {
      // Crop back to the original size: a stencil-like shifted window with boundary values.
      for (size_t k = 0; k < at.names.size(); ++k) {
        Attrs sl;
        sl.names = {at.names[k]};
        int64_t start = rng_.uniform(0, at.ints[2 * k] + at.ints[2 * k + 1]);
        sl.ints = {start, start + s.size(at.names[k]), 0};
        r.v = add(Op::slice, {r.v}, sl);
      }
    }
    push_like(r);
  }

  void slice_step() {
    std::optional<Val> any = pick_any(true);
    if (!any) {
      unary_step();
      return;
    }
    Val a = *any;
    const Shape s = shape(a.v);  // a copy: adding nodes moves the graph's storage
    Attrs at;
    at.names = {rng_.choose(s.names())};
    int64_t n = s.size(at.names[0]);
    int64_t start = rng_.uniform(0, n - 1);
    if (rng_.coin(0.25)) {
      at.ints = {start, start + 1, 1};
    } else {
      at.ints = {start, rng_.uniform(start + 1, n), 0};
    }
    push_like({add(Op::slice, {a.v}, at), a.bound, a.exact});
  }

  void expand_step() {
    Val a = *pick_any(false);
    std::vector<Dim> dims;
    for (const Dim& d : pool_) {
      if (!shape(a.v).contains(d.name) && rng_.coin(0.6)) dims.push_back(d);
    }
    if (dims.empty()) dims.push_back(Dim{"e" + std::to_string(fresh_dims_++), 2, DimType::instance, {}});
    Attrs at;
    at.shape = Shape(dims);
    push_like({add(Op::expand, {a.v}, at), a.bound, a.exact});
  }

  void reduce_step() {
    Val a = pick(floats_);
    if (rng_.coin(0.15)) a = pick_any(true).value_or(a);
    const Shape s = shape(a.v);  // a copy: adding nodes moves the graph's storage
    if (s.rank() == 0) {
      unary_step();
      return;
    }
    Attrs at;
    for (const std::string& n : s.names()) {
      if (rng_.coin(0.5)) at.names.push_back(n);
    }
    if (at.names.empty()) at.names.push_back(rng_.choose(s.names()));
    int64_t n = 1;
    for (const std::string& d : at.names) n *= s.size(d);
    Op op = rng_.choose(std::vector<Op>{Op::reduce_sum, Op::reduce_sum, Op::reduce_max, Op::reduce_min});
    Value r = add(op, {a.v}, at);
    if (op == Op::reduce_sum) {
      if (dtype(a.v) == f_) {
        push_float({r, a.bound * static_cast<double>(n), false});
      } else {
        ints_.push_back({r, a.bound * static_cast<double>(n), true});  // sums of ints/bools are int64
      }
    } else {
      push_like({r, a.bound, a.exact});
    }
  }

  void concat_step() {
    std::optional<Val> any = pick_any(true);
    if (!any) {
      unary_step();
      return;
    }
    Val a = *any;
    const Shape s = shape(a.v);  // a copy: adding nodes moves the graph's storage
    std::string dim = rng_.choose(s.names());
    DType dt = dtype(a.v);
    Shape rest = s.without({dim});
    std::vector<Val> parts = {a};
    int n_parts = static_cast<int>(rng_.uniform(2, 3));
    while (static_cast<int>(parts.size()) < n_parts) {
      std::optional<Val> b;
      if (rng_.coin(0.6)) {
        b = pick_if(pool_of(dt), [&](const Val& v) {
          const Shape& vs = shape(v.v);
          return dtype(v.v) == dt && vs.contains(dim) && vs.type(dim) == s.type(dim) &&
                 vs.without({dim}) == rest;
        });
      }
      if (!b && is_float(dt)) b = Val{tensor_constant(s.with_size(dim, rng_.uniform(1, 3)), dt), 1, true};
      if (!b) b = dt == DType::boolean ? a : Val{unary(Op::neg, a.v), a.bound, a.exact};
      parts.push_back(*b);
    }
    std::vector<Value> in;
    double bound = 0;
    bool exact = true;
    for (const Val& p : parts) {
      in.push_back(p.v);
      bound = std::max(bound, p.bound);
      exact = exact && p.exact;
    }
    if (rng_.coin(0.5)) std::reverse(in.begin(), in.end());
    Attrs at;
    at.names = {dim};
    push_like({add(Op::concat, in, at), bound, exact});
  }

  void stack_step() {
    Val a = *pick_any(false);
    DType dt = dtype(a.v);
    std::vector<Val> parts = {a};
    Shape s = shape(a.v);
    int n_parts = static_cast<int>(rng_.uniform(2, 3));
    while (static_cast<int>(parts.size()) < n_parts) {
      std::optional<Val> b =
          pick_if(pool_of(dt), [&](const Val& v) { return dtype(v.v) == dt && compatible(shape(v.v), s); });
      if (!b) break;
      parts.push_back(*b);
      s = s & shape(b->v);
    }
    std::vector<Value> in;
    double bound = 0;
    bool exact = true;
    for (const Val& p : parts) {
      in.push_back(p.v);
      bound = std::max(bound, p.bound);
      exact = exact && p.exact;
    }
    Attrs at;
    DimType type = rng_.choose(std::vector<DimType>{DimType::channel, DimType::instance, DimType::batch});
    at.shape = Shape({Dim{"k" + std::to_string(fresh_dims_++), static_cast<int64_t>(in.size()), type, {}}});
    push_like({add(Op::stack, in, at), bound, exact});
  }

  void rename_step() {
    std::optional<Val> any = pick_any(true);
    if (!any) {
      unary_step();
      return;
    }
    Val a = *any;
    Attrs at;
    std::string old = rng_.choose(shape(a.v).names());
    DimType type = rng_.coin() ? shape(a.v).type(old) : DimType::instance;
    at.names = {old, old + "r" + std::to_string(fresh_dims_++)};
    at.ints = {static_cast<int64_t>(type)};
    push_like({add(Op::rename, {a.v}, at), a.bound, a.exact});
  }

  // ---- grid_sample --------------------------------------------------------------------------

  // One or two of `s`'s dims to sample.
  std::vector<std::string> sampled_dims(const Shape& s) {
    std::vector<std::string> names = s.names();
    std::vector<std::string> out = {rng_.choose(names)};
    if (names.size() > 1 && rng_.coin(0.4)) {
      std::string second = rng_.choose(names);
      if (second != out[0]) out.push_back(second);
    }
    return out;
  }

  // Where to sample: a fresh instance dim, pool dims (a sampled dim's name too: then the points
  // are that dim's cells, as in advection) or both, compatible with `with`; never empty.
  Shape sample_points(const Shape& with) {
    std::vector<Dim> dims;
    for (const Dim& d : pool_) {
      if (rng_.coin(0.35) && compatible(Shape({d}), with)) dims.push_back(d);
    }
    if (dims.empty() || rng_.coin(0.3))
      dims.push_back(Dim{"p" + std::to_string(fresh_dims_++), rng_.uniform(1, 6), DimType::instance, {}});
    return Shape(dims);
  }

  // Coordinates over `points`, one component per sampled dim of `grid`: constants from 2 cells
  // before the first to 2 after the last (a quarter of them whole or half cells), so that every
  // extrapolation acts. Outside smooth graphs a component is sometimes an exact value scaled by
  // a power of two: its floor is the same in compiled code (so the weights' derivatives, which
  // jump there, stay comparable), and it depends on the inputs.
  // They broadcast with `also` (a transpose's cotangent).
  Value coordinates(const Shape& grid, const std::vector<std::string>& dims, const Shape& points,
                    const Shape& also = Shape()) {
    std::vector<Value> components;
    Shape have = points;  // the components' dims so far: stacked, they broadcast
    for (const std::string& d : dims) {
      const int64_t n = grid.size(d);
      if (!smooth_ && rng_.coin(0.3)) {
        std::optional<Val> v = pick_if(floats_, [&](const Val& c) {
          return c.exact && c.bound > 0 && compatible(shape(c.v), grid.without(dims)) &&
                 compatible(shape(c.v), have) && compatible(shape(c.v), also);
        });
        if (v) {
          have = have & shape(v->v);
          double scale = std::ldexp(
              1.0, static_cast<int>(std::round(std::log2((static_cast<double>(n) + 2) / v->bound))));
          components.push_back(binary(Op::mul, v->v, fscalar(scale)));
          continue;
        }
      }
      auto b = std::make_shared<Buffer>(f_, points.volume());
      for (int64_t i = 0; i < b->count(); ++i) {
        double c = rng_.real(-2, static_cast<double>(n) + 1);
        b->set_real(i, rng_.coin(0.25) ? std::round(2 * c) / 2 : c);
      }
      components.push_back(g_.add_constant(std::move(b), points));
    }
    return add(Op::stack, components,
               ir::attrs::stack(Shape(
                   {Dim{ir::kSampleVector, static_cast<int64_t>(dims.size()), DimType::channel, dims}})));
  }

  void grid_sample_step() {
    std::optional<Val> grid = pick_if(floats_, [&](const Val& v) { return shape(v.v).rank() > 0; });
    if (!grid) {
      unary_step();
      return;
    }
    const Shape s = shape(grid->v);  // a copy: adding nodes moves the graph's storage
    std::vector<std::string> dims = sampled_dims(s);
    Value c = coordinates(s, dims, sample_points(s.without(dims)));
    if (!compatible(shape(c).without({ir::kSampleVector}), s.without(dims))) {
      unary_step();
      return;
    }
    Extrapolation e = random_extrapolation(f_);
    Value r = add(Op::grid_sample, {grid->v, c}, ir::attrs::grid_sample(dims, e));
    push_float({r, std::max(grid->bound, extrapolation_bound(e)), false});
  }

  // grid_sample's transpose, scattering a value over its points into a grid of pool dims.
  void grid_transpose_step() {
    Val u = pick(floats_);
    const Shape points = shape(u.v).rank() > 0 && rng_.coin(0.7) ? shape(u.v) : sample_points(shape(u.v));
    std::vector<Dim> grid_dims;
    for (const Dim& d : pool_) {
      if (d.type == DimType::spatial) grid_dims.push_back(d);
    }
    Shape sampled(rng_.coin(0.5) ? std::vector<Dim>{grid_dims[0]} : std::vector<Dim>{grid_dims[1]});
    if (rng_.coin(0.3)) sampled = Shape(grid_dims);
    std::vector<Dim> unsampled;
    for (const Dim& d : points.dims()) {
      if (d.type == DimType::batch && rng_.coin(0.5)) unsampled.push_back(d);
    }
    const Shape grid = sampled & Shape(unsampled);
    const Shape u_shape = shape(u.v);  // a copy: adding nodes moves the graph's storage
    Value c = coordinates(grid, sampled.names(), points, u_shape);
    Extrapolation e = random_extrapolation(f_);
    Value r =
        add(Op::grid_sample_transpose, {u.v, c}, ir::attrs::grid_sample_transpose(grid, sampled.names(), e));
    // A cell sums at most one share (weights <= 1 in all) of every point.
    const Shape walk = shape(u.v) & shape(c).without({ir::kSampleVector}) & Shape(unsampled);
    push_float({r, u.bound * static_cast<double>(walk.without(Shape(unsampled).names()).volume()), false});
  }

  // ---- every IR feature (RandomGraphOptions::every_ir_feature) --------------------------------
  // Values made here go into the pools with bound 1: these graphs are printed, not run.

  void feature_step() {
    switch (rng_.uniform(0, 10)) {
      case 0: special_scalar_step(); return;
      case 1: special_tensor_step(); return;
      case 2: exotic_input_step(); return;
      case 3: rename_any_step(); return;
      case 4: weighted_grid_sample_step(); return;
      case 5: weighted_transpose_step(); return;
      case 6: odd_extrapolation_step(); return;
      case 7: int_bool_step(); return;
      case 8: named_items_step(); return;
      case 9: stack_any_type_step(); return;
      default: expand_exotic_step(); return;
    }
  }

  // floats_ holds values of dtype f_ only: floats of the other dtype are kept apart.
  void push_any(Value v) {
    DType dt = dtype(v);
    (is_float(dt) && dt != f_ ? other_floats_ : pool_of(dt)).push_back({v, 1, true});
  }

  DType any_dtype() {
    return rng_.choose(std::vector<DType>{DType::f32, DType::f64, DType::i32, DType::i64, DType::boolean});
  }

  // A fresh dim name; now and then one the printer must quote (spaces, a leading digit, non-ASCII,
  // a quote, a backslash, a control character).
  std::string fresh_name(const std::string& stem) {
    static const std::vector<std::string> kOdd = {"my dim ", "0d", "\xc3\xa9t\xc3\xa9", "q\"", "back\\",
                                                  "tab\t",   "a-b"};
    std::string base = rng_.coin(0.3) ? rng_.choose(kOdd) : stem;
    return base + std::to_string(fresh_dims_++);
  }

  // A fresh name of a dual dim. (Built by insert: g++ 12 warns falsely about "~" + string.)
  std::string dual_name(const std::string& stem) {
    std::string name = fresh_name(stem);
    name.insert(0, 1, '~');
    return name;
  }

  // A channel dim with item names (some of them odd), or a dual dim.
  Dim exotic_dim() {
    if (rng_.coin()) {
      return Dim{dual_name("d"), rng_.uniform(1, 3), DimType::dual, {}};
    }
    static const std::vector<std::string> kItems = {"a", "b c", "", "\xce\xb1", "q\"x", "x", "y", "0"};
    std::vector<std::string> items;
    int64_t n = rng_.uniform(1, 3);
    for (int64_t i = 0; i < n; ++i) items.push_back(rng_.choose(kItems));
    return Dim{fresh_name("v"), n, DimType::channel, items};
  }

  double special_real() {
    static const std::vector<double> kSpecial = {INFINITY,
                                                 -INFINITY,
                                                 NAN,
                                                 -NAN,
                                                 -0.0,
                                                 0.0,
                                                 1e-300,
                                                 5e-324,
                                                 -2.2250738585072014e-308,
                                                 1.7976931348623157e308,
                                                 0.1,
                                                 1.0 / 3,
                                                 -1e16,
                                                 123456789.125,
                                                 3.4028234663852886e38,
                                                 1e-45};
    if (rng_.coin(0.15)) {  // a NaN with a payload, or any bit pattern at all
      uint64_t bits = rng_.coin() ? 0x7ff0000000000001ULL + (rng_.next() & 0xfffffffffffULL) : rng_.next();
      return std::bit_cast<double>(bits);
    }
    if (rng_.coin(0.3)) return rng_.real(-1e6, 1e6);
    return rng_.choose(kSpecial);
  }

  void set_special(Buffer& b, int64_t i) {
    switch (b.dtype()) {
      case DType::f32:
        if (rng_.coin(0.1)) {  // a float NaN with a payload
          b.as<float>()[i] =
              std::bit_cast<float>(static_cast<uint32_t>(0x7f800001U + (rng_.next() & 0x3fffffU)));
        } else {
          b.as<float>()[i] = static_cast<float>(special_real());
        }
        return;
      case DType::f64: b.as<double>()[i] = special_real(); return;
      case DType::i32:
        b.set_int(i,
                  rng_.choose(std::vector<int64_t>{INT32_MIN, INT32_MAX, 0, -1, rng_.uniform(-1000, 1000)}));
        return;
      case DType::i64:
        b.set_int(i, rng_.choose(std::vector<int64_t>{INT64_MIN, INT64_MAX, 0, -1,
                                                      static_cast<int64_t>(rng_.next())}));
        return;
      case DType::boolean: b.set_int(i, rng_.coin() ? 1 : 0); return;
    }
  }

  void special_scalar_step() {
    auto b = std::make_shared<Buffer>(any_dtype(), 1);
    set_special(*b, 0);
    push_any(g_.add_constant(std::move(b), Shape()));
  }

  // Small ones print literally, those over x (up to 3000 elements) by reference.
  void special_tensor_step() {
    Shape s = random_pool_shape(0.5);
    if (rng_.coin(0.4)) s = s & Shape({exotic_dim()});
    auto b = std::make_shared<Buffer>(any_dtype(), s.volume());
    for (int64_t i = 0; i < b->count(); ++i) set_special(*b, i);
    push_any(g_.add_constant(std::move(b), s));
  }

  void exotic_input_step() {
    Shape s = random_pool_shape(0.5);
    if (rng_.coin(0.6)) s = s & Shape({exotic_dim()});
    push_any(g_.add_input(s, any_dtype()));
  }

  void rename_any_step() {
    std::optional<Val> a = pick_any(true);
    if (!a) return special_scalar_step();
    const Shape s = shape(a->v);
    std::vector<ir::attrs::RenamePair> pairs;
    for (const std::string& old : s.names()) {
      if (!pairs.empty() && rng_.coin(0.6)) continue;
      DimType type = rng_.choose(std::vector<DimType>{DimType::batch, DimType::dual, DimType::instance,
                                                      DimType::spatial, DimType::channel});
      std::string to = type == DimType::dual ? dual_name("r") : fresh_name("r");
      pairs.push_back({old, to, type});
    }
    push_any(add(Op::rename, {a->v}, ir::attrs::rename(pairs)));
  }

  std::vector<ir::attrs::CellWeights> random_weights(size_t n) {
    std::vector<ir::attrs::CellWeights> out;
    for (size_t k = 0; k < n; ++k) {
      ir::attrs::CellWeights w;
      switch (rng_.uniform(0, 4)) {
        case 0: break;  // interpolation: not printed
        case 1: w = w.derivative(); break;
        case 2: w = w.only(rng_.coin()); break;
        case 3: w = ir::attrs::CellWeights::cell(rng_.coin()); break;
        default:
          w = {rng_.uniform(-3, 3), rng_.uniform(-3, 3), rng_.uniform(-3, 3), rng_.uniform(-3, 3)};
          break;
      }
      out.push_back(w);
    }
    return out;
  }

  void weighted_grid_sample_step() {
    std::optional<Val> grid = pick_if(floats_, [&](const Val& v) { return shape(v.v).rank() > 0; });
    if (!grid) return special_scalar_step();
    const Shape s = shape(grid->v);
    std::vector<std::string> dims = sampled_dims(s);
    Value c = coordinates(s, dims, sample_points(s.without(dims)));
    if (!compatible(shape(c).without({ir::kSampleVector}), s.without(dims))) return special_scalar_step();
    push_any(add(Op::grid_sample, {grid->v, c},
                 ir::attrs::grid_sample(dims, random_extrapolation(f_), random_weights(dims.size()))));
  }

  void weighted_transpose_step() {
    Val u = pick(floats_);
    const Shape points = sample_points(shape(u.v));
    // Only sampled dims in the grid: u's other dims may be pool dims resized by pad or slice.
    std::vector<std::string> dims =
        rng_.choose(std::vector<std::vector<std::string>>{{"x"}, {"y"}, {"y", "x"}});
    std::vector<Dim> grid_dims;
    for (const std::string& d : dims) grid_dims.push_back(pool_[d == "x" ? 1 : 2]);
    const Shape grid(grid_dims);
    const Shape u_shape = shape(u.v);
    Value c = coordinates(grid, dims, points, u_shape);
    Extrapolation e = random_extrapolation(f_);
    push_any(add(Op::grid_sample_transpose, {u.v, c},
                 ir::attrs::grid_sample_transpose(grid, dims, e, random_weights(dims.size()))));
  }

  void odd_extrapolation_step() {
    std::optional<Val> a = pick_any(true);
    if (!a) return special_scalar_step();
    const Shape s = shape(a->v);
    Extrapolation e = extrapolation::constant(
        rng_.choose(std::vector<double>{-0.0, NAN, INFINITY, -INFINITY, 1e-300, 0.1, 5e-324, 1, 0, -7}));
    std::string dim = rng_.choose(s.names());
    if (rng_.coin()) {
      push_any(add(Op::shift, {a->v}, ir::attrs::shift(dim, rng_.uniform(-3, 3), e)));
    } else {
      push_any(add(Op::pad, {a->v}, ir::attrs::pad({{dim, rng_.uniform(0, 2), rng_.uniform(0, 2)}}, e)));
    }
  }

  // where, comparisons, casts, reductions and arithmetic on integers and booleans.
  void int_bool_step() {
    std::optional<Val> a = pick_any(false);
    if (!a) return special_scalar_step();
    const Shape s = shape(a->v);
    const DType dt = dtype(a->v);
    switch (rng_.uniform(0, 5)) {
      case 0: {  // where between two values of a's dtype
        std::optional<Val> cond = pick_compatible(bools_, s);
        if (!cond) cond = comparison(s);
        if (!cond) break;
        std::optional<Val> b = pick_if(pool_of(dt), [&](const Val& v) {
          return dtype(v.v) == dt && compatible(shape(v.v), s) && compatible(shape(v.v), shape(cond->v));
        });
        push_any(add(Op::where, {cond->v, a->v, (b ? *b : *a).v}));
        return;
      }
      case 1: {  // a comparison of a with another value of its dtype
        std::optional<Val> b =
            pick_if(pool_of(dt), [&](const Val& v) { return dtype(v.v) == dt && compatible(shape(v.v), s); });
        Op op = rng_.choose(std::vector<Op>{Op::lt, Op::le, Op::gt, Op::ge, Op::eq, Op::ne});
        push_any(add(op, {a->v, (b ? *b : *a).v}));
        return;
      }
      case 2: push_any(add(Op::cast, {a->v}, ir::attrs::cast(any_dtype()))); return;
      case 3:
        if (s.rank() > 0) {
          Op op = rng_.choose(std::vector<Op>{Op::reduce_sum, Op::reduce_max, Op::reduce_min});
          std::vector<std::string> dims = {rng_.choose(s.names())};
          if (op != Op::reduce_sum && s.size(dims[0]) == 0) break;
          push_any(add(op, {a->v}, ir::attrs::reduce(dims)));
          return;
        }
        break;
      case 4:
        if (dt != DType::boolean) {
          push_any(add(rng_.choose(std::vector<Op>{Op::neg, Op::abs, Op::sign}), {a->v}));
        } else {
          push_any(add(rng_.coin() ? Op::minimum : Op::maximum, {a->v, a->v}));
        }
        return;
      default: push_any(add(Op::isfinite, {a->v})); return;
    }
    special_scalar_step();
  }

  // slice and concat along a dim with item names (they follow the elements).
  void named_items_step() {
    Dim d = exotic_dim();
    if (d.type != DimType::channel) d = Dim{fresh_name("v"), 3, DimType::channel, {"p", "q", "r s"}};
    Shape s = Shape({d}) & random_pool_shape(0.3);
    DType dt = any_dtype();
    auto b = std::make_shared<Buffer>(dt, s.volume());
    for (int64_t i = 0; i < b->count(); ++i) set_special(*b, i);
    Value c = g_.add_constant(std::move(b), s);
    int64_t start = rng_.uniform(0, d.size - 1);
    Value sl = add(Op::slice, {c}, ir::attrs::slice(d.name, start, rng_.uniform(start + 1, d.size), false));
    push_any(add(Op::concat, {sl, c}, ir::attrs::concat(d.name)));
  }

  void stack_any_type_step() {
    Val a = *pick_any(false);
    DimType type = rng_.choose(std::vector<DimType>{DimType::batch, DimType::dual, DimType::instance,
                                                    DimType::spatial, DimType::channel});
    std::string name = type == DimType::dual ? dual_name("k") : fresh_name("k");
    std::vector<std::string> items;
    if (type == DimType::channel && rng_.coin()) items = {"first", "second"};
    push_any(add(Op::stack, {a.v, a.v}, ir::attrs::stack(Shape({Dim{name, 2, type, items}}))));
  }

  void expand_exotic_step() {
    Val a = *pick_any(false);
    push_any(add(Op::expand, {a.v}, ir::attrs::expand(Shape({exotic_dim()}))));
  }

  void cast_int() {
    Val i = pick(ints_);
    Attrs at;
    at.dtype = f_;
    push_float({add(Op::cast, {i.v}, at), i.bound, i.exact});
  }

  // Integer arithmetic (exact), or an integer value converted into the float math.
  void int_step() {
    if (ints_.empty() || rng_.coin(0.4)) {
      if (ints_.empty()) {
        unary_step();
      } else {
        cast_int();
      }
      return;
    }
    Val a = pick(ints_);
    DType dt = dtype(a.v);
    auto b =
        pick_if(ints_, [&](const Val& v) { return dtype(v.v) == dt && compatible(shape(v.v), shape(a.v)); });
    if (!b) b = Val{scalar(static_cast<double>(rng_.uniform(-3, 3)), dt), 3, true};
    switch (rng_.uniform(0, 6)) {
      case 0: ints_.push_back({unary(Op::neg, a.v), a.bound, true}); return;
      case 1: ints_.push_back({unary(Op::abs, a.v), a.bound, true}); return;
      case 2: ints_.push_back({unary(Op::sign, a.v), 1, true}); return;
      case 3: ints_.push_back({binary(Op::add, a.v, b->v), a.bound + b->bound, true}); return;
      case 4: ints_.push_back({binary(Op::sub, a.v, b->v), a.bound + b->bound, true}); return;
      case 5:
        if (a.bound * b->bound <= 1e4) {
          ints_.push_back({binary(Op::mul, a.v, b->v), a.bound * b->bound, true});
          return;
        }
        [[fallthrough]];
      default:
        ints_.push_back(
            {binary(rng_.coin() ? Op::minimum : Op::maximum, a.v, b->v), std::max(a.bound, b->bound), true});
        return;
    }
  }

  void cast_bool() {
    if (bools_.empty() && !comparison(Shape())) {
      unary_step();
      return;
    }
    Val c = pick(bools_);
    Attrs at;
    at.dtype = f_;
    push_float({add(Op::cast, {c.v}, at), 1, true});
  }

  void isfinite_step() {
    Val a = pick(floats_);
    bools_.push_back({unary(Op::isfinite, a.v), 1, true});
  }
};

}  // namespace

ir::Graph random_graph(uint64_t seed, const RandomGraphOptions& options) {
  return Builder(seed, options).build();
}

std::vector<runtime::BufferPtr> random_inputs(const ir::Graph& g, uint64_t seed) {
  Rng rng(seed ^ 0xD1B54A32D192ED03ULL);
  std::vector<runtime::BufferPtr> out;
  for (Value v : g.inputs()) {
    const ir::ValueType& t = g.type(v);
    auto b = std::make_shared<Buffer>(t.dtype, t.shape.volume());
    for (int64_t i = 0; i < b->count(); ++i) {
      if (is_float(t.dtype)) {
        b->set_real(i, rng.real(-2, 2));
      } else if (t.dtype == DType::boolean) {
        b->set_int(i, rng.coin() ? 1 : 0);
      } else {
        b->set_int(i, rng.uniform(-5, 5));
      }
    }
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace phijit::testing
