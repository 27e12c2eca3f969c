// The on-disk cache of compiled object files (PHIJIT_CACHE_DIR): file format, verified reads,
// atomic writes, the trust checks that keep other users' files from being loaded, and the size
// bound. Kept apart from the JIT so that it can be tested without one.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace phijit::codegen {

// The directory the disk cache lives in: PHIJIT_CACHE_DIR when set ("" when it is set to the
// empty string, which disables the cache), else $XDG_CACHE_HOME/phijit, else
// $HOME/.cache/phijit, else "" (no home: disabled).
std::filesystem::path cache_dir_from_env();

// How much the disk cache may hold.
struct CacheLimits {
  static constexpr uint64_t kDefaultMaxTotalBytes = uint64_t{512} << 20;
  // A kernel's object is tens of KiB; a file far larger than any of them is not ours.
  static constexpr uint64_t kDefaultMaxEntryBytes = uint64_t{64} << 20;

  // Least recently used entries are removed when the directory holds more than this.
  uint64_t max_total_bytes = kDefaultMaxTotalBytes;
  // Larger files are neither read nor written.
  uint64_t max_entry_bytes = kDefaultMaxEntryBytes;
};

// The limits with max_total_bytes from PHIJIT_CACHE_MAX_MB (a whole number of MiB >= 1);
// unset means the default, anything else is a warning and the default.
CacheLimits cache_limits_from_env();

// One object file per key, named by a 64-bit hash of the key and the environment (LLVM
// version, CPU, features) that produced it. A file holds a header (magic, format version,
// the full key and environment, payload length and checksum) and then the object bytes;
// reads verify all of it, so a stale, truncated, corrupt or colliding file is a miss.
//
// Loading an entry runs its code, and the checksum is no secret, so the cache trusts only the
// current user, as ssh does with ~/.ssh: the directory is used only when it is owned by the
// effective user and not writable by group or others (otherwise a warning, once, and the cache
// is disabled); an entry is read only when it is a regular file of at most max_entry_bytes,
// owned by the user and not writable by group or others, opened without following a symlink
// and without blocking (a FIFO is a miss, not a hang). Directories the cache creates are
// 0700 and entries 0600 whatever the umask. The directory is opened once and every entry is
// reached through that descriptor, so swapping the path afterwards changes nothing.
//
// Errors never escape: they are logged and read as a miss or a skipped write; a file that
// should not be there (wrong type, owner, mode or size) warns once per process, the rest is
// logged at debug. Thread- and process-safe: writers create a temporary file exclusively and
// rename it into place.
class ObjectCache {
 public:
  // Creates `dir` (and its missing parents) when absent and checks that it can be trusted.
  explicit ObjectCache(std::filesystem::path dir, CacheLimits limits = {});
  ~ObjectCache();
  ObjectCache(const ObjectCache&) = delete;
  ObjectCache& operator=(const ObjectCache&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  const CacheLimits& limits() const { return limits_; }
  // False when the directory could not be created or is not trusted: reads miss, writes fail.
  bool enabled() const { return dir_fd_ >= 0; }

  // Hash of (key, env) that names the file; `env` describes everything besides the key that
  // the object depends on.
  static uint64_t hash_key(std::string_view key, std::string_view env);
  std::filesystem::path path_for(uint64_t key_hash) const;

  // The object stored for exactly this key and env, or nullopt when there is none or the file
  // is not a complete, intact, trusted entry for them. A hit marks the entry as recently used.
  std::optional<std::string> read(uint64_t key_hash, std::string_view key, std::string_view env) const;

  // Stores `object` for (key, env), replacing any previous file, then removes the least
  // recently used entries if the directory holds more than max_total_bytes; false (logged) on
  // I/O error or when the entry would exceed max_entry_bytes.
  bool write(uint64_t key_hash, std::string_view key, std::string_view env, std::string_view object) const;

 private:
  void bound_size(uint64_t bytes_written) const;
  void evict_least_recently_used() const;

  std::filesystem::path dir_;
  CacheLimits limits_;
  int dir_fd_ = -1;  // the trusted directory, or -1 when the cache is disabled
  // The directory is scanned for the size bound only after this many bytes were written by
  // this process since the last scan (a scan per compile would cost as much as the compile).
  mutable std::atomic<uint64_t> written_since_scan_;
  mutable std::mutex scan_mutex_;  // one scan at a time; writers that find it taken skip theirs
};

}  // namespace phijit::codegen
