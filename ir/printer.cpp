// The textual form of a graph (see graph.h); one readable line per node. ir/parser.cpp reads
// it back: whatever this writes, that must read, and the two change together.
#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "ir/builder.h"
#include "ir/graph.h"
#include "ir/parser.h"

namespace phijit::ir {

namespace {

// A name bare when the parser reads it as one identifier, else in double quotes with `"`, `\`
// and control bytes escaped (bytes of UTF-8 characters pass through).
std::string name_text(std::string_view name) {
  if (is_bare_name(name)) return std::string(name);
  std::string out = "\"";
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string names_text(const std::vector<std::string>& names) {
  std::string out = "[";
  for (size_t k = 0; k < names.size(); ++k) out += (k > 0 ? ", " : "") + name_text(names[k]);
  return out + "]";
}

// Like Shape::str, but names quoted where needed and item names as a list: (xˢ=4, vᶜ=[a, b]).
std::string shape_text(const Shape& s) {
  std::string out = "(";
  for (size_t k = 0; k < s.dims().size(); ++k) {
    const Dim& d = s.dims()[k];
    if (k > 0) out += ", ";
    out += name_text(d.name);
    out += dim_type_superscript(d.type);
    out += '=';
    out += d.item_names.empty() ? std::to_string(d.size) : names_text(d.item_names);
  }
  return out + ")";
}

// The shortest text that reads back to the same bits. fmt's `{}` is the shortest round trip
// for finite values (and writes -0 for negative zero); NaNs print `nan`/`-nan` when they are the
// quiet NaN of that sign and otherwise their bits, which a NaN's text does not carry.
template <class T, class Bits>
std::string real_text_of(T v, Bits quiet_nan_bits) {
  if (std::isnan(v)) {
    auto bits = std::bit_cast<Bits>(v);
    const Bits sign = Bits{1} << (8 * sizeof(Bits) - 1);
    if (bits == quiet_nan_bits) return "nan";
    if (bits == (quiet_nan_bits | sign)) return "-nan";
    return fmt::format("nan(0x{:x})", bits);
  }
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return std::signbit(v) ? "-0" : "0";
  return fmt::format("{}", v);
}

std::string real_text(double v) {
  return real_text_of(v, std::bit_cast<uint64_t>(std::numeric_limits<double>::quiet_NaN()));
}

std::string element_text(const Buffer& b, int64_t i) {
  switch (b.dtype()) {
    case DType::f32:
      return real_text_of(b.as<float>()[i], std::bit_cast<uint32_t>(std::numeric_limits<float>::quiet_NaN()));
    case DType::f64: return real_text(b.as<double>()[i]);
    case DType::i32:
    case DType::i64: return std::to_string(b.get_int(i));
    case DType::boolean: return b.get_int(i) != 0 ? "true" : "false";
  }
  return "?";
}

// Extrapolation::str, but exact: only +0.0 is `zero`, and any constant reads back bit for bit.
std::string extrapolation_text(const Extrapolation& e) {
  switch (e.kind()) {
    case Extrapolation::Kind::periodic: return "periodic";
    case Extrapolation::Kind::zero_gradient: return "zero-gradient";
    case Extrapolation::Kind::constant:
      if (e.value() == 0 && !std::signbit(e.value())) return "zero";
      if (e.value() == 1) return "one";
      return fmt::format("constant({})", real_text(e.value()));
  }
  return "?";
}

// A cell weight `constant + slope·f`: "1-1f".
std::string weight_text(int64_t constant, int64_t slope) { return fmt::format("{}{:+}f", constant, slope); }

// "dims=[x, y], extrapolation=zero", the cell weights of dims that do not interpolate
// ("weights=[x=(lo=-1+0f, hi=1+0f)]"), then the grid's shape of a transpose.
void grid_sample_parts(const Node& n, std::vector<std::string>& parts) {
  attrs::GridSampleView v = attrs::grid_sample_of(n.attrs);
  parts.push_back(fmt::format("dims={}", names_text(v.dims)));
  parts.push_back(fmt::format("extrapolation={}", extrapolation_text(v.extrap)));
  std::vector<std::string> weights;
  for (size_t k = 0; k < v.dims.size(); ++k) {
    const attrs::CellWeights& w = v.weights[k];
    if (w == attrs::CellWeights{}) continue;
    weights.push_back(fmt::format("{}=(lo={}, hi={})", name_text(v.dims[k]),
                                  weight_text(w.lo_const, w.lo_slope), weight_text(w.hi_const, w.hi_slope)));
  }
  if (!weights.empty()) parts.push_back(fmt::format("weights=[{}]", fmt::join(weights, ", ")));
  if (n.op == Op::grid_sample_transpose) parts.push_back(fmt::format("grid={}", shape_text(n.attrs.shape)));
}

bool by_reference(const Node& n, const PrintOptions& options) {
  return n.op == Op::constant && options.constant_values && n.attrs.data &&
         n.attrs.data->count() > options.max_literal_values;
}

std::string constant_parts(Value v, const Node& n, const PrintOptions& options) {
  const Buffer& data = *n.attrs.data;
  if (!options.constant_values) return "param";
  if (by_reference(n, options)) return fmt::format("data=@c{}", v.id);
  if (data.count() == 1) return "value=" + element_text(data, 0);
  std::string out = "data=[";
  for (int64_t i = 0; i < data.count(); ++i) out += (i > 0 ? ", " : "") + element_text(data, i);
  return out + "]";
}

std::string attrs_text(Value v, const Node& n, const PrintOptions& options) {
  const Attrs& a = n.attrs;
  std::vector<std::string> parts;
  switch (n.op) {
    case Op::input: parts.push_back(fmt::format("index={}", a.ints.at(0))); break;
    case Op::constant: parts.push_back(constant_parts(v, n, options)); break;
    case Op::cast: parts.push_back(fmt::format("dtype={}", dtype_name(a.dtype))); break;
    case Op::reduce_sum:
    case Op::reduce_max:
    case Op::reduce_min: parts.push_back(fmt::format("dims={}", names_text(a.names))); break;
    case Op::shift: {
      attrs::ShiftView s = attrs::shift_of(a);
      parts.push_back(fmt::format("dim={}, offset={}, extrapolation={}", name_text(s.dim), s.offset,
                                  extrapolation_text(s.extrap)));
      break;
    }
    case Op::pad: {
      std::vector<std::string> widths;
      for (const attrs::PadWidth& w : attrs::pad_widths(a)) {
        widths.push_back(fmt::format("{}=({}, {})", name_text(w.dim), w.lo, w.hi));
      }
      parts.push_back(fmt::format("widths=[{}], extrapolation={}", fmt::join(widths, ", "),
                                  extrapolation_text(a.extrap)));
      break;
    }
    case Op::expand: parts.push_back(fmt::format("dims={}", shape_text(a.shape))); break;
    case Op::slice: {
      attrs::SliceView s = attrs::slice_of(a);
      parts.push_back(fmt::format("dim={}, start={}, stop={}{}", name_text(s.dim), s.start, s.stop,
                                  s.drop ? ", drop" : ""));
      break;
    }
    case Op::concat: parts.push_back(fmt::format("dim={}", name_text(a.names.at(0)))); break;
    case Op::stack: parts.push_back(fmt::format("dim={}", shape_text(a.shape))); break;
    case Op::rename:
      for (const attrs::RenamePair& p : attrs::rename_pairs(a)) {
        parts.push_back(
            fmt::format("{}->{}{}", name_text(p.from), name_text(p.to), dim_type_superscript(p.type)));
      }
      break;
    case Op::grid_sample:
    case Op::grid_sample_transpose: grid_sample_parts(n, parts); break;
    case Op::matmul_sparse:
    case Op::solve_linear:
      parts.push_back(fmt::format("payload={}", name_text(a.payload ? a.payload->str() : "none")));
      break;
    default: break;  // elementwise ops have no attributes
  }
  return parts.empty() ? "" : fmt::format(" {{{}}}", fmt::join(parts, ", "));
}

}  // namespace

std::string print_node(const Graph& g, Value v, const PrintOptions& options) {
  const Node& n = g.node(v);
  std::vector<std::string> operands;
  operands.reserve(n.inputs.size());
  for (Value in : n.inputs) operands.push_back(fmt::format("%{}", in.id));
  return fmt::format("%{} = {}({}){} : {} {}", v.id, op_name(n.op), fmt::join(operands, ", "),
                     attrs_text(v, n, options), dtype_name(n.type.dtype), shape_text(n.type.shape));
}

std::string print_node(const Graph& g, Value v, bool constant_values) {
  return print_node(g, v, PrintOptions{.constant_values = constant_values});
}

std::string print(const Graph& g, const PrintOptions& options) {
  std::string out;
  for (int i = 0; i < g.size(); ++i) out += print_node(g, Value{i}, options) + "\n";
  std::vector<std::string> outs;
  outs.reserve(g.outputs().size());
  for (Value v : g.outputs()) outs.push_back(fmt::format("%{}", v.id));
  out += outs.empty() ? "return\n" : fmt::format("return {}\n", fmt::join(outs, ", "));
  return out;
}

std::string print(const Graph& g, bool constant_values) {
  return print(g, PrintOptions{.constant_values = constant_values});
}

ConstantTable referenced_constants(const Graph& g, const PrintOptions& options) {
  ConstantTable out;
  for (int i = 0; i < g.size(); ++i) {
    const Node& n = g.node(Value{i});
    if (by_reference(n, options)) out.emplace(fmt::format("c{}", i), n.attrs.data);
  }
  return out;
}

}  // namespace phijit::ir
