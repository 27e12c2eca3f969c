// Sparse matrices in CSR form and the kernels on them: matrix-vector products over the
// thread pool, transposition and conversion to dense. Indices here are flat; the frontend
// maps named dims onto them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

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
// (out must be zero-filled and of A's dtype; booleans are or-ed).
void scatter_dense(const CsrMatrix& A, std::span<const int64_t> batch_offset,
                   std::span<const int64_t> row_offset, std::span<const int64_t> col_offset, Buffer& out);

// The products C[i] = A[a_batch[i]] · B[b_batch[i]] of two batches of matrices of one dtype
// (f32, f64, i32 or i64), A's columns indexing B's rows. C's pattern (A's rows, B's columns) is
// computed once for all products, the values per product; both phases split over the thread
// pool, in time proportional to the multiply-adds.
CsrMatrix multiply(const CsrMatrix& A, const CsrMatrix& B, std::span<const int64_t> a_batch,
                   std::span<const int64_t> b_batch);

// The union of two patterns of one size, and where each one's entries sit in it.
struct PatternUnion {
  std::shared_ptr<const CsrPattern> pattern;
  std::vector<int64_t> a_at, b_at;  // entry k of a is entry a_at[k] of the union; likewise b
};
PatternUnion pattern_union(const CsrPattern& a, const CsrPattern& b);

// `batch` rows of `at.size()` stored values moved to entries `at` of rows of `nnz` entries
// (a larger pattern); the other entries are zero.
BufferPtr spread_values(const Buffer& values, int64_t batch, std::span<const int64_t> at, int64_t nnz);

// The values of a dense array at the pattern's entries: for each batch b and entry k (row r,
// column c), src[b * src_stride + row_offset[r] + col_offset[c]]; `batch` rows of nnz values.
BufferPtr gather_entries(const CsrPattern& p, const Buffer& src, int64_t batch, int64_t src_stride,
                         std::span<const int64_t> row_offset, std::span<const int64_t> col_offset);

// A with renumbered rows and columns: row r of the result is row row_from[r] of A, and A's
// column c becomes column col_to[c] (rows stay sorted). Both maps are permutations.
CsrMatrix renumber(const CsrMatrix& A, std::span<const int64_t> row_from, std::span<const int64_t> col_to);

// Folds each batch's entries into out[batch_offset[b] + row_offset[r] + col_offset[c]] by max
// (or min), as the reference interpreter's reduce_max does (NaN propagates). Each cell of out
// stands for `folded` matrix elements: where fewer are stored, the unstored zeros take part.
enum class Extremum { max, min };
void fold_extremum(const CsrMatrix& A, std::span<const int64_t> batch_offset,
                   std::span<const int64_t> row_offset, std::span<const int64_t> col_offset, Extremum kind,
                   int64_t folded, Buffer& out);

}  // namespace phijit::runtime
