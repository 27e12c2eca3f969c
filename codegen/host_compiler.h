// Turns a module built by a callback into an object file for the host CPU: verify, optimize
// (O2, vectorized, with glibc's libmvec for transcendentals), emit. No ORC here; the JIT
// engine links what this produces.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace llvm {
class Module;
class TargetMachine;
class VecDesc;
}  // namespace llvm

namespace phijit::codegen {

// glibc's vector math library, which vectorized calls to exp, sin, ... resolve to.
inline constexpr const char* kLibmvec = "libmvec.so.1";

struct CompileTimes {
  double build_ms = 0;     // the caller's IR builder
  double optimize_ms = 0;  // verifier + O2 pipeline
  double codegen_ms = 0;   // machine code into an in-memory object file
};

class HostCompiler {
 public:
  // Initializes LLVM's native target (once per process), detects the host CPU and its
  // features and loads libmvec into the process. Throws phijit::Error when LLVM has no
  // backend for the host.
  HostCompiler();
  ~HostCompiler();
  HostCompiler(const HostCompiler&) = delete;
  HostCompiler& operator=(const HostCompiler&) = delete;

  const std::string& triple() const { return triple_; }
  const std::string& cpu() const { return cpu_; }
  const std::vector<std::string>& features() const { return features_; }  // "+avx2", "-sse4a", ...
  // Everything besides the module itself that the object code depends on: LLVM version,
  // triple, CPU, features, pipeline settings. Part of every disk cache key.
  const std::string& environment() const { return environment_; }

  // Builds a fresh module with `build` (triple and data layout set), verifies it (a broken
  // module raises phijit::Error and its IR is logged), optimizes it and returns the object
  // file's bytes. `name` names the module in dumps (PHIJIT_DUMP=llvm,asm) and logs.
  // Thread-safe: every call has its own LLVMContext and TargetMachine.
  std::string compile(const std::string& name, const std::function<void(llvm::Module&)>& build,
                      CompileTimes* times) const;

 private:
  std::unique_ptr<llvm::TargetMachine> make_target_machine() const;
  void optimize(llvm::Module& module, llvm::TargetMachine& tm) const;
  void add_vector_math_mappings(bool has_avx512);

  std::string triple_, cpu_, feature_string_, environment_;
  std::vector<std::string> features_;
  bool libmvec_loaded_ = false;
  // Mappings beyond LLVM 19's libmvec preset (tanh, exp2, AVX-512 variants, ...). VecDesc
  // holds StringRefs, so the strings live here (a deque never moves its elements).
  std::deque<std::string> vec_names_;
  std::vector<llvm::VecDesc> extra_vec_funcs_;
};

}  // namespace phijit::codegen
