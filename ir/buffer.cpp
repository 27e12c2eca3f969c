#include "ir/buffer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <vector>

#include "ir/checked.h"

namespace phijit {

int64_t real_to_int(double v) {
  // Truncates like a C++ cast, but defined for every input: NaN gives 0, overflow saturates.
  if (std::isnan(v)) return 0;
  if (v >= 9.2233720368547758e18) return std::numeric_limits<int64_t>::max();
  if (v <= -9.2233720368547758e18) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

namespace {

// Large blocks are kept for reuse: a program that runs in a loop gets its result memory back
// without the page faults of a fresh mapping (for 128 MB about as long as the work itself).
class BlockCache {
 public:
  static constexpr size_t kMinBytes = size_t{1} << 20;
  static constexpr size_t kMaxCachedBytes = size_t{1} << 30;

  // The block given back last: its memory is the likeliest to still be in the caches.
  void* take(size_t bytes) {
    std::lock_guard lock(mutex_);
    for (size_t i = blocks_.size(); i-- > 0;) {
      if (blocks_[i].first == bytes) {
        void* p = blocks_[i].second;
        blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(i));
        cached_ -= bytes;
        return p;
      }
    }
    return nullptr;
  }
  void give(size_t bytes, void* p) {
    std::lock_guard lock(mutex_);
    blocks_.emplace_back(bytes, p);
    cached_ += bytes;
    while (cached_ > kMaxCachedBytes) {  // the oldest go first
      cached_ -= blocks_.front().first;
      std::free(blocks_.front().second);
      blocks_.erase(blocks_.begin());
    }
  }

 private:
  std::mutex mutex_;
  std::vector<std::pair<size_t, void*>> blocks_;
  size_t cached_ = 0;
};

BlockCache& block_cache() {
  // Never destroyed: buffers held by other statics may be freed after it would be.
  static BlockCache& cache = *new BlockCache();  // NOLINT(cppcoreguidelines-owning-memory)
  return cache;
}

}  // namespace

void BufferFree::operator()(void* p) const {
  if (bytes >= BlockCache::kMinBytes) {
    block_cache().give(bytes, p);
  } else {
    std::free(p);
  }
}

Buffer::Buffer(DType dtype, int64_t count, const Shape* shape) : dtype_(dtype), count_(count) {
  auto request = [&] {
    std::string what = fmt::format("{} elements of {}", count, dtype_name(dtype));
    return shape != nullptr ? fmt::format("a tensor of shape {} ({})", shape->str(), what) : what;
  };
  if (count < 0) throw ShapeError(fmt::format("Cannot allocate {}: a count must be >= 0", request()));
  int64_t exact = checked_mul(count, static_cast<int64_t>(dtype_size(dtype)), [&] {
    return fmt::format("Cannot allocate {}: the byte count does not fit in int64", request());
  });
  // At most 2^63-1, so rounding up cannot wrap a size_t.
  size_t bytes =
      std::max((static_cast<size_t>(exact) + kAlignment - 1) / kAlignment * kAlignment, kAlignment);
  void* p = bytes >= BlockCache::kMinBytes ? block_cache().take(bytes) : nullptr;
  if (p == nullptr) p = std::aligned_alloc(kAlignment, bytes);
  if (p == nullptr)
    throw Error(fmt::format("Out of memory: cannot allocate {} ({} bytes)", request(), bytes));
  data_ = std::unique_ptr<void, BufferFree>(p, BufferFree{bytes});
}

Buffer::Buffer(DType dtype, int64_t count, Uninitialized) : Buffer(dtype, count, nullptr) {}
Buffer::Buffer(DType dtype, const Shape& shape, Uninitialized) : Buffer(dtype, shape.volume(), &shape) {}

Buffer::Buffer(DType dtype, int64_t count) : Buffer(dtype, count, nullptr) {
  std::memset(data_.get(), 0, bytes());
}
Buffer::Buffer(DType dtype, const Shape& shape) : Buffer(dtype, shape.volume(), &shape) {
  std::memset(data_.get(), 0, bytes());
}

double Buffer::get_real(int64_t i) const {
  switch (dtype_) {
    case DType::f32: return as<float>()[i];
    case DType::f64: return as<double>()[i];
    case DType::i32: return as<int32_t>()[i];
    case DType::i64: return static_cast<double>(as<int64_t>()[i]);
    case DType::boolean: return as<uint8_t>()[i];
  }
  return 0;
}

int64_t Buffer::get_int(int64_t i) const {
  switch (dtype_) {
    case DType::f32:
    case DType::f64: return real_to_int(get_real(i));
    case DType::i32: return as<int32_t>()[i];
    case DType::i64: return as<int64_t>()[i];
    case DType::boolean: return as<uint8_t>()[i];
  }
  return 0;
}

void Buffer::set_real(int64_t i, double v) {
  switch (dtype_) {
    case DType::f32: as<float>()[i] = static_cast<float>(v); return;
    case DType::f64: as<double>()[i] = v; return;
    case DType::boolean: as<uint8_t>()[i] = v != 0 ? 1 : 0; return;
    case DType::i32: {
      // Saturates to the int32 range, as LLVM's fptosi.sat does in compiled kernels.
      int64_t w = real_to_int(v);
      as<int32_t>()[i] = static_cast<int32_t>(std::clamp<int64_t>(w, INT32_MIN, INT32_MAX));
      return;
    }
    case DType::i64: set_int(i, real_to_int(v)); return;
  }
}

void Buffer::set_int(int64_t i, int64_t v) {
  switch (dtype_) {
    case DType::f32: as<float>()[i] = static_cast<float>(v); return;
    case DType::f64: as<double>()[i] = static_cast<double>(v); return;
    case DType::i32: as<int32_t>()[i] = static_cast<int32_t>(v); return;
    case DType::i64: as<int64_t>()[i] = v; return;
    case DType::boolean: as<uint8_t>()[i] = v != 0 ? 1 : 0; return;
  }
}

}  // namespace phijit
