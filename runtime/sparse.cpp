#include "runtime/sparse.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <type_traits>
#include <vector>

#include "ir/checked.h"
#include "ir/error.h"
#include "runtime/thread_pool.h"

namespace phijit::runtime {

namespace {

// A's values with their entries reordered, in every batch entry: entry k of the result is entry
// from[k] of A (transposition and renumbering move entries between rows).
BufferPtr entries_from(const CsrMatrix& A, std::span<const int64_t> from) {
  auto values = std::make_shared<Buffer>(A.values->dtype(), A.values->count(), Buffer::Uninitialized{});
  const auto es = static_cast<int64_t>(dtype_size(A.values->dtype()));
  const auto nnz = static_cast<int64_t>(from.size());
  const auto* src = static_cast<const char*>(A.values->data());
  auto* dst = static_cast<char*>(values->data());
  for (int64_t b = 0; b < A.batch; ++b) {
    for (int64_t k = 0; k < nnz; ++k) {
      std::memcpy(dst + (b * nnz + k) * es, src + (b * nnz + from[static_cast<size_t>(k)]) * es,
                  static_cast<size_t>(es));
    }
  }
  return values;
}

// Below this many stored entries a product runs on the calling thread: waking the pool
// costs more than the work.
constexpr int64_t kInlineNnz = 32768;
// Entries per block when split: large enough to amortize scheduling, small enough to balance.
constexpr int64_t kBlockNnz = 65536;

// Bounds of row blocks of about kBlockNnz work each (and at least one row), where rows
// [0, r) cost cost_prefix[r]; one block when all `copies` of the work are below kInlineNnz.
std::vector<int64_t> row_blocks(const int64_t* cost_prefix, int64_t rows, int64_t copies) {
  std::vector<int64_t> bounds{0};
  if (cost_prefix[rows] * copies > kInlineNnz) {
    for (int64_t r = 0; r < rows;) {
      int64_t target = cost_prefix[r] + kBlockNnz;
      int64_t next = std::upper_bound(cost_prefix + r + 1, cost_prefix + rows + 1, target) - cost_prefix - 1;
      r = std::max(next, r + 1);
      bounds.push_back(std::min(r, rows));
    }
  } else {
    bounds.push_back(rows);
  }
  return bounds;
}

// Runs fn(task) for every task in [0, n): inline when there is one, else over the pool.
void run_tasks(int64_t n, const std::function<void(int64_t)>& fn) {
  if (n == 1) {
    fn(0);
  } else if (n > 1) {
    ThreadPool::instance().parallel_for(n, fn);
  }
}

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
  std::vector<int64_t> bounds = row_blocks(row_ptr, p.rows, n_batch);
  auto n_blocks = static_cast<int64_t>(bounds.size()) - 1;
  auto run = [&](int64_t task) {
    int64_t b = task / n_blocks, blk = task % n_blocks;
    spmv_rows(row_ptr, col, values + a_batch[b] * nnz, xs + x_batch[b] * p.cols, ys + b * p.rows, bounds[blk],
              bounds[blk + 1]);
  };
  run_tasks(n_blocks * n_batch, run);
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
        T& cell = o[batch_offset[b] + row_offset[r] + col_offset[col[k]]];
        if constexpr (std::is_same_v<T, uint8_t>) {
          cell |= values[b * p.nnz() + k];  // booleans (0 or 1): any true entry makes the cell true
        } else {
          cell += values[b * p.nnz() + k];
        }
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
  // Patterns are built by phijit (linearize, the sparse ops), never by the user.
  auto fail = [](const std::string& msg) { throw InternalError("invalid CSR pattern: " + msg); };
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
    throw InternalError(fmt::format("spmv: matrix, vector and result must share one dtype, got {}, {} and {}",
                                    dtype_name(t), dtype_name(x.dtype()), dtype_name(y.dtype())));
  }
  if (a_batch.size() != x_batch.size() ||
      y.count() != static_cast<int64_t>(a_batch.size()) * A.pattern->rows) {
    throw InternalError("spmv: batch index lists and result size do not match");
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
  BufferPtr values = entries_from(A, perm);
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
  if (out.dtype() != A.values->dtype())
    throw InternalError("scatter_dense: result dtype differs from the matrix's");
  if (out.dtype() == DType::boolean) {
    scatter_typed<uint8_t>(A, batch_offset, row_offset, col_offset, out);
    return;
  }
  dispatch(A.values->dtype(), "dense",
           [&](auto tag) { scatter_typed<decltype(tag)>(A, batch_offset, row_offset, col_offset, out); });
}

namespace {

// Multiply-adds of A·B: prefix sums over A's rows (rows + 1 entries), which balance the blocks.
std::vector<int64_t> product_flops(const CsrPattern& a, const CsrPattern& b) {
  const int64_t* arp = a.row_ptr->as<int64_t>();
  const int32_t* acol = a.col->as<int32_t>();
  const int64_t* brp = b.row_ptr->as<int64_t>();
  std::vector<int64_t> flops(static_cast<size_t>(a.rows + 1), 0);
  for (int64_t r = 0; r < a.rows; ++r) {
    int64_t f = 0;
    for (int64_t k = arp[r]; k < arp[r + 1]; ++k) f += brp[acol[k] + 1] - brp[acol[k]];
    flops[static_cast<size_t>(r + 1)] = flops[static_cast<size_t>(r)] + f;
  }
  return flops;
}

// Calls visit(r, c) once for every distinct column c of row r of A·B, rows [r0, r1) (Gustavson's
// symbolic phase). `mark` has B.cols entries below r0 (e.g. -1): it remembers the last row
// that met each column.
template <class Visit>
void product_columns(const CsrPattern& a, const CsrPattern& b, int64_t r0, int64_t r1,
                     std::vector<int64_t>& mark, Visit&& visit) {
  const int64_t* arp = a.row_ptr->as<int64_t>();
  const int32_t* acol = a.col->as<int32_t>();
  const int64_t* brp = b.row_ptr->as<int64_t>();
  const int32_t* bcol = b.col->as<int32_t>();
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t k = arp[r]; k < arp[r + 1]; ++k) {
      for (int64_t l = brp[acol[k]]; l < brp[acol[k] + 1]; ++l) {
        auto c = static_cast<size_t>(bcol[l]);
        if (mark[c] != r) {
          mark[c] = r;
          visit(r, bcol[l]);
        }
      }
    }
  }
}

// The pattern of A·B: its rows counted, then filled and sorted, block by block. Each block
// needs a mark array of B.cols entries, so there are at most a few blocks per thread.
std::shared_ptr<const CsrPattern> product_pattern(const CsrPattern& a, const CsrPattern& b,
                                                  const std::vector<int64_t>& flops) {
  std::vector<int64_t> bounds = row_blocks(flops.data(), a.rows, 1);
  auto max_blocks = static_cast<size_t>(4 * ThreadPool::instance().size()) + 1;
  if (bounds.size() > max_blocks) {
    std::vector<int64_t> fewer;
    for (size_t i = 0; i < max_blocks; ++i)
      fewer.push_back(bounds[i * (bounds.size() - 1) / (max_blocks - 1)]);
    bounds = std::move(fewer);
  }
  auto n_blocks = static_cast<int64_t>(bounds.size()) - 1;
  auto row_ptr = std::make_shared<Buffer>(DType::i64, a.rows + 1);
  int64_t* rp = row_ptr->as<int64_t>();
  run_tasks(n_blocks, [&](int64_t blk) {
    std::vector<int64_t> mark(static_cast<size_t>(b.cols), -1);
    product_columns(a, b, bounds[blk], bounds[blk + 1], mark, [&](int64_t r, int32_t) { ++rp[r + 1]; });
  });
  for (int64_t r = 0; r < a.rows; ++r) rp[r + 1] += rp[r];
  auto col = std::make_shared<Buffer>(DType::i32, rp[a.rows], Buffer::Uninitialized{});
  int32_t* cs = col->as<int32_t>();
  run_tasks(n_blocks, [&](int64_t blk) {
    std::vector<int64_t> mark(static_cast<size_t>(b.cols), -1);
    std::vector<int64_t> next(rp + bounds[blk], rp + bounds[blk + 1]);
    product_columns(a, b, bounds[blk], bounds[blk + 1], mark,
                    [&](int64_t r, int32_t c) { cs[next[static_cast<size_t>(r - bounds[blk])]++] = c; });
    for (int64_t r = bounds[blk]; r < bounds[blk + 1]; ++r) std::sort(cs + rp[r], cs + rp[r + 1]);
  });
  return std::make_shared<const CsrPattern>(CsrPattern{a.rows, b.cols, std::move(row_ptr), std::move(col)});
}

// Rows [r0, r1) of one product's values on its pattern c (zero on entry). `at` (B.cols
// entries) is scratch: per row it maps each column of c's row to its entry.
template <class T>
void product_rows(const CsrPattern& a, const T* av, const CsrPattern& b, const T* bv, const CsrPattern& c,
                  T* cv, int64_t r0, int64_t r1, int64_t* at) {
  const int64_t* arp = a.row_ptr->as<int64_t>();
  const int32_t* acol = a.col->as<int32_t>();
  const int64_t* brp = b.row_ptr->as<int64_t>();
  const int32_t* bcol = b.col->as<int32_t>();
  const int64_t* crp = c.row_ptr->as<int64_t>();
  const int32_t* ccol = c.col->as<int32_t>();
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t k = crp[r]; k < crp[r + 1]; ++k) at[ccol[k]] = k;
    for (int64_t k = arp[r]; k < arp[r + 1]; ++k) {
      T x = av[k];
      for (int64_t l = brp[acol[k]]; l < brp[acol[k] + 1]; ++l) cv[at[bcol[l]]] += x * bv[l];
    }
  }
}

template <class T>
void product_values(const CsrMatrix& A, const CsrMatrix& B, const CsrPattern& c, Buffer& values,
                    std::span<const int64_t> a_batch, std::span<const int64_t> b_batch,
                    const std::vector<int64_t>& flops) {
  const CsrPattern& a = *A.pattern;
  const CsrPattern& b = *B.pattern;
  auto n = static_cast<int64_t>(a_batch.size());
  std::vector<int64_t> bounds = row_blocks(flops.data(), a.rows, n);
  auto n_blocks = static_cast<int64_t>(bounds.size()) - 1;
  run_tasks(n_blocks * n, [&](int64_t task) {
    int64_t i = task / n_blocks, blk = task % n_blocks;
    // Every entry of `at` that is read was written for the same row first.
    auto at = std::make_unique_for_overwrite<int64_t[]>(static_cast<size_t>(b.cols));
    product_rows(a, A.values->as<T>() + a_batch[i] * a.nnz(), b, B.values->as<T>() + b_batch[i] * b.nnz(), c,
                 values.as<T>() + i * c.nnz(), bounds[blk], bounds[blk + 1], at.get());
  });
}

}  // namespace

CsrMatrix multiply(const CsrMatrix& A, const CsrMatrix& B, std::span<const int64_t> a_batch,
                   std::span<const int64_t> b_batch) {
  DType t = A.values->dtype();
  if (B.values->dtype() != t) {
    throw Error(fmt::format("multiply: both matrices must have one dtype, got {} and {}", dtype_name(t),
                            dtype_name(B.values->dtype())));
  }
  if (A.pattern->cols != B.pattern->rows || a_batch.size() != b_batch.size()) {
    throw Error(fmt::format("multiply: a {}×{} matrix cannot multiply a {}×{} one", A.pattern->rows,
                            A.pattern->cols, B.pattern->rows, B.pattern->cols));
  }
  std::vector<int64_t> flops = product_flops(*A.pattern, *B.pattern);
  std::shared_ptr<const CsrPattern> c = product_pattern(*A.pattern, *B.pattern, flops);
  auto n = static_cast<int64_t>(a_batch.size());
  auto values = std::make_shared<Buffer>(
      t, checked_mul(n, c->nnz(), [&] {
        return fmt::format("multiply: {} products of {} entries each do not fit in int64", n, c->nnz());
      }));
  dispatch(t, "multiply",
           [&](auto tag) { product_values<decltype(tag)>(A, B, *c, *values, a_batch, b_batch, flops); });
  return CsrMatrix{std::move(c), std::move(values), n};
}

PatternUnion pattern_union(const CsrPattern& a, const CsrPattern& b) {
  if (a.rows != b.rows || a.cols != b.cols) {
    throw Error(
        fmt::format("pattern_union: a {}×{} pattern and a {}×{} one", a.rows, a.cols, b.rows, b.cols));
  }
  const int64_t *arp = a.row_ptr->as<int64_t>(), *brp = b.row_ptr->as<int64_t>();
  const int32_t *acol = a.col->as<int32_t>(), *bcol = b.col->as<int32_t>();
  PatternUnion u{nullptr, std::vector<int64_t>(static_cast<size_t>(a.nnz())),
                 std::vector<int64_t>(static_cast<size_t>(b.nnz()))};
  auto row_ptr = std::make_shared<Buffer>(DType::i64, a.rows + 1);
  std::vector<int32_t> cols;
  cols.reserve(static_cast<size_t>(std::max(a.nnz(), b.nnz())));
  // Both rows are sorted: merge them.
  for (int64_t r = 0; r < a.rows; ++r) {
    int64_t i = arp[r], j = brp[r];
    while (i < arp[r + 1] || j < brp[r + 1]) {
      int32_t c = std::min(i < arp[r + 1] ? acol[i] : INT32_MAX, j < brp[r + 1] ? bcol[j] : INT32_MAX);
      auto here = static_cast<int64_t>(cols.size());
      if (i < arp[r + 1] && acol[i] == c) u.a_at[static_cast<size_t>(i++)] = here;
      if (j < brp[r + 1] && bcol[j] == c) u.b_at[static_cast<size_t>(j++)] = here;
      cols.push_back(c);
    }
    row_ptr->as<int64_t>()[r + 1] = static_cast<int64_t>(cols.size());
  }
  auto col = std::make_shared<Buffer>(DType::i32, static_cast<int64_t>(cols.size()), Buffer::Uninitialized{});
  std::copy(cols.begin(), cols.end(), col->as<int32_t>());
  u.pattern =
      std::make_shared<const CsrPattern>(CsrPattern{a.rows, a.cols, std::move(row_ptr), std::move(col)});
  return u;
}

BufferPtr spread_values(const Buffer& values, int64_t batch, std::span<const int64_t> at, int64_t nnz) {
  auto n = static_cast<int64_t>(at.size());
  auto out = std::make_shared<Buffer>(values.dtype(), batch * nnz);
  size_t es = dtype_size(values.dtype());
  const auto* src = static_cast<const char*>(values.data());
  auto* dst = static_cast<char*>(out->data());
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t k = 0; k < n; ++k) {
      std::memcpy(dst + (b * nnz + at[static_cast<size_t>(k)]) * es, src + (b * n + k) * es, es);
    }
  }
  return out;
}

BufferPtr gather_entries(const CsrPattern& p, const Buffer& src, int64_t batch, int64_t src_stride,
                         std::span<const int64_t> row_offset, std::span<const int64_t> col_offset) {
  int64_t nnz = p.nnz();
  const int64_t* rp = p.row_ptr->as<int64_t>();
  const int32_t* col = p.col->as<int32_t>();
  auto out = std::make_shared<Buffer>(src.dtype(), batch * nnz, Buffer::Uninitialized{});
  size_t es = dtype_size(src.dtype());
  const auto* from = static_cast<const char*>(src.data());
  auto* to = static_cast<char*>(out->data());
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t r = 0; r < p.rows; ++r) {
      for (int64_t k = rp[r]; k < rp[r + 1]; ++k) {
        int64_t offset = b * src_stride + row_offset[static_cast<size_t>(r)] + col_offset[col[k]];
        std::memcpy(to + (b * nnz + k) * es, from + offset * es, es);
      }
    }
  }
  return out;
}

CsrMatrix renumber(const CsrMatrix& A, std::span<const int64_t> row_from, std::span<const int64_t> col_to) {
  const CsrPattern& p = *A.pattern;
  const int64_t* rp = p.row_ptr->as<int64_t>();
  const int32_t* col = p.col->as<int32_t>();
  int64_t nnz = p.nnz();
  auto row_ptr = std::make_shared<Buffer>(DType::i64, p.rows + 1);
  auto new_col = std::make_shared<Buffer>(DType::i32, nnz, Buffer::Uninitialized{});
  int64_t* nrp = row_ptr->as<int64_t>();
  int32_t* nc = new_col->as<int32_t>();
  std::vector<int64_t> source(static_cast<size_t>(nnz));  // entry k of the result is entry source[k] of A
  for (int64_t r = 0; r < p.rows; ++r) {
    int64_t from = row_from[static_cast<size_t>(r)], len = rp[from + 1] - rp[from];
    nrp[r + 1] = nrp[r] + len;
    auto first = source.begin() + nrp[r];
    std::iota(first, first + len, rp[from]);
    std::sort(first, first + len, [&](int64_t x, int64_t y) { return col_to[col[x]] < col_to[col[y]]; });
    for (int64_t k = nrp[r]; k < nrp[r + 1]; ++k) {
      nc[k] = static_cast<int32_t>(col_to[col[source[static_cast<size_t>(k)]]]);
    }
  }
  BufferPtr values = entries_from(A, source);
  auto pattern =
      std::make_shared<const CsrPattern>(CsrPattern{p.rows, p.cols, std::move(row_ptr), std::move(new_col)});
  return CsrMatrix{std::move(pattern), std::move(values), A.batch};
}

namespace {

// max/min of two values as the interpreter's reductions take it: NaN wins.
double extremum(double acc, double v, Extremum kind) {
  if (std::isnan(acc) || std::isnan(v)) return NAN;
  return kind == Extremum::max ? std::max(acc, v) : std::min(acc, v);
}
int64_t extremum(int64_t acc, int64_t v, Extremum kind) {
  return kind == Extremum::max ? std::max(acc, v) : std::min(acc, v);
}

// fold_extremum with accumulators of type Acc (double for floats, int64 for the rest).
template <class Acc>
void fold_extremum_as(const CsrMatrix& A, std::span<const int64_t> batch_offset,
                      std::span<const int64_t> row_offset, std::span<const int64_t> col_offset, Extremum kind,
                      int64_t folded, Buffer& out) {
  constexpr bool real = std::is_floating_point_v<Acc>;
  auto read = [](const Buffer& b, int64_t i) -> Acc {
    if constexpr (real) {
      return b.get_real(i);
    } else {
      return b.get_int(i);
    }
  };
  Acc init = kind == Extremum::max
                 ? (real ? -std::numeric_limits<Acc>::infinity() : std::numeric_limits<Acc>::min())
                 : (real ? std::numeric_limits<Acc>::infinity() : std::numeric_limits<Acc>::max());
  std::vector<Acc> acc(static_cast<size_t>(out.count()), init);
  std::vector<int64_t> stored(static_cast<size_t>(out.count()), 0);
  const CsrPattern& p = *A.pattern;
  const int64_t* rp = p.row_ptr->as<int64_t>();
  const int32_t* col = p.col->as<int32_t>();
  for (int64_t b = 0; b < A.batch; ++b) {
    for (int64_t r = 0; r < p.rows; ++r) {
      for (int64_t k = rp[r]; k < rp[r + 1]; ++k) {
        auto o = static_cast<size_t>(batch_offset[static_cast<size_t>(b)] +
                                     row_offset[static_cast<size_t>(r)] + col_offset[col[k]]);
        acc[o] = extremum(acc[o], read(*A.values, b * p.nnz() + k), kind);
        ++stored[o];
      }
    }
  }
  for (int64_t o = 0; o < out.count(); ++o) {
    Acc v = stored[static_cast<size_t>(o)] < folded ? extremum(acc[static_cast<size_t>(o)], Acc{0}, kind)
                                                    : acc[static_cast<size_t>(o)];
    if constexpr (real) {
      out.set_real(o, v);
    } else {
      out.set_int(o, v);
    }
  }
}

}  // namespace

void fold_extremum(const CsrMatrix& A, std::span<const int64_t> batch_offset,
                   std::span<const int64_t> row_offset, std::span<const int64_t> col_offset, Extremum kind,
                   int64_t folded, Buffer& out) {
  if (out.dtype() != A.values->dtype())
    throw InternalError("fold_extremum: result dtype differs from the matrix's");
  if (is_float(out.dtype())) {
    fold_extremum_as<double>(A, batch_offset, row_offset, col_offset, kind, folded, out);
  } else {
    fold_extremum_as<int64_t>(A, batch_offset, row_offset, col_offset, kind, folded, out);
  }
}

}  // namespace phijit::runtime
