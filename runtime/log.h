// The "phijit" spdlog logger every module logs through; PHIJIT_LOG sets its level (API §8).
#pragma once

#include <spdlog/spdlog.h>

namespace phijit::runtime {

// The logger registered as "phijit": the application's own if it registered one before the
// first call, otherwise a colored stderr logger. PHIJIT_LOG=debug|info|warn|error sets the
// level (default warn). Thread-safe.
spdlog::logger& logger();

}  // namespace phijit::runtime
