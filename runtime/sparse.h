// Sparse matrices in CSR form and the kernels on them: matrix-vector products over the
// thread pool, transposition and conversion to dense. Indices here are flat; the frontend
// maps named dims onto them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "runtime/interpreter.h"

namespace phijit::runtime {

// The structure of a CSR matrix, shared by every matrix with the same sparsity pattern.
// Columns are sorted and unique within each row.
struct CsrPattern {
  int64_t rows = 0;
  int64_t cols = 0;
  BufferPtr row_ptr;  // int64, rows + 1 entries
  BufferPtr col;      // int32, nnz entries

  int64_t nnz() const { return col->count(); }
};

// A batch of matrices on one pattern: values hold `batch` rows of nnz entries each.
struct CsrMatrix {
  std::shared_ptr<const CsrPattern> pattern;
  BufferPtr values;
  int64_t batch = 1;
};

// Checks row_ptr/col for consistency (monotone, in range, sorted and unique per row);
// Error naming the first violation.
void validate(const CsrPattern& p);

// y[b] = A[a_batch[b]] · x[x_batch[b]] for b in [0, a_batch.size()), where x holds
// consecutive vectors of A's column count and y receives consecutive vectors of its row
// count. A, x and y have one dtype (f32, f64, i32 or i64). Split over the thread pool.
void spmv(const CsrMatrix& A, const Buffer& x, Buffer& y, std::span<const int64_t> a_batch,
          std::span<const int64_t> x_batch);

// Aᵀ with the same batch; O(nnz).
CsrMatrix transpose(const CsrMatrix& A);

// `batch` dense rows × cols matrices (values row-major, one after another) as CSR matrices that
// store every entry.
CsrMatrix dense_as_csr(BufferPtr values, int64_t rows, int64_t cols, int64_t batch);

// A with its values converted to `dtype` (A itself when they have it).
CsrMatrix with_values_dtype(const CsrMatrix& A, DType dtype);

// A with its rows reordered: row r of the result is row from[r] of A.
CsrMatrix permute_rows(const CsrMatrix& A, std::span<const int64_t> from);

// Adds each batch's entries into `out` at out[batch_offset[b] + row_offset[r] + col_offset[c]]
// (out must be zero-filled and of A's dtype).
void scatter_dense(const CsrMatrix& A, std::span<const int64_t> batch_offset,
                   std::span<const int64_t> row_offset, std::span<const int64_t> col_offset, Buffer& out);

}  // namespace phijit::runtime
