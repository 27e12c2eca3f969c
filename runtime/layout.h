// Copies between memory layouts: a tensor's values in one dim order moved into another.
#pragma once

#include <vector>

#include "ir/shape.h"
#include "runtime/interpreter.h"

namespace phijit::runtime {

// `src`, laid out row-major in the dim order `from`, copied into the row-major order `to`.
// Dims of `to` that `from` lacks are broadcast; every dim of `from` must be in `to` with its
// size. Returns `src` itself when the orders agree.
BufferPtr relayout(const BufferPtr& src, const std::vector<Dim>& from, const std::vector<Dim>& to);

// The dims of a, then those of b: a layout with a's dims outermost.
inline std::vector<Dim> concat_dims(const Shape& a, const Shape& b) {
  std::vector<Dim> out = a.dims();
  out.insert(out.end(), b.dims().begin(), b.dims().end());
  return out;
}

}  // namespace phijit::runtime
