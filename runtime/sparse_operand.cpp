#include "runtime/sparse_operand.h"

#include <fmt/format.h>

#include "runtime/layout.h"
#include "runtime/odometer.h"

namespace phijit::runtime {

namespace {

std::vector<Dim> dims_of(const Shape& a, const Shape& b) {
  std::vector<Dim> out = a.dims();
  out.insert(out.end(), b.dims().begin(), b.dims().end());
  return out;
}

// For each element of `walk` (row-major), its flat entry in `layout` (0 stride for dims it lacks).
std::vector<int64_t> entries(const Shape& walk, const Shape& layout) {
  std::vector<int64_t> all = strides_of(layout), st;
  for (const Dim& d : walk.dims()) {
    int i = layout.index_of(d.name);
    st.push_back(i < 0 ? 0 : all[static_cast<size_t>(i)]);
  }
  std::vector<int64_t> out(static_cast<size_t>(walk.volume()));
  Odometer it(walk, {st});
  for (auto& o : out) {
    o = it.offset(0);
    it.next();
  }
  return out;
}

}  // namespace

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
  auto v = std::make_shared<Buffer>(dtype, csr_.values->count(), Buffer::Uninitialized{});
  for (int64_t i = 0; i < v->count(); ++i) {
    if (is_float(dtype)) {
      v->set_real(i, csr_.values->get_real(i));
    } else {
      v->set_int(i, csr_.values->get_int(i));
    }
  }
  return std::make_shared<SparseOperand>(CsrMatrix{csr_.pattern, std::move(v), csr_.batch}, batch_, rows_,
                                         cols_);
}

BufferPtr sparse_matmul(const SparseOperand& A, const Buffer& x, const Shape& x_shape,
                        const Shape& result_shape) {
  Shape extras = x_shape.without(A.cols().names());
  Shape outer = extras & A.batch();  // one product per element
  BufferPtr xs(BufferPtr(), &x);     // a view: relayout copies only when the order differs
  xs = relayout(xs, x_shape.dims(), dims_of(extras, A.cols()));
  auto y = std::make_shared<Buffer>(x.dtype(), outer.volume() * A.rows().volume(), Buffer::Uninitialized{});
  spmv(A.csr(), *xs, *y, entries(outer, A.batch()), entries(outer, extras));
  return relayout(y, dims_of(outer, A.rows()), result_shape.dims());
}

}  // namespace phijit::runtime
