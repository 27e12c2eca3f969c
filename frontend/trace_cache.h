// The one cache of traced functions (jit_compile, jit_compile_linear, gradient): what a trace
// produced, per key. Each key has its own slot and mutex, so a key is traced once even when
// many threads ask for it at once, while other keys proceed.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace phijit::detail {

template <class T>
class TraceCache {
 public:
  // The entry of `key`; on a miss `make(count)` builds it, `count` being this cache's number
  // of traces so far, this one included.
  template <class Make>
  std::shared_ptr<T> get_or_make(const std::string& key, Make&& make) {
    std::shared_ptr<Slot> slot;
    {
      std::lock_guard lock(mutex_);
      auto& entry = slots_[key];
      if (!entry) entry = std::make_shared<Slot>();
      slot = entry;
    }
    std::lock_guard lock(slot->mutex);
    if (!slot->value) slot->value = make(++traces_);
    return slot->value;
  }

  int trace_count() const { return traces_.load(); }
  void clear() {
    std::lock_guard lock(mutex_);
    slots_.clear();
  }

 private:
  struct Slot {
    std::mutex mutex;  // held while the key is traced
    std::shared_ptr<T> value;
  };
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Slot>> slots_;
  std::atomic<int> traces_{0};
};

}  // namespace phijit::detail
