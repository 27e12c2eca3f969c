#include "ir/dump.h"

#include <cstdlib>

namespace phijit::ir {

bool dump_enabled(std::string_view what) {
  const char* env = std::getenv("PHIJIT_DUMP");
  if (env == nullptr) return false;
  std::string_view list = env;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == what) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace phijit::ir
