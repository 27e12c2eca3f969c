// Typed payloads of host ops (DESIGN decision 8): work that is not a loop nest — a sparse
// matrix product, later a linear solve — is still a node of the graph; what it needs besides its
// operands travels in Attrs::payload. ir/ and passes/ see these interfaces; runtime/ implements
// them and runs the ops between kernels.
#pragma once

#include <memory>
#include <string>

#include "ir/dtype.h"
#include "ir/shape.h"

namespace phijit::ir {

class HostPayload {
 public:
  virtual ~HostPayload() = default;
  virtual std::string str() const = 0;  // for the printed IR
};

// The matrix of matmul_sparse: one matrix per entry of batch(), with primal dims rows() and
// columns that pair with the vector's dims cols().
class SparseMatrixPayload : public HostPayload {
 public:
  virtual const Shape& batch() const = 0;
  virtual const Shape& rows() const = 0;
  virtual const Shape& cols() const = 0;
  virtual DType dtype() const = 0;
  // Aᵀ, built once per matrix and kept with it.
  virtual std::shared_ptr<const SparseMatrixPayload> transposed() const = 0;
};

}  // namespace phijit::ir
