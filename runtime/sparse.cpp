#include "runtime/sparse.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "ir/checked.h"
#include "ir/error.h"
#include "runtime/thread_pool.h"

namespace phijit::runtime {

namespace {

// Below this many stored entries a product runs on the calling thread: waking the pool
// costs more than the work.
constexpr int64_t kInlineNnz = 32768;
// Entries per block when split: large enough to amortize scheduling, small enough to balance.
constexpr int64_t kBlockNnz = 65536;

template <class T>
void spmv_rows(const int64_t* row_ptr, const int32_t* col, const T* values, const T* x, T* y, int64_t r0,
               int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    T acc = 0;
    for (int64_t k = row_ptr[r]; k < row_ptr[r + 1]; ++k) acc += values[k] * x[col[k]];
    y[r] = acc;
  }
}

template <class T>
void spmv_typed(const CsrMatrix& A, const Buffer& x, Buffer& y, std::span<const int64_t> a_batch,
                std::span<const int64_t> x_batch) {
  const CsrPattern& p = *A.pattern;
  const int64_t* row_ptr = p.row_ptr->as<int64_t>();
  const int32_t* col = p.col->as<int32_t>();
  const T* values = A.values->as<T>();
  const T* xs = x.as<T>();
  T* ys = y.as<T>();
  int64_t nnz = p.nnz();
  auto n_batch = static_cast<int64_t>(a_batch.size());
  // Row blocks of about kBlockNnz entries each (and at least one row).
  std::vector<int64_t> bounds{0};
  if (nnz * n_batch > kInlineNnz) {
    for (int64_t r = 0; r < p.rows;) {
      int64_t target = row_ptr[r] + kBlockNnz;
      int64_t next = std::upper_bound(row_ptr + r + 1, row_ptr + p.rows + 1, target) - row_ptr - 1;
      r = std::max(next, r + 1);
      bounds.push_back(std::min(r, p.rows));
    }
  } else {
    bounds.push_back(p.rows);
  }
  auto n_blocks = static_cast<int64_t>(bounds.size()) - 1;
  auto run = [&](int64_t task) {
    int64_t b = task / n_blocks, blk = task % n_blocks;
    spmv_rows(row_ptr, col, values + a_batch[b] * nnz, xs + x_batch[b] * p.cols, ys + b * p.rows, bounds[blk],
              bounds[blk + 1]);
  };
  if (n_blocks * n_batch == 1) {
    run(0);
  } else {
    ThreadPool::instance().parallel_for(n_blocks * n_batch, run);
  }
}

template <class T>
void scatter_typed(const CsrMatrix& A, std::span<const int64_t> batch_offset,
                   std::span<const int64_t> row_offset, std::span<const int64_t> col_offset, Buffer& out) {
  const CsrPattern& p = *A.pattern;
  const int64_t* row_ptr = p.row_ptr->as<int64_t>();
  const int32_t* col = p.col->as<int32_t>();
  const T* values = A.values->as<T>();
  T* o = out.as<T>();
  for (int64_t b = 0; b < A.batch; ++b) {
    for (int64_t r = 0; r < p.rows; ++r) {
      for (int64_t k = row_ptr[r]; k < row_ptr[r + 1]; ++k) {
        o[batch_offset[b] + row_offset[r] + col_offset[col[k]]] += values[b * p.nnz() + k];
      }
    }
  }
}

template <class Fn>
void dispatch(DType dtype, const char* what, Fn&& fn) {
  switch (dtype) {
    case DType::f32: fn(float{}); return;
    case DType::f64: fn(double{}); return;
    case DType::i32: fn(int32_t{}); return;
    case DType::i64: fn(int64_t{}); return;
    case DType::boolean: break;
  }
  throw Error(fmt::format("{}: sparse matrices of dtype {} are not supported (use a float or int dtype)",
                          what, dtype_name(dtype)));
}

}  // namespace

void validate(const CsrPattern& p) {
  auto fail = [](const std::string& msg) { throw Error("invalid CSR pattern: " + msg); };
  if (!p.row_ptr || p.row_ptr->dtype() != DType::i64 || p.row_ptr->count() != p.rows + 1)
    fail(fmt::format("row_ptr must be int64 with {} entries", p.rows + 1));
  if (!p.col || p.col->dtype() != DType::i32) fail("col must be int32");
  const int64_t* rp = p.row_ptr->as<int64_t>();
  const int32_t* col = p.col->as<int32_t>();
  if (rp[0] != 0 || rp[p.rows] != p.nnz())
    fail(fmt::format("row_ptr must run from 0 to nnz={}, got {}..{}", p.nnz(), rp[0], rp[p.rows]));
  for (int64_t r = 0; r < p.rows; ++r) {
    if (rp[r + 1] < rp[r]) fail(fmt::format("row_ptr decreases at row {}", r));
    for (int64_t k = rp[r]; k < rp[r + 1]; ++k) {
      if (col[k] < 0 || col[k] >= p.cols)
        fail(fmt::format("column {} in row {} is outside [0, {})", col[k], r, p.cols));
      if (k > rp[r] && col[k] <= col[k - 1])
        fail(fmt::format("columns of row {} are not sorted and unique", r));
    }
  }
}

void spmv(const CsrMatrix& A, const Buffer& x, Buffer& y, std::span<const int64_t> a_batch,
          std::span<const int64_t> x_batch) {
  DType t = A.values->dtype();
  if (x.dtype() != t || y.dtype() != t) {
    throw Error(fmt::format("spmv: matrix, vector and result must share one dtype, got {}, {} and {}",
                            dtype_name(t), dtype_name(x.dtype()), dtype_name(y.dtype())));
  }
  if (a_batch.size() != x_batch.size() ||
      y.count() != static_cast<int64_t>(a_batch.size()) * A.pattern->rows) {
    throw Error("spmv: batch index lists and result size do not match");
  }
  dispatch(t, "spmv", [&](auto tag) { spmv_typed<decltype(tag)>(A, x, y, a_batch, x_batch); });
}

CsrMatrix transpose(const CsrMatrix& A) {
  const CsrPattern& p = *A.pattern;
  int64_t nnz = p.nnz();
  if (p.rows > INT32_MAX) {
    throw Error(fmt::format("transpose: {} rows do not fit the int32 column indices of CSR", p.rows));
  }
  const int64_t* rp = p.row_ptr->as<int64_t>();
  const int32_t* col = p.col->as<int32_t>();
  auto t_ptr = std::make_shared<Buffer>(DType::i64, p.cols + 1);
  auto t_col = std::make_shared<Buffer>(DType::i32, nnz, Buffer::Uninitialized{});
  int64_t* tp = t_ptr->as<int64_t>();
  for (int64_t k = 0; k < nnz; ++k) ++tp[col[k] + 1];
  for (int64_t c = 0; c < p.cols; ++c) tp[c + 1] += tp[c];
  // Rows are visited in order, so each transposed row's columns come out sorted.
  std::vector<int64_t> next(tp, tp + p.cols);
  std::vector<int64_t> perm(static_cast<size_t>(nnz));
  int32_t* tc = t_col->as<int32_t>();
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int64_t k = rp[r]; k < rp[r + 1]; ++k) {
      int64_t dst = next[static_cast<size_t>(col[k])]++;
      tc[dst] = static_cast<int32_t>(r);
      perm[static_cast<size_t>(dst)] = k;
    }
  }
  auto values = std::make_shared<Buffer>(A.values->dtype(), A.values->count(), Buffer::Uninitialized{});
  size_t es = dtype_size(A.values->dtype());
  const auto* src = static_cast<const char*>(A.values->data());
  auto* dst = static_cast<char*>(values->data());
  for (int64_t b = 0; b < A.batch; ++b) {
    for (int64_t k = 0; k < nnz; ++k) {
      std::copy_n(src + (b * nnz + perm[static_cast<size_t>(k)]) * es, es, dst + (b * nnz + k) * es);
    }
  }
  auto pattern = std::make_shared<CsrPattern>(CsrPattern{p.cols, p.rows, std::move(t_ptr), std::move(t_col)});
  return CsrMatrix{std::move(pattern), std::move(values), A.batch};
}

CsrMatrix dense_as_csr(BufferPtr values, int64_t rows, int64_t cols, int64_t batch) {
  int64_t entries = checked_mul(rows, cols, [&] {
    return fmt::format("A dense {}×{} matrix has more entries than fit in int64", rows, cols);
  });
  auto row_ptr = std::make_shared<Buffer>(DType::i64, rows + 1);
  auto col = std::make_shared<Buffer>(DType::i32, entries);
  for (int64_t r = 0; r <= rows; ++r) row_ptr->as<int64_t>()[r] = r * cols;
  for (int64_t k = 0; k < entries; ++k) col->as<int32_t>()[k] = static_cast<int32_t>(k % cols);
  auto pattern = std::make_shared<CsrPattern>(CsrPattern{rows, cols, row_ptr, col});
  return CsrMatrix{pattern, std::move(values), batch};
}

CsrMatrix with_values_dtype(const CsrMatrix& A, DType dtype) {
  if (A.values->dtype() == dtype) return A;
  auto v = std::make_shared<Buffer>(dtype, A.values->count(), Buffer::Uninitialized{});
  for (int64_t i = 0; i < v->count(); ++i) {
    if (is_float(dtype)) {
      v->set_real(i, A.values->get_real(i));
    } else {
      v->set_int(i, A.values->get_int(i));
    }
  }
  return CsrMatrix{A.pattern, std::move(v), A.batch};
}

CsrMatrix permute_rows(const CsrMatrix& A, std::span<const int64_t> from) {
  auto n = static_cast<int64_t>(from.size());
  const int64_t* rp = A.pattern->row_ptr->as<int64_t>();
  auto row_ptr = std::make_shared<Buffer>(DType::i64, n + 1);
  auto col = std::make_shared<Buffer>(DType::i32, A.pattern->nnz(), Buffer::Uninitialized{});
  auto values = std::make_shared<Buffer>(A.values->dtype(), A.values->count(), Buffer::Uninitialized{});
  int64_t* nrp = row_ptr->as<int64_t>();
  auto es = static_cast<int64_t>(dtype_size(A.values->dtype()));
  int64_t nnz = A.pattern->nnz();
  for (int64_t r = 0; r < n; ++r) {
    int64_t b = rp[from[static_cast<size_t>(r)]], len = rp[from[static_cast<size_t>(r)] + 1] - b;
    nrp[r + 1] = nrp[r] + len;
    std::copy_n(A.pattern->col->as<int32_t>() + b, len, col->as<int32_t>() + nrp[r]);
    for (int64_t v = 0; v < A.batch; ++v) {
      std::memcpy(static_cast<char*>(values->data()) + (v * nnz + nrp[r]) * es,
                  static_cast<const char*>(A.values->data()) + (v * nnz + b) * es,
                  static_cast<size_t>(len * es));
    }
  }
  auto pattern = std::make_shared<CsrPattern>(CsrPattern{n, A.pattern->cols, row_ptr, col});
  return CsrMatrix{pattern, values, A.batch};
}

void scatter_dense(const CsrMatrix& A, std::span<const int64_t> batch_offset,
                   std::span<const int64_t> row_offset, std::span<const int64_t> col_offset, Buffer& out) {
  if (out.dtype() != A.values->dtype()) throw Error("scatter_dense: result dtype differs from the matrix's");
  dispatch(A.values->dtype(), "dense",
           [&](auto tag) { scatter_typed<decltype(tag)>(A, batch_offset, row_offset, col_offset, out); });
}

}  // namespace phijit::runtime
