#include "passes/pipeline.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <iterator>

#include "ir/dump.h"
#include "ir/error.h"
#include "passes/registry.h"

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

// The types of g's inputs or outputs, e.g. "(float64 (xˢ=4), int32 ())".
std::string signature(const ir::Graph& g, const std::vector<ir::Value>& values) {
  std::vector<std::string> types;
  for (ir::Value v : values)
    types.push_back(fmt::format("{} {}", dtype_name(g.type(v).dtype), g.type(v).shape.str()));
  return fmt::format("({})", fmt::join(types, ", "));
}

// A pipeline pass must keep what the program takes and returns (a user's pass may not).
void check_signature(const ir::Graph& before, const ir::Graph& after, const std::string& pass) {
  for (auto values : {&ir::Graph::inputs, &ir::Graph::outputs}) {
    std::string was = signature(before, (before.*values)()), now = signature(after, (after.*values)());
    if (was != now) {
      throw Error(
          fmt::format("pass '{}' changed the program's {} from {} to {}; a pipeline pass must keep them",
                      pass, values == &ir::Graph::inputs ? "inputs" : "outputs", was, now));
    }
  }
}

}  // namespace

ir::Graph run_pipeline(const ir::Graph& g) {
  std::vector<RegisteredPass> passes;
  for (const std::string& name : pipeline()) passes.push_back(find_pass(name));
  const int count = static_cast<int>(passes.size());
  constexpr int kMaxRounds = 4;  // each round can only shrink the graph; a third is rare
  bool dump = ir::dump_enabled("ir");
  ir::Graph current = g;
  if (dump) fmt::print(stderr, "=== IR after tracing ===\n{}", ir::print(current));
  // The passes cycle until each has run without a change since the last change. A pass is
  // idempotent, so the one that made the last change need not run again.
  int last_changed = -1;
  for (int step = 0; step < kMaxRounds * count; ++step) {
    int i = step % count;
    if (i == last_changed) break;
    const RegisteredPass& p = passes[static_cast<size_t>(i)];
    auto t0 = std::chrono::steady_clock::now();
    ir::Graph next = p.transform(current);
    check_signature(current, next, p.name);
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
    if (last_changed < 0 && i == count - 1) break;  // a whole round without a change
  }
  ir::verify(current);
  return current;
}

}  // namespace phijit::passes
