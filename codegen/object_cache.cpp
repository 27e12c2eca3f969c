#include "codegen/object_cache.h"

#include <fmt/format.h>
#include <llvm/Support/xxhash.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <system_error>
#include <thread>

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

uint64_t checksum(std::string_view bytes) {
  return llvm::xxh3_64bits(llvm::StringRef(bytes.data(), bytes.size()));
}

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_le(const std::string& in, size_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<unsigned char>(in[pos + i])} << (8 * i);
  return v;
}

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

// Unique among all processes and threads writing into the same directory at once.
std::string temp_suffix() {
  static std::atomic<uint64_t> counter{0};
  return fmt::format(".tmp.{}.{:x}.{}", static_cast<long>(::getpid()),
                     std::hash<std::thread::id>{}(std::this_thread::get_id()), counter.fetch_add(1));
}

// An unwritable cache directory would otherwise warn on every compile: warn once, then
// keep quiet (debug).
void log_write_failure(const std::string& message) {
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true)) {
    runtime::logger().warn("disk cache: {} (further write errors are logged at debug)", message);
  } else {
    runtime::logger().debug("disk cache: {}", message);
  }
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

uint64_t ObjectCache::hash_key(std::string_view key, std::string_view env) {
  std::string all;
  all.reserve(key.size() + env.size() + 1);
  all.append(key).push_back('\0');  // keeps ("ab", "c") apart from ("a", "bc")
  all.append(env);
  return checksum(all);
}

fs::path ObjectCache::path_for(uint64_t key_hash) const { return dir_ / fmt::format("{:016x}.o", key_hash); }

std::optional<std::string> ObjectCache::read(uint64_t key_hash, std::string_view key,
                                             std::string_view env) const {
  const fs::path path = path_for(key_hash);
  auto miss = [&](std::string_view why) -> std::optional<std::string> {
    runtime::logger().debug("disk cache: {} {}", path.string(), why);
    return std::nullopt;
  };
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return miss("is absent");
  const std::streamoff size = in.tellg();
  if (size < static_cast<std::streamoff>(kHeaderSize)) return miss("is truncated (no header)");
  std::string file(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(file.data(), size)) return miss("could not be read");

  if (std::memcmp(file.data(), kMagic.data(), kMagic.size()) != 0) return miss("is not a phijit object");
  if (get_le(file, 8, 4) != kFormatVersion || get_le(file, 12, 4) != 0)
    return miss("has another format version");
  const uint64_t key_len = get_le(file, 16, 8);
  const uint64_t env_len = get_le(file, 24, 8);
  const uint64_t payload_len = get_le(file, 32, 8);
  const uint64_t payload_sum = get_le(file, 40, 8);
  // Compare lengths before adding them so that huge garbage values cannot overflow.
  const uint64_t body = file.size() - kHeaderSize;
  if (key_len != key.size() || env_len != env.size()) return miss("belongs to another key or LLVM/CPU");
  if (key_len + env_len > body || payload_len != body - key_len - env_len) {
    return miss("is truncated or has trailing bytes");
  }
  if (std::string_view(file).substr(kHeaderSize, key_len) != key) return miss("belongs to another key");
  if (std::string_view(file).substr(kHeaderSize + key_len, env_len) != env) {
    return miss("was compiled by another LLVM or for another CPU");
  }
  file.erase(0, kHeaderSize + key_len + env_len);
  if (checksum(file) != payload_sum) return miss("is corrupt (payload checksum mismatch)");
  return file;
}

bool ObjectCache::write(uint64_t key_hash, std::string_view key, std::string_view env,
                        std::string_view object) const {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) {
    log_write_failure(fmt::format("cannot create {}: {}", dir_.string(), ec.message()));
    return false;
  }
  std::string header(kMagic.data(), kMagic.size());
  put_le(header, kFormatVersion, 4);
  put_le(header, 0, 4);
  put_le(header, key.size(), 8);
  put_le(header, env.size(), 8);
  put_le(header, object.size(), 8);
  put_le(header, checksum(object), 8);

  const fs::path path = path_for(key_hash);
  fs::path temp = path;
  temp += temp_suffix();
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(key.data(), static_cast<std::streamsize>(key.size()));
    out.write(env.data(), static_cast<std::streamsize>(env.size()));
    out.write(object.data(), static_cast<std::streamsize>(object.size()));
    out.close();
    if (out.fail()) {
      fs::remove(temp, ec);
      log_write_failure(fmt::format("cannot write {}", temp.string()));
      return false;
    }
  }
  // rename() replaces the target atomically: readers see the old file or the new one, never
  // a partial write, even with other processes writing the same entry.
  fs::rename(temp, path, ec);
  if (ec) {
    log_write_failure(fmt::format("cannot rename {} to {}: {}", temp.string(), path.string(), ec.message()));
    std::error_code ignored;
    fs::remove(temp, ignored);
    return false;
  }
  runtime::logger().debug("disk cache: wrote {} ({} bytes of object)", path.string(), object.size());
  return true;
}

}  // namespace phijit::codegen
