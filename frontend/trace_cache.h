// The one cache of traced functions (jit_compile, jit_compile_linear, gradient): what a trace
// produced, per key. Each key has its own slot and mutex, so a key is traced once even when
// many threads ask for it at once, while other keys proceed. It keeps the keys used most
// recently, at most `capacity` of them: what a trace produced (its compiled code included) is
// freed once it is evicted and no running call uses it any more.
#pragma once

#include <atomic>
#include <cstddef>
#include <iterator>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace phijit::detail {

// How many traces a function keeps: PHIJIT_MAX_TRACES, or kDefaultMaxTraces when it is unset
// or not a positive number (with a warning).
inline constexpr size_t kDefaultMaxTraces = 64;
size_t max_traces_from_env();

// Marks a slot as being filled by this thread for its lifetime. A function that calls itself
// with concrete arguments while it is being traced for the same key would wait for its own
// trace for ever: the constructor raises an Error naming `kind` and `key` instead.
class FillingOnThisThread {
 public:
  FillingOnThisThread(const void* slot, std::string_view kind, std::string_view key);
  ~FillingOnThisThread();
  FillingOnThisThread(const FillingOnThisThread&) = delete;
  FillingOnThisThread& operator=(const FillingOnThisThread&) = delete;
};

template <class T>
class TraceCache {
 public:
  // `kind` names the function in errors (jit_compile, gradient, ...).
  TraceCache(std::string kind, size_t capacity) : kind_(std::move(kind)), capacity_(capacity) {}

  // What `make` learns about the trace it is to make.
  struct Miss {
    int count;                 // this cache's number of traces so far, this one included
    std::string previous_key;  // the key of the trace made before this one ("" if none)
  };

  // The entry of `key`; on a miss `make(miss)` builds it. When `make` throws, nothing is kept
  // and the next call for `key` tries again.
  template <class Make>
  std::shared_ptr<T> get_or_make(const std::string& key, Make&& make) {
    std::shared_ptr<Slot> slot = slot_of(key);
    FillingOnThisThread filling(slot.get(), kind_, key);
    std::lock_guard lock(slot->mutex);
    if (slot->value) return slot->value;
    try {
      slot->value = make(start_trace(key));
    } catch (...) {
      forget(key, slot);
      throw;
    }
    return slot->value;
  }

  int trace_count() const { return traces_.load(); }
  size_t size() const {
    std::lock_guard lock(mutex_);
    return index_.size();
  }
  void clear() {
    Slots dropped;  // freed after the lock is released: unloading code takes a while
    std::lock_guard lock(mutex_);
    index_.clear();
    dropped.swap(slots_);
  }

 private:
  struct Slot {
    std::mutex mutex;  // held while the key is traced
    std::shared_ptr<T> value;
  };
  // Most recently used first; `index_` views the keys stored here.
  using Slots = std::list<std::pair<std::string, std::shared_ptr<Slot>>>;

  // The slot of `key`, now the most recently used one; a new slot may evict the least
  // recently used ones (a call still using an evicted slot keeps it alive until it returns).
  std::shared_ptr<Slot> slot_of(const std::string& key) {
    Slots evicted;  // freed after the lock is released: unloading code takes a while
    std::lock_guard lock(mutex_);
    if (auto it = index_.find(key); it != index_.end()) {
      slots_.splice(slots_.begin(), slots_, it->second);
      return it->second->second;
    }
    slots_.emplace_front(key, std::make_shared<Slot>());
    index_.emplace(slots_.front().first, slots_.begin());
    while (slots_.size() > capacity_) {
      index_.erase(slots_.back().first);
      evicted.splice(evicted.end(), slots_, std::prev(slots_.end()));
    }
    return slots_.front().second;
  }

  Miss start_trace(const std::string& key) {
    std::lock_guard lock(mutex_);
    return Miss{++traces_, std::exchange(last_key_, key)};
  }

  // Drops `key` if `slot` still holds it (after a failed trace: an empty slot is no use).
  void forget(const std::string& key, const std::shared_ptr<Slot>& slot) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(key);
    if (it == index_.end() || it->second->second != slot) return;
    const typename Slots::iterator at = it->second;
    index_.erase(it);
    slots_.erase(at);
  }

  const std::string kind_;
  const size_t capacity_;
  mutable std::mutex mutex_;  // guards everything below but `traces_`
  Slots slots_;
  std::unordered_map<std::string_view, typename Slots::iterator> index_;
  std::string last_key_;
  std::atomic<int> traces_{0};
};

}  // namespace phijit::detail
