#include "frontend/trace_cache.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <vector>

#include "ir/error.h"
#include "runtime/log.h"

namespace phijit::detail {

namespace {
// The slots this thread is filling, innermost last.
thread_local std::vector<const void*> slots_being_filled;
}  // namespace

size_t max_traces_from_env() {
  const char* env = std::getenv("PHIJIT_MAX_TRACES");
  if (env == nullptr || *env == '\0') return kDefaultMaxTraces;
  const std::string_view text(env);
  size_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec == std::errc() && end == text.data() + text.size() && n >= 1) return n;
  // Read whenever a function is made: one warning is enough.
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true)) {
    runtime::logger().warn("PHIJIT_MAX_TRACES='{}' is not a positive number; each function keeps {} traces",
                           env, kDefaultMaxTraces);
  }
  return kDefaultMaxTraces;
}

FillingOnThisThread::FillingOnThisThread(const void* slot, std::string_view kind, std::string_view key) {
  if (std::find(slots_being_filled.begin(), slots_being_filled.end(), slot) != slots_being_filled.end()) {
    throw Error(fmt::format(
        "{}: the function called itself, while it was being traced, with concrete arguments of a key it "
        "is being traced for (key '{}'): that call would wait for its own trace. A recursion inside a "
        "traced function must act on the traced values (derive the inner call's tensors from the "
        "function's arguments: the call is then traced inline) or end before the recursive call",
        kind, key));
  }
  slots_being_filled.push_back(slot);
}

FillingOnThisThread::~FillingOnThisThread() {
  // Guards end in reverse order of their start, so this slot is the last one.
  slots_being_filled.pop_back();
}

}  // namespace phijit::detail
