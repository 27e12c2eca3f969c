// The on-disk cache of compiled object files (PHIJIT_CACHE_DIR): file format, verified reads
// and atomic writes. Kept apart from the JIT so that it can be tested without one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace phijit::codegen {

// The directory the disk cache lives in: PHIJIT_CACHE_DIR when set ("" when it is set to the
// empty string, which disables the cache), else $XDG_CACHE_HOME/phijit, else
// $HOME/.cache/phijit, else "" (no home: disabled).
std::filesystem::path cache_dir_from_env();

// One object file per key, named by a 64-bit hash of the key and the environment (LLVM
// version, CPU, features) that produced it. A file holds a header (magic, format version,
// the full key and environment, payload length and checksum) and then the object bytes;
// reads verify all of it, so a stale, truncated, corrupt or colliding file is a miss.
// Errors never escape: they are logged and read as a miss or a skipped write. Thread- and
// process-safe: writers rename a complete temporary file into place.
class ObjectCache {
 public:
  explicit ObjectCache(std::filesystem::path dir) : dir_(std::move(dir)) {}

  const std::filesystem::path& dir() const { return dir_; }

  // Hash of (key, env) that names the file; `env` describes everything besides the key that
  // the object depends on.
  static uint64_t hash_key(std::string_view key, std::string_view env);
  std::filesystem::path path_for(uint64_t key_hash) const;

  // The object stored for exactly this key and env, or nullopt (logged at debug) when there
  // is none or the file is not a complete, intact entry for them.
  std::optional<std::string> read(uint64_t key_hash, std::string_view key, std::string_view env) const;

  // Stores `object` for (key, env), replacing any previous file; false (logged) on I/O error.
  bool write(uint64_t key_hash, std::string_view key, std::string_view env, std::string_view object) const;

 private:
  std::filesystem::path dir_;
};

}  // namespace phijit::codegen
