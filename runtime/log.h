// The "phijit" spdlog logger every module logs through; PHIJIT_LOG sets its level (API §8).
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>

namespace phijit::runtime {

// The logger registered as "phijit": the application's own if it registered one before the
// first call, otherwise a colored stderr logger. PHIJIT_LOG=debug|info|warn|error sets the
// level (default warn). Thread-safe.
spdlog::logger& logger();

// Milliseconds since t0, for the phase timings the logs and dumps report.
inline double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace phijit::runtime
