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

}  // namespace phijit::runtime
