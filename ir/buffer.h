// Aligned storage for tensor elements. It lives in ir/ because graphs own constant tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "ir/dtype.h"
#include "ir/shape.h"

namespace phijit {

// double → int64 truncating toward zero; NaN → 0, out of range saturates (never UB).
int64_t real_to_int(double v);

// Frees (or recycles, when large) a buffer's memory of `bytes` bytes.
struct BufferFree {
  size_t bytes = 0;
  void operator()(void* p) const;
};

class Buffer {
 public:
  static constexpr size_t kAlignment = 64;  // a cache line and an AVX-512 vector

  // Memory that cannot be had (a byte count beyond int64, or out of memory) is a phijit Error
  // naming the element count and dtype, and the shape when it is given; never std::bad_alloc.
  Buffer() = default;
  Buffer(DType dtype, int64_t count);  // zero-filled
  Buffer(DType dtype, const Shape& shape);
  struct Uninitialized {};
  Buffer(DType dtype, int64_t count, Uninitialized);  // for results a kernel overwrites
  Buffer(DType dtype, const Shape& shape, Uninitialized);
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&&) noexcept = default;
  Buffer& operator=(Buffer&&) noexcept = default;

  DType dtype() const { return dtype_; }
  int64_t count() const { return count_; }
  size_t bytes() const { return static_cast<size_t>(count_) * dtype_size(dtype_); }
  void* data() { return data_.get(); }
  const void* data() const { return data_.get(); }
  template <class T>
  T* as() {
    return static_cast<T*>(data());
  }
  template <class T>
  const T* as() const {
    return static_cast<const T*>(data());
  }

  // Element i converted to double / int64 (booleans are 0 or 1).
  double get_real(int64_t i) const;
  int64_t get_int(int64_t i) const;
  // Stores v converted to this buffer's dtype: set_real truncates and saturates into integer
  // types (NaN → 0), set_int wraps; booleans are v != 0.
  void set_real(int64_t i, double v);
  void set_int(int64_t i, int64_t v);

 private:
  Buffer(DType dtype, int64_t count, const Shape* shape);  // uninitialized

  DType dtype_ = DType::f64;
  int64_t count_ = 0;
  std::unique_ptr<void, BufferFree> data_;
};

}  // namespace phijit
