// The textual form of a graph (see graph.h); one readable line per node.
#include <fmt/format.h>

#include "ir/builder.h"
#include "ir/graph.h"

namespace phijit::ir {

namespace {

// "dims=x,y, extrapolation=zero", then the cell weights of dims that do not interpolate
// (e.g. "x:lo=-1+0f,hi=1+0f"), then the grid's shape of a transpose.
void grid_sample_parts(const Attrs& a, std::vector<std::string>& parts) {
  attrs::GridSampleView v = attrs::grid_sample_of(a);
  parts.push_back(fmt::format("dims={}, extrapolation={}", fmt::join(v.dims, ","), v.extrap.str()));
  for (size_t k = 0; k < v.dims.size(); ++k) {
    const attrs::CellWeights& w = v.weights[k];
    if (w == attrs::CellWeights{}) continue;
    parts.push_back(
        fmt::format("{}:lo={}{:+}f,hi={}{:+}f", v.dims[k], w.lo_const, w.lo_slope, w.hi_const, w.hi_slope));
  }
  if (a.shape.rank() > 0) parts.push_back(fmt::format("grid={}", a.shape.str()));
}

std::string attrs_str(const Node& n, bool constant_values) {
  const Attrs& a = n.attrs;
  std::vector<std::string> parts;
  switch (n.op) {
    case Op::input: parts.push_back(fmt::format("index={}", a.ints.at(0))); break;
    case Op::constant:
      if (!constant_values) {
        parts.push_back("param");
      } else if (a.data->count() == 1) {
        parts.push_back(is_float(a.dtype) ? fmt::format("value={}", a.data->get_real(0))
                                          : fmt::format("value={}", a.data->get_int(0)));
      } else {
        parts.push_back(fmt::format("data=<{} values>", a.data->count()));
      }
      break;
    case Op::cast: parts.push_back(fmt::format("dtype={}", dtype_name(a.dtype))); break;
    case Op::reduce_sum:
    case Op::reduce_max:
    case Op::reduce_min: parts.push_back(fmt::format("dims={}", fmt::join(a.names, ","))); break;
    case Op::shift:
      parts.push_back(
          fmt::format("dim={}, offset={}, extrapolation={}", a.names.at(0), a.ints.at(0), a.extrap.str()));
      break;
    case Op::pad:
      for (size_t k = 0; k < a.names.size(); ++k) {
        parts.push_back(fmt::format("{}=({},{})", a.names[k], a.ints.at(2 * k), a.ints.at(2 * k + 1)));
      }
      parts.push_back(fmt::format("extrapolation={}", a.extrap.str()));
      break;
    case Op::expand: parts.push_back(fmt::format("dims={}", a.shape.str())); break;
    case Op::slice:
      parts.push_back(fmt::format("dim={}, start={}, stop={}{}", a.names.at(0), a.ints.at(0), a.ints.at(1),
                                  a.ints.at(2) != 0 ? ", drop" : ""));
      break;
    case Op::concat: parts.push_back(fmt::format("dim={}", a.names.at(0))); break;
    case Op::stack: parts.push_back(fmt::format("dim={}", a.shape.str())); break;
    case Op::rename:
      for (size_t k = 0; k < a.ints.size(); ++k) {
        parts.push_back(fmt::format("{}->{}{}", a.names.at(2 * k), a.names.at(2 * k + 1),
                                    dim_type_superscript(static_cast<DimType>(a.ints[k]))));
      }
      break;
    case Op::grid_sample:
    case Op::grid_sample_transpose: grid_sample_parts(a, parts); break;
    case Op::matmul_sparse: parts.push_back(a.payload ? a.payload->str() : "no matrix"); break;
    case Op::solve_linear: parts.push_back(a.payload ? a.payload->str() : "no solve"); break;
    default: break;
  }
  return parts.empty() ? "" : fmt::format(" {{{}}}", fmt::join(parts, ", "));
}

}  // namespace

std::string print_node(const Graph& g, Value v, bool constant_values) {
  const Node& n = g.node(v);
  std::vector<std::string> operands;
  for (Value in : n.inputs) operands.push_back(fmt::format("%{}", in.id));
  return fmt::format("%{} = {}({}){} : {} {}", v.id, op_name(n.op), fmt::join(operands, ", "),
                     attrs_str(n, constant_values), dtype_name(n.type.dtype), n.type.shape.str());
}

std::string print(const Graph& g, bool constant_values) {
  std::string out;
  for (int i = 0; i < g.size(); ++i) out += print_node(g, Value{i}, constant_values) + "\n";
  std::vector<std::string> outs;
  for (Value v : g.outputs()) outs.push_back(fmt::format("%{}", v.id));
  out += fmt::format("return {}\n", fmt::join(outs, ", "));
  return out;
}

}  // namespace phijit::ir
