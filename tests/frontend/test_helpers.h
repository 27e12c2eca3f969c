// Shared helpers of the frontend tests: value comparison, exception-message matching, scoped
// environment variables and captured stderr.
#pragma once

#include <phijit/phijit.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

// Checks a tensor's values (in shape order) against hand-computed ones, to ~1e-9 relative.
#define CHECK_VALUES(t, ...)  \
  CHECK_THAT((t).to_vector(), \
             Catch::Matchers::Approx(std::vector<double>(__VA_ARGS__)).epsilon(1e-9).margin(1e-12))

// The same with a float32 tolerance.
#define CHECK_VALUES_F32(t, ...) \
  CHECK_THAT((t).to_vector(),    \
             Catch::Matchers::Approx(std::vector<double>(__VA_ARGS__)).epsilon(1e-6).margin(1e-6))

// Matches an exception whose what() contains every one of the given parts.
class MessageContains : public Catch::MatcherBase<std::exception> {
 public:
  explicit MessageContains(std::vector<std::string> parts) : parts_(std::move(parts)) {}
  bool match(const std::exception& e) const override {
    std::string message = e.what();
    last_ = message;
    for (const std::string& p : parts_) {
      if (message.find(p) == std::string::npos) return false;
    }
    return true;
  }
  std::string describe() const override {
    std::string out = "has a message containing all of:";
    for (const std::string& p : parts_) out += " \"" + p + "\"";
    return out + " (message: \"" + last_ + "\")";
  }

 private:
  std::vector<std::string> parts_;
  mutable std::string last_;
};

inline MessageContains message_contains(std::vector<std::string> parts) {
  return MessageContains(std::move(parts));
}

// Sets an environment variable for one scope (unset afterwards).
struct ScopedEnv {
  std::string name;
  ScopedEnv(const char* n, const char* value) : name(n) { setenv(n, value, 1); }
  ~ScopedEnv() { unsetenv(name.c_str()); }
};

// Runs `fn` with stderr captured into the returned string.
template <class Fn>
std::string capture_stderr(Fn fn) {
  std::fflush(stderr);
  char path[] = "/tmp/phijit_stderr_XXXXXX";
  int fd = mkstemp(path);
  int saved = dup(2);
  dup2(fd, 2);
  fn();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fd);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::remove(path);
  return ss.str();
}
