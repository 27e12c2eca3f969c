// The disk cache's file format: round trips, and every kind of bad file reads as a miss.
#include "codegen/object_cache.h"

#include <fmt/format.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

namespace fs = std::filesystem;
using phijit::codegen::cache_dir_from_env;
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
