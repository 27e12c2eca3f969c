#include "runtime/sparse_operand.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "ir/error.h"
#include "runtime/layout.h"
#include "runtime/odometer.h"

namespace phijit::runtime {

SparseOperand::SparseOperand(CsrMatrix csr, Shape batch, Shape rows, Shape cols, DType dtype)
    : csr_(std::move(csr)),
      batch_(std::move(batch)),
      rows_(std::move(rows)),
      cols_(std::move(cols)),
      dtype_(dtype),
      entries_{ir::kSparseEntries, csr_.pattern->nnz(), DimType::instance, {}} {}

SparseOperand::SparseOperand(CsrMatrix csr, Shape batch, Shape rows, Shape cols)
    : SparseOperand(csr, std::move(batch), std::move(rows), std::move(cols), csr.values->dtype()) {}

std::string SparseOperand::str() const {
  return fmt::format("matrix={}x{}{}, nnz={}{}", rows_.str(), cols_.str(),
                     batch_.rank() > 0 ? " per " + batch_.str() : "", csr_.pattern->nnz(),
                     csr_.values ? "" : ", values computed");
}

std::shared_ptr<const ir::SparseMatrixPayload> SparseOperand::transposed() const {
  std::lock_guard lock(mutex_);
  if (!transposed_) {
    CsrMatrix t = csr_;
    if (csr_.values) {
      t = transpose(csr_);
    } else {  // the pattern alone: transposed with placeholder values
      auto ones = std::make_shared<Buffer>(DType::f64, csr_.pattern->nnz());
      t.pattern = transpose(CsrMatrix{csr_.pattern, ones, 1}).pattern;
    }
    transposed_ = std::make_shared<SparseOperand>(t, batch_, cols_, rows_, dtype_);
  }
  return transposed_;
}

std::shared_ptr<const ir::SparseMatrixPayload> SparseOperand::gather(const std::string& kind,
                                                                     DType dtype) const {
  std::lock_guard lock(mutex_);
  auto& slot = gathers_[kind + std::string(dtype_name(dtype))];
  if (slot) return slot;
  const CsrPattern& p = *csr_.pattern;
  int64_t nnz = p.nnz();
  const int64_t* rp = p.row_ptr->as<int64_t>();
  if (kind == "slot_values" || kind == "slot_columns") {
    // Row (r, s) holds one 1 when row r has an s-th entry k: at k, or at k's column. Rows are
    // numbered in the layout of rows_ & slots (whose dim order the Shape decides).
    int64_t slots = 1;
    for (int64_t r = 0; r < p.rows; ++r) slots = std::max(slots, rp[r + 1] - rp[r]);
    Dim slot_dim{ir::kSparseSlots, slots, DimType::instance, {}};
    Shape rows = rows_ & Shape({slot_dim});
    std::vector<int64_t> row_at = element_offsets(rows_, rows);
    int64_t slot_stride = slots > 1 ? element_offsets(Shape({slot_dim}), rows)[1] : 0;
    std::vector<int32_t> reads(static_cast<size_t>(rows.volume()), -1);
    for (int64_t r = 0; r < p.rows; ++r) {
      for (int64_t k = rp[r]; k < rp[r + 1]; ++k) {
        reads[static_cast<size_t>(row_at[r] + (k - rp[r]) * slot_stride)] =
            kind == "slot_values" ? static_cast<int32_t>(k) : p.col->as<int32_t>()[k];
      }
    }
    auto row_ptr = std::make_shared<Buffer>(DType::i64, rows.volume() + 1);
    std::vector<int32_t> cs;
    for (size_t i = 0; i < reads.size(); ++i) {
      if (reads[i] >= 0) cs.push_back(reads[i]);
      row_ptr->as<int64_t>()[i + 1] = static_cast<int64_t>(cs.size());
    }
    auto col = std::make_shared<Buffer>(DType::i32, static_cast<int64_t>(cs.size()));
    std::copy(cs.begin(), cs.end(), col->as<int32_t>());
    auto ones = std::make_shared<Buffer>(dtype, static_cast<int64_t>(cs.size()));
    for (int64_t k = 0; k < ones->count(); ++k) ones->set_real(k, 1);
    Shape cols = kind == "slot_values" ? Shape({entries_}) : cols_;
    auto pattern = std::make_shared<const CsrPattern>(CsrPattern{rows.volume(), cols.volume(), row_ptr, col});
    slot = std::make_shared<SparseOperand>(CsrMatrix{pattern, ones, 1}, Shape(), rows, cols, dtype);
    return slot;
  }
  // One stored 1 per row (entry k): its column is what entry k reads.
  auto row_ptr = std::make_shared<Buffer>(DType::i64, nnz + 1, Buffer::Uninitialized{});
  std::iota(row_ptr->as<int64_t>(), row_ptr->as<int64_t>() + nnz + 1, int64_t{0});
  auto col = std::make_shared<Buffer>(DType::i32, nnz, Buffer::Uninitialized{});
  int32_t* c = col->as<int32_t>();
  Shape cols;
  if (kind == "row") {
    for (int64_t r = 0; r < p.rows; ++r) std::fill(c + rp[r], c + rp[r + 1], static_cast<int32_t>(r));
    cols = rows_;
  } else if (kind == "col") {
    std::copy_n(p.col->as<int32_t>(), nnz, c);
    cols = cols_;
  } else {
    // Transposing the entry numbers 0, 1, … gives, per entry of Aᵀ, the entry of A it is.
    auto ids = std::make_shared<Buffer>(DType::f64, nnz, Buffer::Uninitialized{});
    std::iota(ids->as<double>(), ids->as<double>() + nnz, 0.0);
    CsrMatrix t = transpose(CsrMatrix{csr_.pattern, ids, 1});
    for (int64_t k = 0; k < nnz; ++k) c[k] = static_cast<int32_t>(t.values->as<double>()[k]);
    cols = Shape({Dim{ir::kSourceEntries, nnz, DimType::instance, {}}});
  }
  auto ones = std::make_shared<Buffer>(dtype, nnz);
  for (int64_t k = 0; k < nnz; ++k) ones->set_real(k, 1);
  auto pattern = std::make_shared<const CsrPattern>(CsrPattern{nnz, cols.volume(), row_ptr, col});
  slot =
      std::make_shared<SparseOperand>(CsrMatrix{pattern, ones, 1}, Shape(), Shape({entries_}), cols, dtype);
  return slot;
}

std::shared_ptr<const ir::SparseMatrixPayload> SparseOperand::row_gather(DType dtype) const {
  return gather("row", dtype);
}
std::shared_ptr<const ir::SparseMatrixPayload> SparseOperand::col_gather(DType dtype) const {
  return gather("col", dtype);
}
std::shared_ptr<const ir::SparseMatrixPayload> SparseOperand::transpose_gather(DType dtype) const {
  return gather("transpose", dtype);
}

std::shared_ptr<const ir::SparseMatrixPayload> SparseOperand::slot_values(DType dtype) const {
  return gather("slot_values", dtype);
}
std::shared_ptr<const ir::SparseMatrixPayload> SparseOperand::slot_columns(DType dtype) const {
  return gather("slot_columns", dtype);
}

std::shared_ptr<const SparseOperand> SparseOperand::with_dtype(DType dtype) const {
  if (!csr_.values) return std::make_shared<SparseOperand>(csr_, batch_, rows_, cols_, dtype);
  return std::make_shared<SparseOperand>(with_values_dtype(csr_, dtype), batch_, rows_, cols_);
}

BufferPtr sparse_matmul(const SparseOperand& A, const Buffer& x, const Shape& x_shape,
                        const Shape& result_shape, const Buffer* values, const Shape& values_shape) {
  CsrMatrix csr = A.csr();
  if (values != nullptr) {
    BufferPtr view(BufferPtr(), values);
    csr.values = relayout(view, values_shape.dims(), concat_dims(A.batch(), Shape({A.entries()})));
  }
  if (!csr.values) throw InternalError("matmul_sparse: a matrix without values needs them as an operand");
  Shape extras = x_shape.without(A.cols().names());
  Shape outer = extras & A.batch();  // one product per element
  BufferPtr xs(BufferPtr(), &x);     // a view: relayout copies only when the order differs
  xs = relayout(xs, x_shape.dims(), concat_dims(extras, A.cols()));
  std::vector<Dim> y_dims = concat_dims(outer, A.rows());
  auto y = std::make_shared<Buffer>(x.dtype(), volume_of(y_dims), Buffer::Uninitialized{});
  spmv(csr, *xs, *y, element_offsets(outer, A.batch()), element_offsets(outer, extras));
  return relayout(y, y_dims, result_shape.dims());
}

}  // namespace phijit::runtime
