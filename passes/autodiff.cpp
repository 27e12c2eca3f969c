#include "passes/autodiff.h"

#include <fmt/format.h>

#include <algorithm>

#include "ir/builder.h"
#include "ir/error.h"
#include "passes/rebuild.h"

namespace phijit::passes {

namespace {

using ir::Builder;
using ir::Graph;
using ir::Node;
using ir::Op;
using ir::Value;

// The reverse walk: cotangents flow from the outputs back to the values that need them, one
// rule per op. Every rule is written with existing ops, so the result is an ordinary graph
// that can be differentiated again (Hessian-vector products).
// The rules append to the graph they read, which can move its nodes: what they keep of a node
// (the node itself, a dim, a type) is a copy.
class Reverse {
 public:
  Reverse(Graph& g, std::span<const Value> wrt) : g_(g), b_(g), end_(g.size()) {
    needs_.assign(static_cast<size_t>(end_), false);
    for (Value w : wrt) needs_.at(static_cast<size_t>(w.id)) = true;
    // A value needs a cotangent when it is a float that depends on a value of `wrt`.
    for (int i = 0; i < end_; ++i) {
      const Node& n = g_.nodes()[static_cast<size_t>(i)];
      if (!is_float(n.type.dtype)) continue;
      for (Value in : n.inputs) needs_[static_cast<size_t>(i)] = needs_[static_cast<size_t>(i)] || needs(in);
    }
    ct_.resize(static_cast<size_t>(end_));
  }

  void seed(Value output, Value cotangent) { accumulate(output, cotangent); }

  void run() {
    for (int i = end_ - 1; i >= 0; --i) {
      Value v{i};
      if (!needs(v) || !ct_[static_cast<size_t>(i)].valid()) continue;
      ir::OriginScope origin(g_.node(v).origin, /*replace=*/true);  // the VJP stands for v's call
      pull_back(v);
    }
  }

  Value gradient(Value w) {
    ir::ValueType t = g_.type(w);
    Value ct = ct_[static_cast<size_t>(w.id)];
    return ct.valid() ? ct : b_.zeros(t);
  }

 private:
  bool needs(Value v) const { return needs_[static_cast<size_t>(v.id)]; }

  // Adds a contribution to an operand's cotangent, summed over the dims the operand lacks.
  void accumulate(Value operand, Value contribution) {
    if (!needs(operand)) return;
    ir::ValueType t = g_.type(operand);
    contribution = b_.unbroadcast(contribution, t);
    Value& slot = ct_[static_cast<size_t>(operand.id)];
    slot = slot.valid() ? b_.add(slot, contribution) : contribution;
  }

  Value scalar_like(double value, Value like) { return b_.scalar(value, b_.dtype(like)); }
  // ct · factor and ct / divisor, but 0 where ct is 0: an unselected where-branch or a masked
  // cell passes 0, which must not become inf·0 = NaN (sqrt, log, div, pow at a singularity,
  // exp and tan where they overflow).
  Value masked(Value ct, Value product) {
    Value zero = scalar_like(0, product);
    return b_.where(b_.eq(ct, scalar_like(0, ct)), zero, product);
  }
  Value safe_mul(Value ct, Value factor) { return masked(ct, b_.mul(ct, factor)); }
  Value safe_div(Value ct, Value divisor) {
    Value quotient = b_.div(ct, divisor);
    return nonzero_constant(divisor) ? quotient : masked(ct, quotient);
  }
  // A constant without zeros (a grid spacing, a literal): dividing 0 by it gives 0 already.
  bool nonzero_constant(Value v) const {
    const Node& n = g_.node(v);
    if (n.op != Op::constant) return false;
    for (int64_t i = 0; i < n.attrs.data->count(); ++i) {
      if (n.attrs.data->get_real(i) == 0) return false;
    }
    return true;
  }
  // 1 where a > b, 1/2 where they tie, else 0: how maximum(a, b) passes its cotangent to a.
  Value winner_share(Value a, Value b) {
    Value one = scalar_like(1, a), half = scalar_like(0.5, a), zero = scalar_like(0, a);
    return b_.where(b_.eq(a, b), half, b_.where(b_.gt(a, b), one, zero));
  }

  void pull_back(Value v) {
    const Node n = g_.node(v);  // a copy: the rules append to g_
    const Value ct = ct_[static_cast<size_t>(v.id)];
    auto x = [&](size_t k) { return n.inputs[k]; };
    auto give = [&](size_t k, Value contribution) { accumulate(x(k), contribution); };
    switch (n.op) {
      // clang-format off
      case Op::input:
      case Op::constant: return;
      case Op::neg: return give(0, b_.neg(ct));
      case Op::exp: return give(0, safe_mul(ct, v));  // exp may overflow where ct is masked
      case Op::log: return give(0, safe_div(ct, x(0)));
      case Op::sin: return give(0, b_.mul(ct, b_.op(Op::cos, {x(0)})));
      case Op::cos: return give(0, b_.neg(b_.mul(ct, b_.op(Op::sin, {x(0)}))));
      case Op::tan: return give(0, safe_mul(ct, b_.add(scalar_like(1, v), b_.mul(v, v))));
      case Op::tanh: return give(0, b_.mul(ct, b_.sub(scalar_like(1, v), b_.mul(v, v))));
      case Op::sqrt: return give(0, safe_div(ct, b_.mul(scalar_like(2, v), v)));
      case Op::abs: return give(0, b_.mul(ct, b_.op(Op::sign, {x(0)})));
      case Op::sign:
      case Op::isfinite:
      case Op::lt:
      case Op::le:
      case Op::gt:
      case Op::ge:
      case Op::eq:
      case Op::ne: return;  // piecewise constant: zero gradient
      case Op::cast: return give(0, ct);  // accumulate casts back to the operand's dtype
      case Op::add: give(0, ct); return give(1, ct);
      case Op::sub: give(0, ct); return give(1, b_.neg(ct));
      case Op::mul: give(0, b_.mul(ct, x(1))); return give(1, b_.mul(ct, x(0)));
      case Op::div: give(0, safe_div(ct, x(1))); return give(1, b_.neg(safe_div(b_.mul(ct, v), x(1))));
      case Op::pow: return pow_rule(n, v, ct);
      case Op::maximum: give(0, b_.mul(ct, winner_share(x(0), x(1)))); return give(1, b_.mul(ct, winner_share(x(1), x(0))));
      case Op::minimum: give(0, b_.mul(ct, winner_share(x(1), x(0)))); return give(1, b_.mul(ct, winner_share(x(0), x(1))));
      case Op::where: {
        Value zero = scalar_like(0, ct);
        give(1, b_.where(x(0), ct, zero));
        return give(2, b_.where(x(0), zero, ct));
      }
      case Op::reduce_sum: return give(0, b_.broadcast_to(ct, b_.shape(x(0))));
      case Op::reduce_max:
      case Op::reduce_min: return select_reduction_rule(n, v, ct);
      case Op::shift: {
        ir::attrs::ShiftView s = ir::attrs::shift_of(n.attrs);
        return give(0, shift_adjoint(ct, b_.shape(x(0)).dim(s.dim), s.offset, s.extrap));
      }
      case Op::pad: {
        Value g = ct;
        for (const ir::attrs::PadWidth& w : ir::attrs::pad_widths(n.attrs))
          g = pad_adjoint(g, b_.shape(x(0)).dim(w.dim), w.lo, w.hi, n.attrs.extrap);
        return give(0, g);
      }
      case Op::expand: return give(0, ct);  // accumulate sums over the added dims
      case Op::slice: {
        ir::attrs::SliceView s = ir::attrs::slice_of(n.attrs);
        Dim d = b_.shape(x(0)).dim(s.dim);
        Value kept = s.drop ? b_.with_dim(ct, Dim{d.name, 1, d.type, {}}) : ct;
        return give(0, b_.embed(kept, d, s.start));
      }
      case Op::concat: {
        const std::string& dim = n.attrs.names[0];
        int64_t offset = 0;
        for (size_t k = 0; k < n.inputs.size(); ++k) {
          int64_t size = b_.shape(x(k)).size(dim);
          give(k, b_.slice(ct, dim, offset, offset + size));
          offset += size;
        }
        return;
      }
      case Op::stack: {
        const std::string& dim = n.attrs.shape.dims()[0].name;
        for (size_t k = 0; k < n.inputs.size(); ++k) {
          give(k, b_.slice(ct, dim, static_cast<int64_t>(k), static_cast<int64_t>(k) + 1, /*drop=*/true));
        }
        return;
      }
      case Op::rename: {
        std::vector<ir::attrs::RenamePair> back;
        for (const ir::attrs::RenamePair& p : ir::attrs::rename_pairs(n.attrs))
          back.push_back({p.to, p.from, b_.shape(x(0)).type(p.from)});
        return give(0, b_.rename(ct, back));
      }
      case Op::grid_sample: return grid_sample_rule(n, ct);
      case Op::grid_sample_transpose: return grid_sample_transpose_rule(n, ct);
      case Op::matmul_sparse: return sparse_matmul_rule(n, ct);
      case Op::solve_linear: return solve_rule(n, v, ct);
        // clang-format on
    }
  }

  // (A x)ᵀ ct = Aᵀ ct, with Aᵀ kept with the matrix. Values computed in the program (operand 1)
  // get ct_r · x_c on the pattern: both gathered per stored entry by 0/1 matrices; Aᵀ then
  // takes them reordered for its own entries.
  void sparse_matmul_rule(const Node& n, Value ct) {
    const auto& A = dynamic_cast<const ir::SparseMatrixPayload&>(*n.attrs.payload);
    if (n.inputs.size() == 1) return accumulate(n.inputs[0], b_.matmul_sparse(A.transposed(), ct));
    Value x = n.inputs[0], values = n.inputs[1];
    DType dtype = b_.dtype(ct);
    if (needs(x)) {
      Dim entries = A.entries();
      Value source = b_.rename(values, {{entries.name, ir::kSourceEntries, entries.type}});
      Value transposed_values = b_.matmul_sparse(A.transpose_gather(dtype), source);
      accumulate(x, b_.matmul_sparse(A.transposed(), ct, transposed_values));
    }
    if (needs(values)) {
      accumulate(values,
                 b_.mul(b_.matmul_sparse(A.row_gather(dtype), ct), b_.matmul_sparse(A.col_gather(dtype), x)));
    }
  }

  // y = Σ_corners w(c)·grid[corner] is linear in the grid: it gets the transposed interpolation
  // (ct·w added into the cells read). The coordinates get ct·∂y/∂c.
  void grid_sample_rule(const Node& n, Value ct) {
    const Value grid = n.inputs[0], coordinates = n.inputs[1];
    const ir::attrs::GridSampleView s = ir::attrs::grid_sample_of(n.attrs);
    if (needs(grid)) {
      Shape grid_shape = b_.shape(grid);
      accumulate(grid, b_.grid_sample_transpose(ct, coordinates, std::move(grid_shape), s.dims, s.extrap,
                                                s.weights));
    }
    if (needs(coordinates)) accumulate(coordinates, coordinate_cotangent(ct, grid, coordinates, s));
  }

  // g = transpose(u, c) (u·w added into a grid): linear in u, whose cotangent samples ct with
  // the same weights; the coordinates get u·∂/∂c of that sample.
  void grid_sample_transpose_rule(const Node& n, Value ct) {
    const Value u = n.inputs[0], coordinates = n.inputs[1];
    const ir::attrs::GridSampleView s = ir::attrs::grid_sample_of(n.attrs);
    if (needs(u)) accumulate(u, b_.grid_sample(ct, coordinates, s.dims, s.extrap, s.weights));
    if (needs(coordinates)) accumulate(coordinates, coordinate_cotangent(u, ct, coordinates, s));
  }

  // factor · ∂/∂c_k grid_sample(grid, c) for every component k of the coordinates c: the same
  // gathers with dim k's weights differentiated (f = c - floor(c) has slope 1), summed over the
  // dims c lacks and stacked along its kSampleVector.
  Value coordinate_cotangent(Value factor, Value grid, Value coordinates,
                             const ir::attrs::GridSampleView& s) {
    const Shape coordinate_shape = b_.shape(coordinates);
    const Dim components = coordinate_shape.dim(ir::kSampleVector);
    const Shape points = coordinate_shape.without({ir::kSampleVector});
    std::vector<Value> parts;
    for (size_t k = 0; k < s.dims.size(); ++k) {
      std::vector<ir::attrs::CellWeights> w = s.weights;
      w[k] = w[k].derivative();
      if (!w[k].reads_any()) {  // constant weights along k: no dependence on c_k
        parts.push_back(scalar_like(0, factor));
        continue;
      }
      Value d = b_.mul(factor, b_.grid_sample(grid, coordinates, s.dims, s.extrap, std::move(w)));
      std::vector<std::string> extra;
      for (const Dim& dim : b_.shape(d).dims()) {
        if (!points.contains(dim.name)) extra.push_back(dim.name);  // incl. a grid's own kSampleVector
      }
      parts.push_back(b_.sum(d, extra));
    }
    return b_.stack(parts, Shape({components}));
  }

  // x = A⁻¹ y: y gets λ = A⁻ᵀ ct, solved by the adjoint solve (never the unrolled iterations);
  // x0 only starts the iteration and gets none. The operator's operands θ get −(∂f/∂θ)ᵀ λ at
  // the solution: f's VJP, built from f's graph inlined here with the solution as x.
  void solve_rule(const Node& n, Value v, Value ct) {
    const auto& solve = dynamic_cast<const ir::LinearSolvePayload&>(*n.attrs.payload);
    std::shared_ptr<const ir::LinearSolvePayload> adjoint = solve.adjoint();
    std::vector<Value> operands(n.inputs.begin() + 2, n.inputs.end());
    std::vector<Value> inputs{ct, b_.zeros(solve.rhs_type())};
    inputs.insert(inputs.end(), operands.begin(), operands.end());
    Value lambda = g_.add(Op::solve_linear, inputs, ir::attrs::solve_linear(adjoint));
    accumulate(n.inputs[0], lambda);
    const Graph* f = solve.operator_graph();
    std::vector<int> wanted;  // inputs of f
    for (size_t k = 0; k < operands.size(); ++k) {
      if (needs(operands[k])) wanted.push_back(static_cast<int>(k) + 1);
    }
    if (f == nullptr || wanted.empty()) return;
    // f's VJP as a graph of its own, so that the solution x is held fixed: only θ varies.
    std::vector<Value> f_inputs{v};
    f_inputs.insert(f_inputs.end(), operands.begin(), operands.end());
    f_inputs.push_back(b_.neg(lambda));
    std::vector<Value> grads = inline_graph(g_, vjp_graph(*f, wanted), f_inputs);
    for (size_t k = 0; k < wanted.size(); ++k)
      accumulate(operands[static_cast<size_t>(wanted[k] - 1)], grads[k]);
  }

  // d(a^b)/da = b·a^(b−1); d(a^b)/db = a^b·log(a), taken as 0 at a = 0 (a^b is 0 there for
  // every b > 0), so pow(x, 2) and pow(0, b) have finite gradients.
  void pow_rule(const Node& n, Value v, Value ct) {
    Value a = n.inputs[0], p = n.inputs[1];
    Value d_base = b_.mul(p, b_.op(Op::pow, {a, b_.sub(p, scalar_like(1, p))}));
    accumulate(a, safe_mul(ct, d_base));
    if (!needs(p)) return;
    Value zero = scalar_like(0, a);
    Value d_exponent = b_.where(b_.eq(a, zero), zero, b_.mul(v, b_.op(Op::log, {a})));
    accumulate(p, safe_mul(ct, d_exponent));
  }

  // max/min over dims: the cotangent goes to the elements equal to the result, split evenly
  // among ties.
  void select_reduction_rule(const Node& n, Value v, Value ct) {
    Value x = n.inputs[0];
    Value hit = b_.eq(x, v);
    Value count = b_.sum(b_.where(hit, scalar_like(1, x), scalar_like(0, x)), n.attrs.names);
    Value share = b_.div(ct, count);
    accumulate(x, b_.where(hit, b_.broadcast_to(share, b_.shape(x)), scalar_like(0, share)));
  }

  // The cotangent of the edge cell `at` of dim `d`: the sum of ct over [lo, hi) along d. One
  // cell (offsets ±1, the common case) is a slice that fuses; more are a reduction.
  Value edge(Value ct, const Dim& d, int64_t lo, int64_t hi, int64_t at) {
    Value cells = b_.slice(ct, d.name, lo, hi);
    if (hi - lo > 1) cells = b_.with_dim(b_.sum(cells, {d.name}), Dim{d.name, 1, d.type, {}});
    return b_.embed(cells, d, at);
  }

  // shift(x, d, k, e)[i] = x[i + k]: ct moves back by k. Constant reads carry no gradient;
  // periodic ones wrap; zero-gradient reads past an edge add to the edge cell.
  Value shift_adjoint(Value ct, Dim d, int64_t k, const Extrapolation& e) {
    switch (e.kind()) {
      case Extrapolation::Kind::constant: return b_.shift(ct, d.name, -k, extrapolation::ZERO);
      case Extrapolation::Kind::periodic: return b_.shift(ct, d.name, -k, extrapolation::PERIODIC);
      case Extrapolation::Kind::zero_gradient: {
        Value inside = b_.shift(ct, d.name, -k, extrapolation::ZERO);
        int64_t n = d.size;
        if (k > 0) return b_.add(inside, edge(ct, d, std::max<int64_t>(0, n - k), n, n - 1));
        if (k < 0) return b_.add(inside, edge(ct, d, 0, std::min(n, -k), 0));
        return inside;
      }
    }
    throw InternalError("shift_adjoint: unknown extrapolation");
  }

  // pad(x, d, lo, hi, e): ct has lo + n + hi cells along d; each goes back to the cell it read.
  Value pad_adjoint(Value ct, Dim d, int64_t lo, int64_t hi, const Extrapolation& e) {
    int64_t n = d.size;
    Value inside = b_.slice(ct, d.name, lo, lo + n);
    switch (e.kind()) {
      case Extrapolation::Kind::constant: return inside;
      case Extrapolation::Kind::zero_gradient: {
        Value g = inside;
        if (lo > 0) g = b_.add(g, edge(ct, d, 0, lo, 0));
        if (hi > 0) g = b_.add(g, edge(ct, d, lo + n, lo + n + hi, n - 1));
        return g;
      }
      case Extrapolation::Kind::periodic: {
        // Runs of cells that read a contiguous range of x, each added back where it read.
        Value g;
        for (int64_t i = 0; i < lo + n + hi;) {
          int64_t source = ((i - lo) % n + n) % n;
          int64_t length = std::min(n - source, lo + n + hi - i);
          Value part = b_.embed(b_.slice(ct, d.name, i, i + length), d, source);
          g = g.valid() ? b_.add(g, part) : part;
          i += length;
        }
        return g;
      }
    }
    throw InternalError("pad_adjoint: unknown extrapolation");
  }

  Graph& g_;
  Builder b_;
  int end_;  // the values that existed before the walk; everything after is its work
  std::vector<bool> needs_;
  std::vector<Value> ct_;
};

}  // namespace

std::vector<Value> vjp(Graph& g, std::span<const Value> outputs, std::span<const Value> cotangents,
                       std::span<const Value> wrt) {
  if (outputs.size() != cotangents.size()) {
    throw InternalError(fmt::format("vjp: {} outputs but {} cotangents", outputs.size(), cotangents.size()));
  }
  for (Value w : wrt) {
    if (!is_float(g.type(w).dtype)) {
      throw InternalError(fmt::format("vjp: %{} is {}, not a float", w.id, dtype_name(g.type(w).dtype)));
    }
  }
  Reverse reverse(g, wrt);
  for (size_t i = 0; i < outputs.size(); ++i) reverse.seed(outputs[i], cotangents[i]);
  reverse.run();
  std::vector<Value> grads;
  for (Value w : wrt) grads.push_back(reverse.gradient(w));
  return grads;
}

void add_gradient(Graph& out, std::span<const int> wrt) {
  if (out.outputs().empty()) throw Error("gradient: the function returns nothing to differentiate");
  Value loss = out.outputs()[0];
  const ir::ValueType loss_type = out.type(loss);
  if (loss_type.shape.non_batch().rank() != 0) {
    throw ShapeError(fmt::format(
        "gradient: the first output of the function must be one scalar per batch entry (only batch dims), "
        "got shape {}; reduce it, e.g. with sum() or l2_loss()",
        loss_type.shape.str()));
  }
  if (!is_float(loss_type.dtype)) {
    throw Error(fmt::format("gradient: the first output of the function must be a float, got {}",
                            dtype_name(loss_type.dtype)));
  }
  std::vector<Value> wrt_values;
  for (int i : wrt) wrt_values.push_back(out.inputs().at(static_cast<size_t>(i)));
  Value seed = ir::Builder(out).full(loss_type, 1);
  std::vector<Value> grads =
      vjp(out, std::span<const Value>(&loss, 1), std::span<const Value>(&seed, 1), wrt_values);
  for (Value v : grads) out.add_output(v);
}

Graph vjp_graph(const Graph& f, std::span<const int> wrt) {
  if (f.outputs().size() != 1) throw InternalError("vjp_graph: needs a graph with one output");
  Graph out;
  std::vector<Value> inputs;
  for (Value in : f.inputs()) inputs.push_back(out.add_input(f.type(in).shape, f.type(in).dtype));
  Value y = inline_graph(out, f, inputs).at(0);
  const ir::ValueType t = f.type(f.outputs()[0]);
  Value ct = out.add_input(t.shape, t.dtype);
  std::vector<Value> wrt_values;
  for (int i : wrt) wrt_values.push_back(inputs.at(static_cast<size_t>(i)));
  for (Value g : vjp(out, std::span(&y, 1), std::span(&ct, 1), wrt_values)) out.add_output(g);
  return out;
}

Graph transpose_linear(const Graph& f) {
  if (f.inputs().empty()) throw InternalError("transpose_linear: needs a graph with inputs (x, ...)");
  const int x_input = 0;
  Graph with_x = vjp_graph(f, std::span(&x_input, 1));  // inputs (x, rest..., ct)
  // Inlined with x = 0 (f is linear in x: its VJP does not depend on x), inputs (ct, rest...).
  Graph out;
  const ir::ValueType ct_type = with_x.type(with_x.inputs().back());
  Value ct = out.add_input(ct_type.shape, ct_type.dtype);
  std::vector<Value> inputs{ir::Builder(out).zeros(f.type(f.inputs()[0]))};
  for (size_t k = 1; k < f.inputs().size(); ++k) {
    inputs.push_back(out.add_input(f.type(f.inputs()[k]).shape, f.type(f.inputs()[k]).dtype));
  }
  inputs.push_back(ct);
  out.add_output(inline_graph(out, with_x, inputs).at(0));
  return out;
}

Graph run_gradient(const Graph& g, std::span<const int> wrt) {
  Graph out = g;
  add_gradient(out, wrt);
  return out;
}

}  // namespace phijit::passes
