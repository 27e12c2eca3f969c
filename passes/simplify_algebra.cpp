#include "passes/simplify_algebra.h"

#include <cmath>

#include "passes/rebuild.h"

namespace phijit::passes {

using ir::Op;

namespace {

// Whether v is a constant whose every element equals `value` (also broadcast by expand).
bool is_constant(const ir::Graph& g, ir::Value v, double value) {
  const ir::Node* np = &g.node(v);
  if (np->op == Op::expand) np = &g.node(np->inputs[0]);
  const ir::Node& n = *np;
  if (n.op != Op::constant) return false;
  const Buffer& b = *n.attrs.data;
  for (int64_t i = 0; i < b.count(); ++i) {
    if (b.get_real(i) != value) return false;
  }
  return true;
}

// The operand that `n` equals, or an invalid value.
ir::Value identity_of(const ir::Graph& g, const ir::Node& n, std::span<const ir::Value> in) {
  switch (n.op) {
    case Op::mul:
      if (is_constant(g, in[1], 1)) return in[0];
      if (is_constant(g, in[0], 1)) return in[1];
      break;
    case Op::div:
      if (is_constant(g, in[1], 1)) return in[0];
      break;
    case Op::sub:
      // x − (+0) is x for every x, −0 included; only +0 qualifies, and −0 == 0 compares true.
      if (is_constant(g, in[1], 0) && !std::signbit(g.node(in[1]).attrs.data->get_real(0))) return in[0];
      break;
    case Op::neg:
      if (g.node(in[0]).op == Op::neg) return g.node(in[0]).inputs[0];
      break;
    case Op::where:
      if (in[1] == in[2]) return in[1];
      // A condition that is a constant true or false everywhere picks one branch.
      if (is_constant(g, in[0], 1)) return in[1];
      if (is_constant(g, in[0], 0)) return in[2];
      break;
    case Op::expand: return in[0];
    case Op::shift:
      if (n.attrs.ints[0] == 0) return in[0];
      break;
    case Op::pad: {
      bool zero = true;
      for (int64_t w : n.attrs.ints) zero = zero && w == 0;
      if (zero) return in[0];
      break;
    }
    case Op::slice: {
      if (n.attrs.ints[2] == 0 && n.attrs.ints[0] == 0 && n.type.shape == g.type(in[0]).shape) return in[0];
      // One element along a dim that expand added is the expanded value itself.
      const ir::Node& source = g.node(in[0]);
      const std::string& dim = n.attrs.names[0];
      if (n.attrs.ints[2] != 0 && source.op == Op::expand && !g.type(source.inputs[0]).shape.contains(dim)) {
        return source.inputs[0];
      }
      break;
    }
    case Op::reduce_sum:
    case Op::reduce_max:
    case Op::reduce_min:
      if (n.attrs.names.empty()) return in[0];
      break;
    default: break;
  }
  return {};
}

}  // namespace

ir::Graph run_simplify_algebra(const ir::Graph& g) {
  return rebuild(g, [](ir::Graph& out, const ir::Node& n, std::span<const ir::Value> in) {
    ir::Value same = identity_of(out, n, in);
    if (same.valid() && out.type(same) == n.type) return same;
    return copy_node(out, n, in);
  });
}

}  // namespace phijit::passes
