// Row-major strides and the odometer that walks a shape's indices while keeping flat offsets
// into several strided arrays (the interpreter's loops and sparse assembly use them).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ir/shape.h"

namespace phijit::runtime {

// Row-major element strides: the last dim is contiguous.
inline std::vector<int64_t> strides_of(std::span<const Dim> dims) {
  // Each stride is a product of some of the sizes, at most that of all non-zero ones, which
  // volume_of checks (a ShapeError naming the dims when it overflows int64).
  volume_of(dims);
  std::vector<int64_t> st(dims.size());
  int64_t acc = 1;
  for (size_t d = dims.size(); d-- > 0;) {
    st[d] = acc;
    acc *= dims[d].size;
  }
  return st;
}
inline std::vector<int64_t> strides_of(const Shape& s) { return strides_of(s.dims()); }

// Walks all indices of a shape in row-major order, keeping one flat offset per stride set.
class Odometer {
 public:
  Odometer(const Shape& shape, std::vector<std::vector<int64_t>> strides, std::vector<int64_t> bases = {})
      : Odometer(sizes_of(shape), std::move(strides), std::move(bases)) {}
  Odometer(std::vector<int64_t> sizes, std::vector<std::vector<int64_t>> strides,
           std::vector<int64_t> bases = {})
      : strides_(std::move(strides)), sizes_(std::move(sizes)), index_(sizes_.size(), 0) {
    offsets_ = bases.empty() ? std::vector<int64_t>(strides_.size(), 0) : std::move(bases);
    bases_ = offsets_;
  }
  // Jumps to the flat (row-major) position `flat`.
  void seek(int64_t flat) {
    offsets_ = bases_;
    for (size_t d = sizes_.size(); d-- > 0;) {
      index_[d] = sizes_[d] > 0 ? flat % sizes_[d] : 0;
      flat = sizes_[d] > 0 ? flat / sizes_[d] : 0;
      for (size_t k = 0; k < offsets_.size(); ++k) offsets_[k] += strides_[k][d] * index_[d];
    }
  }
  int64_t offset(size_t k) const { return offsets_[k]; }
  int64_t index(size_t dim) const { return index_[dim]; }
  void next() {
    for (size_t d = sizes_.size(); d-- > 0;) {
      ++index_[d];
      for (size_t k = 0; k < offsets_.size(); ++k) offsets_[k] += strides_[k][d];
      if (index_[d] < sizes_[d]) return;
      for (size_t k = 0; k < offsets_.size(); ++k) offsets_[k] -= strides_[k][d] * sizes_[d];
      index_[d] = 0;
    }
  }

 private:
  std::vector<std::vector<int64_t>> strides_;
  std::vector<int64_t> sizes_;
  std::vector<int64_t> index_;
  std::vector<int64_t> offsets_;
  std::vector<int64_t> bases_;

  static std::vector<int64_t> sizes_of(const Shape& shape) {
    std::vector<int64_t> sizes;
    for (const Dim& d : shape.dims()) sizes.push_back(d.size);
    return sizes;
  }
};

// For each element of `walk` (row-major), its flat offset in `layout`, matching dims by name (0
// stride for dims `layout` lacks). `names`, when given, are the names to look up in `layout` in
// place of walk's own, one per dim of walk.
inline std::vector<int64_t> element_offsets(const Shape& walk, const Shape& layout,
                                            const std::vector<std::string>& names = {}) {
  std::vector<int64_t> all = strides_of(layout), st;
  for (size_t k = 0; k < walk.dims().size(); ++k) {
    int i = layout.index_of(names.empty() ? walk.dims()[k].name : names[k]);
    st.push_back(i < 0 ? 0 : all[static_cast<size_t>(i)]);
  }
  std::vector<int64_t> out(static_cast<size_t>(walk.volume()));
  Odometer it(walk, {st});
  for (int64_t& o : out) {
    o = it.offset(0);
    it.next();
  }
  return out;
}

}  // namespace phijit::runtime
