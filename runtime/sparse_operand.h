// A sparse matrix with named dims: the payload of the matmul_sparse host op, and its product
// with a named-dim vector — the one implementation behind eager matmul(A, x), the interpreter
// and compiled programs.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "ir/host_payload.h"
#include "runtime/sparse.h"

namespace phijit::runtime {

class SparseOperand final : public ir::SparseMatrixPayload {
 public:
  // `csr.values` may be null: a pattern whose values a matmul_sparse takes as its operand.
  SparseOperand(CsrMatrix csr, Shape batch, Shape rows, Shape cols, DType dtype);
  SparseOperand(CsrMatrix csr, Shape batch, Shape rows, Shape cols);

  const CsrMatrix& csr() const { return csr_; }
  const Shape& batch() const override { return batch_; }
  const Shape& rows() const override { return rows_; }
  const Shape& cols() const override { return cols_; }
  DType dtype() const override { return dtype_; }
  const Dim& entries() const override { return entries_; }
  std::string str() const override;
  std::shared_ptr<const ir::SparseMatrixPayload> transposed() const override;
  std::shared_ptr<const ir::SparseMatrixPayload> row_gather(DType dtype) const override;
  std::shared_ptr<const ir::SparseMatrixPayload> col_gather(DType dtype) const override;
  std::shared_ptr<const ir::SparseMatrixPayload> transpose_gather(DType dtype) const override;
  std::shared_ptr<const ir::SparseMatrixPayload> slot_values(DType dtype) const override;
  std::shared_ptr<const ir::SparseMatrixPayload> slot_columns(DType dtype) const override;
  std::shared_ptr<const Buffer> values() const override { return csr_.values; }

  // The same matrix with its values converted to `dtype`.
  std::shared_ptr<const SparseOperand> with_dtype(DType dtype) const;

 private:
  // A gather matrix, made once per kind and dtype.
  std::shared_ptr<const ir::SparseMatrixPayload> gather(const std::string& kind, DType dtype) const;

  CsrMatrix csr_;
  Shape batch_, rows_, cols_;
  DType dtype_;
  Dim entries_;
  mutable std::mutex mutex_;  // guards what is built on demand
  mutable std::shared_ptr<const SparseOperand> transposed_;
  mutable std::map<std::string, std::shared_ptr<const SparseOperand>> gathers_;
};

// A·x for x of shape `x_shape` (A's dtype): one product per entry of x's other dims and A's batch
// dims, laid out as ir's matmul_sparse orders the result, `result_shape`. `values` (of shape
// `values_shape`, batch & entries) replaces A's own values when given.
BufferPtr sparse_matmul(const SparseOperand& A, const Buffer& x, const Shape& x_shape,
                        const Shape& result_shape, const Buffer* values = nullptr,
                        const Shape& values_shape = {});

}  // namespace phijit::runtime
