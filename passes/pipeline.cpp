#include "passes/pipeline.h"

#include <fmt/format.h>

#include <chrono>

#include "ir/dump.h"
#include "passes/eliminate_dead_code.h"
#include "passes/fold_constants.h"
#include "passes/simplify_algebra.h"

namespace phijit::passes {

namespace {
// Node for node the same ops, operands, attributes and outputs (passes number canonically).
bool same_graph(const ir::Graph& a, const ir::Graph& b) {
  if (a.size() != b.size() || a.outputs() != b.outputs()) return false;
  for (int i = 0; i < a.size(); ++i) {
    const ir::Node& x = a.nodes()[static_cast<size_t>(i)];
    const ir::Node& y = b.nodes()[static_cast<size_t>(i)];
    if (x.op != y.op || x.inputs != y.inputs || !(x.attrs == y.attrs)) return false;
  }
  return true;
}
}  // namespace

ir::Graph run_pipeline(const ir::Graph& g) {
  struct Pass {
    const char* name;
    ir::Graph (*run)(const ir::Graph&);
  };
  static constexpr Pass kPasses[] = {{"fold_constants", run_fold_constants},
                                     {"simplify_algebra", run_simplify_algebra},
                                     {"cse", run_cse},
                                     {"eliminate_dead_code", run_eliminate_dead_code}};
  bool dump = ir::dump_enabled("ir");
  ir::Graph current = g;
  if (dump) fmt::print(stderr, "=== IR after tracing ===\n{}", ir::print(current));
  // Each round can only shrink the graph, so this ends; rarely is a third round needed.
  for (int round = 0; round < 4; ++round) {
    bool changed = false;
    for (const Pass& p : kPasses) {
      auto t0 = std::chrono::steady_clock::now();
      ir::Graph next = p.run(current);
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      bool pass_changed = !same_graph(current, next);
      if (dump) {
        if (pass_changed) {
          fmt::print(stderr, "=== IR after {} ({:.3f} ms) ===\n{}", p.name, ms, ir::print(next));
        } else {
          fmt::print(stderr, "=== {} ({:.3f} ms): unchanged ===\n", p.name, ms);
        }
      }
      changed = changed || pass_changed;
      current = std::move(next);
    }
    if (!changed) break;
  }
  ir::verify(current);
  return current;
}

}  // namespace phijit::passes
