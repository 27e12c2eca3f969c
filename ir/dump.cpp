#include "ir/dump.h"

#include <algorithm>
#include <cstdlib>

namespace phijit::ir {

namespace {

// PHIJIT_DUMP's comma-separated words, trimmed, empty ones left out.
std::vector<std::string_view> dump_words() {
  const char* env = std::getenv("PHIJIT_DUMP");
  std::vector<std::string_view> out;
  std::string_view list = env == nullptr ? "" : env;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace

bool dump_enabled(std::string_view what) {
  std::vector<std::string_view> words = dump_words();
  return std::find(words.begin(), words.end(), what) != words.end();
}

std::vector<std::string> unknown_dumps() {
  std::vector<std::string> out;
  for (std::string_view w : dump_words()) {
    if (std::find(kDumps.begin(), kDumps.end(), w) == kDumps.end()) out.emplace_back(w);
  }
  return out;
}

}  // namespace phijit::ir
