// What a Tensor holds, and the single entry point through which every op is applied.
#pragma once

#include <memory>
#include <vector>

#include "frontend/tensor.h"
#include "ir/graph.h"
#include "runtime/interpreter.h"

namespace phijit::detail {

struct TensorData {
  ir::ValueType type;
  std::shared_ptr<const Buffer> buffer;
  // A plain C++ double: it takes the float type of the tensors it meets (numpy's NEP 50).
  bool weak = false;
};

Tensor make_tensor(std::shared_ptr<const Buffer> buffer, Shape shape, bool weak = false);

// Applies `op`: converts operands to the dtypes the op table asks for, checks shapes and
// evaluates through the reference interpreter.
Tensor apply(ir::Op op, std::vector<Tensor> operands, ir::Attrs attrs = {});

}  // namespace phijit::detail
