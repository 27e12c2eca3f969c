#include "codegen/object_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <llvm/Support/xxhash.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "runtime/log.h"

namespace phijit::codegen {

namespace fs = std::filesystem;

namespace {

// File layout, all integers little-endian:
//   magic[8] | u32 format version | u32 zero | u64 key length | u64 env length |
//   u64 payload length | u64 payload checksum | key | env | payload
constexpr std::array<char, 8> kMagic = {'P', 'H', 'I', 'J', 'I', 'T', 'O', 'B'};
// Bump when the layout or the meaning of the payload changes: old files then read as misses.
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderSize = 8 + 4 + 4 + 4 * 8;
// Entry names: 16 hex digits and ".o"; a temporary file adds ".tmp.<writer>".
constexpr size_t kEntryNameSize = 16 + 2;
constexpr std::string_view kTempInfix = ".tmp.";
// A temporary file this old was left by a writer that died; younger ones may still be written.
constexpr auto kAbandonedTempAge = std::chrono::hours(1);

uint64_t checksum(std::string_view bytes) {
  return llvm::xxh3_64bits(llvm::StringRef(bytes.data(), bytes.size()));
}

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_le(std::string_view in, size_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<unsigned char>(in[pos + i])} << (8 * i);
  return v;
}

std::string encode_entry(std::string_view key, std::string_view env, std::string_view object) {
  std::string bytes(kMagic.data(), kMagic.size());
  bytes.reserve(kHeaderSize + key.size() + env.size() + object.size());
  put_le(bytes, kFormatVersion, 4);
  put_le(bytes, 0, 4);
  put_le(bytes, key.size(), 8);
  put_le(bytes, env.size(), 8);
  put_le(bytes, object.size(), 8);
  put_le(bytes, checksum(object), 8);
  bytes.append(key).append(env).append(object);
  return bytes;
}

// What is wrong with `file` as the entry for (key, env), or nullptr when it is intact.
const char* entry_defect(std::string_view file, std::string_view key, std::string_view env) {
  if (file.size() < kHeaderSize) return "is truncated (no header)";
  if (std::memcmp(file.data(), kMagic.data(), kMagic.size()) != 0) return "is not a phijit object";
  if (get_le(file, 8, 4) != kFormatVersion || get_le(file, 12, 4) != 0) return "has another format version";
  const uint64_t key_len = get_le(file, 16, 8);
  const uint64_t env_len = get_le(file, 24, 8);
  const uint64_t payload_len = get_le(file, 32, 8);
  const uint64_t payload_sum = get_le(file, 40, 8);
  // Compare lengths before adding them so that huge garbage values cannot overflow.
  const uint64_t body = file.size() - kHeaderSize;
  if (key_len != key.size() || env_len != env.size()) return "belongs to another key or LLVM/CPU";
  if (key_len + env_len > body || payload_len != body - key_len - env_len) {
    return "is truncated or has trailing bytes";
  }
  if (file.substr(kHeaderSize, key_len) != key) return "belongs to another key";
  if (file.substr(kHeaderSize + key_len, env_len) != env)
    return "was compiled by another LLVM or for another CPU";
  if (checksum(file.substr(kHeaderSize + key_len + env_len)) != payload_sum) {
    return "is corrupt (payload checksum mismatch)";
  }
  return nullptr;
}

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

std::string entry_name(uint64_t key_hash) { return fmt::format("{:016x}.o", key_hash); }

// Unique among all processes and threads writing into the same directory at once.
std::string temp_suffix() {
  static std::atomic<uint64_t> counter{0};
  return fmt::format("{}{}.{:x}.{}", kTempInfix, static_cast<long>(::getpid()),
                     std::hash<std::thread::id>{}(std::this_thread::get_id()), counter.fetch_add(1));
}

// The files the cache itself names: entries, and the temporary files they are written through.
bool is_entry_name(std::string_view name) {
  return name.size() == kEntryNameSize && name.substr(16) == ".o" &&
         std::all_of(name.begin(), name.begin() + 16, [](unsigned char c) { return std::isxdigit(c) != 0; });
}
bool is_temp_name(std::string_view name) {
  return name.size() > kEntryNameSize && is_entry_name(name.substr(0, kEntryNameSize)) &&
         name.substr(kEntryNameSize, kTempInfix.size()) == kTempInfix;
}

// Logs a warning the first time `warned` is false and at debug afterwards: a misconfigured
// directory or a planted file would otherwise warn on every compile.
void warn_once(std::atomic<bool>& warned, const std::string& message) {
  if (!warned.exchange(true)) {
    runtime::logger().warn("disk cache: {} (further ones are logged at debug)", message);
  } else {
    runtime::logger().debug("disk cache: {}", message);
  }
}

void log_write_failure(const std::string& message) {
  static std::atomic<bool> warned{false};
  warn_once(warned, message);
}

// A file in an entry's place that phijit did not write as it is (its type, owner, mode or size
// is wrong): someone may be trying to plant code, worth a warning.
void log_untrusted_entry(const std::string& message) {
  static std::atomic<bool> warned{false};
  warn_once(warned, message);
}

std::string errno_text() { return std::strerror(errno); }

// A file descriptor, closed when it goes out of scope.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

// Why a file or directory could carry someone else's code, or "" when only this user can
// have written it: it must be ours and writable by nobody else. Root is no exception: a file
// of another user is refused even when root runs phijit.
std::string untrusted_because(const struct stat& st) {
  if (st.st_uid != ::geteuid()) {
    return fmt::format("it is owned by uid {}, not by this user (uid {})", st.st_uid, ::geteuid());
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return fmt::format("it is writable by group or others (mode {:04o})", st.st_mode & 07777);
  }
  return {};
}

// Creates `dir` and its missing parents with mode 0700 exactly (the umask may take bits away);
// "" on success, else why not. An existing directory is left as it is.
std::string create_private_dirs(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) {
    return ::chmod(dir.c_str(), 0700) == 0 ? std::string() : fmt::format("cannot chmod it: {}", errno_text());
  }
  if (errno == EEXIST) return {};
  if (errno == ENOENT && dir.has_parent_path() && dir.parent_path() != dir) {
    std::string problem = create_private_dirs(dir.parent_path());
    if (!problem.empty()) return problem;
    return create_private_dirs(dir);
  }
  return fmt::format("cannot create {}: {}", dir.string(), errno_text());
}

// Why the opened directory `fd` must not hold the cache, or "" when it may.
std::string untrusted_dir_because(int fd, const fs::path& dir) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fmt::format("cannot stat it: {}", errno_text());
  std::string problem = untrusted_because(st);
  if (!problem.empty() && st.st_uid == ::geteuid()) {
    problem += fmt::format("; `chmod go-w {}` to use it", dir.string());
  }
  return problem;
}

// The cache directory, created when absent, opened and checked; -1 (and a warning) when it
// cannot be created or trusted.
int open_trusted_dir(const fs::path& dir) {
  std::string problem = create_private_dirs(dir);
  Fd fd(problem.empty() ? ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1);
  if (problem.empty()) {
    problem =
        fd.get() < 0 ? fmt::format("cannot open it: {}", errno_text()) : untrusted_dir_because(fd.get(), dir);
  }
  if (!problem.empty()) {
    runtime::logger().warn("disk cache: not using {}: {}; compiling without the disk cache", dir.string(),
                           problem);
    return -1;
  }
  return fd.release();
}

// An opened entry that may be read: a regular file of this user, at most `max_bytes` long.
struct OpenEntry {
  Fd fd;
  uint64_t size = 0;
};

// Opens the entry `name` of the directory `dir_fd` for reading, or returns fd -1 (logged) when
// it is absent or must not be read. O_NOFOLLOW refuses a symlink, O_NONBLOCK keeps a FIFO from
// blocking the open, and fstat of the open file checks what was actually opened.
OpenEntry open_entry(int dir_fd, const std::string& name, const fs::path& path, uint64_t max_bytes) {
  Fd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ELOOP) {
      log_untrusted_entry(fmt::format("not loading {}: it is a symbolic link", path.string()));
    } else {
      runtime::logger().debug("disk cache: {} cannot be opened: {}", path.string(), errno_text());
    }
    return {};
  }
  struct stat st {};
  std::string problem;
  if (::fstat(fd.get(), &st) != 0) {
    problem = fmt::format("cannot stat it: {}", errno_text());
  } else if (!S_ISREG(st.st_mode)) {
    problem = "it is not a regular file";
  } else if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    problem = fmt::format("it has {} bytes, more than the {} an entry may have", st.st_size, max_bytes);
  } else {
    problem = untrusted_because(st);
  }
  if (!problem.empty()) {
    log_untrusted_entry(fmt::format("not loading {}: {}", path.string(), problem));
    return {};
  }
  return {std::move(fd), static_cast<uint64_t>(st.st_size)};
}

// The first `size` bytes of `fd`, or nullopt when it has fewer (a writer truncated it) or they
// cannot be read or held.
std::optional<std::string> read_exactly(int fd, uint64_t size) {
  std::string bytes;
  try {
    bytes.resize(size);
  } catch (const std::bad_alloc&) {
    return std::nullopt;  // a miss: compiling needs less memory than this
  }
  uint64_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, bytes.data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    done += static_cast<uint64_t>(n);
  }
  return bytes;
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Writes `bytes` as the entry `name` of `dir_fd`: into a temporary file that this call creates
// (O_EXCL: never one that someone placed, nor through a symlink) with mode 0600, then renamed
// over the entry, so readers see the old file or the new one, never a partial write, even with
// other processes writing the same entry.
bool store_entry(int dir_fd, const fs::path& dir, const std::string& name, std::string_view bytes) {
  const std::string temp = name + temp_suffix();
  Fd fd(::openat(dir_fd, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    log_write_failure(fmt::format("cannot create {}: {}", (dir / temp).string(), errno_text()));
    return false;
  }
  // The umask may have taken bits away; the owner must be able to read the entry back.
  bool ok = ::fchmod(fd.get(), 0600) == 0 && write_all(fd.get(), bytes);
  std::string problem = ok ? std::string() : errno_text();
  if (::close(fd.release()) != 0 && ok) {
    ok = false;
    problem = errno_text();
  }
  if (ok && ::renameat(dir_fd, temp.c_str(), dir_fd, name.c_str()) != 0) {
    ok = false;
    problem = fmt::format("cannot rename it to {}: {}", name, errno_text());
  }
  if (!ok) {
    ::unlinkat(dir_fd, temp.c_str(), 0);
    log_write_failure(fmt::format("cannot write {}: {}", (dir / temp).string(), problem));
  }
  return ok;
}

// A file of the cache as the size bound sees it.
struct StoredFile {
  std::string name;
  struct timespec used {};  // the last write or hit
  uint64_t bytes = 0;
};

bool used_before(const StoredFile& a, const StoredFile& b) {
  return std::tie(a.used.tv_sec, a.used.tv_nsec, a.name) < std::tie(b.used.tv_sec, b.used.tv_nsec, b.name);
}

// The entries of `dir_fd` (regular files of this user with an entry's name); temporary files
// abandoned by writers that died are removed on the way.
std::vector<StoredFile> list_entries(int dir_fd) {
  std::vector<StoredFile> entries;
  // A descriptor of its own: readdir moves the position of the one it reads.
  const int list_fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* listing = list_fd < 0 ? nullptr : ::fdopendir(list_fd);
  if (listing == nullptr) {
    if (list_fd >= 0) ::close(list_fd);
    runtime::logger().debug("disk cache: cannot list the directory: {}", errno_text());
    return entries;
  }
  const auto abandoned_before = std::chrono::system_clock::now() - kAbandonedTempAge;
  while (const dirent* e = ::readdir(listing)) {
    const std::string_view name = e->d_name;
    const bool entry = is_entry_name(name);
    if (!entry && !is_temp_name(name)) continue;
    struct stat st {};
    if (::fstatat(dir_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
        st.st_uid != ::geteuid()) {
      continue;  // not ours to count or remove
    }
    if (entry) {
      entries.push_back({std::string(name), st.st_mtim, static_cast<uint64_t>(st.st_size)});
    } else if (std::chrono::system_clock::from_time_t(st.st_mtim.tv_sec) < abandoned_before) {
      ::unlinkat(dir_fd, e->d_name, 0);
    }
  }
  ::closedir(listing);
  return entries;
}

}  // namespace

fs::path cache_dir_from_env() {
  if (const char* dir = std::getenv("PHIJIT_CACHE_DIR")) return fs::path(dir);
  std::string xdg = env_or_empty("XDG_CACHE_HOME");
  // The XDG spec says to ignore relative paths.
  if (!xdg.empty() && fs::path(xdg).is_absolute()) return fs::path(xdg) / "phijit";
  std::string home = env_or_empty("HOME");
  if (!home.empty()) return fs::path(home) / ".cache" / "phijit";
  return {};
}

CacheLimits cache_limits_from_env() {
  CacheLimits limits;
  const std::string text = env_or_empty("PHIJIT_CACHE_MAX_MB");
  if (text.empty()) return limits;
  // Large enough for any disk, small enough that the byte count cannot overflow.
  constexpr uint64_t kMaxMib = uint64_t{1} << 40;
  uint64_t mib = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), mib);
  if (ec != std::errc() || end != text.data() + text.size() || mib < 1 || mib > kMaxMib) {
    runtime::logger().warn("PHIJIT_CACHE_MAX_MB='{}' is not a whole number of MiB in [1, {}]; using {}", text,
                           kMaxMib, CacheLimits::kDefaultMaxTotalBytes >> 20);
    return limits;
  }
  limits.max_total_bytes = mib << 20;
  return limits;
}

ObjectCache::ObjectCache(fs::path dir, CacheLimits limits)
    : dir_(std::move(dir)),
      limits_(limits),
      dir_fd_(open_trusted_dir(dir_)),
      // The first write scans: the directory may have been filled by earlier processes.
      written_since_scan_(limits_.max_total_bytes) {}

ObjectCache::~ObjectCache() {
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

uint64_t ObjectCache::hash_key(std::string_view key, std::string_view env) {
  std::string all;
  all.reserve(key.size() + env.size() + 1);
  all.append(key).push_back('\0');  // keeps ("ab", "c") apart from ("a", "bc")
  all.append(env);
  return checksum(all);
}

fs::path ObjectCache::path_for(uint64_t key_hash) const { return dir_ / entry_name(key_hash); }

std::optional<std::string> ObjectCache::read(uint64_t key_hash, std::string_view key,
                                             std::string_view env) const {
  if (!enabled()) return std::nullopt;
  const std::string name = entry_name(key_hash);
  const fs::path path = dir_ / name;
  const OpenEntry entry = open_entry(dir_fd_, name, path, limits_.max_entry_bytes);
  if (entry.fd.get() < 0) return std::nullopt;
  std::optional<std::string> file = read_exactly(entry.fd.get(), entry.size);
  const char* defect = file ? entry_defect(*file, key, env) : "could not be read";
  if (defect != nullptr) {
    runtime::logger().debug("disk cache: {} {}", path.string(), defect);
    return std::nullopt;
  }
  // The modification time orders entries for the size bound: a hit makes this one the newest.
  ::futimens(entry.fd.get(), nullptr);
  file->erase(0, kHeaderSize + key.size() + env.size());
  return file;
}

bool ObjectCache::write(uint64_t key_hash, std::string_view key, std::string_view env,
                        std::string_view object) const {
  if (!enabled()) return false;
  const std::string bytes = encode_entry(key, env, object);
  const std::string name = entry_name(key_hash);
  if (bytes.size() > std::min(limits_.max_entry_bytes, limits_.max_total_bytes)) {
    runtime::logger().debug("disk cache: not writing {}: {} bytes is more than an entry may have",
                            (dir_ / name).string(), bytes.size());
    return false;
  }
  if (!store_entry(dir_fd_, dir_, name, bytes)) return false;
  runtime::logger().debug("disk cache: wrote {} ({} bytes of object)", (dir_ / name).string(), object.size());
  bound_size(bytes.size());
  return true;
}

void ObjectCache::bound_size(uint64_t bytes_written) const {
  // Scanning after every 1/16 of the bound keeps scans rare and the directory within 1/16 of
  // the bound per process writing into it.
  const uint64_t scan_every = std::max<uint64_t>(1, limits_.max_total_bytes / 16);
  if (written_since_scan_.fetch_add(bytes_written) + bytes_written < scan_every) return;
  std::unique_lock lock(scan_mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return;
  written_since_scan_.store(0);
  evict_least_recently_used();
}

void ObjectCache::evict_least_recently_used() const {
  std::vector<StoredFile> entries = list_entries(dir_fd_);
  uint64_t total = 0;
  for (const StoredFile& e : entries) total += e.bytes;
  if (total <= limits_.max_total_bytes) return;
  std::sort(entries.begin(), entries.end(), used_before);
  int removed = 0;
  for (const StoredFile& e : entries) {
    if (total <= limits_.max_total_bytes) break;
    // Another process may have removed or replaced it meanwhile; either way it is gone.
    ::unlinkat(dir_fd_, e.name.c_str(), 0);
    total -= e.bytes;
    ++removed;
  }
  runtime::logger().debug("disk cache: removed the {} least recently used entries of {}; {} bytes remain",
                          removed, dir_.string(), total);
}

}  // namespace phijit::codegen
