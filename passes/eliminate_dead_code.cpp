#include "passes/eliminate_dead_code.h"

#include "passes/rebuild.h"

namespace phijit::passes {

ir::Graph run_eliminate_dead_code(const ir::Graph& g) {
  std::vector<bool> live(static_cast<size_t>(g.size()), false);
  for (ir::Value v : g.outputs()) live[static_cast<size_t>(v.id)] = true;
  for (int i = g.size() - 1; i >= 0; --i) {
    if (!live[static_cast<size_t>(i)]) continue;
    for (ir::Value v : g.nodes()[static_cast<size_t>(i)].inputs) live[static_cast<size_t>(v.id)] = true;
  }
  // A dead node maps to an invalid value; nothing live refers to it.
  return rebuild(g, [&](ir::Graph& out, const ir::Node& n, std::span<const ir::Value> in) {
    auto index = static_cast<size_t>(&n - g.nodes().data());
    return live[index] ? copy_node(out, n, in) : ir::Value{};
  });
}

ir::Graph run_cse(const ir::Graph& g) { return rebuild(g, copy_node); }

}  // namespace phijit::passes
