// The process-wide LLVM ORC LLJIT: turns modules into loaded machine code, with an in-memory
// and an on-disk object cache. The only place that includes the ORC headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace llvm {
class Module;
}

namespace phijit::codegen {

// Every compiled kernel has this C signature: it computes the elements [begin, end) of its
// index space; `block` picks the slot for partial results; `params` are buffer pointers.
using KernelFn = void (*)(int64_t begin, int64_t end, int32_t block, void** params);

struct LoadedObject {
  std::vector<KernelFn> kernels;  // in the order of the names asked for
  // The loaded code lives at least as long as this does. When no LoadedObject of a key is left
  // and JitEngine::kRecentLoads other loads have come since its last load, its code is unloaded
  // and the key leaves the memory cache (a later load compiles it again, or reads it from the
  // disk cache).
  std::shared_ptr<void> keep_alive;
};

class JitEngine {
 public:
  static JitEngine& instance();

  // The kernels named `symbols`, from the object cached under `key` (memory, then disk) or
  // compiled now: `build` fills a fresh module (host triple and data layout already set);
  // it is verified (a broken module raises phijit::Error and logs its IR), optimized for the
  // host CPU (O2, vectorized, glibc's libmvec for exp/sin/...), compiled and cached.
  // `key` must determine the module completely (phijit's kernels use KernelGraph::key).
  // The memory cache holds an object while some LoadedObject of it lives, and for the next
  // kRecentLoads loads after its last one (so that programs made and dropped in a loop do not
  // compile their kernels again and again).
  // Thread-safe: distinct keys compile concurrently (each module is built in an LLVMContext
  // of its own and ORC only links finished object files); callers asking for a key that is
  // being compiled wait for that compile instead of starting another.
  LoadedObject load(const std::string& key, const std::vector<std::string>& symbols,
                    const std::function<void(llvm::Module&)>& build);

  int64_t compile_count() const;  // modules compiled by LLVM in this process (not cache hits)
  int64_t disk_hit_count() const;
  // For tests and diagnostics: the objects loaded now (one JITDylib each), and the keys in
  // the memory cache (those loaded, and those being loaded).
  int64_t loaded_count() const;
  size_t cached_key_count() const;
  // Unloads now the objects that only the recent loads keep (for tests; frees little memory).
  void unload_unused();
  static constexpr int kRecentLoads = 16;
  // "" when the disk cache is disabled: PHIJIT_CACHE_DIR="", or a directory that cannot be
  // created or is not trusted (see ObjectCache).
  std::string cache_dir() const;

  JitEngine(const JitEngine&) = delete;
  JitEngine& operator=(const JitEngine&) = delete;
  ~JitEngine();

 private:
  JitEngine();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace phijit::codegen
