// Copies a graph node by node into a new one; the building block of every Graph→Graph pass.
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "ir/graph.h"

namespace phijit::passes {

// For each node of `g` in order, `visit` returns its value in the new graph given the new
// values of its operands; the default re-adds the same op. Inputs keep their order and the
// outputs are mapped. Re-adding through Graph::add merges equal nodes (CSE).
using Visit =
    std::function<ir::Value(ir::Graph& out, const ir::Node& node, std::span<const ir::Value> operands)>;
ir::Graph rebuild(const ir::Graph& g, const Visit& visit);

// Copies `g`'s nodes into `into`, its inputs standing for `inputs` there; returns the values of
// g's outputs. Equal nodes merge with those `into` has.
std::vector<ir::Value> inline_graph(ir::Graph& into, const ir::Graph& g, std::span<const ir::Value> inputs);

ir::Value copy_node(ir::Graph& out, const ir::Node& node, std::span<const ir::Value> operands);

}  // namespace phijit::passes
