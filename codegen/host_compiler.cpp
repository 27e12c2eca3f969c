#include "codegen/host_compiler.h"

#include <fmt/format.h>
#include <llvm/ADT/SmallVector.h>
#include <llvm/Analysis/TargetLibraryInfo.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/DynamicLibrary.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>
#include <llvm/Transforms/Utils/Cloning.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string_view>

#include "ir/dump.h"
#include "ir/error.h"
#include "runtime/log.h"

namespace phijit::codegen {

namespace {

// Bump when the optimization pipeline or code generation options change, so that objects
// cached on disk by an older phijit are not reused.
constexpr int kPipelineVersion = 2;

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// PHIJIT_DUMP is a comma-separated list; read on every compile so that a program (or test)
// can switch it on for one compile.

// The vector variants glibc's libmvec provides (x86-64 vector function ABI: b = SSE,
// d = AVX2, e = AVX-512) for functions LLVM 19's LIBMVEC_X86 preset does not list, and
// the AVX-512 variants of those it does. `intrinsic` is the LLVM 19 intrinsic computing
// the same function, if any.
struct MathFn {
  const char* name;
  const char* intrinsic;
  int arity;
  bool in_llvm_preset;
};
constexpr MathFn kMathFns[] = {
    {"sin", "llvm.sin", 1, true},      {"cos", "llvm.cos", 1, true},      {"tan", "llvm.tan", 1, true},
    {"exp", "llvm.exp", 1, true},      {"log", "llvm.log", 1, true},      {"pow", "llvm.pow", 2, true},
    {"asin", "llvm.asin", 1, false},   {"acos", "llvm.acos", 1, false},   {"atan", "llvm.atan", 1, false},
    {"sinh", "llvm.sinh", 1, false},   {"cosh", "llvm.cosh", 1, false},   {"tanh", "llvm.tanh", 1, false},
    {"exp2", "llvm.exp2", 1, false},   {"exp10", "llvm.exp10", 1, false}, {"log2", "llvm.log2", 1, false},
    {"log10", "llvm.log10", 1, false}, {"asinh", nullptr, 1, false},      {"acosh", nullptr, 1, false},
    {"atanh", nullptr, 1, false},      {"cbrt", nullptr, 1, false},       {"erf", nullptr, 1, false},
    {"erfc", nullptr, 1, false},       {"expm1", nullptr, 1, false},      {"log1p", nullptr, 1, false},
    {"atan2", nullptr, 2, false},      {"hypot", nullptr, 2, false},
};

}  // namespace

HostCompiler::HostCompiler() {
  static std::once_flag init_native;
  std::call_once(init_native, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    // Loop Strength Reduction was a third of code generation time for our kernels and bought
    // no measurable speed (docs/PERFORMANCE.md). LLVM only exposes the switch as an option.
    auto& options = llvm::cl::getRegisteredOptions();
    if (auto it = options.find("disable-lsr"); it != options.end()) {
      static_cast<llvm::cl::opt<bool>*>(it->second)->setValue(true);
    }
  });

  triple_ = llvm::sys::getProcessTriple();
  cpu_ = llvm::sys::getHostCPUName().str();
  bool has_avx512 = false;
  for (const auto& [name, enabled] : llvm::sys::getHostCPUFeatures()) {
    std::string feature(1, enabled ? '+' : '-');
    features_.push_back(feature.append(name.str()));
    if (enabled && name == "avx512f") has_avx512 = true;
  }
  // Sorted, so that the environment string (a disk cache key) does not depend on hash order.
  std::sort(features_.begin(), features_.end());
  for (const std::string& f : features_) feature_string_ += (feature_string_.empty() ? "" : ",") + f;

  std::string error;
  if (make_target_machine() == nullptr) {
    throw Error(fmt::format("LLVM has no code generator for this host ({}, CPU {})", triple_, cpu_));
  }
  // The permanent load makes libmvec's symbols visible to the JIT's process-symbol lookup.
  libmvec_loaded_ = !llvm::sys::DynamicLibrary::LoadLibraryPermanently(kLibmvec, &error);
  if (libmvec_loaded_) {
    add_vector_math_mappings(has_avx512);
  } else {
    runtime::logger().warn("cannot load {} ({}): exp, sin, ... will not be vectorized", kLibmvec, error);
  }
  environment_ = fmt::format("LLVM {}|{}|{}|{}|pipeline {} O2{}", LLVM_VERSION_STRING, triple_, cpu_,
                             feature_string_, kPipelineVersion, libmvec_loaded_ ? " libmvec" : "");
  runtime::logger().debug("host: {} CPU {} ({} libmvec mappings beyond LLVM's preset)", triple_, cpu_,
                          extra_vec_funcs_.size());
}

HostCompiler::~HostCompiler() = default;

void HostCompiler::add_vector_math_mappings(bool has_avx512) {
  struct Variant {
    char isa;
    int lanes_f64;
  };
  const Variant variants[] = {{'b', 2}, {'d', 4}, {'e', 8}};
  for (const MathFn& fn : kMathFns) {
    for (const Variant& v : variants) {
      if (v.isa == 'e' && !has_avx512) continue;
      if (v.isa != 'e' && fn.in_llvm_preset) continue;
      for (bool f32 : {false, true}) {
        const int lanes = f32 ? 2 * v.lanes_f64 : v.lanes_f64;
        const std::string params(static_cast<size_t>(fn.arity), 'v');
        const std::string scalar = std::string(fn.name) + (f32 ? "f" : "");
        std::string vector = fmt::format("_ZGV{}N{}{}_{}", v.isa, lanes, params, scalar);
        // Older glibcs lack some of these: map only what this libmvec has.
        if (llvm::sys::DynamicLibrary::SearchForAddressOfSymbol(vector) == nullptr) continue;
        const std::string& vec_name = vec_names_.emplace_back(std::move(vector));
        const std::string& prefix = vec_names_.emplace_back(fmt::format("_ZGV_LLVM_N{}{}", lanes, params));
        const auto vf = llvm::ElementCount::getFixed(lanes);
        extra_vec_funcs_.emplace_back(vec_names_.emplace_back(scalar), vec_name, vf, false, prefix);
        if (fn.intrinsic != nullptr) {
          const std::string& intr =
              vec_names_.emplace_back(fmt::format("{}.{}", fn.intrinsic, f32 ? "f32" : "f64"));
          extra_vec_funcs_.emplace_back(intr, vec_name, vf, false, prefix);
        }
      }
    }
  }
}

std::unique_ptr<llvm::TargetMachine> HostCompiler::make_target_machine() const {
  std::string error;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(triple_, error);
  if (target == nullptr) return nullptr;
  // PIC and the small code model: what JITLink expects; calls into libm/libmvec go through
  // its GOT/PLT stubs wherever those libraries are mapped.
  return std::unique_ptr<llvm::TargetMachine>(
      target->createTargetMachine(triple_, cpu_, feature_string_, llvm::TargetOptions(), llvm::Reloc::PIC_,
                                  llvm::CodeModel::Small, llvm::CodeGenOptLevel::Default, /*JIT=*/false));
}

void HostCompiler::optimize(llvm::Module& module, llvm::TargetMachine& tm) const {
  llvm::Triple triple(triple_);
  llvm::TargetLibraryInfoImpl tlii(triple);
  if (libmvec_loaded_) {
    tlii.addVectorizableFunctionsFromVecLib(llvm::TargetLibraryInfoImpl::LIBMVEC_X86, triple);
    tlii.addVectorizableFunctions(extra_vec_funcs_);
  }

  // Declared in this order so that they are destroyed in reverse (the proxies need it).
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = true;  // off by default in the new PM; clang turns them on at O2
  tuning.SLPVectorization = true;
  llvm::PassBuilder builder(&tm, tuning);
  // Registered before the defaults, so this TLI (with the vector library) is the one used.
  fam.registerPass([&] { return llvm::TargetLibraryAnalysis(tlii); });
  builder.registerModuleAnalyses(mam);
  builder.registerCGSCCAnalyses(cgam);
  builder.registerFunctionAnalyses(fam);
  builder.registerLoopAnalyses(lam);
  builder.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager passes = builder.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O2);
  passes.run(module, mam);
}

namespace {

std::string emit(llvm::Module& module, llvm::TargetMachine& tm, llvm::CodeGenFileType type) {
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream out(buffer);
  llvm::legacy::PassManager passes;
  if (tm.addPassesToEmitFile(passes, out, nullptr, type)) {
    throw Error(fmt::format("LLVM cannot emit {} files for {}",
                            type == llvm::CodeGenFileType::ObjectFile ? "object" : "assembly",
                            tm.getTargetTriple().str()));
  }
  passes.run(module);
  return std::string(buffer.begin(), buffer.end());
}

std::string print(const llvm::Module& module) {
  std::string text;
  llvm::raw_string_ostream out(text);
  module.print(out, nullptr);
  return text;
}

}  // namespace

std::string HostCompiler::compile(const std::string& name, const std::function<void(llvm::Module&)>& build,
                                  CompileTimes* times) const {
  CompileTimes local;
  CompileTimes& t = times != nullptr ? *times : local;
  auto start = std::chrono::steady_clock::now();
  std::unique_ptr<llvm::TargetMachine> tm = make_target_machine();
  // The context outlives the module: it is declared first.
  llvm::LLVMContext context;
  llvm::Module module(name, context);
  module.setTargetTriple(triple_);
  module.setDataLayout(tm->createDataLayout());
  build(module);
  t.build_ms = ms_since(start);

  start = std::chrono::steady_clock::now();
  std::string problems;
  llvm::raw_string_ostream problem_out(problems);
  if (llvm::verifyModule(module, &problem_out)) {
    runtime::logger().error("LLVM module {} is invalid:\n{}\n{}", name, problems, print(module));
    throw InternalError(fmt::format("the LLVM module generated for {} is invalid: {}", name, problems));
  }
  optimize(module, *tm);
  t.optimize_ms = ms_since(start);

  if (ir::dump_enabled("llvm")) {
    std::fprintf(stderr, "; ==== phijit LLVM IR of %s (optimized) ====\n%s", name.c_str(),
                 print(module).c_str());
  }
  if (ir::dump_enabled("asm")) {
    // Code generation rewrites the IR (CodeGenPrepare, LSR), so the listing comes from a copy.
    std::unique_ptr<llvm::Module> copy = llvm::CloneModule(module);
    std::string assembly = emit(*copy, *make_target_machine(), llvm::CodeGenFileType::AssemblyFile);
    std::fprintf(stderr, "# ==== phijit assembly of %s ====\n%s", name.c_str(), assembly.c_str());
  }

  start = std::chrono::steady_clock::now();
  std::string object = emit(module, *tm, llvm::CodeGenFileType::ObjectFile);
  t.codegen_ms = ms_since(start);
  return object;
}

}  // namespace phijit::codegen
