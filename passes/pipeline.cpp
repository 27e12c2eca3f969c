#include "passes/pipeline.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>

#include "passes/eliminate_dead_code.h"
#include "passes/fold_constants.h"
#include "passes/simplify_algebra.h"

namespace phijit::passes {

bool dump_enabled(std::string_view what) {
  const char* env = std::getenv("PHIJIT_DUMP");
  if (env == nullptr) return false;
  std::string_view s(env);
  for (size_t pos = 0; pos <= s.size();) {
    size_t end = s.find(',', pos);
    if (end == std::string_view::npos) end = s.size();
    if (s.substr(pos, end - pos) == what) return true;
    pos = end + 1;
  }
  return false;
}

ir::Graph run_pipeline(const ir::Graph& g) {
  struct Pass {
    const char* name;
    ir::Graph (*run)(const ir::Graph&);
  };
  static constexpr Pass kPasses[] = {{"fold_constants", run_fold_constants},
                                     {"simplify_algebra", run_simplify_algebra},
                                     {"cse", run_cse},
                                     {"eliminate_dead_code", run_eliminate_dead_code}};
  bool dump = dump_enabled("ir");
  ir::Graph current = g;
  std::string text = dump ? ir::print(current) : "";
  if (dump) fmt::print(stderr, "=== IR after tracing ===\n{}", text);
  // Each round can only shrink the graph, so this ends; three rounds catch every chain seen.
  for (int round = 0; round < 4; ++round) {
    bool changed = false;
    for (const Pass& p : kPasses) {
      auto t0 = std::chrono::steady_clock::now();
      ir::Graph next = p.run(current);
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      // Structural equality through the printer is exact; passes produce canonical numbering.
      std::string next_text = ir::print(next);
      bool pass_changed = next_text != text;
      if (dump) {
        if (pass_changed) {
          fmt::print(stderr, "=== IR after {} ({:.3f} ms) ===\n{}", p.name, ms, next_text);
        } else {
          fmt::print(stderr, "=== {} ({:.3f} ms): unchanged ===\n", p.name, ms);
        }
      }
      changed = changed || pass_changed;
      current = std::move(next);
      text = std::move(next_text);
    }
    if (!changed) break;
  }
  ir::verify(current);
  return current;
}

}  // namespace phijit::passes
