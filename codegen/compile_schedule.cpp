#include "codegen/compile_schedule.h"

#include <string>
#include <unordered_map>

#include "codegen/emit_kernel.h"
#include "codegen/kernel_graph.h"
#include "runtime/thread_pool.h"

namespace phijit::codegen {

namespace {

// Each module holds one kernel, so one name serves them all (every module is linked into a
// JITDylib of its own).
constexpr const char* kKernelSymbol = "phijit_kernel";

LoadedObject load_kernel(const KernelGraph& kernel) {
  return JitEngine::instance().load(kernel.key, {kKernelSymbol}, [&](llvm::Module& m) {
    emit_kernel(m, kernel.graph, kernel.schedule, kernel.schedule.kernels.front(), kKernelSymbol);
  });
}

}  // namespace

CompiledSchedule compile_schedule(const ir::Graph& g, const passes::Schedule& s) {
  std::vector<KernelGraph> kernels;
  kernels.reserve(s.kernels.size());
  for (const passes::Kernel& k : s.kernels) kernels.push_back(extract_kernel(g, s, k));

  // The first kernel with each key stands for all kernels with that key.
  std::vector<size_t> distinct;                     // indices into `kernels`
  std::vector<size_t> distinct_of(kernels.size());  // kernel → its index in `distinct`
  std::unordered_map<std::string_view, size_t> by_key;
  for (size_t k = 0; k < kernels.size(); ++k) {
    auto [it, is_new] = by_key.try_emplace(kernels[k].key, distinct.size());
    if (is_new) distinct.push_back(k);
    distinct_of[k] = it->second;
  }

  std::vector<LoadedObject> loaded(distinct.size());
  auto load_distinct = [&](int64_t d) {
    loaded[static_cast<size_t>(d)] = load_kernel(kernels[distinct[static_cast<size_t>(d)]]);
  };
  if (distinct.size() == 1) {
    // Not through the pool: its first use starts its threads, and a multi-threaded process
    // pays for atomic reference counts and malloc locks on every call of a small program
    // (0.36 → 0.43 µs per call of x*2 + 1 on one element).
    load_distinct(0);
  } else {
    runtime::ThreadPool::instance().parallel_for(static_cast<int64_t>(distinct.size()), load_distinct);
  }

  CompiledSchedule result;
  result.distinct_kernels = static_cast<int>(distinct.size());
  auto code = std::make_shared<std::vector<std::shared_ptr<void>>>();
  for (LoadedObject& object : loaded) code->push_back(std::move(object.keep_alive));
  result.keep_alive = std::move(code);
  for (size_t k = 0; k < kernels.size(); ++k) {
    result.kernels.push_back({loaded[distinct_of[k]].kernels.front(), std::move(kernels[k].params)});
  }
  return result;
}

}  // namespace phijit::codegen
