#include "differential.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <limits>
#include <stdexcept>

#include "ir/builder.h"

namespace phijit::testing {

namespace {

using ir::Op;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMathUlps = 4;       // accuracy assumed of exp, log, sin, ... (in ulps)
constexpr double kRelativeSlack = 8;  // times eps · depth · |ref|
constexpr double kBoundFactor = 4;    // times E_o

double eps_of(DType t) {
  switch (t) {
    case DType::f32: return 0x1p-23;
    case DType::f64: return 0x1p-52;
    case DType::i32:
    case DType::i64:
    case DType::boolean: return 0;
  }
  return 0;
}

// Largest integer magnitude a float dtype holds exactly.
double exact_int_limit(DType t) { return t == DType::f32 ? 0x1p24 : 0x1p53; }

struct Stats {
  double amax = 0;     // max |v|
  double amin = kInf;  // min |v|
  double lo = kInf;    // min v
  double hi = -kInf;   // max v
};

Stats stats_of(const Buffer& b) {
  Stats s;
  for (int64_t i = 0; i < b.count(); ++i) {
    double v = b.get_real(i);
    if (std::isnan(v)) continue;
    s.amax = std::max(s.amax, std::fabs(v));
    s.amin = std::min(s.amin, std::fabs(v));
    s.lo = std::min(s.lo, v);
    s.hi = std::max(s.hi, v);
  }
  if (b.count() == 0) s.amin = 0;
  return s;
}

bool is_power_of_two_scalar(const ir::Node& n) {
  if (n.op != Op::constant || n.attrs.data->count() != 1 || !is_float(n.type.dtype)) return false;
  int e = 0;
  double m = std::frexp(std::fabs(n.attrs.data->get_real(0)), &e);
  return m == 0.5;
}

// a − b, broadcast by dim name as the graph's elementwise ops do.
runtime::BufferPtr difference(const ir::ValueType& ta, const runtime::BufferPtr& a, const ir::ValueType& tb,
                              const runtime::BufferPtr& b) {
  std::array<ir::ValueType, 2> types{ta, tb};
  std::array<runtime::BufferPtr, 2> in{a, b};
  return runtime::evaluate(Op::sub, {}, ir::infer_type(Op::sub, types, {}), in, types);
}

// The node values and error bounds computed so far, for the rules that look at more than max-norms.
struct Analyzed {
  const ir::Graph& g;
  const std::vector<runtime::BufferPtr>& values;
  const std::vector<double>& err;
  const runtime::BufferPtr& value(ir::Value v) const { return values[static_cast<size_t>(v.id)]; }
  double E(ir::Value v) const { return err[static_cast<size_t>(v.id)]; }
};

// Whether sign or a comparison of inexact operands gives the reference's booleans in any
// implementation whose operands are within their bounds: at every element the operands are
// further apart than E_a + E_b (sign: |a| > E_a), or exactly equal. A tie is taken as one value
// reached twice (copies made by layout ops, the winner of a min/max or a where), which every
// implementation reproduces; a coincidental tie of two computations would make the bound too
// small (a failure to look into), never too large.
bool comparison_is_decided(const Analyzed& a, const ir::Node& n) {
  ir::Value l = n.inputs[0];
  if (!is_float(a.g.type(l).dtype)) return false;
  runtime::BufferPtr gap = a.value(l);
  double e = a.E(l);
  if (n.op != Op::sign) {
    ir::Value r = n.inputs[1];
    gap = difference(a.g.type(l), a.value(l), a.g.type(r), a.value(r));
    e += a.E(r);
  }
  for (int64_t i = 0; i < gap->count(); ++i) {
    double d = gap->get_real(i);
    if (d != 0 && !(std::fabs(d) > e)) return false;
  }
  return true;
}

bool is_zero_constant(const ir::Graph& g, ir::Value v) {
  const ir::Node& n = g.node(v);
  if (n.op == Op::expand) return is_zero_constant(g, n.inputs[0]);
  if (n.op != Op::constant) return false;
  for (int64_t i = 0; i < n.attrs.data->count(); ++i) {
    if (n.attrs.data->get_real(i) != 0) return false;
  }
  return true;
}

// p = t·f, t/f, −t, (t·f)/f', ...: p is 0 wherever t is, and |p| <= E_p wherever |t| <= E_t
// (E_p carries E_t through the same factors).
bool proportional_to(const ir::Graph& g, ir::Value p, ir::Value t) {
  if (p == t) return true;
  const ir::Node& n = g.node(p);
  switch (n.op) {
    case Op::mul: return proportional_to(g, n.inputs[0], t) || proportional_to(g, n.inputs[1], t);
    case Op::div:
    case Op::neg: return proportional_to(g, n.inputs[0], t);
    case Op::cast: return is_float(n.type.dtype) && proportional_to(g, n.inputs[0], t);
    default: return false;
  }
}

// where(eq(t, 0), 0, p) with p proportional to t: autodiff's guard against 0·inf. Where rounding
// flips the condition, |t| <= E_t, so both branches are within E_p of each other: p's error.
bool is_masked_product(const ir::Graph& g, const ir::Node& n) {
  const ir::Node& cond = g.node(n.inputs[0]);
  if (cond.op != Op::eq || !is_zero_constant(g, n.inputs[1])) return false;
  for (auto [t, zero] :
       {std::pair{cond.inputs[0], cond.inputs[1]}, std::pair{cond.inputs[1], cond.inputs[0]}}) {
    if (is_zero_constant(g, zero) && proportional_to(g, n.inputs[2], t)) return true;
  }
  return false;
}

std::string index_str(const Shape& s, int64_t flat) {
  std::vector<std::string> parts(static_cast<size_t>(s.rank()));
  for (int d = s.rank() - 1; d >= 0; --d) {
    const Dim& dim = s.dims()[static_cast<size_t>(d)];
    parts[static_cast<size_t>(d)] = fmt::format("{}={}", dim.name, flat % dim.size);
    flat /= dim.size;
  }
  return fmt::format("({})", fmt::join(parts, ", "));
}

// Bounds of grid_sample's weights along one sampled dim (f in [0, 1]): B = max Σ|weights|
// (they are affine in f, so at f = 0 or 1) and L = Σ|slopes| (the Lipschitz constant in the
// coordinate within a cell). Interpolating weights are continuous across cells; others (their
// derivatives) jump at integer coordinates.
struct WeightBounds {
  double sum = 1, product_of_sums = 1, lipschitz = 0;  // Σ_k L_k · Π_{j≠k} B_j
  bool continuous = true;
};

WeightBounds weight_bounds(const ir::Attrs& a) {
  ir::attrs::GridSampleView v = ir::attrs::grid_sample_of(a);
  std::vector<double> b, l;
  WeightBounds r;
  for (const ir::attrs::CellWeights& w : v.weights) {
    b.push_back(std::max(std::fabs(w.lo_const) + std::fabs(w.hi_const),
                         std::fabs(w.lo_const + w.lo_slope) + std::fabs(w.hi_const + w.hi_slope)));
    l.push_back(std::fabs(w.lo_slope) + std::fabs(w.hi_slope));
    r.continuous = r.continuous && w.lo_const + w.lo_slope == 0 && w.hi_const + w.hi_slope == w.lo_const &&
                   w.hi_const == 0;
  }
  for (size_t k = 0; k < b.size(); ++k) {
    r.product_of_sums *= b[k];
    double others = 1;
    for (size_t j = 0; j < b.size(); ++j) others *= j == k ? 1 : b[j];
    r.lipschitz += l[k] * others;
  }
  return r;
}

}  // namespace

Runner interpreter_runner() {
  return [](const ir::Graph& g, std::span<const runtime::BufferPtr> inputs) {
    return runtime::interpret(g, inputs);
  };
}

ErrorAnalysis analyze_errors(const ir::Graph& g, std::span<const runtime::BufferPtr> inputs) {
  auto n_nodes = static_cast<size_t>(g.size());
  std::vector<runtime::BufferPtr> values(n_nodes);
  std::vector<Stats> stats(n_nodes);
  std::vector<double> err(n_nodes, 0);
  std::vector<int> depth(n_nodes, 0);
  for (size_t i = 0; i < n_nodes; ++i) {
    const ir::Node& n = g.nodes()[i];
    std::vector<runtime::BufferPtr> in;
    std::vector<ir::ValueType> types;
    for (ir::Value v : n.inputs) {
      in.push_back(values[static_cast<size_t>(v.id)]);
      types.push_back(g.type(v));
      depth[i] = std::max(depth[i], depth[static_cast<size_t>(v.id)] + 1);
    }
    values[i] = n.op == Op::input ? inputs[static_cast<size_t>(n.attrs.ints[0])]
                                  : runtime::evaluate(n.op, n.attrs, n.type, in, types);
    stats[i] = stats_of(*values[i]);
    const Stats& r = stats[i];
    auto E = [&](size_t k) { return err[static_cast<size_t>(n.inputs[k].id)]; };
    auto S = [&](size_t k) -> const Stats& { return stats[static_cast<size_t>(n.inputs[k].id)]; };
    auto all_exact = [&] {
      for (size_t k = 0; k < n.inputs.size(); ++k) {
        if (E(k) != 0) return false;
      }
      return true;
    };
    auto max_in = [&] {
      double m = 0;
      for (size_t k = 0; k < n.inputs.size(); ++k) m = std::max(m, E(k));
      return m;
    };
    const Analyzed analyzed{g, values, err};
    double eps = eps_of(n.type.dtype);
    double round = eps * r.amax;             // one rounding of the result
    double math = kMathUlps * eps * r.amax;  // a libm function's error
    double e = 0;
    switch (n.op) {
      case Op::input:
      case Op::constant: e = 0; break;
      case Op::neg:
      case Op::abs: e = E(0); break;
      case Op::sign:
      case Op::lt:
      case Op::le:
      case Op::gt:
      case Op::ge:
      case Op::eq:
      case Op::ne: e = all_exact() || comparison_is_decided(analyzed, n) ? 0 : kInf; break;
      case Op::isfinite: e = std::isfinite(E(0)) ? 0 : kInf; break;
      case Op::cast: {
        DType from = types[0].dtype;
        if (!is_float(n.type.dtype)) {
          e = E(0) == 0 ? 0 : kInf;
        } else if (is_float(from)) {
          e = E(0) + (from == n.type.dtype ? 0 : round);
        } else {
          e = S(0).amax <= exact_int_limit(n.type.dtype) ? 0 : round;
        }
        break;
      }
      case Op::exp: e = r.amax * E(0) + math; break;
      case Op::log: e = E(0) == 0 ? math : S(0).amin > 0 ? E(0) / S(0).amin + math : kInf; break;
      case Op::sin:
      case Op::cos:
      case Op::tanh: e = E(0) + math; break;
      case Op::tan: e = (1 + r.amax * r.amax) * E(0) + math; break;
      case Op::sqrt:
        e = E(0) == 0 ? math : S(0).amin > 0 ? E(0) / (2 * std::sqrt(S(0).amin)) + math : kInf;
        break;
      case Op::add:
      case Op::sub: e = E(0) + E(1) + round; break;
      case Op::mul: {
        bool exact_scale =
            is_power_of_two_scalar(g.node(n.inputs[0])) || is_power_of_two_scalar(g.node(n.inputs[1]));
        e = S(1).amax * E(0) + S(0).amax * E(1) + (exact_scale ? 0 : round);
        break;
      }
      case Op::div: {
        double bmin = S(1).amin;
        if (all_exact()) {
          e = round;
        } else if (bmin > 0) {
          e = E(0) / bmin + S(0).amax * E(1) / (bmin * bmin) + round;
        } else {
          e = kInf;
        }
        break;
      }
      case Op::pow: {
        const Stats& a = S(0);
        const Stats& b = S(1);
        if (all_exact()) {
          e = math;
        } else if (a.lo > 0) {
          double d_base = 0;  // max over the operands' ranges of |b · a^(b−1)|
          for (double av : {a.lo, a.hi}) {
            for (double bv : {b.lo, b.hi}) d_base = std::max(d_base, std::pow(av, bv - 1));
          }
          d_base *= b.amax;
          double d_exp = r.amax * std::max(std::fabs(std::log(a.lo)), std::fabs(std::log(a.hi)));
          e = d_base * E(0) + d_exp * E(1) + math;
        } else {
          e = kInf;
        }
        break;
      }
      case Op::minimum:
      case Op::maximum: e = std::max(E(0), E(1)); break;
      case Op::where: e = E(0) == 0 ? std::max(E(1), E(2)) : is_masked_product(g, n) ? E(2) : kInf; break;
      case Op::reduce_sum: {
        if (!is_float(n.type.dtype)) {
          e = E(0) == 0 ? 0 : kInf;
          break;
        }
        double terms = 1;
        for (const std::string& d : n.attrs.names) terms *= static_cast<double>(types[0].shape.size(d));
        // S: the largest sum of |terms| that one output element adds up.
        ir::ValueType abs_type = types[0];
        runtime::BufferPtr abs_in = runtime::evaluate(Op::abs, {}, abs_type, {&in[0], 1}, {&abs_type, 1});
        runtime::BufferPtr sums =
            runtime::evaluate(Op::reduce_sum, n.attrs, n.type, {&abs_in, 1}, {&abs_type, 1});
        double s = stats_of(*sums).amax;
        e = terms * E(0) + terms * eps * s;
        break;
      }
      case Op::reduce_max:
      case Op::reduce_min: e = E(0); break;
      case Op::shift:
      case Op::pad:
      case Op::expand:
      case Op::slice:
      case Op::concat:
      case Op::stack:
      case Op::rename: e = max_in(); break;
      case Op::grid_sample: {
        // Σ over ≤ 2^d corners of Π weights · value: the values' errors through the weights, the
        // coordinates' through the Lipschitz constant (a jump where the weights are not
        // continuous: exact coordinates only), and the rounding of weights, products and sum
        // (f = c - floor(c) itself may round once).
        WeightBounds w = weight_bounds(n.attrs);
        double value = std::max(S(0).amax, n.attrs.extrap.kind() == Extrapolation::Kind::constant
                                               ? std::fabs(n.attrs.extrap.value())
                                               : 0.0);
        double d = static_cast<double>(n.attrs.names.size());
        if (E(1) > 0 && !w.continuous) {
          e = kInf;
        } else {
          e = w.product_of_sums * E(0) + w.lipschitz * value * (E(1) + eps) +
              (std::ldexp(1.0, static_cast<int>(d)) * (d + 2) + 2 * d) * eps * w.product_of_sums * value;
        }
        break;
      }
      case Op::grid_sample_transpose: {
        // Each cell sums u·weights over at most P points (the walk's points per cell) and their
        // corners: P times grid_sample's bound per point, and the rounding of a sum of P·2^d terms.
        WeightBounds w = weight_bounds(n.attrs);
        const Shape grid_unsampled = n.attrs.shape.without(n.attrs.names);
        const Shape walk = types[0].shape & types[1].shape.without({ir::kSampleVector}) & grid_unsampled;
        double points = static_cast<double>(walk.without(grid_unsampled.names()).volume());
        double d = static_cast<double>(n.attrs.names.size());
        double corners = std::ldexp(1.0, static_cast<int>(d));
        double magnitude = points * w.product_of_sums * S(0).amax;  // Σ|terms| of one cell
        if (E(1) > 0 && !w.continuous) {
          e = kInf;
        } else {
          e = points * (w.product_of_sums * E(0) + w.lipschitz * S(0).amax * (E(1) + eps)) +
              (points * corners + corners * (d + 2)) * eps * magnitude;
        }
        break;
      }
      case Op::matmul_sparse:  // no bound without a test that exercises it
      case Op::solve_linear: throw std::logic_error("analyze_errors: random graphs hold no host ops");
    }
    err[i] = e;
  }
  ErrorAnalysis out;
  for (ir::Value v : g.outputs()) {
    out.bounds.push_back(err[static_cast<size_t>(v.id)]);
    out.depths.push_back(depth[static_cast<size_t>(v.id)]);
  }
  return out;
}

DiffResult compare_to_reference(const ir::Graph& g, std::span<const runtime::BufferPtr> inputs,
                                const Runner& run) {
  DiffResult result;
  auto fail = [&](const std::string& what) {
    result.ok = false;
    result.message = what + "\n" + ir::print(g);
    return result;
  };
  std::vector<runtime::BufferPtr> ref = runtime::interpret(g, inputs);
  ErrorAnalysis analysis = analyze_errors(g, inputs);
  std::vector<runtime::BufferPtr> got;
  try {
    got = run(g, inputs);
  } catch (const std::exception& e) {
    return fail(fmt::format("the runner threw: {}", e.what()));
  }
  if (got.size() != ref.size()) {
    return fail(fmt::format("the runner returned {} outputs, the graph has {}", got.size(), ref.size()));
  }
  for (size_t o = 0; o < ref.size(); ++o) {
    const ir::ValueType& t = g.type(g.outputs()[o]);
    std::string what = fmt::format("output {} ({} {})", o, dtype_name(t.dtype), t.shape.str());
    if (!got[o]) return fail(what + ": the runner returned no buffer");
    if (got[o]->dtype() != t.dtype || got[o]->count() != t.shape.volume()) {
      return fail(fmt::format("{}: the runner returned {} elements of {}", what, got[o]->count(),
                              dtype_name(got[o]->dtype())));
    }
    double eps = eps_of(t.dtype);
    double bound = analysis.bounds[o];
    int depth = std::max(1, analysis.depths[o]);
    int64_t mismatches = 0, first = -1;
    double first_ref = 0, first_got = 0, first_allowed = 0;
    for (int64_t i = 0; i < t.shape.volume(); ++i) {
      double a = ref[o]->get_real(i), b = got[o]->get_real(i);
      bool ok = false;
      double allowed = 0;
      if (is_float(t.dtype)) {
        allowed = kRelativeSlack * eps * depth * std::fabs(a) + kBoundFactor * bound;
        ok = a == b || (std::isnan(a) && std::isnan(b)) || std::fabs(a - b) <= allowed;
        if (a != b && !(std::isnan(a) && std::isnan(b))) {
          ++result.differing;
          result.worst_ratio = std::max(result.worst_ratio, allowed > 0 ? std::fabs(a - b) / allowed : kInf);
        }
      } else {
        ok = ref[o]->get_int(i) == got[o]->get_int(i);
      }
      if (!ok) {
        if (mismatches++ == 0) {
          first = i;
          first_ref = a;
          first_got = b;
          first_allowed = allowed;
        }
      }
    }
    if (mismatches > 0) {
      return fail(fmt::format(
          "{}: {} of {} elements differ; the first at flat index {} {}: reference {:.17g}, got {:.17g}, "
          "|difference| {:.3g} > allowed {:.3g} (error bound E = {:.3g}, depth {})",
          what, mismatches, t.shape.volume(), first, index_str(t.shape, first), first_ref, first_got,
          std::fabs(first_ref - first_got), first_allowed, bound, depth));
    }
  }
  return result;
}

int count_from_env(const char* variable, int fallback) {
  const char* env = std::getenv(variable);
  if (env == nullptr || *env == '\0') return fallback;
  char* end = nullptr;
  long n = std::strtol(env, &end, 10);
  return *end == '\0' && n > 0 ? static_cast<int>(n) : fallback;
}

}  // namespace phijit::testing
