// The operators and preconditioners the solvers work with (DESIGN decision 7). Vectors are
// batches: `batch` consecutive vectors of one dtype (f32 or f64) in one Buffer.
#pragma once

#include <cstdint>
#include <span>

#include "runtime/interpreter.h"

namespace phijit::runtime {

class LinearOperator {
 public:
  virtual ~LinearOperator() = default;
  virtual int64_t rows() const = 0;
  virtual int64_t cols() const = 0;
  // y = A x for every vector of the batch: x holds batch × cols values, y batch × rows.
  virtual void apply(const Buffer& x, Buffer& y) const = 0;
};

// z = M⁻¹ r for every vector of the batch (r and z hold batch × n values).
class Preconditioner {
 public:
  virtual ~Preconditioner() = default;
  virtual void apply(const Buffer& r, Buffer& z) const = 0;
  // z = M⁻ᵀ r: the same preconditioner for the transposed system (an adjoint solve).
  virtual void apply_transposed(const Buffer& r, Buffer& z) const = 0;
};

}  // namespace phijit::runtime
