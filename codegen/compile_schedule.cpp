#include "codegen/compile_schedule.h"

#include <fmt/format.h>

#include "codegen/emit_kernel.h"

namespace phijit::codegen {

namespace {
// Bump when the generated code changes for the same IR, so stale disk caches are not reused.
constexpr int kCodegenVersion = 3;
}  // namespace

std::string normalized_ir(const ir::Graph& g) {
  return fmt::format("phijit-codegen-v{}\n{}", kCodegenVersion, ir::print(g, /*constant_values=*/false));
}

LoadedObject compile_schedule(const ir::Graph& g, const passes::Schedule& s) {
  std::vector<std::string> names;
  for (size_t k = 0; k < s.kernels.size(); ++k) names.push_back(fmt::format("phijit_kernel_{}", k));
  return JitEngine::instance().load(normalized_ir(g), names, [&](llvm::Module& m) {
    for (size_t k = 0; k < s.kernels.size(); ++k) emit_kernel(m, g, s, s.kernels[k], names[k]);
  });
}

}  // namespace phijit::codegen
