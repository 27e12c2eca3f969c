#include "ir/graph.h"

#include <fmt/format.h>

#include "ir/error.h"

namespace phijit::ir {

namespace {
thread_local const char* t_origin = nullptr;

size_t node_hash(Op op, const std::vector<Value>& inputs, const Attrs& attrs) {
  size_t h = attrs.hash() ^ (static_cast<size_t>(op) * 0x100000001b3ULL);
  for (Value v : inputs) h = h * 31 + static_cast<size_t>(v.id);
  return h;
}
}  // namespace

OriginScope::OriginScope(const char* origin, bool replace) : previous_(t_origin) {
  if (replace || t_origin == nullptr) t_origin = origin;
}
OriginScope::~OriginScope() { t_origin = previous_; }
const char* current_origin() { return t_origin; }

Value Graph::add(Op op, std::vector<Value> inputs, Attrs attrs, const ValueType* known_type) {
  for (Value v : inputs) {
    if (v.id < 0 || v.id >= size()) {
      throw Error(fmt::format("{}: operand %{} is not a value of this graph", op_name(op), v.id));
    }
  }
  size_t h = node_hash(op, inputs, attrs);
  // Inputs are distinct arguments even when their types agree, so they are never merged.
  if (op != Op::input) {
    auto [lo, hi] = by_hash_.equal_range(h);
    for (auto it = lo; it != hi; ++it) {
      const Node& n = nodes_[static_cast<size_t>(it->second)];
      if (n.op == op && n.inputs == inputs && n.attrs == attrs) return Value{it->second};
    }
  }
  ValueType t;
  if (known_type != nullptr) {
    t = *known_type;
  } else {
    std::vector<ValueType> types;
    types.reserve(inputs.size());
    for (Value v : inputs) types.push_back(type(v));
    t = infer_type(op, types, attrs);
  }
  auto id = static_cast<int32_t>(nodes_.size());
  nodes_.push_back(Node{op, std::move(inputs), std::move(attrs), std::move(t), t_origin});
  by_hash_.emplace(h, id);
  return Value{id};
}

Value Graph::add_input(const Shape& shape, DType dtype) {
  Attrs a;
  a.ints = {static_cast<int64_t>(inputs_.size())};
  a.shape = shape;
  a.dtype = dtype;
  Value v = add(Op::input, {}, std::move(a));
  inputs_.push_back(v);
  return v;
}

Value Graph::add_constant(std::shared_ptr<const Buffer> data, const Shape& shape) {
  Attrs a;
  a.dtype = data->dtype();
  a.shape = shape;
  a.data = std::move(data);
  return add(Op::constant, {}, std::move(a));
}

void Graph::add_output(Value v) {
  if (v.id < 0 || v.id >= size()) throw Error(fmt::format("output %{} is not a value of this graph", v.id));
  outputs_.push_back(v);
}

void verify(const Graph& g) {
  int next_input = 0;
  for (int i = 0; i < g.size(); ++i) {
    const Node& n = g.nodes()[static_cast<size_t>(i)];
    auto fail = [&](const std::string& what) {
      throw Error(fmt::format("IR verifier: node %{} ({}): {}", i, op_name(n.op), what));
    };
    std::vector<ValueType> types;
    for (Value v : n.inputs) {
      if (v.id < 0 || v.id >= i) fail(fmt::format("operand %{} is not defined before it", v.id));
      types.push_back(g.type(v));
    }
    ValueType t;
    try {
      t = infer_type(n.op, types, n.attrs);
    } catch (const Error& e) {
      fail(e.what());
    }
    if (!(t == n.type)) {
      fail(fmt::format("recorded type {} {} but the op table gives {} {}", dtype_name(n.type.dtype),
                       n.type.shape.str(), dtype_name(t.dtype), t.shape.str()));
    }
    if (n.op == Op::input) {
      if (n.attrs.ints.empty() || n.attrs.ints[0] != next_input ||
          g.inputs().size() <= static_cast<size_t>(next_input) ||
          g.inputs()[static_cast<size_t>(next_input)].id != i) {
        fail("inputs must be numbered 0, 1, ... in order and listed in inputs()");
      }
      ++next_input;
    }
  }
  if (static_cast<size_t>(next_input) != g.inputs().size()) {
    throw Error("IR verifier: inputs() lists a value that is not an input node");
  }
  for (Value v : g.outputs()) {
    if (v.id < 0 || v.id >= g.size()) throw Error(fmt::format("IR verifier: output %{} is undefined", v.id));
  }
}

}  // namespace phijit::ir
