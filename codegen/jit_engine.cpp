#include "codegen/jit_engine.h"

#include <fmt/format.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/MemoryBuffer.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <list>
#include <mutex>
#include <optional>
#include <type_traits>
#include <unordered_map>

#include "codegen/host_compiler.h"
#include "codegen/object_cache.h"
#include "ir/dump.h"
#include "ir/error.h"
#include "runtime/log.h"

namespace phijit::codegen {

namespace {

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

void check(llvm::Error error, std::string_view what) {
  if (error) throw Error(fmt::format("{}: {}", what, llvm::toString(std::move(error))));
}

template <class T>
T check(llvm::Expected<T> value, std::string_view what) {
  if (!value) throw Error(fmt::format("{}: {}", what, llvm::toString(value.takeError())));
  if constexpr (std::is_reference_v<T>) {
    return *value;
  } else {
    return std::move(*value);
  }
}

// Objects loaded now, in every engine (there is one).
std::atomic<int64_t> loaded_objects{0};

// One loaded object: its own JITDylib, so that equal symbol names in different modules do
// not clash. Removing the JITDylib frees the code; the LLJIT is shared so that it outlives
// every object still held by a user, whatever the order of static destruction.
struct LoadedDylib {
  std::shared_ptr<llvm::orc::LLJIT> jit;
  llvm::orc::JITDylib* dylib = nullptr;

  LoadedDylib(std::shared_ptr<llvm::orc::LLJIT> j, llvm::orc::JITDylib& d) : jit(std::move(j)), dylib(&d) {
    loaded_objects.fetch_add(1);
  }
  LoadedDylib(const LoadedDylib&) = delete;
  LoadedDylib& operator=(const LoadedDylib&) = delete;
  ~LoadedDylib() {
    if (llvm::Error error = jit->getExecutionSession().removeJITDylib(*dylib)) {
      runtime::logger().warn("unloading compiled code: {}", llvm::toString(std::move(error)));
    }
    loaded_objects.fetch_sub(1);
  }
};

struct CacheEntry;

// The memory cache: loaded objects by key. Their users (compiled programs) own them, and so do
// the most recent loads, so that the code of a kernel no program uses any more is unloaded
// (and its key dropped here) once kRecentLoads other loads have come since its last one.
struct MemoryCache {
  struct Slot {
    std::mutex compiling;             // held while the key is loaded, so that it is loaded once
    std::weak_ptr<CacheEntry> entry;  // guarded by MemoryCache::mutex
  };
  std::mutex mutex;  // guards both members
  std::unordered_map<std::string, std::shared_ptr<Slot>> slots;
  std::list<std::shared_ptr<CacheEntry>> recent;  // most recently loaded first

  // Drops `key` when its object is gone and no caller holds its slot (one that does is about
  // to load it again, or has failed and calls this once it lets go of the slot).
  void forget_if_unused(const std::string& key) {
    std::lock_guard lock(mutex);
    auto it = slots.find(key);
    if (it != slots.end() && it->second.use_count() == 1 && it->second->entry.expired()) slots.erase(it);
  }

  // Keeps `entry` loaded for the next kRecentLoads loads even if its users let go: programs
  // that are made and dropped again and again (a solve's matrix-free operator, traced per
  // solve) then reuse the code instead of compiling it each time (19 ms instead of 0.6 ms per
  // solve of a 64x64 Poisson system measured here without the disk cache).
  void keep_recent(const std::shared_ptr<CacheEntry>& entry) {
    std::shared_ptr<CacheEntry> dropped;  // unloaded after the lock is released (it takes it)
    std::lock_guard lock(mutex);
    if (auto it = std::find(recent.begin(), recent.end(), entry); it != recent.end()) {
      recent.splice(recent.begin(), recent, it);
      return;
    }
    recent.push_front(entry);
    if (recent.size() > static_cast<size_t>(JitEngine::kRecentLoads)) {
      dropped = std::move(recent.back());
      recent.pop_back();
    }
  }

  // Lets go of the recent loads: those no program uses are unloaded.
  void drop_recent() {
    std::list<std::shared_ptr<CacheEntry>> dropped;  // unloaded after the lock is released
    std::lock_guard lock(mutex);
    dropped.swap(recent);
  }
};

// Removes a key from the memory cache when the object cached under it goes.
struct CachedAs {
  std::shared_ptr<MemoryCache> cache;  // null until the object is in the cache
  std::string key;

  CachedAs() = default;
  CachedAs(const CachedAs&) = delete;
  CachedAs& operator=(const CachedAs&) = delete;
  ~CachedAs() {
    if (cache) cache->forget_if_unused(key);
  }
};

// A memory cache entry: the loaded object and the kernels looked up in it so far (callers
// may ask the same object for different symbols).
struct CacheEntry {
  std::shared_ptr<LoadedDylib> loaded;
  CachedAs cached_as;
  std::mutex mutex;
  std::unordered_map<std::string, KernelFn> kernels;
};

}  // namespace

struct JitEngine::Impl {
  HostCompiler compiler;
  std::shared_ptr<llvm::orc::LLJIT> jit;
  llvm::orc::JITDylib* libraries = nullptr;  // libm, libmvec and the rest of the process
  std::optional<ObjectCache> disk;

  std::shared_ptr<MemoryCache> memory = std::make_shared<MemoryCache>();
  std::atomic<int64_t> compiles{0};
  std::atomic<int64_t> disk_hits{0};
  std::atomic<int64_t> dylib_counter{0};

  Impl();
  // The recent loads own the memory cache that their entries point back to: let go of them.
  ~Impl() { memory->drop_recent(); }
  std::shared_ptr<CacheEntry> load_cached(const std::string& key, const std::vector<std::string>& symbols,
                                          const std::function<void(llvm::Module&)>& build);
  std::shared_ptr<CacheEntry> load_uncached(const std::string& key, const std::vector<std::string>& symbols,
                                            const std::function<void(llvm::Module&)>& build);
  std::shared_ptr<CacheEntry> link(std::string_view object, const std::string& name,
                                   const std::vector<std::string>& symbols);
  LoadedObject kernels_of(const std::shared_ptr<CacheEntry>& cached,
                          const std::vector<std::string>& symbols) const;
};

JitEngine::Impl::Impl() {
  llvm::orc::JITTargetMachineBuilder machine{llvm::Triple(compiler.triple())};
  machine.setCPU(compiler.cpu());
  machine.addFeatures(compiler.features());
  machine.setRelocationModel(llvm::Reloc::PIC_);
  machine.setCodeModel(llvm::CodeModel::Small);
  jit = std::shared_ptr<llvm::orc::LLJIT>(
      check(llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(machine)).create(),
            "cannot create the LLVM JIT"));
  // ORC's default reporter prints to stderr; route its errors through our logger.
  jit->getExecutionSession().setErrorReporter(
      [](llvm::Error error) { runtime::logger().error("LLVM JIT: {}", llvm::toString(std::move(error))); });

  const char prefix = jit->getDataLayout().getGlobalPrefix();
  libraries = &check(jit->createJITDylib("phijit.libraries"), "cannot create the JIT's library dylib");
  libraries->addGenerator(check(llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(prefix),
                                "cannot search the process's symbols"));
  // Explicitly, in case the process has no libmvec loaded globally; a missing libmvec was
  // already reported by the compiler, which then emits no calls into it.
  if (auto libmvec = llvm::orc::DynamicLibrarySearchGenerator::Load(kLibmvec, prefix)) {
    libraries->addGenerator(std::move(*libmvec));
  } else {
    llvm::consumeError(libmvec.takeError());
  }

  const std::filesystem::path dir = cache_dir_from_env();
  if (!dir.empty()) {
    disk.emplace(dir, cache_limits_from_env());
    // A directory that cannot be created or trusted was reported by the cache itself.
    if (!disk->enabled()) disk.reset();
  }
  runtime::logger().debug("JIT ready for {} (CPU {}); disk cache {}", compiler.triple(), compiler.cpu(),
                          disk ? disk->dir().string() : std::string("disabled"));
}

std::shared_ptr<CacheEntry> JitEngine::Impl::link(std::string_view object, const std::string& name,
                                                  const std::vector<std::string>& symbols) {
  llvm::orc::JITDylib& dylib =
      check(jit->createJITDylib(fmt::format("{}.{}", name, dylib_counter.fetch_add(1))),
            "cannot create a JITDylib");
  auto entry = std::make_shared<CacheEntry>();
  // Owning the dylib from here on removes it again if linking fails below.
  entry->loaded = std::make_shared<LoadedDylib>(jit, dylib);
  dylib.addToLinkOrder(*libraries);
  check(jit->addObjectFile(
            dylib, llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(object.data(), object.size()), name)),
        fmt::format("cannot load the object file of {}", name));
  // The first lookup links the whole object; the others only read the symbol table.
  for (const std::string& symbol : symbols) {
    llvm::orc::ExecutorAddr address =
        check(jit->lookup(dylib, symbol), fmt::format("kernel {} of {} cannot be linked", symbol, name));
    entry->kernels.emplace(symbol, address.toPtr<KernelFn>());
  }
  return entry;
}

std::shared_ptr<CacheEntry> JitEngine::Impl::load_uncached(const std::string& key,
                                                           const std::vector<std::string>& symbols,
                                                           const std::function<void(llvm::Module&)>& build) {
  const std::string& environment = compiler.environment();
  const uint64_t key_hash = ObjectCache::hash_key(key, environment);
  const std::string name = fmt::format("phijit.{:016x}", key_hash);
  if (disk) {
    const auto start = std::chrono::steady_clock::now();
    if (std::optional<std::string> object = disk->read(key_hash, key, environment)) {
      try {
        auto entry = link(*object, name, symbols);
        disk_hits.fetch_add(1);
        runtime::logger().debug("{}: disk cache hit, loaded in {:.3f} ms", name, ms_since(start));
        if (ir::dump_enabled("llvm") || ir::dump_enabled("asm")) {
          // Nothing was compiled, so there is nothing new to dump: say why the listing is missing.
          std::fprintf(stderr,
                       "; ==== phijit: %s was loaded from the disk cache %s: no LLVM IR or assembly ====\n",
                       name.c_str(), disk->dir().c_str());
        }
        return entry;
      } catch (const Error& e) {
        runtime::logger().debug("{}: cached object unusable ({}); compiling", name, e.what());
      }
    }
  }

  CompileTimes times;
  std::string object = compiler.compile(name, build, &times);
  compiles.fetch_add(1);
  const auto start = std::chrono::steady_clock::now();
  auto entry = link(object, name, symbols);
  const double link_ms = ms_since(start);
  runtime::logger().debug(
      "{}: compiled in {:.2f} ms (build IR {:.2f}, optimize {:.2f}, codegen {:.2f}, link {:.2f})", name,
      times.build_ms + times.optimize_ms + times.codegen_ms + link_ms, times.build_ms, times.optimize_ms,
      times.codegen_ms, link_ms);
  // Only objects that linked are worth keeping.
  if (disk) disk->write(key_hash, key, environment, object);
  return entry;
}

LoadedObject JitEngine::Impl::kernels_of(const std::shared_ptr<CacheEntry>& cached,
                                         const std::vector<std::string>& symbols) const {
  CacheEntry& entry = *cached;
  LoadedObject result;
  result.keep_alive = cached;  // the users of an entry own it: the last one unloads it
  std::lock_guard lock(entry.mutex);
  for (const std::string& symbol : symbols) {
    auto it = entry.kernels.find(symbol);
    if (it == entry.kernels.end()) {
      llvm::orc::ExecutorAddr address = check(jit->lookup(*entry.loaded->dylib, symbol),
                                              fmt::format("kernel {} not found in compiled object", symbol));
      it = entry.kernels.emplace(symbol, address.toPtr<KernelFn>()).first;
    }
    result.kernels.push_back(it->second);
  }
  return result;
}

JitEngine& JitEngine::instance() {
  // Initialized on first use, thread-safely; a failed initialization is retried next call.
  static JitEngine engine;
  return engine;
}

JitEngine::JitEngine() : impl_(std::make_unique<Impl>()) {}
JitEngine::~JitEngine() = default;

std::shared_ptr<CacheEntry> JitEngine::Impl::load_cached(const std::string& key,
                                                         const std::vector<std::string>& symbols,
                                                         const std::function<void(llvm::Module&)>& build) {
  std::shared_ptr<MemoryCache::Slot> slot;
  {
    std::lock_guard lock(memory->mutex);
    std::shared_ptr<MemoryCache::Slot>& cached = memory->slots[key];
    if (!cached) cached = std::make_shared<MemoryCache::Slot>();
    if (std::shared_ptr<CacheEntry> entry = cached->entry.lock()) return entry;
    slot = cached;
  }
  try {
    // Loaded outside the cache's lock: other keys load concurrently, callers of this key wait.
    std::lock_guard compiling(slot->compiling);
    {
      std::lock_guard lock(memory->mutex);
      if (std::shared_ptr<CacheEntry> entry = slot->entry.lock()) return entry;  // loaded meanwhile
    }
    std::shared_ptr<CacheEntry> entry = load_uncached(key, symbols, build);
    entry->cached_as.cache = memory;
    entry->cached_as.key = key;
    std::lock_guard lock(memory->mutex);
    slot->entry = entry;
    return entry;
  } catch (...) {
    // Nothing is kept, so that a later call tries again (and reports again).
    slot.reset();
    memory->forget_if_unused(key);
    throw;
  }
}

LoadedObject JitEngine::load(const std::string& key, const std::vector<std::string>& symbols,
                             const std::function<void(llvm::Module&)>& build) {
  std::shared_ptr<CacheEntry> entry = impl_->load_cached(key, symbols, build);
  impl_->memory->keep_recent(entry);
  return impl_->kernels_of(entry, symbols);
}

void JitEngine::unload_unused() { impl_->memory->drop_recent(); }

int64_t JitEngine::compile_count() const { return impl_->compiles.load(); }
int64_t JitEngine::disk_hit_count() const { return impl_->disk_hits.load(); }
int64_t JitEngine::loaded_count() const { return loaded_objects.load(); }
size_t JitEngine::cached_key_count() const {
  std::lock_guard lock(impl_->memory->mutex);
  return impl_->memory->slots.size();
}
std::string JitEngine::cache_dir() const { return impl_->disk ? impl_->disk->dir().string() : std::string(); }

}  // namespace phijit::codegen
