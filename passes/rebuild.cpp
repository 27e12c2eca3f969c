#include "passes/rebuild.h"

#include <fmt/format.h>

#include "ir/error.h"

namespace phijit::passes {

ir::Value copy_node(ir::Graph& out, const ir::Node& node, std::span<const ir::Value> operands) {
  if (node.op == ir::Op::input) return out.add_input(node.type.shape, node.type.dtype);
  // Passes keep every value's type, so the copy keeps the node's (run_pipeline verifies).
  return out.add(node.op, std::vector<ir::Value>(operands.begin(), operands.end()), node.attrs, &node.type);
}

ir::Graph rebuild(const ir::Graph& g, const Visit& visit) {
  ir::Graph out;
  std::vector<ir::Value> map(static_cast<size_t>(g.size()));
  std::vector<ir::Value> operands;
  for (int i = 0; i < g.size(); ++i) {
    const ir::Node& n = g.nodes()[static_cast<size_t>(i)];
    operands.clear();
    for (ir::Value v : n.inputs) operands.push_back(map[static_cast<size_t>(v.id)]);
    ir::OriginScope origin(n.origin, /*replace=*/true);  // what the visit builds stands for n
    // Inputs are copied as they are: a pass never changes a program's signature.
    map[static_cast<size_t>(i)] =
        n.op == ir::Op::input ? copy_node(out, n, operands) : visit(out, n, operands);
  }
  for (ir::Value v : g.outputs()) out.add_output(map[static_cast<size_t>(v.id)]);
  return out;
}

std::vector<ir::Value> inline_graph(ir::Graph& into, const ir::Graph& g, std::span<const ir::Value> inputs) {
  if (inputs.size() != g.inputs().size()) {
    throw InternalError(fmt::format("inline_graph: the graph has {} inputs, {} values were given",
                                    g.inputs().size(), inputs.size()));
  }
  std::vector<ir::Value> map(static_cast<size_t>(g.size()));
  std::vector<ir::Value> operands;
  size_t next_input = 0;
  for (int i = 0; i < g.size(); ++i) {
    const ir::Node& n = g.nodes()[static_cast<size_t>(i)];
    if (n.op == ir::Op::input) {
      map[static_cast<size_t>(i)] = inputs[next_input++];
      continue;
    }
    operands.clear();
    for (ir::Value v : n.inputs) operands.push_back(map[static_cast<size_t>(v.id)]);
    ir::OriginScope origin(n.origin, /*replace=*/n.origin != nullptr);
    map[static_cast<size_t>(i)] = into.add(n.op, operands, n.attrs, &n.type);
  }
  std::vector<ir::Value> out;
  for (ir::Value v : g.outputs()) out.push_back(map[static_cast<size_t>(v.id)]);
  return out;
}

}  // namespace phijit::passes
