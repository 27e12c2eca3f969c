// A sparse matrix with named dims: the payload of the matmul_sparse host op, and its product
// with a named-dim vector — the one implementation behind eager matmul(A, x), the interpreter
// and compiled programs.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "ir/host_payload.h"
#include "runtime/sparse.h"

namespace phijit::runtime {

class SparseOperand final : public ir::SparseMatrixPayload {
 public:
  SparseOperand(CsrMatrix csr, Shape batch, Shape rows, Shape cols);

  const CsrMatrix& csr() const { return csr_; }
  const Shape& batch() const override { return batch_; }
  const Shape& rows() const override { return rows_; }
  const Shape& cols() const override { return cols_; }
  DType dtype() const override { return csr_.values->dtype(); }
  std::string str() const override;
  std::shared_ptr<const ir::SparseMatrixPayload> transposed() const override;

  // The same matrix with its values converted to `dtype`.
  std::shared_ptr<const SparseOperand> with_dtype(DType dtype) const;

 private:
  CsrMatrix csr_;
  Shape batch_, rows_, cols_;
  mutable std::mutex mutex_;  // guards transposed_
  mutable std::shared_ptr<const SparseOperand> transposed_;
};

// A·x for x of shape `x_shape` (A's dtype): one product per entry of x's other dims and A's batch
// dims, laid out as ir's matmul_sparse orders the result, `result_shape`.
BufferPtr sparse_matmul(const SparseOperand& A, const Buffer& x, const Shape& x_shape,
                        const Shape& result_shape);

}  // namespace phijit::runtime
