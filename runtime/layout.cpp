#include "runtime/layout.h"

#include <fmt/format.h>

#include <cstring>

#include "ir/error.h"
#include "runtime/odometer.h"

namespace phijit::runtime {

BufferPtr relayout(const BufferPtr& src, const std::vector<Dim>& from, const std::vector<Dim>& to) {
  bool same = from.size() == to.size();
  for (size_t k = 0; same && k < to.size(); ++k) same = from[k].name == to[k].name;
  if (same) return src;
  std::vector<int64_t> from_strides = strides_of(from);
  std::vector<int64_t> sizes, st;
  int64_t count = volume_of(to), matched = 0;
  for (const Dim& d : to) {
    sizes.push_back(d.size);
    int64_t stride = 0;
    for (size_t k = 0; k < from.size(); ++k) {
      if (from[k].name != d.name) continue;
      if (from[k].size != d.size) {
        throw ShapeError(fmt::format("relayout: dim '{}' has size {} in the source but {} in the target",
                                     d.name, from[k].size, d.size));
      }
      stride = from_strides[k];
      ++matched;
    }
    st.push_back(stride);
  }
  if (matched != static_cast<int64_t>(from.size()))
    throw ShapeError("relayout: the target lacks a dim of the source");
  // Allocated by shape, so that memory that cannot be had is an error naming the dims.
  auto out = std::make_shared<Buffer>(src->dtype(), Shape(to), Buffer::Uninitialized{});
  auto es = static_cast<int64_t>(dtype_size(src->dtype()));
  Odometer it(sizes, {st});
  const auto* s = static_cast<const char*>(src->data());
  auto* d = static_cast<char*>(out->data());
  for (int64_t i = 0; i < count; ++i, it.next()) {
    std::memcpy(d + i * es, s + it.offset(0) * es, static_cast<size_t>(es));
  }
  return out;
}

}  // namespace phijit::runtime
