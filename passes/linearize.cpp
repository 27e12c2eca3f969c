#include "passes/linearize.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <limits>

#include "ir/builder.h"
#include "ir/error.h"

namespace phijit::passes {

namespace {

// " (in laplace)": the user-level call a node came from, for error messages; empty if unknown.
std::string called_from(const ir::Node& n) {
  return n.origin != nullptr ? fmt::format(" (in {})", n.origin) : std::string();
}

// The transpose of grid_sample linearizes densely (every cell × every point): at most this many.
constexpr int64_t kMaxDenseTransposeEntries = int64_t{1} << 24;

using ir::Attrs;
using ir::Builder;
using ir::Graph;
using ir::Node;
using ir::Op;
using ir::Value;
using ir::ValueType;

struct Term {
  Value col;   // in the pattern graph
  Value coef;  // in the values graph
  std::vector<std::string> summed;
};

// What a node of the traced graph is: fixed (built from constants alone, so it exists in
// both output graphs), dynamic (depends on the arguments after x) or affine in x.
struct Abstract {
  enum class Kind : uint8_t { fixed, dynamic, affine } kind = Kind::fixed;
  Value val;  // fixed, dynamic: in the values graph
  Value pat;  // fixed: in the pattern graph
  std::vector<Term> terms;
  Value bias;  // affine: in the values graph; invalid when zero
  bool affine() const { return kind == Kind::affine; }
};

bool has_dim(const Graph& g, Value v, const std::string& name) { return g.type(v).shape.contains(name); }

class Linearizer {
 public:
  explicit Linearizer(const Graph& g) : g_(g), vb_(form_.values), pb_(form_.pattern) {}

  LinearForm run() {
    if (g_.inputs().empty() || g_.outputs().empty()) {
      throw Error("linearize: the graph needs the input x (input 0) and the function's result (output 0)");
    }
    form_.x = g_.type(g_.inputs()[0]);
    form_.output = g_.type(g_.outputs()[0]);
    abs_.resize(static_cast<size_t>(g_.size()));
    for (int i = 0; i < g_.size(); ++i) visit(Value{i});
    finish(at(g_.outputs()[0]));
    return std::move(form_);
  }

 private:
  const Abstract& at(Value v) const { return abs_[static_cast<size_t>(v.id)]; }

  Value vg(Op op, std::vector<Value> in, Attrs a = {}) { return vb_.op(op, std::move(in), std::move(a)); }
  Value pg(Op op, std::vector<Value> in, Attrs a = {}) { return pb_.op(op, std::move(in), std::move(a)); }

  [[noreturn]] void not_linear(const Node& n, const std::string& why) const {
    std::vector<std::string> shapes;
    for (Value v : n.inputs) shapes.push_back(g_.type(v).shape.str());
    throw NotLinearError(fmt::format(
        "the function is not linear in its first argument x: '{}'{} {} (operand shapes {}). A linear "
        "function "
        "may add and subtract x-dependent values, scale them by x-independent factors, shift, pad, slice, "
        "stack, concat, rename and sum them, and select with x-independent conditions",
        ir::op_name(n.op), called_from(n), why, fmt::join(shapes, ", ")));
  }

  void visit(Value v) {
    const Node& n = g_.node(v);
    Abstract& out = abs_[static_cast<size_t>(v.id)];
    if (n.op == Op::input) {
      if (v == g_.inputs()[0]) {
        out = identity(n.type);
      } else {
        out.kind = Abstract::Kind::dynamic;
        out.val = form_.values.add_input(n.type.shape, n.type.dtype);
      }
      return;
    }
    bool any_affine = false, any_dynamic = false;
    for (Value in : n.inputs) {
      any_affine = any_affine || at(in).affine();
      any_dynamic = any_dynamic || at(in).kind == Abstract::Kind::dynamic;
    }
    if (!any_affine) {
      std::vector<Value> vals;
      for (Value in : n.inputs) vals.push_back(at(in).val);
      out.val = form_.values.add(n.op, vals, n.attrs, &n.type);
      if (any_dynamic) {
        out.kind = Abstract::Kind::dynamic;
      } else {
        std::vector<Value> pats;
        for (Value in : n.inputs) pats.push_back(at(in).pat);
        out.pat = form_.pattern.add(n.op, pats, n.attrs, &n.type);
      }
      return;
    }
    out = affine_rule(n);
    out.kind = Abstract::Kind::affine;
    for (Term& t : out.terms) t.coef = vb_.cast(t.coef, n.type.dtype);
    if (out.bias.valid()) out.bias = vb_.cast(out.bias, n.type.dtype);
  }

  Abstract identity(const ir::ValueType& x) {
    int64_t n = x.shape.volume();
    if (n > std::numeric_limits<int32_t>::max()) {
      throw Error(fmt::format("linearize: x {} has {} elements; sparse matrices index at most 2^31-1 columns",
                              x.shape.str(), n));
    }
    auto iota = std::make_shared<Buffer>(DType::i32, n, Buffer::Uninitialized{});
    for (int64_t i = 0; i < n; ++i) iota->as<int32_t>()[i] = static_cast<int32_t>(i);
    Abstract a;
    a.kind = Abstract::Kind::affine;
    a.terms.push_back({form_.pattern.add_constant(std::move(iota), x.shape), vb_.scalar(1, x.dtype), {}});
    return a;
  }

  // Adds `t` to `terms`, merging it with a term on the same columns.
  void add_term(std::vector<Term>& terms, Term t) {
    for (Term& e : terms) {
      if (e.col == t.col && e.summed == t.summed) {
        DType d = promote(form_.values.type(e.coef).dtype, form_.values.type(t.coef).dtype);
        e.coef = vg(Op::add, {vb_.cast(e.coef, d), vb_.cast(t.coef, d)});
        return;
      }
    }
    terms.push_back(std::move(t));
  }

  // The bias of an operand: an affine one's bias, a constant one's value, or invalid (zero).
  Value bias_of(Value operand) const {
    const Abstract& a = at(operand);
    return a.affine() ? a.bias : a.val;
  }
  Value zero_if_invalid(Value v, DType t) { return v.valid() ? v : vb_.scalar(0, t); }

  // Maps each coefficient (and the bias) through `fn`.
  template <class Fn>
  Abstract map_values(const Abstract& a, Fn fn) {
    Abstract out;
    for (const Term& t : a.terms) out.terms.push_back({t.col, fn(t.coef), t.summed});
    if (a.bias.valid()) out.bias = fn(a.bias);
    return out;
  }

  Abstract affine_rule(const Node& n) {
    const DType dt = n.type.dtype;
    const std::vector<Value>& in = n.inputs;
    auto is_affine = [&](size_t k) { return at(in[k]).affine(); };
    switch (n.op) {
      case Op::neg: return map_values(at(in[0]), [&](Value c) { return vg(Op::neg, {c}); });
      case Op::cast:
        if (!is_float(n.attrs.dtype)) not_linear(n, "to a non-float dtype rounds a value that depends on x");
        return map_values(at(in[0]), [&](Value c) { return vb_.cast(c, n.attrs.dtype); });
      case Op::add:
      case Op::sub: {
        Abstract out;
        for (size_t k = 0; k < 2; ++k) {
          bool negate = n.op == Op::sub && k == 1;
          if (is_affine(k)) {
            for (const Term& t : at(in[k]).terms)
              add_term(out.terms, {t.col, negate ? vg(Op::neg, {t.coef}) : t.coef, t.summed});
          }
        }
        Value b0 = bias_of(in[0]), b1 = bias_of(in[1]);
        if (b0.valid() && b1.valid()) {
          out.bias = vg(n.op, {vb_.cast(b0, dt), vb_.cast(b1, dt)});
        } else if (b1.valid()) {
          out.bias = n.op == Op::sub ? vg(Op::neg, {b1}) : b1;
        } else {
          out.bias = b0;
        }
        return out;
      }
      case Op::mul:
      case Op::div: {
        if (is_affine(0) && is_affine(1)) not_linear(n, "multiplies or divides two values that depend on x");
        if (n.op == Op::div && is_affine(1)) not_linear(n, "divides by a value that depends on x");
        size_t a = is_affine(0) ? 0 : 1;
        Value factor = vb_.cast(at(in[1 - a]).val, dt);
        return map_values(at(in[a]), [&](Value c) {
          Value cc = vb_.cast(c, dt);
          return n.op == Op::div ? vg(Op::div, {cc, factor})
                 : a == 0        ? vg(Op::mul, {cc, factor})
                                 : vg(Op::mul, {factor, cc});
        });
      }
      case Op::where: return where_rule(n);
      case Op::reduce_sum: return sum_rule(n);
      case Op::shift:
      case Op::pad: return extrapolate_rule(n);
      case Op::expand: return at(in[0]);  // terms and bias broadcast
      case Op::slice:
      case Op::rename: return map_dims_rule(n);
      case Op::concat:
      case Op::stack: return join_rule(n);
      case Op::input:
      case Op::constant: break;  // never have operands
      case Op::exp:
      case Op::log:
      case Op::sin:
      case Op::cos:
      case Op::tan:
      case Op::tanh:
      case Op::sqrt:
      case Op::abs:
      case Op::sign:
      case Op::isfinite:
      case Op::pow:
      case Op::minimum:
      case Op::maximum: not_linear(n, "is applied to a value that depends on x");
      case Op::lt:
      case Op::le:
      case Op::gt:
      case Op::ge:
      case Op::eq:
      case Op::ne: not_linear(n, "compares a value that depends on x");
      case Op::reduce_max:
      case Op::reduce_min: not_linear(n, "selects among values that depend on x");
      case Op::grid_sample: return grid_sample_rule(n);
      case Op::grid_sample_transpose: return grid_sample_transpose_rule(n);
      case Op::matmul_sparse: return sparse_matmul_rule(n);
      case Op::solve_linear:
        throw NotLinearError(
            "jit_compile_linear: solve_linear of a value that depends on x cannot be extracted into the "
            "function's matrix (its inverse is dense); solve outside the linear function");
    }
    not_linear(n, "has no linearization rule");
  }

  // A·u for u affine in x: the entry in slot s of row r reads u at its column, so each term's
  // column indices and coefficients are gathered to (rows, slot) by 0/1 sparse products — the
  // indices shifted by one, so that an empty slot gathers −1: no entry — and multiplied by the
  // entries' values; the slots are summed.
  Abstract sparse_matmul_rule(const Node& n) {
    auto A = std::dynamic_pointer_cast<const ir::SparseMatrixPayload>(n.attrs.payload);
    const std::vector<Value>& in = n.inputs;
    if (in.size() == 2 && at(in[1]).affine()) not_linear(n, "has matrix values that depend on x");
    const DType dt = n.type.dtype;
    Value values = in.size() == 2
                       ? at(in[1]).val
                       : form_.values.add_constant(A->values(), A->batch() & Shape({A->entries()}));
    Value slot_values = vb_.matmul_sparse(A->slot_values(dt), values);
    Value one = pb_.scalar(1, DType::i32);
    Abstract out;
    for (const Term& t : at(in[0]).terms) {
      Value col = pb_.add(pb_.broadcast_to(t.col, pb_.shape(t.col) & A->cols()), one);
      Value coef = vb_.cast(t.coef, dt);
      coef = vb_.broadcast_to(coef, vb_.shape(coef) & A->cols());
      std::vector<std::string> summed = t.summed;
      summed.push_back(ir::kSparseSlots);
      out.terms.push_back({pb_.sub(pb_.matmul_sparse(A->slot_columns(DType::i32), col), one),
                           vb_.mul(vb_.matmul_sparse(A->slot_columns(dt), coef), slot_values), summed});
    }
    if (Value bias = at(in[0]).bias; bias.valid()) {
      bias = vb_.cast(bias, dt);
      bias = vb_.broadcast_to(bias, vb_.shape(bias) & A->cols());
      out.bias = vb_.matmul_sparse(A, bias, in.size() == 2 ? values : Value{});
    }
    return out;
  }

  // grid_sample's coordinates decide which cells a row reads, so they must be known when the
  // pattern is built: constants of the trace (the pattern graph has no arguments).
  void require_fixed_coordinates(const Node& n, Value coordinates) const {
    const Abstract& c = at(coordinates);
    if (c.affine()) not_linear(n, "samples at coordinates that depend on x");
    if (c.kind == Abstract::Kind::dynamic) {
      std::vector<std::string> shapes;
      for (Value v : n.inputs) shapes.push_back(g_.type(v).shape.str());
      throw NotLinearError(fmt::format(
          "jit_compile_linear: '{}'{} samples at coordinates that depend on an argument of the "
          "function (operand shapes {}); the sparsity pattern of a linear function is fixed when it "
          "is traced, so the coordinates must be constants of the trace (captured tensors)",
          ir::op_name(n.op), called_from(n), fmt::join(shapes, ", ")));
    }
  }

  // grid_sample at fixed coordinates, of a grid affine in x: per term one term per corner of
  // the interpolation (at most 2^d entries per row), its columns the term's columns at the
  // corner's cells (-1 where a constant extrapolation takes over: no entry) and its
  // coefficients the term's there, times the corner's weight. The op itself picks the cells:
  // with the weights of one cell it gathers (exactly: weight 1, the other cell not read). The
  // bias is sampled as it is, the constant's share included.
  Abstract grid_sample_rule(const Node& n) {
    const Value grid = n.inputs[0], coordinates = n.inputs[1];
    require_fixed_coordinates(n, coordinates);
    const ir::attrs::GridSampleView s = ir::attrs::grid_sample_of(n.attrs);
    const Shape grid_shape = g_.type(grid).shape;
    const bool constant = s.extrap.kind() == Extrapolation::Kind::constant;
    const Extrapolation col_e = constant ? extrapolation::constant(-1) : s.extrap;
    const Extrapolation coef_e = constant ? extrapolation::ZERO : s.extrap;
    // Column indices up to 2^31 are exact in float64, never in float32.
    const Value col_coordinates = pb_.cast(at(coordinates).pat, DType::f64);
    const Value coef_coordinates = at(coordinates).val;
    auto with_sampled_dims = [&](Builder& b, Value v) {
      for (const std::string& d : s.dims) v = b.with_dim(v, grid_shape.dim(d));
      return v;
    };
    Abstract out;
    for (const Term& t : at(grid).terms) {
      const Value col = with_sampled_dims(pb_, pb_.cast(t.col, DType::f64));
      const Value coef = with_sampled_dims(vb_, t.coef);
      for (uint32_t corner = 0; corner < (1U << s.dims.size()); ++corner) {
        std::vector<ir::attrs::CellWeights> cell, weight;
        bool read = true;
        for (size_t k = 0; k < s.dims.size(); ++k) {
          bool upper = ((corner >> k) & 1U) != 0;
          read = read && s.weights[k].reads(upper);
          cell.push_back(ir::attrs::CellWeights::cell(upper));
          weight.push_back(s.weights[k].only(upper));
        }
        if (!read) continue;
        Value corner_col = pb_.cast(pb_.grid_sample(col, col_coordinates, s.dims, col_e, cell), DType::i32);
        add_term(out.terms,
                 {corner_col, vb_.grid_sample(coef, coef_coordinates, s.dims, coef_e, weight), t.summed});
      }
    }
    Value bias = at(grid).bias;
    if (bias.valid() || (constant && s.extrap.value() != 0)) {
      bias = bias.valid() ? bias : vb_.zeros(ValueType{grid_shape.only(s.dims), n.type.dtype});
      out.bias = vb_.grid_sample(with_sampled_dims(vb_, bias), coef_coordinates, s.dims, s.extrap, s.weights);
    }
    return out;
  }

  // grid_sample_transpose at fixed coordinates of a cotangent u affine in x: a grid cell sums
  // u·w over every point whose corners include it, any number of them. So each term sums over
  // all points (their dims renamed apart from the grid's), with the point's weight for the cell
  // as factor and -1 (no entry) where that weight is 0: dense in cells × points, hence bounded.
  Abstract grid_sample_transpose_rule(const Node& n) {
    const Value u = n.inputs[0], coordinates = n.inputs[1];
    require_fixed_coordinates(n, coordinates);
    const Shape& grid = n.type.shape;
    const Shape unsampled = grid.without(n.attrs.names);
    const Shape points = (g_.type(u).shape & g_.type(coordinates).shape.without({ir::kSampleVector}))
                             .without(unsampled.names());
    const int64_t cells = grid.only(n.attrs.names).volume();
    const double entries = static_cast<double>(points.volume()) * static_cast<double>(cells);
    if (entries > static_cast<double>(kMaxDenseTransposeEntries)) {
      throw Error(fmt::format(
          "jit_compile_linear: the transpose of grid_sample (e.g. a gradient with respect to a sampled grid) "
          "becomes a pattern of every grid cell {} times every sample point {}: {} entries exceed the {} "
          "this "
          "extraction allows; apply it matrix-free instead",
          grid.only(n.attrs.names).str(), points.str(), entries, kMaxDenseTransposeEntries));
    }
    std::vector<ir::attrs::RenamePair> apart;
    for (const Dim& d : points.dims())
      apart.push_back({d.name, fmt::format("#point{}", summed_count_++), DimType::channel});
    auto rename_apart = [&](Builder& b, Value v) {
      std::vector<ir::attrs::RenamePair> pairs;
      for (const ir::attrs::RenamePair& p : apart) {
        if (b.shape(v).contains(p.from)) pairs.push_back(p);
      }
      return b.rename(v, pairs);
    };
    const Value w_pat = cell_weights(pb_, rename_apart(pb_, pb_.cast(at(coordinates).pat, DType::f64)), n);
    const Value w_val = cell_weights(vb_, rename_apart(vb_, at(coordinates).val), n);
    const Value read = pb_.op(Op::ne, {w_pat, pb_.scalar(0, DType::f64)});
    Abstract out;
    for (const Term& t : at(u).terms) {
      Term m{pg(Op::where, {read, rename_apart(pb_, t.col), pb_.scalar(-1, DType::i32)}),
             vb_.mul(rename_apart(vb_, t.coef), w_val), t.summed};
      for (const ir::attrs::RenamePair& p : apart) {
        if (has_dim(form_.pattern, m.col, p.to)) {
          m.summed.push_back(p.to);
        } else if (has_dim(form_.values, m.coef, p.to)) {  // the same columns at every point
          m.coef = vb_.sum(m.coef, {p.to});
        } else {
          m.coef = vb_.mul(m.coef, vb_.scalar(static_cast<double>(points.size(p.from)), vb_.dtype(m.coef)));
        }
      }
      add_term(out.terms, std::move(m));
    }
    if (Value bias = at(u).bias; bias.valid())
      out.bias = vg(Op::grid_sample_transpose, {bias, at(coordinates).val}, n.attrs);
    return out;
  }

  // The weight of each point for each cell of the transposed op's grid: per sampled dim the op
  // samples an identity (cell × cell) at the point's coordinate along that dim, which gives the
  // interpolation weights with the extrapolation's wrapping and clamping (nothing outside);
  // the dims' weights multiply.
  Value cell_weights(Builder& b, Value coordinates, const Node& n) {
    const ir::attrs::GridSampleView s = ir::attrs::grid_sample_of(n.attrs);
    const Extrapolation e = s.extrap.kind() == Extrapolation::Kind::constant ? extrapolation::ZERO : s.extrap;
    const DType dt = b.dtype(coordinates);
    Value product;
    for (size_t k = 0; k < s.dims.size(); ++k) {
      const Dim cell = n.type.shape.dim(s.dims[k]);
      const std::string source = fmt::format("#source{}", summed_count_++);
      auto identity = std::make_shared<Buffer>(dt, cell.size * cell.size);
      for (int64_t i = 0; i < cell.size; ++i) identity->set_real(i * cell.size + i, 1);
      Value grid = b.graph().add_constant(
          std::move(identity),
          Shape({Dim{source, cell.size, DimType::spatial, {}}, Dim{cell.name, cell.size, cell.type, {}}}));
      Value component =
          b.slice(coordinates, ir::kSampleVector, static_cast<int64_t>(k), static_cast<int64_t>(k) + 1);
      Value w = b.grid_sample(grid, component, {source}, e, {s.weights[k]});
      product = product.valid() ? b.mul(product, w) : w;
    }
    return product;
  }

  // where(cond, a, b): a fixed condition removes entries from the pattern; one that depends
  // on the arguments (or varies along a batch dim) zeroes coefficients instead.
  Abstract where_rule(const Node& n) {
    const std::vector<Value>& in = n.inputs;
    const Abstract& cond = at(in[0]);
    if (cond.affine()) not_linear(n, "selects with a condition that depends on x");
    bool prune = cond.kind == Abstract::Kind::fixed && form_.pattern.type(cond.pat).shape.batch().rank() == 0;
    DType dt = n.type.dtype;
    Abstract out;
    for (size_t k = 1; k < 3; ++k) {
      if (!at(in[k]).affine()) continue;
      for (const Term& t : at(in[k]).terms) {
        Term m = t;
        if (prune) {
          Value none = pb_.scalar(-1, DType::i32);
          m.col = k == 1 ? pg(Op::where, {cond.pat, t.col, none}) : pg(Op::where, {cond.pat, none, t.col});
        } else {
          Value zero = vb_.scalar(0, dt);
          Value c = vb_.cast(t.coef, dt);
          m.coef = k == 1 ? vg(Op::where, {cond.val, c, zero}) : vg(Op::where, {cond.val, zero, c});
        }
        add_term(out.terms, std::move(m));
      }
    }
    Value b1 = bias_of(in[1]), b2 = bias_of(in[2]);
    if (b1.valid() || b2.valid()) {
      out.bias = vg(Op::where,
                    {cond.val, vb_.cast(zero_if_invalid(b1, dt), dt), vb_.cast(zero_if_invalid(b2, dt), dt)});
    }
    return out;
  }

  // Summing over a dim the columns vary along makes it a summed dim of the term (renamed so
  // that it cannot meet a dim of the same name later); otherwise the coefficients are summed.
  Abstract sum_rule(const Node& n) {
    Abstract out = at(n.inputs[0]);
    const Shape& shape = g_.type(n.inputs[0]).shape;
    for (const std::string& d : n.attrs.names) {
      double size = static_cast<double>(shape.size(d));
      auto sum_or_scale = [&](Value v) {
        if (has_dim(form_.values, v, d)) return vb_.sum(v, {d});
        return vb_.mul(v, vb_.scalar(size, vb_.dtype(v)));
      };
      for (Term& t : out.terms) {
        if (has_dim(form_.pattern, t.col, d)) {
          std::string internal = fmt::format("#sum{}", summed_count_++);
          std::vector<ir::attrs::RenamePair> hide{{d, internal, DimType::channel}};
          t.col = pb_.rename(t.col, hide);
          if (has_dim(form_.values, t.coef, d)) t.coef = vb_.rename(t.coef, hide);
          t.summed.push_back(internal);
        } else {
          t.coef = sum_or_scale(t.coef);
        }
      }
      if (out.bias.valid()) out.bias = sum_or_scale(out.bias);
    }
    return out;
  }

  // shift and pad: the columns follow the same index map (with -1 where a constant
  // extrapolation takes over), the coefficients too, and the bias receives the constant.
  Abstract extrapolate_rule(const Node& n) {
    Abstract out = at(n.inputs[0]);
    const Shape& shape = g_.type(n.inputs[0]).shape;
    const Extrapolation& e = n.attrs.extrap;
    bool constant = e.kind() == Extrapolation::Kind::constant;
    for (size_t k = 0; k < n.attrs.names.size(); ++k) {
      const std::string& d = n.attrs.names[k];
      // This dim's part of the op, with extrapolation `with`.
      auto one_dim = [&](const Extrapolation& with) {
        return n.op == Op::shift ? ir::attrs::shift(d, n.attrs.ints[0], with)
                                 : ir::attrs::pad({{d, n.attrs.ints[2 * k], n.attrs.ints[2 * k + 1]}}, with);
      };
      Attrs a = one_dim(e);
      Attrs col_a = constant ? one_dim(extrapolation::constant(-1)) : a;
      Attrs coef_a = constant ? one_dim(extrapolation::ZERO) : a;
      for (Term& t : out.terms) {
        if (constant) t.col = pb_.with_dim(t.col, shape.dim(d));
        if (has_dim(form_.pattern, t.col, d)) t.col = pg(n.op, {t.col}, col_a);
        if (has_dim(form_.values, t.coef, d)) t.coef = vg(n.op, {t.coef}, coef_a);
      }
      // Outside, a constant extrapolation replaces the bias too (a broadcast bias would leak).
      if (constant && (out.bias.valid() || e.value() != 0)) {
        Value b = vb_.with_dim(zero_if_invalid(out.bias, n.type.dtype), shape.dim(d));
        out.bias = vg(n.op, {vb_.cast(b, n.type.dtype)}, a);
      } else if (out.bias.valid() && has_dim(form_.values, out.bias, d)) {
        out.bias = vg(n.op, {out.bias}, a);
      }
    }
    return out;
  }

  // slice and rename act on whichever of col, coef and bias have the dims involved.
  Abstract map_dims_rule(const Node& n) {
    auto apply = [&](Builder& b, Value v) {
      if (n.op == Op::slice) return b.shape(v).contains(n.attrs.names[0]) ? b.op(Op::slice, {v}, n.attrs) : v;
      std::vector<ir::attrs::RenamePair> pairs;  // the pairs this value has
      for (const ir::attrs::RenamePair& p : ir::attrs::rename_pairs(n.attrs)) {
        if (b.shape(v).contains(p.from)) pairs.push_back(p);
      }
      return b.rename(v, pairs);
    };
    Abstract out = at(n.inputs[0]);
    for (Term& t : out.terms) {
      t.col = apply(pb_, t.col);
      t.coef = apply(vb_, t.coef);
    }
    if (out.bias.valid()) out.bias = apply(vb_, out.bias);
    return out;
  }

  // concat and stack: each operand's columns are placed in its range of the new dim and -1
  // elsewhere; coefficients need only be right inside the range.
  Abstract join_rule(const Node& n) {
    const std::vector<Value>& in = n.inputs;
    const bool stack = n.op == Op::stack;
    const std::string name = stack ? n.attrs.shape.dims()[0].name : n.attrs.names[0];
    DType dt = n.type.dtype;
    int64_t total = n.type.shape.size(name), before = 0;
    Abstract out;
    bool any_bias = false;
    std::vector<Value> biases;
    for (Value part : in) {
      const Shape& ps = g_.type(part).shape;
      int64_t size = stack ? 1 : ps.size(name);
      std::vector<ir::attrs::PadWidth> range{{name, before, total - before - size}};
      if (at(part).affine()) {
        for (const Term& t : at(part).terms) {
          Term m = t;
          Dim d = stack ? Dim{name, 1, n.attrs.shape.dims()[0].type, {}} : ps.dim(name);
          m.col = pb_.pad(pb_.with_dim(t.col, d), range, extrapolation::constant(-1));
          if (has_dim(form_.values, t.coef, name)) m.coef = vb_.pad(t.coef, range, extrapolation::ZERO);
          add_term(out.terms, std::move(m));
        }
      }
      Value b = bias_of(part);
      any_bias = any_bias || b.valid();
      b = zero_if_invalid(b, dt);
      biases.push_back(stack ? vb_.cast(b, dt)
                             : vb_.broadcast_to(vb_.cast(b, dt), ps));  // concat: full parts
      before += size;
    }
    if (any_bias) out.bias = vg(n.op, biases, n.attrs);
    return out;
  }

  Value full_bias(Value b) { return vb_.broadcast_to(vb_.cast(b, form_.output.dtype), form_.output.shape); }

  void finish(const Abstract& result) {
    if (!result.affine()) {  // f does not depend on x: A = 0, b = f
      form_.values.add_output(full_bias(result.val));
      form_.bias = 0;
      return;
    }
    int k = 0;
    for (const Term& t : result.terms) {
      Shape batch = form_.pattern.type(t.col).shape.batch();
      if (batch.rank() > 0) {
        throw NotLinearError(fmt::format(
            "the function's sparsity pattern differs between the entries of batch dims {}: x is stacked or "
            "shifted along a batch dim. Use a non-batch dim for that, or keep batch dims out of the pattern",
            batch.str()));
      }
      form_.pattern.add_output(t.col);
      form_.values.add_output(t.coef);
      form_.terms.push_back({k, k, t.summed});
      ++k;
    }
    if (result.bias.valid()) {
      form_.values.add_output(full_bias(result.bias));
      form_.bias = k;
    }
  }

  const Graph& g_;
  LinearForm form_;
  Builder vb_, pb_;  // build form_.values and form_.pattern
  std::vector<Abstract> abs_;
  int summed_count_ = 0;
};

}  // namespace

LinearForm run_linearize(const ir::Graph& g) { return Linearizer(g).run(); }

std::string str(const LinearForm& form) {
  std::string out = fmt::format("linear in {} {} to {} {}\n", dtype_name(form.x.dtype), form.x.shape.str(),
                                dtype_name(form.output.dtype), form.output.shape.str());
  for (size_t t = 0; t < form.terms.size(); ++t) {
    const LinearTerm& term = form.terms[t];
    out +=
        fmt::format("term {}: columns pattern[{}], coefficients values[{}]{}\n", t, term.col, term.coef,
                    term.summed.empty() ? "" : fmt::format(", summed over {}", fmt::join(term.summed, ",")));
  }
  out += form.bias >= 0 ? fmt::format("bias: values[{}]\n", form.bias) : "bias: none\n";
  out += "pattern:\n" + ir::print(form.pattern) + "values:\n" + ir::print(form.values);
  return out;
}

}  // namespace phijit::passes
