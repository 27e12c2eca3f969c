// The IR: an SSA graph of nodes in topological order, hash-consed on construction.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/op_table.h"

namespace phijit::ir {

// A value is the result of the node with the same index.
struct Value {
  int32_t id = -1;
  bool valid() const { return id >= 0; }
  bool operator==(const Value&) const = default;
};

struct Node {
  Op op;
  std::vector<Value> inputs;
  Attrs attrs;
  ValueType type;
  // The user-level call that built the node (a public frontend function such as "laplace", a
  // string literal), or null; errors name it. Not part of the node's identity.
  const char* origin = nullptr;
};

// The origin that Graph::add gives the nodes it creates on this thread, for the lifetime of
// the scope. The outermost scope wins (laplace's shifts and adds are "laplace", the call the
// user wrote), unless `replace` is set (a pass copying a node keeps that node's origin).
class OriginScope {
 public:
  explicit OriginScope(const char* origin, bool replace = false);
  ~OriginScope();
  OriginScope(const OriginScope&) = delete;
  OriginScope& operator=(const OriginScope&) = delete;

 private:
  const char* previous_;
};
const char* current_origin();

class Graph {
 public:
  // Adds a node, or returns the identical node that already exists. Types are inferred (and
  // checked) through the op table, unless `known_type` gives it: passes that copy a node
  // whose operands keep their types use that and verify() the result once.
  Value add(Op op, std::vector<Value> inputs, Attrs attrs = {}, const ValueType* known_type = nullptr);
  // The graph's next argument; arguments are numbered in the order they are added.
  Value add_input(const Shape& shape, DType dtype);
  Value add_constant(std::shared_ptr<const Buffer> data, const Shape& shape);
  void add_output(Value v);

  const Node& node(Value v) const { return nodes_.at(static_cast<size_t>(v.id)); }
  const ValueType& type(Value v) const { return node(v).type; }
  const std::vector<Node>& nodes() const { return nodes_; }
  int size() const { return static_cast<int>(nodes_.size()); }
  const std::vector<Value>& inputs() const { return inputs_; }
  const std::vector<Value>& outputs() const { return outputs_; }

 private:
  std::vector<Node> nodes_;
  std::vector<Value> inputs_;
  std::vector<Value> outputs_;
  std::unordered_multimap<size_t, int32_t> by_hash_;
};

// Checks the invariants every pass relies on; throws Error naming the first broken node.
void verify(const Graph& g);

// The textual form (the grammar is in ir/parser.h, which reads it back): one line per node,
// `%3 = add(%1, %2) {attrs} : float64 (xˢ=4)`, then `return` and the outputs. Values are
// numbered by node index. Constants of at most `max_literal_values` elements print their values
// (exactly: floats in the shortest form that reads back to the same bits); larger ones print a
// reference `data=@c<id>` to a buffer of referenced_constants(). Host ops print their payload's
// description, which cannot be read back.
inline constexpr int64_t kMaxLiteralValues = 64;

struct PrintOptions {
  // false: every constant prints as `{param}`, without its values — the key of compiled code,
  // which does not depend on values (they are kernel parameters). Such text cannot be read back.
  bool constant_values = true;
  // Constants with more elements print by reference; INT64_MAX prints every value.
  int64_t max_literal_values = kMaxLiteralValues;
};

// The buffers of constants printed by reference, by the name after '@' ("c3" for node %3).
using ConstantTable = std::map<std::string, std::shared_ptr<const Buffer>, std::less<>>;

std::string print(const Graph& g, const PrintOptions& options);
std::string print(const Graph& g, bool constant_values = true);
std::string print_node(const Graph& g, Value v, const PrintOptions& options);
std::string print_node(const Graph& g, Value v, bool constant_values = true);
// The constants print(g, options) writes by reference: what parse() needs to read them back.
ConstantTable referenced_constants(const Graph& g, const PrintOptions& options = {});

}  // namespace phijit::ir
