// The disk cache's file format: round trips, and every kind of bad file reads as a miss; its
// trust checks (directory and entries of this user only, no symlinks, FIFOs or huge files),
// the modes of what it creates, and its size bound.
#include "codegen/object_cache.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

namespace fs = std::filesystem;
using phijit::codegen::cache_dir_from_env;
using phijit::codegen::cache_limits_from_env;
using phijit::codegen::CacheLimits;
using phijit::codegen::ObjectCache;

namespace {

// A fresh directory, removed with everything in it at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "phijit-cache-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

int count_files(const fs::path& dir) {
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

// Sets or unsets an environment variable for one scope.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> old;
  ScopedEnv(std::string n, const char* value) : name(std::move(n)) {
    if (const char* v = std::getenv(name.c_str())) old = v;
    if (value) {
      ::setenv(name.c_str(), value, 1);
    } else {
      ::unsetenv(name.c_str());
    }
  }
  ~ScopedEnv() {
    if (old) {
      ::setenv(name.c_str(), old->c_str(), 1);
    } else {
      ::unsetenv(name.c_str());
    }
  }
};

const std::string kKey = "graph(x: f64[n=4]) { y = exp(x) }";
const std::string kEnv = "LLVM 19.1.7|x86_64|znver4|+avx2";
const std::string kObject = std::string(
    "\x7f"
    "ELF object bytes\0with a zero",
    29);

}  // namespace

TEST_CASE("object cache: an entry reads back exactly", "[object_cache]") {
  TempDir dir;
  ObjectCache cache(dir.path);
  const uint64_t h = ObjectCache::hash_key(kKey, kEnv);
  CHECK_FALSE(cache.read(h, kKey, kEnv).has_value());
  REQUIRE(cache.write(h, kKey, kEnv, kObject));
  std::optional<std::string> got = cache.read(h, kKey, kEnv);
  REQUIRE(got.has_value());
  CHECK(*got == kObject);
  CHECK(cache.path_for(h).filename().string() == fmt::format("{:016x}.o", h));

  // Rewriting replaces the entry.
  REQUIRE(cache.write(h, kKey, kEnv, "other object"));
  CHECK(cache.read(h, kKey, kEnv) == std::optional<std::string>("other object"));
}

TEST_CASE("object cache: the file name hash depends on key and environment", "[object_cache]") {
  const uint64_t h = ObjectCache::hash_key(kKey, kEnv);
  CHECK(h == ObjectCache::hash_key(kKey, kEnv));
  CHECK(h != ObjectCache::hash_key(kKey + " ", kEnv));
  CHECK(h != ObjectCache::hash_key(kKey, kEnv + ",+avx512f"));
  CHECK(ObjectCache::hash_key("ab", "c") != ObjectCache::hash_key("a", "bc"));
}

TEST_CASE("object cache: a truncated file is a miss", "[object_cache]") {
  TempDir dir;
  ObjectCache cache(dir.path);
  const uint64_t h = ObjectCache::hash_key(kKey, kEnv);
  REQUIRE(cache.write(h, kKey, kEnv, kObject));
  const std::string full = read_all(cache.path_for(h));
  for (size_t keep : {size_t{0}, size_t{7}, size_t{47}, full.size() / 2, full.size() - 1}) {
    write_all(cache.path_for(h), full.substr(0, keep));
    CHECK_FALSE(cache.read(h, kKey, kEnv).has_value());
  }
  write_all(cache.path_for(h), full + "x");  // trailing garbage
  CHECK_FALSE(cache.read(h, kKey, kEnv).has_value());
}

TEST_CASE("object cache: a flipped byte is a miss", "[object_cache]") {
  TempDir dir;
  ObjectCache cache(dir.path);
  const uint64_t h = ObjectCache::hash_key(kKey, kEnv);
  REQUIRE(cache.write(h, kKey, kEnv, kObject));
  const std::string full = read_all(cache.path_for(h));
  // Every byte of the file matters: header, key, environment and payload.
  for (size_t i = 0; i < full.size(); ++i) {
    std::string bad = full;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    write_all(cache.path_for(h), bad);
    INFO("flipped byte " << i << " of " << full.size());
    CHECK_FALSE(cache.read(h, kKey, kEnv).has_value());
  }
}

TEST_CASE("object cache: a file written for another key or environment is a miss", "[object_cache]") {
  TempDir dir;
  ObjectCache cache(dir.path);
  const uint64_t h = ObjectCache::hash_key(kKey, kEnv);
  // As if two keys collided on the file name.
  REQUIRE(cache.write(h, "another key", kEnv, kObject));
  CHECK_FALSE(cache.read(h, kKey, kEnv).has_value());
  REQUIRE(cache.write(h, kKey, "LLVM 18.1.0|x86_64|skylake|+avx2", kObject));
  CHECK_FALSE(cache.read(h, kKey, kEnv).has_value());
  REQUIRE(cache.write(h, kKey, kEnv, kObject));
  CHECK(cache.read(h, kKey, kEnv).has_value());
}

TEST_CASE("object cache: writes leave no temporary files", "[object_cache]") {
  TempDir dir;
  ObjectCache cache(dir.path / "sub" / "dir");  // created on first write
  for (int i = 0; i < 5; ++i) {
    const std::string key = kKey + std::to_string(i);
    REQUIRE(cache.write(ObjectCache::hash_key(key, kEnv), key, kEnv, kObject));
  }
  REQUIRE(cache.write(ObjectCache::hash_key(kKey, kEnv), kKey, kEnv, kObject));
  REQUIRE(cache.write(ObjectCache::hash_key(kKey, kEnv), kKey, kEnv, kObject));
  CHECK(count_files(cache.dir()) == 6);
  for (const auto& e : fs::directory_iterator(cache.dir())) CHECK(e.path().extension() == ".o");
}

TEST_CASE("object cache: an unusable directory is reported, not thrown", "[object_cache]") {
  TempDir dir;
  write_all(dir.path / "a-file", "not a directory");
  ObjectCache cache(dir.path / "a-file" / "cache");
  const uint64_t h = ObjectCache::hash_key(kKey, kEnv);
  bool written = true;
  CHECK_NOTHROW(written = cache.write(h, kKey, kEnv, kObject));
  CHECK_FALSE(written);
  CHECK_FALSE(cache.read(h, kKey, kEnv).has_value());
  CHECK(count_files(dir.path) == 1);
}

TEST_CASE("object cache: the directory comes from the environment", "[object_cache]") {
  {
    ScopedEnv dir("PHIJIT_CACHE_DIR", "/some/where");
    CHECK(cache_dir_from_env() == fs::path("/some/where"));
  }
  {
    ScopedEnv dir("PHIJIT_CACHE_DIR", "");
    CHECK(cache_dir_from_env().empty());
  }
  ScopedEnv dir("PHIJIT_CACHE_DIR", nullptr);
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
    CHECK(cache_dir_from_env() == fs::path("/xdg/phijit"));
  }
  ScopedEnv xdg("XDG_CACHE_HOME", nullptr);
  {
    ScopedEnv home("HOME", "/home/someone");
    CHECK(cache_dir_from_env() == fs::path("/home/someone/.cache/phijit"));
  }
  ScopedEnv home("HOME", nullptr);
  CHECK(cache_dir_from_env().empty());
}

// ---- Trust: the cache loads code only from files that nobody but this user can have written.

namespace {

// Sets the process's umask for one scope.
struct ScopedUmask {
  mode_t old;
  explicit ScopedUmask(mode_t mask) : old(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old); }
};

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// The uid and gid of `nobody` when this process may give files away (it runs as root), else
// nullopt: the tests of other users' files are then skipped with a message.
std::optional<std::pair<uid_t, gid_t>> another_user() {
  if (::geteuid() != 0) return std::nullopt;
  const passwd* pw = ::getpwnam("nobody");
  if (pw == nullptr || pw->pw_uid == 0) return std::nullopt;
  return std::make_pair(pw->pw_uid, pw->pw_gid);
}

// A valid entry for (kKey, kEnv), written while `dir` is trusted: exactly what someone who
// forges one would produce, since the checksum is no secret.
uint64_t write_valid_entry(const fs::path& dir) {
  ObjectCache cache(dir);
  const uint64_t h = ObjectCache::hash_key(kKey, kEnv);
  REQUIRE(cache.write(h, kKey, kEnv, kObject));
  REQUIRE(cache.read(h, kKey, kEnv).has_value());
  return h;
}

}  // namespace

TEST_CASE("object cache: directories are created 0700 and entries 0600 whatever the umask",
          "[object_cache]") {
  for (const mode_t mask : {mode_t{0}, mode_t{022}, mode_t{0777}}) {
    INFO("umask " << std::oct << mask);
    TempDir dir;
    const ScopedUmask umask(mask);
    ObjectCache cache(dir.path / "parent" / "cache");
    REQUIRE(cache.enabled());
    const uint64_t h = ObjectCache::hash_key(kKey, kEnv);
    REQUIRE(cache.write(h, kKey, kEnv, kObject));
    CHECK(mode_of(dir.path / "parent") == 0700);
    CHECK(mode_of(cache.dir()) == 0700);
    CHECK(mode_of(cache.path_for(h)) == 0600);
    CHECK(cache.read(h, kKey, kEnv) == std::optional<std::string>(kObject));
  }
}

TEST_CASE("object cache: a directory writable by group or others is not used", "[object_cache]") {
  TempDir dir;
  const uint64_t h = write_valid_entry(dir.path);
  for (const mode_t mode : {mode_t{0770}, mode_t{0707}, mode_t{0730}, mode_t{01777}}) {
    INFO("mode " << std::oct << mode);
    fs::permissions(dir.path, static_cast<fs::perms>(mode));
    ObjectCache cache(dir.path);
    CHECK_FALSE(cache.enabled());
    CHECK_FALSE(cache.read(h, kKey, kEnv).has_value());  // the valid entry is not loaded
    CHECK_FALSE(cache.write(ObjectCache::hash_key("other", kEnv), "other", kEnv, kObject));
    CHECK(count_files(dir.path) == 1);  // nothing written into it
  }
  // Readable by others is fine (an older phijit created it 0755 under umask 022).
  fs::permissions(dir.path, static_cast<fs::perms>(0755));
  ObjectCache cache(dir.path);
  CHECK(cache.enabled());
  CHECK(cache.read(h, kKey, kEnv).has_value());
}

TEST_CASE("object cache: a directory of another user is not used", "[object_cache]") {
  const auto other = another_user();
  if (!other) {
    WARN("skipped: only root can give a directory to another user");
    return;
  }
  TempDir dir;
  const uint64_t h = write_valid_entry(dir.path);
  REQUIRE(::chown(dir.path.c_str(), other->first, other->second) == 0);
  ObjectCache cache(dir.path);
  CHECK_FALSE(cache.enabled());
  CHECK_FALSE(cache.read(h, kKey, kEnv).has_value());
}

TEST_CASE("object cache: an entry of another user or writable by others is not loaded", "[object_cache]") {
  TempDir dir;
  const uint64_t h = write_valid_entry(dir.path);
  ObjectCache cache(dir.path);
  const fs::path entry = cache.path_for(h);
  for (const mode_t mode : {mode_t{0666}, mode_t{0620}, mode_t{0602}}) {
    INFO("mode " << std::oct << mode);
    fs::permissions(entry, static_cast<fs::perms>(mode));
    CHECK_FALSE(cache.read(h, kKey, kEnv).has_value());
  }
  fs::permissions(entry, static_cast<fs::perms>(0644));
  CHECK(cache.read(h, kKey, kEnv).has_value());
  // Rewriting replaces a refused entry with a good one.
  fs::permissions(entry, static_cast<fs::perms>(0666));
  REQUIRE(cache.write(h, kKey, kEnv, kObject));
  CHECK(mode_of(entry) == 0600);
  CHECK(cache.read(h, kKey, kEnv).has_value());

  const auto other = another_user();
  if (!other) {
    WARN("skipped the entry of another user: only root can give a file away");
    return;
  }
  REQUIRE(::chown(entry.c_str(), other->first, other->second) == 0);
  CHECK_FALSE(cache.read(h, kKey, kEnv).has_value());
}

TEST_CASE("object cache: a symlink in place of an entry is neither followed nor written through",
          "[object_cache]") {
  TempDir dir, elsewhere;
  const uint64_t h = write_valid_entry(elsewhere.path);
  ObjectCache cache(dir.path);
  const fs::path target = elsewhere.path / cache.path_for(h).filename();
  fs::create_symlink(target, cache.path_for(h));
  CHECK_FALSE(cache.read(h, kKey, kEnv).has_value());
  // A write replaces the link; the file it pointed to stays as it was.
  const std::string before = read_all(target);
  REQUIRE(cache.write(h, kKey, kEnv, "new object"));
  CHECK(read_all(target) == before);
  CHECK_FALSE(fs::is_symlink(cache.path_for(h)));
  CHECK(cache.read(h, kKey, kEnv) == std::optional<std::string>("new object"));
}

TEST_CASE("object cache: a FIFO in place of an entry is a prompt miss", "[object_cache]") {
  TempDir dir;
  ObjectCache cache(dir.path);
  const uint64_t h = ObjectCache::hash_key(kKey, kEnv);
  const fs::path fifo = cache.path_for(h);
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // Read on a thread of its own, so that a read that blocks fails the test instead of hanging it.
  auto result = std::make_shared<std::promise<std::optional<std::string>>>();
  std::future<std::optional<std::string>> done = result->get_future();
  std::thread([&cache, h, result] { result->set_value(cache.read(h, kKey, kEnv)); }).detach();
  if (done.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    // Unblock the reader (opening the FIFO for writing lets its open return) before failing.
    const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
    done.wait();
    FAIL("reading a FIFO in place of an entry blocked");
  }
  CHECK_FALSE(done.get().has_value());
  // A write replaces it with an entry.
  REQUIRE(cache.write(h, kKey, kEnv, kObject));
  CHECK(cache.read(h, kKey, kEnv) == std::optional<std::string>(kObject));
}

TEST_CASE("object cache: a directory in place of an entry is a miss, not an exception", "[object_cache]") {
  TempDir dir;
  ObjectCache cache(dir.path);
  const uint64_t h = ObjectCache::hash_key(kKey, kEnv);
  fs::create_directory(cache.path_for(h));
  std::optional<std::string> got = std::string("not read");
  CHECK_NOTHROW(got = cache.read(h, kKey, kEnv));
  CHECK_FALSE(got.has_value());
  bool written = true;
  CHECK_NOTHROW(written = cache.write(h, kKey, kEnv, kObject));
  CHECK_FALSE(written);               // rename cannot replace a directory
  CHECK(count_files(dir.path) == 1);  // and its temporary file is gone
}

TEST_CASE("object cache: files larger than an entry may be are neither read nor written", "[object_cache]") {
  TempDir dir;
  const uint64_t h = ObjectCache::hash_key(kKey, kEnv);
  {
    // 4 GiB (sparse: it takes no disk space) behind a valid header.
    ObjectCache cache(dir.path);
    REQUIRE(cache.write(h, kKey, kEnv, kObject));
    fs::resize_file(cache.path_for(h), uint64_t{4} << 30);
    std::optional<std::string> got = std::string("not read");
    CHECK_NOTHROW(got = cache.read(h, kKey, kEnv));
    CHECK_FALSE(got.has_value());
  }
  const std::string big(10000, 'x');
  ObjectCache small(dir.path, CacheLimits{CacheLimits::kDefaultMaxTotalBytes, 4096});
  CHECK_FALSE(small.write(h, kKey, kEnv, big));
  ObjectCache normal(dir.path);
  REQUIRE(normal.write(h, kKey, kEnv, big));
  CHECK_FALSE(small.read(h, kKey, kEnv).has_value());  // a valid entry, but too large for `small`
  CHECK(normal.read(h, kKey, kEnv) == std::optional<std::string>(big));
}

TEST_CASE("object cache: the size bound removes the least recently used entries", "[object_cache]") {
  TempDir dir;
  const std::string object(1000, 'o');
  auto key = [](int i) { return fmt::format("key {}", i); };
  auto entry = [&](const ObjectCache& c, int i) { return c.path_for(ObjectCache::hash_key(key(i), kEnv)); };
  const uint64_t entry_bytes = 48 + key(0).size() + kEnv.size() + object.size();
  ObjectCache cache(dir.path,
                    CacheLimits{3 * entry_bytes + entry_bytes / 2, CacheLimits::kDefaultMaxEntryBytes});
  write_all(dir.path / "notes.txt", std::string(5000, 'n'));  // not an entry: neither counted nor removed

  const auto now = fs::file_time_type::clock::now();
  for (int i = 0; i < 3; ++i) {
    REQUIRE(cache.write(ObjectCache::hash_key(key(i), kEnv), key(i), kEnv, object));
    CHECK(fs::file_size(entry(cache, i)) == entry_bytes);
    fs::last_write_time(entry(cache, i), now - std::chrono::seconds(100 - 10 * i));
  }
  // A hit makes entry 0 the most recently used, so entry 1 is the least recently used.
  REQUIRE(cache.read(ObjectCache::hash_key(key(0), kEnv), key(0), kEnv).has_value());
  REQUIRE(cache.write(ObjectCache::hash_key(key(3), kEnv), key(3), kEnv, object));
  CHECK(fs::exists(entry(cache, 0)));
  CHECK_FALSE(fs::exists(entry(cache, 1)));
  CHECK(fs::exists(entry(cache, 2)));
  CHECK(fs::exists(entry(cache, 3)));
  REQUIRE(cache.write(ObjectCache::hash_key(key(4), kEnv), key(4), kEnv, object));
  CHECK_FALSE(fs::exists(entry(cache, 2)));
  CHECK(fs::exists(entry(cache, 0)));
  CHECK(fs::exists(entry(cache, 3)));
  CHECK(fs::exists(entry(cache, 4)));
  CHECK(count_files(dir.path) == 4);
  CHECK(fs::exists(dir.path / "notes.txt"));
}

TEST_CASE("object cache: temporary files left by writers that died are removed", "[object_cache]") {
  TempDir dir;
  const std::string name = fmt::format("{:016x}.o", ObjectCache::hash_key(kKey, kEnv));
  const fs::path abandoned = dir.path / (name + ".tmp.123.abc.0");
  const fs::path in_progress = dir.path / (name + ".tmp.124.abc.0");
  write_all(abandoned, "half an object");
  write_all(in_progress, "half an object");
  fs::last_write_time(abandoned, fs::file_time_type::clock::now() - std::chrono::hours(2));
  // The first write of a process looks at the whole directory.
  ObjectCache cache(dir.path);
  REQUIRE(cache.write(ObjectCache::hash_key(kKey, kEnv), kKey, kEnv, kObject));
  CHECK_FALSE(fs::exists(abandoned));
  CHECK(fs::exists(in_progress));
}

TEST_CASE("object cache: PHIJIT_CACHE_MAX_MB sets the size bound", "[object_cache]") {
  {
    ScopedEnv env("PHIJIT_CACHE_MAX_MB", nullptr);
    CHECK(cache_limits_from_env().max_total_bytes == uint64_t{512} << 20);
    CHECK(cache_limits_from_env().max_entry_bytes == CacheLimits::kDefaultMaxEntryBytes);
  }
  {
    ScopedEnv env("PHIJIT_CACHE_MAX_MB", "64");
    CHECK(cache_limits_from_env().max_total_bytes == uint64_t{64} << 20);
  }
  for (const char* bad : {"", "abc", "0", "-1", "1.5", "12 ", "99999999999999999999"}) {
    INFO("PHIJIT_CACHE_MAX_MB='" << bad << "'");
    ScopedEnv env("PHIJIT_CACHE_MAX_MB", bad);
    CHECK(cache_limits_from_env().max_total_bytes == CacheLimits::kDefaultMaxTotalBytes);
  }
}
