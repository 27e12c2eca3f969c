// Randomized tests of reverse-mode autodiff (passes::run_gradient): the gradients of random
// smooth graphs against central finite differences, both run by the reference interpreter; the
// same gradient programs compiled, against the interpreter (the differential checker); wrong
// VJP rules, simulated, must fail the finite-difference check.
//
// The finite-difference rule. Each random graph g (random_graph with smooth = true: float64)
// gets the loss
//
//     L(x) = Σ_o Σ_i w_o,i · o_i(x)      over g's float outputs o, fixed random weights w in [-1, 1]
//
// and its gradient program (run_gradient with respect to every float input). At a point x and
// along a random direction d, the directional derivative D = <∇L(x), d> of the interpreted
// gradient must satisfy
//
//     |D − D_{h/2}| <= 2 · ( |D_h − D_{h/2}| / 3 + 3·E_L / h + E_D )
//
// where D_s = (L(x + s·d) − L(x − s·d)) / 2s is the central difference of step s:
//   - truncation: D_s = ∂_d L + s²·L'''/6 + O(s⁴), so D_h − D_{h/2} = 3·(the truncation error of
//     D_{h/2}) up to rounding and higher orders (Richardson): measured per direction, not guessed;
//   - rounding of L: each value of L is within E_L of the exact one (analyze_errors of the loss
//     graph, differential.h), so D_h is within E_L/h of its exact value and D_{h/2} within
//     2·E_L/h; with the estimate above that makes 2·E_L/h + (E_L/h + 2·E_L/h)/3 = 3·E_L/h;
//   - the points are exact: x is on a 2^-20 grid in [-2, 2], d on a 2^-10 grid in [-1, 1] and
//     h a power of two >= 2^-18, so x ± s·d needs at most 31 significant bits: the step taken is
//     exactly s·d;
//   - E_D, the rounding of D: Σ_k E_g,k·‖d_k‖₁ (E_g,k: analyze_errors' bound of gradient k) plus
//     (n + 1)·eps·Σ|g_i·d_i| for the dot product of n terms;
//   - the factor 2 covers what the estimate leaves out: the O(h⁴) terms and E_L taken at x only.
// Finite differences need L smooth on the segment [x − h·d, x + h·d]. The graphs keep kinks
// (abs, minimum/maximum, reduce_max/min) and jumps (sign, comparisons feeding where) on values
// that depend on x (grid_sample has kinks at cell faces too, but smooth graphs sample at
// constant coordinates); a point is used only if at all five sampled points x, x ± h·d,
// x ± h/2·d, every such op's gap (its distance from the kink: a for abs and sign, a − b for
// min/max and comparisons, x − max for a reduction, sin(π·c) for grid_sample) stays clear of
// zero, |gap(x)| > 2·max|gap(p) − gap(x)|, or is exactly zero at all five (a tie that persists,
// as in maximum(a, a): the rules split ties evenly, which is right when both sides move
// alike). A point whose bound is infinite (rounding could flip a comparison of the gradient
// program) is not used either. The first point takes h = 2^-12; up to three more are tried,
// each with a 4 times smaller h (large graphs have many kinks). The check resolves ~1e-8 of
// Σ|g_i·d_i| typically (test "[gradient-tolerance]" prints the margins).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "differential.h"
#include "frontend/compiler.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "passes/autodiff.h"
#include "passes/rebuild.h"
#include "common/random_graph.h"

namespace ir = phijit::ir;
namespace runtime = phijit::runtime;
namespace passes = phijit::passes;
using phijit::Buffer;
using phijit::DType;
using phijit::testing::analyze_errors;
using phijit::testing::compare_to_reference;
using phijit::testing::random_graph;
using phijit::testing::RandomGraphOptions;
using phijit::testing::Runner;
using Buffers = std::vector<runtime::BufferPtr>;

namespace {

constexpr double kStep = 0x1p-12;           // h at the first point tried; /4 at each next one
constexpr double kInputGrid = 0x1p-20;      // x's values are multiples of this
constexpr double kDirectionGrid = 0x1p-10;  // d's values are multiples of this
constexpr double kSafety = 2;
constexpr double kEps = 0x1p-52;
constexpr int kDirections = 3;  // per point
constexpr int kAttempts = 4;    // points tried per graph before it counts as too close to kinks
constexpr double kInf = std::numeric_limits<double>::infinity();

// PHIJIT_GRAD_SEEDS overrides how many graphs the tests run.
int graph_count(int fallback) { return phijit::testing::count_from_env("PHIJIT_GRAD_SEEDS", fallback); }

std::string seed_list(const std::vector<uint64_t>& seeds) {
  std::string out;
  for (uint64_t s : seeds) out += (out.empty() ? "" : " ") + std::to_string(s);
  return out;
}

Runner compiled_runner() {
  return [](const ir::Graph& g, std::span<const runtime::BufferPtr> inputs) {
    return phijit::compile_graph(g)->run(inputs);
  };
}

// Uniform in [lo, hi] on a grid of `step`: the same numbers with every standard library.
class GridRng {
 public:
  explicit GridRng(uint64_t seed) : engine_(seed) {}
  double on_grid(double lo, double hi, double step) {
    double u = static_cast<double>(engine_() >> 11) * 0x1p-53;
    return std::round((lo + (hi - lo) * u) / step) * step;
  }

 private:
  std::mt19937_64 engine_;
};

bool is_float_input(const ir::Graph& g, size_t k) { return phijit::is_float(g.type(g.inputs()[k]).dtype); }

// g with the loss: output 0 is L, then g's outputs.
ir::Graph with_loss(const ir::Graph& g, uint64_t seed) {
  ir::Graph out;
  std::vector<ir::Value> inputs;
  for (ir::Value v : g.inputs()) inputs.push_back(out.add_input(g.type(v).shape, g.type(v).dtype));
  std::vector<ir::Value> outputs = passes::inline_graph(out, g, inputs);
  ir::Builder b(out);
  GridRng rng(seed ^ 0x5DEECE66DULL);
  ir::Value loss;
  for (ir::Value o : outputs) {
    const ir::ValueType t = out.type(o);
    if (!phijit::is_float(t.dtype)) continue;
    auto w = std::make_shared<Buffer>(t.dtype, t.shape.volume());
    for (int64_t i = 0; i < w->count(); ++i) w->set_real(i, rng.on_grid(-1, 1, 0x1p-30));
    ir::Value term = b.sum(b.mul(out.add_constant(std::move(w), t.shape), o), t.shape.names());
    loss = loss.valid() ? b.add(loss, term) : term;
  }
  out.add_output(loss);
  for (ir::Value o : outputs) out.add_output(o);
  return out;
}

std::vector<int> float_inputs(const ir::Graph& g) {
  std::vector<int> out;
  for (size_t k = 0; k < g.inputs().size(); ++k) {
    if (is_float_input(g, k)) out.push_back(static_cast<int>(k));
  }
  return out;
}

// random_inputs with the floats rounded to the input grid.
Buffers grid_point(const ir::Graph& g, uint64_t seed) {
  Buffers x = phijit::testing::random_inputs(g, seed);
  for (size_t k = 0; k < x.size(); ++k) {
    if (!is_float_input(g, k)) continue;
    auto b = std::make_shared<Buffer>(x[k]->dtype(), x[k]->count());
    for (int64_t i = 0; i < b->count(); ++i)
      b->set_real(i, std::round(x[k]->get_real(i) / kInputGrid) * kInputGrid);
    x[k] = std::move(b);
  }
  return x;
}

// A direction: grid values in [-1, 1] for the float inputs, nothing for the others.
Buffers random_direction(const ir::Graph& g, uint64_t seed) {
  GridRng rng(seed);
  Buffers d(g.inputs().size());
  for (size_t k = 0; k < d.size(); ++k) {
    if (!is_float_input(g, k)) continue;
    const ir::ValueType& t = g.type(g.inputs()[k]);
    auto b = std::make_shared<Buffer>(t.dtype, t.shape.volume());
    for (int64_t i = 0; i < b->count(); ++i) b->set_real(i, rng.on_grid(-1, 1, kDirectionGrid));
    d[k] = std::move(b);
  }
  return d;
}

// x + s·d (exact: both are on their grids and s is a power of two).
Buffers along(const Buffers& x, const Buffers& d, double s) {
  Buffers out = x;
  for (size_t k = 0; k < x.size(); ++k) {
    if (!d[k]) continue;
    auto b = std::make_shared<Buffer>(x[k]->dtype(), x[k]->count());
    for (int64_t i = 0; i < b->count(); ++i) b->set_real(i, x[k]->get_real(i) + s * d[k]->get_real(i));
    out[k] = std::move(b);
  }
  return out;
}

// Every node's value, as the interpreter computes them.
Buffers evaluate_nodes(const ir::Graph& g, const Buffers& inputs) {
  Buffers values(static_cast<size_t>(g.size()));
  for (size_t i = 0; i < values.size(); ++i) {
    const ir::Node& n = g.nodes()[i];
    if (n.op == ir::Op::input) {
      values[i] = inputs[static_cast<size_t>(n.attrs.ints[0])];
      continue;
    }
    Buffers in;
    std::vector<ir::ValueType> types;
    for (ir::Value v : n.inputs) {
      in.push_back(values[static_cast<size_t>(v.id)]);
      types.push_back(g.type(v));
    }
    values[i] = runtime::evaluate(n.op, n.attrs, n.type, in, types);
  }
  return values;
}

// Which nodes depend on a float input (the variables of the finite differences).
std::vector<bool> depends_on_x(const ir::Graph& g) {
  std::vector<bool> out(static_cast<size_t>(g.size()), false);
  for (size_t i = 0; i < out.size(); ++i) {
    const ir::Node& n = g.nodes()[i];
    if (n.op == ir::Op::input) out[i] = phijit::is_float(n.type.dtype);
    for (ir::Value v : n.inputs) out[i] = out[i] || out[static_cast<size_t>(v.id)];
  }
  return out;
}

runtime::BufferPtr difference(const ir::Graph& g, ir::Value a, ir::Value b, const Buffers& values) {
  std::array<ir::ValueType, 2> types{g.type(a), g.type(b)};
  std::array<runtime::BufferPtr, 2> in{values[static_cast<size_t>(a.id)], values[static_cast<size_t>(b.id)]};
  return runtime::evaluate(ir::Op::sub, {}, ir::infer_type(ir::Op::sub, types, {}), in, types);
}

// The gap of node v: its distance from the op's kink or jump (zero there), or none for an op
// that is smooth wherever the graphs use it.
runtime::BufferPtr kink_gap(const ir::Graph& g, ir::Value v, const Buffers& values) {
  const ir::Node& n = g.node(v);
  switch (n.op) {
    case ir::Op::abs:
    case ir::Op::sign: return values[static_cast<size_t>(n.inputs[0].id)];
    case ir::Op::minimum:
    case ir::Op::maximum:
    case ir::Op::lt:
    case ir::Op::le:
    case ir::Op::gt:
    case ir::Op::ge:
    case ir::Op::eq:
    case ir::Op::ne: return difference(g, n.inputs[0], n.inputs[1], values);
    case ir::Op::reduce_max:
    case ir::Op::reduce_min: return difference(g, n.inputs[0], v, values);
    case ir::Op::grid_sample:
    case ir::Op::grid_sample_transpose: {
      // Kinks where a coordinate crosses a cell: sin(π·c) is 0 there and smooth between.
      const phijit::Buffer& c = *values[static_cast<size_t>(n.inputs[1].id)];
      auto gap = std::make_shared<phijit::Buffer>(phijit::DType::f64, c.count());
      for (int64_t i = 0; i < c.count(); ++i) gap->set_real(i, std::sin(M_PI * c.get_real(i)));
      return gap;
    }
    case ir::Op::cast:
      if (!phijit::is_float(n.type.dtype)) {
        throw phijit::InternalError("the finite-difference check has no gap for a cast of x to an integer");
      }
      return nullptr;
    case ir::Op::input:
    case ir::Op::constant:
    case ir::Op::neg:
    case ir::Op::exp:
    case ir::Op::log:  // log, sqrt, div and pow: smooth graphs keep their operands positive
    case ir::Op::sin:
    case ir::Op::cos:
    case ir::Op::tan:
    case ir::Op::tanh:
    case ir::Op::sqrt:
    case ir::Op::isfinite:  // jumps at infinity only
    case ir::Op::add:
    case ir::Op::sub:
    case ir::Op::mul:
    case ir::Op::div:
    case ir::Op::pow:
    case ir::Op::where:  // its condition's comparisons have gaps of their own
    case ir::Op::reduce_sum:
    case ir::Op::shift:
    case ir::Op::pad:
    case ir::Op::expand:
    case ir::Op::slice:
    case ir::Op::concat:
    case ir::Op::matmul_sparse:
    case ir::Op::solve_linear:
    case ir::Op::stack:
    case ir::Op::rename: return nullptr;
  }
  return nullptr;
}

// L and the gaps of every kinked op that depends on x, at one point.
struct Sample {
  double loss = 0;
  Buffers gaps;
};

Sample sample(const ir::Graph& loss_graph, const std::vector<bool>& depends, const Buffers& inputs) {
  Buffers values = evaluate_nodes(loss_graph, inputs);
  Sample s;
  s.loss = values[static_cast<size_t>(loss_graph.outputs()[0].id)]->get_real(0);
  for (int i = 0; i < loss_graph.size(); ++i) {
    if (!depends[static_cast<size_t>(i)]) continue;
    if (runtime::BufferPtr gap = kink_gap(loss_graph, ir::Value{i}, values)) s.gaps.push_back(gap);
  }
  return s;
}

// Whether every gap stays clear of zero over the samples, or is zero at all of them.
bool clear_of_kinks(const Sample& center, std::span<const Sample> around) {
  for (size_t k = 0; k < center.gaps.size(); ++k) {
    const Buffer& c = *center.gaps[k];
    for (int64_t i = 0; i < c.count(); ++i) {
      double g0 = c.get_real(i), moved = 0;
      bool tie = g0 == 0;
      for (const Sample& s : around) {
        double gi = s.gaps[k]->get_real(i);
        moved = std::max(moved, std::fabs(gi - g0));
        tie = tie && gi == 0;
      }
      if (!tie && !(std::fabs(g0) > 2 * moved)) return false;
    }
  }
  return true;
}

double l1_norm(const Buffer& b) {
  double s = 0;
  for (int64_t i = 0; i < b.count(); ++i) s += std::fabs(b.get_real(i));
  return s;
}

// A random smooth graph with its loss, and the gradient program.
struct SmoothCase {
  ir::Graph loss_graph;       // output 0: L, then the random graph's outputs
  ir::Graph program;          // run_gradient(loss_graph, wrt)
  std::vector<int> wrt;       // the float inputs
  std::vector<bool> depends;  // which nodes of loss_graph depend on x
  size_t first_gradient = 0;  // the program's output index of the gradient of wrt[0]
};

SmoothCase smooth_case(uint64_t seed) {
  SmoothCase c;
  c.loss_graph = with_loss(random_graph(seed, RandomGraphOptions{.smooth = true}), seed);
  c.wrt = float_inputs(c.loss_graph);
  c.depends = depends_on_x(c.loss_graph);
  c.program = passes::run_gradient(c.loss_graph, c.wrt);
  c.first_gradient = c.loss_graph.outputs().size();
  return c;
}

// A gradient program's gradients at x, as the interpreter computes them, with their error bounds.
struct Gradient {
  Buffers values;
  std::vector<double> bounds;  // analyze_errors' E_g,k
};

Gradient interpreted_gradient(const ir::Graph& program, size_t first_gradient, const Buffers& x) {
  auto from = static_cast<std::ptrdiff_t>(first_gradient);
  Buffers out = runtime::interpret(program, x);
  std::vector<double> bounds = analyze_errors(program, x).bounds;
  return {Buffers(out.begin() + from, out.end()), std::vector<double>(bounds.begin() + from, bounds.end())};
}

// <g, d> with Σ|g_i·d_i| and the rounding bound E_D (see the top of the file).
struct Directional {
  double dot = 0, magnitude = 0, bound = 0;
};

Directional directional(const Gradient& g, const Buffers& d, const std::vector<int>& wrt) {
  Directional r;
  int64_t terms = 0;
  for (size_t k = 0; k < wrt.size(); ++k) {
    const Buffer& dk = *d[static_cast<size_t>(wrt[k])];
    for (int64_t i = 0; i < dk.count(); ++i) {
      double p = g.values[k]->get_real(i) * dk.get_real(i);
      r.dot += p;
      r.magnitude += std::fabs(p);
    }
    terms += dk.count();
    r.bound += g.bounds[k] * l1_norm(dk);
  }
  r.bound += static_cast<double>(terms + 1) * kEps * r.magnitude;
  return r;
}

// Central differences of L along d with steps h and h/2, or none when a kink is near.
struct FiniteDifferences {
  double d_h = 0, d_half = 0;
};

std::optional<FiniteDifferences> finite_differences(const SmoothCase& c, const Buffers& x,
                                                    const Sample& center, const Buffers& d, double h) {
  std::array<Sample, 4> around = {sample(c.loss_graph, c.depends, along(x, d, h)),
                                  sample(c.loss_graph, c.depends, along(x, d, -h)),
                                  sample(c.loss_graph, c.depends, along(x, d, h / 2)),
                                  sample(c.loss_graph, c.depends, along(x, d, -h / 2))};
  if (!clear_of_kinks(center, around)) return std::nullopt;
  return FiniteDifferences{(around[0].loss - around[1].loss) / (2 * h),
                           (around[2].loss - around[3].loss) / h};
}

// One direction: the gradient's directional derivative D against D_{h/2}, and the rule's bound.
struct DirectionCheck {
  double derivative = 0;                                                    // D
  double magnitude = 0;                                                     // Σ|g_i·d_i|
  double fd = 0;                                                            // D_{h/2}
  double truncation = 0, rounding_of_loss = 0, rounding_of_derivative = 0;  // the rule's three terms
  double allowed() const { return kSafety * (truncation + rounding_of_loss + rounding_of_derivative); }
  double error() const { return std::fabs(derivative - fd); }
  bool ok() const { return error() <= allowed(); }
};

DirectionCheck compare_direction(const FiniteDifferences& fd, double h, double loss_bound, const Gradient& g,
                                 const Buffers& d, const std::vector<int>& wrt) {
  Directional dir = directional(g, d, wrt);
  DirectionCheck r;
  r.derivative = dir.dot;
  r.magnitude = dir.magnitude;
  r.rounding_of_derivative = dir.bound;
  r.fd = fd.d_half;
  r.truncation = std::fabs(fd.d_h - fd.d_half) / 3;
  r.rounding_of_loss = 3 * loss_bound / h;
  return r;
}

// kDirections directions at the point of `point_seed` with step h, or none when the point is
// near a kink or a bound is infinite (a comparison in the gradient program that rounding could
// flip: no tolerance follows).
std::optional<std::vector<DirectionCheck>> check_point(const SmoothCase& c, const ir::Graph& program,
                                                       uint64_t point_seed, double h) {
  Buffers x = grid_point(c.loss_graph, point_seed);
  Sample center = sample(c.loss_graph, c.depends, x);
  std::vector<Buffers> directions;
  std::vector<FiniteDifferences> fds;
  for (int j = 0; j < kDirections; ++j) {
    directions.push_back(random_direction(c.loss_graph, point_seed * 31 + static_cast<uint64_t>(j)));
    std::optional<FiniteDifferences> fd = finite_differences(c, x, center, directions.back(), h);
    if (!fd) return std::nullopt;
    fds.push_back(*fd);
  }
  Gradient g = interpreted_gradient(program, c.first_gradient, x);
  double loss_bound = analyze_errors(c.loss_graph, x).bounds[0];
  std::vector<DirectionCheck> checks;
  for (int j = 0; j < kDirections; ++j) {
    checks.push_back(compare_direction(fds[static_cast<size_t>(j)], h, loss_bound, g,
                                       directions[static_cast<size_t>(j)], c.wrt));
    if (!std::isfinite(checks.back().allowed())) return std::nullopt;
  }
  return checks;
}

struct GraphCheck {
  bool tested = false;     // a usable point was found
  double worst_ratio = 0;  // max over directions of |D − D_{h/2}| / allowed
  std::string failure;     // empty when every direction passed
  bool nonzero_gradient = false;
  double resolution = 0;      // max over directions of allowed / Σ|g_i·d_i|
  std::string dominant_term;  // of the bound, in the direction of that resolution
};

// Finite differences of c's loss against the gradients of `program` (c.program, or a wrong one
// in the test of the checker) at the first usable point: each next point takes a 4 times
// smaller step, so that a large graph's many kinks are missed.
GraphCheck check_gradient(const SmoothCase& c, const ir::Graph& program, uint64_t seed) {
  GraphCheck result;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    uint64_t point_seed = seed + 1000003ULL * static_cast<uint64_t>(attempt);
    double h = std::ldexp(kStep, -2 * attempt);
    std::optional<std::vector<DirectionCheck>> checks = check_point(c, program, point_seed, h);
    if (!checks) continue;
    result.tested = true;
    for (size_t j = 0; j < checks->size(); ++j) {
      const DirectionCheck& d = (*checks)[j];
      result.worst_ratio = std::max(result.worst_ratio, d.error() == 0 ? 0 : d.error() / d.allowed());
      result.nonzero_gradient = result.nonzero_gradient || d.magnitude > 0;
      if (d.magnitude > 0 && d.allowed() / d.magnitude >= result.resolution) {
        result.resolution = d.allowed() / d.magnitude;
        result.dominant_term = d.truncation >= std::max(d.rounding_of_loss, d.rounding_of_derivative)
                                   ? "truncation"
                               : d.rounding_of_loss >= d.rounding_of_derivative ? "rounding of L"
                                                                                : "rounding of D";
      }
      if (d.ok() || !result.failure.empty()) continue;
      result.failure = fmt::format(
          "point seed {}, h = {}, direction {}: <gradient, d> = {:.17g}, finite differences give {:.17g}; "
          "|difference| {:.3g} > allowed {:.3g} (truncation {:.3g}, rounding of L {:.3g}, of <gradient, d> "
          "{:.3g})",
          point_seed, h, j, d.derivative, d.fd, d.error(), d.allowed(), d.truncation, d.rounding_of_loss,
          d.rounding_of_derivative);
    }
    return result;
  }
  return result;
}

// Which nodes some output of g reads.
std::vector<bool> live_nodes(const ir::Graph& g) {
  std::vector<bool> live(static_cast<size_t>(g.size()), false);
  for (ir::Value v : g.outputs()) live[static_cast<size_t>(v.id)] = true;
  for (int i = g.size() - 1; i >= 0; --i) {
    if (!live[static_cast<size_t>(i)]) continue;
    for (ir::Value in : g.nodes()[static_cast<size_t>(i)].inputs) live[static_cast<size_t>(in.id)] = true;
  }
  return live;
}

bool can_mutate(const ir::Node& n) {
  switch (n.op) {
    case ir::Op::add:
    case ir::Op::sub:
    case ir::Op::neg:
    case ir::Op::mul: return true;
    case ir::Op::shift: return ir::attrs::shift_of(n.attrs).offset != 0;
    default: return false;
  }
}

// The node as a wrong VJP rule would have built it: a sign flipped (add ↔ sub, neg dropped), a
// factor added instead of multiplied, a stencil adjoint shifted the wrong way. Same type.
ir::Value mutated(ir::Graph& out, const ir::Node& n, std::span<const ir::Value> operands) {
  std::vector<ir::Value> in(operands.begin(), operands.end());
  switch (n.op) {
    case ir::Op::add: return out.add(ir::Op::sub, in);
    case ir::Op::sub: return out.add(ir::Op::add, in);
    case ir::Op::neg: return in[0];
    case ir::Op::mul: return out.add(ir::Op::add, in);
    case ir::Op::shift: {
      ir::attrs::ShiftView s = ir::attrs::shift_of(n.attrs);
      return out.add(ir::Op::shift, in, ir::attrs::shift(s.dim, -s.offset, s.extrap));
    }
    default: throw phijit::InternalError("mutated: not a mutable op");
  }
}

// `program` with one live node of its VJP part (the nodes after the loss graph's) mutated, or
// nothing when it has no node to mutate.
std::optional<ir::Graph> mutant(const ir::Graph& program, int vjp_begin, uint64_t seed) {
  std::vector<bool> live = live_nodes(program);
  std::vector<int> candidates;
  for (int i = vjp_begin; i < program.size(); ++i) {
    if (live[static_cast<size_t>(i)] && can_mutate(program.nodes()[static_cast<size_t>(i)]))
      candidates.push_back(i);
  }
  if (candidates.empty()) return std::nullopt;
  const ir::Node* target = &program.nodes()[static_cast<size_t>(candidates[seed % candidates.size()])];
  return passes::rebuild(
      program, [target](ir::Graph& out, const ir::Node& n, std::span<const ir::Value> operands) {
        return &n == target ? mutated(out, n, operands) : passes::copy_node(out, n, operands);
      });
}

// max over the gradient outputs of |a − b|, relative to 1 + max|a|.
double gradient_change(const ir::Graph& loss_graph, const ir::Graph& a, const ir::Graph& b, uint64_t seed) {
  Buffers x = grid_point(loss_graph, seed);
  Buffers ga = runtime::interpret(a, x), gb = runtime::interpret(b, x);
  double diff = 0, scale = 0;
  for (size_t k = loss_graph.outputs().size(); k < ga.size(); ++k) {
    for (int64_t i = 0; i < ga[k]->count(); ++i) {
      diff = std::max(diff, std::fabs(ga[k]->get_real(i) - gb[k]->get_real(i)));
      scale = std::max(scale, std::fabs(ga[k]->get_real(i)));
    }
  }
  return std::isnan(diff) ? kInf : diff / (1 + scale);
}

}  // namespace

TEST_CASE("gradients of random smooth graphs match finite differences", "[codegen][gradient]") {
  // 320 graphs: about 300 of them have a gradient that is not zero at the point tested.
  const int n = graph_count(320);
  int nonzero = 0;
  std::vector<uint64_t> failing, untested;
  for (int s = 0; s < n; ++s) {
    auto seed = static_cast<uint64_t>(s);
    SmoothCase c = smooth_case(seed);
    GraphCheck r = check_gradient(c, c.program, seed);
    if (!r.tested) untested.push_back(seed);
    nonzero += r.tested && r.nonzero_gradient;
    if (r.failure.empty()) continue;
    if (failing.size() < 5) {
      INFO("seed " << seed << "\n" << ir::print(c.program));
      FAIL_CHECK(r.failure);
    }
    failing.push_back(seed);
  }
  INFO("failing seeds: " << seed_list(failing));
  CHECK(failing.empty());
  // A graph that is near a kink (or unbounded) at every point tried is not tested: rare.
  INFO("untested seeds: " << seed_list(untested));
  CHECK(untested.size() * 100 <= static_cast<size_t>(n) * 2);
  // A loss that varies with x only through piecewise-constant ops, or whose dependence is cut
  // (a maximum that a constant wins, a shift past the end) has a zero gradient: rare too.
  INFO(nonzero << " of " << n << " graphs tested with a gradient that is not zero");
  CHECK(nonzero * 100 >= n * 90);
}

namespace {

// A gradient program and the inputs to run it on.
struct Program {
  ir::Graph graph;
  Buffers inputs;
};

// Every program through compile_graph against the interpreter (compare_to_reference). An output
// whose error bound is infinite is compared vacuously: such outputs must stay rare.
void check_compiled(const std::vector<uint64_t>& seeds, const std::function<Program(uint64_t)>& program_of) {
  int64_t outputs = 0, unbounded = 0;
  std::vector<uint64_t> failing;
  for (uint64_t seed : seeds) {
    Program p = program_of(seed);
    for (double b : analyze_errors(p.graph, p.inputs).bounds) {
      ++outputs;
      unbounded += !std::isfinite(b);
    }
    auto r = compare_to_reference(p.graph, p.inputs, compiled_runner());
    if (r.ok) continue;
    if (failing.size() < 5) {
      INFO("seed " << seed);
      FAIL_CHECK(r.message);
    }
    failing.push_back(seed);
  }
  INFO("failing seeds: " << seed_list(failing));
  CHECK(failing.empty());
  INFO(unbounded << " of " << outputs << " outputs have no finite error bound");
  CHECK(unbounded * 100 <= outputs);
}

}  // namespace

TEST_CASE("compiled gradient programs match the interpreter", "[codegen][gradient]") {
  std::vector<uint64_t> seeds(static_cast<size_t>(graph_count(300)));
  std::iota(seeds.begin(), seeds.end(), 0);
  check_compiled(seeds, [](uint64_t seed) {
    SmoothCase c = smooth_case(seed);
    Buffers x = grid_point(c.loss_graph, seed);
    return Program{std::move(c.program), std::move(x)};
  });
}

// The smooth graphs are float64 only: float32 gradient programs come from the differential
// test's graphs (kinks and all: compiled code and the interpreter take the same branches).
TEST_CASE("compiled float32 gradient programs match the interpreter", "[codegen][gradient]") {
  std::vector<uint64_t> seeds;
  for (uint64_t seed = 0; static_cast<int>(seeds.size()) < graph_count(40); ++seed) {
    const ir::Graph g = random_graph(seed);
    if (g.type(g.inputs()[0]).dtype == DType::f32) seeds.push_back(seed);
  }
  check_compiled(seeds, [](uint64_t seed) {
    ir::Graph loss_graph = with_loss(random_graph(seed), seed);
    Buffers x = phijit::testing::random_inputs(loss_graph, seed);
    return Program{passes::run_gradient(loss_graph, float_inputs(loss_graph)), std::move(x)};
  });
}

// The error bounds of gradient programs (differential.h's rules for autodiff's comparisons and
// masks) must not make compare_to_reference blind: one gradient element off by 0.1% is found.
TEST_CASE("the differential checker finds wrong gradient values", "[codegen][gradient]") {
  int tried = 0, caught = 0;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    SmoothCase c = smooth_case(seed);
    Buffers x = grid_point(c.loss_graph, seed);
    const size_t wrong_output = c.first_gradient + seed % c.wrt.size();
    Runner perturbed = [&](const ir::Graph& g, std::span<const runtime::BufferPtr> inputs) {
      Buffers out = runtime::interpret(g, inputs);
      const Buffer& right = *out[wrong_output];
      auto b = std::make_shared<Buffer>(right.dtype(), right.count());
      double amax = 0;
      for (int64_t i = 0; i < b->count(); ++i) amax = std::max(amax, std::fabs(right.get_real(i)));
      const int64_t at = static_cast<int64_t>(seed) % b->count();
      for (int64_t i = 0; i < b->count(); ++i)
        b->set_real(i, right.get_real(i) + (i == at ? 1e-3 * (amax + 1) : 0));
      out[wrong_output] = b;
      return out;
    };
    ++tried;
    caught += !compare_to_reference(c.program, x, perturbed).ok;
  }
  INFO(caught << " of " << tried << " caught");
  CHECK(caught >= tried * 95 / 100);
}

TEST_CASE("the finite-difference check finds wrong VJP rules", "[codegen][gradient]") {
  int wrong = 0, caught = 0;
  std::vector<uint64_t> missed;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    SmoothCase c = smooth_case(seed);
    std::optional<ir::Graph> m = mutant(c.program, c.loss_graph.size(), seed);
    if (!m) continue;
    REQUIRE_NOTHROW(ir::verify(*m));
    // Mutants that change no gradient visibly (a term that is zero here) are not wrong here.
    if (gradient_change(c.loss_graph, c.program, *m, seed) <= 1e-6) continue;
    GraphCheck r = check_gradient(c, *m, seed);
    if (!r.tested) continue;
    ++wrong;
    if (!r.failure.empty()) {
      ++caught;
    } else {
      missed.push_back(seed);
    }
  }
  INFO(caught << " of " << wrong << " wrong gradient programs caught; missed seeds: " << seed_list(missed));
  CHECK(wrong >= 150);
  CHECK(caught >= wrong * 95 / 100);
}

namespace {

// Nodes that depend on x per op (stencils per extrapolation; pow/exponent: pow whose exponent
// depends on x) in the first n smooth graphs: which VJP rules the tests above exercise.
std::map<std::string, int> differentiated_ops(int n) {
  std::map<std::string, int> counts;
  for (int s = 0; s < n; ++s) {
    ir::Graph g = random_graph(static_cast<uint64_t>(s), RandomGraphOptions{.smooth = true});
    std::vector<bool> depends = depends_on_x(g);
    for (int i = 0; i < g.size(); ++i) {
      if (!depends[static_cast<size_t>(i)]) continue;
      const ir::Node& node = g.nodes()[static_cast<size_t>(i)];
      std::string key(ir::op_name(node.op));
      if (node.op == ir::Op::shift || node.op == ir::Op::pad)
        key += "/" + node.attrs.extrap.str().substr(0, 8);
      ++counts[key];
      if (node.op == ir::Op::pow && depends[static_cast<size_t>(node.inputs[1].id)]) ++counts["pow/exponent"];
    }
  }
  return counts;
}

}  // namespace

TEST_CASE("random smooth graphs differentiate every op and extrapolation", "[codegen][gradient]") {
  std::map<std::string, int> counts = differentiated_ops(300);
  for (int i = 0; i < ir::kNumOps; ++i) {
    auto op = static_cast<ir::Op>(i);
    // Sources have no rule; smooth graphs are float64 only, so no float cast depends on x.
    if (op == ir::Op::input || op == ir::Op::constant || op == ir::Op::cast) continue;
    // Host ops carry runtime payloads; tests/frontend/sparse_host_test.cpp covers them.
    if (ir::op_info(op).kind == ir::OpKind::host) continue;
    std::string name(ir::op_name(op));
    int n = 0;
    for (const auto& [key, count] : counts) {
      if (key.substr(0, key.find('/')) == name) n += count;
    }
    INFO(name);
    CHECK(n >= 10);
  }
  for (const char* key :
       {"shift/zero", "shift/one", "shift/periodic", "shift/zero-gra", "shift/constant", "pad/zero",
        "pad/one", "pad/periodic", "pad/zero-gra", "pad/constant", "pow/exponent"}) {
    INFO(key);
    CHECK(counts[key] >= 10);
  }
}

// How close the finite differences come to the tolerance and which term of the rule dominates
// (run by hand: `test_codegen "[gradient-tolerance]"`).
TEST_CASE("finite-difference tolerance margins", "[.][gradient-tolerance]") {
  const int n = graph_count(320);
  int tested = 0;
  double worst = 0;
  uint64_t worst_seed = 0;
  std::vector<double> relative;  // allowed / Σ|g_i·d_i|, the check's resolution
  std::map<std::string, int> dominant;
  for (int s = 0; s < n; ++s) {
    auto seed = static_cast<uint64_t>(s);
    SmoothCase c = smooth_case(seed);
    GraphCheck r = check_gradient(c, c.program, seed);
    CHECK(r.failure.empty());
    if (!r.tested) continue;
    ++tested;
    if (r.worst_ratio > worst) {
      worst = r.worst_ratio;
      worst_seed = seed;
    }
    if (!r.nonzero_gradient) continue;
    relative.push_back(r.resolution);
    ++dominant[r.dominant_term];
  }
  std::sort(relative.begin(), relative.end());
  std::string terms;
  for (const auto& [term, count] : dominant) terms += " " + term + ": " + std::to_string(count);
  WARN(tested << " of " << n << " graphs tested; the largest |D - D_h/2| / allowed is " << worst << " (seed "
              << worst_seed << "); allowed / sum |g_i d_i|: median " << relative[relative.size() / 2]
              << ", max " << relative.back() << "; the largest term of the bound:" << terms);
}
