#include "runtime/log.h"

#include <fmt/ranges.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>
#include <memory>
#include <string_view>
#include <vector>

#include "ir/dump.h"

namespace phijit::runtime {

namespace {

std::shared_ptr<spdlog::logger> make_logger() {
  // An application may have registered its own "phijit" logger (e.g. to send it to a file);
  // we then log through it and only override its level when PHIJIT_LOG asks for one.
  std::shared_ptr<spdlog::logger> log = spdlog::get("phijit");
  const bool created = log == nullptr;
  if (created) {
    try {
      log = spdlog::stderr_color_mt("phijit");
    } catch (const spdlog::spdlog_ex&) {
      // Another thread (outside phijit) registered it between the two calls.
      log = spdlog::get("phijit");
    }
  }
  const char* env = std::getenv("PHIJIT_LOG");
  const std::string_view level = env == nullptr ? "" : env;
  if (level == "debug") {
    log->set_level(spdlog::level::debug);
  } else if (level == "info") {
    log->set_level(spdlog::level::info);
  } else if (level == "warn" || level == "warning") {
    log->set_level(spdlog::level::warn);
  } else if (level == "error") {
    log->set_level(spdlog::level::err);
  } else {
    if (created) log->set_level(spdlog::level::warn);
    if (!level.empty()) {
      log->warn("PHIJIT_LOG={} is not one of debug, info, warn, error; using warn", level);
    }
  }
  if (std::vector<std::string> unknown = ir::unknown_dumps(); !unknown.empty()) {
    log->warn("PHIJIT_DUMP: ignoring '{}' (not a dump); the dumps are {} (comma-separated)",
              fmt::join(unknown, "', '"), fmt::join(ir::kDumps, ", "));
  }
  return log;
}

}  // namespace

spdlog::logger& logger() {
  // A function-local static: initialized once, thread-safely, on first use.
  static const std::shared_ptr<spdlog::logger> log = make_logger();
  return *log;
}

}  // namespace phijit::runtime
