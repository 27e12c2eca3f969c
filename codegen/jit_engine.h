// The process-wide LLVM ORC LLJIT: turns modules into loaded machine code, with an in-memory
// and an on-disk object cache. The only place that includes the ORC headers.
#pragma once

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
  std::vector<KernelFn> kernels;     // in the order of the names asked for
  std::shared_ptr<void> keep_alive;  // the loaded code lives as long as this does
};

class JitEngine {
 public:
  static JitEngine& instance();

  // The kernels named `symbols`, from the object cached under `key` (memory, then disk) or
  // compiled now: `build` fills a fresh module (host triple and data layout already set);
  // it is verified (a broken module raises phijit::Error and logs its IR), optimized for the
  // host CPU (O2, vectorized, glibc's libmvec for exp/sin/...), compiled and cached.
  // `key` must determine the module completely (phijit's kernels use KernelGraph::key).
  // Thread-safe: distinct keys compile concurrently (each module is built in an LLVMContext
  // of its own and ORC only links finished object files); callers asking for a key that is
  // being compiled wait for that compile instead of starting another.
  LoadedObject load(const std::string& key, const std::vector<std::string>& symbols,
                    const std::function<void(llvm::Module&)>& build);

  int64_t compile_count() const;  // modules compiled by LLVM in this process (not cache hits)
  int64_t disk_hit_count() const;
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
