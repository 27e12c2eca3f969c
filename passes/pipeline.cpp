#include "passes/pipeline.h"

#include <fmt/format.h>

#include <chrono>
#include <iterator>

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
  // No separate CSE: every pass rebuilds through the hash-consing Graph::add, which merges
  // equal nodes as it goes (run_cse is that rebuild alone).
  static constexpr Pass kPasses[] = {{"fold_constants", run_fold_constants},
                                     {"simplify_algebra", run_simplify_algebra},
                                     {"eliminate_dead_code", run_eliminate_dead_code}};
  constexpr int kNumPasses = static_cast<int>(std::size(kPasses));
  constexpr int kMaxRounds = 4;  // each round can only shrink the graph; a third is rare
  bool dump = ir::dump_enabled("ir");
  ir::Graph current = g;
  if (dump) fmt::print(stderr, "=== IR after tracing ===\n{}", ir::print(current));
  // The passes cycle until each has run without a change since the last change. A pass is
  // idempotent, so the one that made the last change need not run again.
  int last_changed = -1;
  for (int step = 0; step < kMaxRounds * kNumPasses; ++step) {
    int i = step % kNumPasses;
    if (i == last_changed) break;
    const Pass& p = kPasses[i];
    auto t0 = std::chrono::steady_clock::now();
    ir::Graph next = p.run(current);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    bool changed = !same_graph(current, next);
    if (dump) {
      if (changed) {
        fmt::print(stderr, "=== IR after {} ({:.3f} ms) ===\n{}", p.name, ms, ir::print(next));
      } else {
        fmt::print(stderr, "=== {} ({:.3f} ms): unchanged ===\n", p.name, ms);
      }
    }
    if (changed) last_changed = i;
    current = std::move(next);
    if (last_changed < 0 && i == kNumPasses - 1) break;  // a whole round without a change
  }
  ir::verify(current);
  return current;
}

}  // namespace phijit::passes
