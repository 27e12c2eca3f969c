#include "runtime/sparse_operand.h"

#include <fmt/format.h>

#include "runtime/layout.h"
#include "runtime/odometer.h"

namespace phijit::runtime {

SparseOperand::SparseOperand(CsrMatrix csr, Shape batch, Shape rows, Shape cols)
    : csr_(std::move(csr)), batch_(std::move(batch)), rows_(std::move(rows)), cols_(std::move(cols)) {}

std::string SparseOperand::str() const {
  return fmt::format("matrix={}x{}{}, nnz={}", rows_.str(), cols_.str(),
                     batch_.rank() > 0 ? " per " + batch_.str() : "", csr_.pattern->nnz());
}

std::shared_ptr<const ir::SparseMatrixPayload> SparseOperand::transposed() const {
  std::lock_guard lock(mutex_);
  if (!transposed_) transposed_ = std::make_shared<SparseOperand>(transpose(csr_), batch_, cols_, rows_);
  return transposed_;
}

std::shared_ptr<const SparseOperand> SparseOperand::with_dtype(DType dtype) const {
  return std::make_shared<SparseOperand>(with_values_dtype(csr_, dtype), batch_, rows_, cols_);
}

BufferPtr sparse_matmul(const SparseOperand& A, const Buffer& x, const Shape& x_shape,
                        const Shape& result_shape) {
  Shape extras = x_shape.without(A.cols().names());
  Shape outer = extras & A.batch();  // one product per element
  BufferPtr xs(BufferPtr(), &x);     // a view: relayout copies only when the order differs
  xs = relayout(xs, x_shape.dims(), concat_dims(extras, A.cols()));
  auto y = std::make_shared<Buffer>(x.dtype(), outer.volume() * A.rows().volume(), Buffer::Uninitialized{});
  spmv(A.csr(), *xs, *y, element_offsets(outer, A.batch()), element_offsets(outer, extras));
  return relayout(y, concat_dims(outer, A.rows()), result_shape.dims());
}

}  // namespace phijit::runtime
