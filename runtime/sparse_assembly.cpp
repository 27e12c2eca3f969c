#include "runtime/sparse_assembly.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <numeric>

#include "ir/checked.h"
#include "ir/error.h"
#include "runtime/odometer.h"
#include "runtime/thread_pool.h"

namespace phijit::runtime {

namespace {

constexpr int64_t kRowsPerBlock = 16384;

// The stride of `name` in `s`'s row-major layout; 0 when `s` lacks it (broadcast).
int64_t stride_in(const Shape& s, const std::string& name) {
  int i = s.index_of(name);
  return i < 0 ? 0 : strides_of(s)[static_cast<size_t>(i)];
}

// How one term is walked: rows in canonical order, then its summed dims, with the offsets of
// its column array and coefficients.
struct Walk {
  std::vector<int64_t> sizes;
  std::vector<int64_t> col_strides, coef_strides;
  int64_t per_row = 1;  // entries per row (the summed dims' volume)

  Walk(const Shape& rows, const Shape& batch, const AssemblyTerm& t) {
    std::vector<std::string> known = rows.names();
    std::vector<Dim> space = rows.dims();  // the index space walked: rows, then summed dims
    for (const Dim& d : rows.dims()) add(d.name, d.size, t);
    for (const std::string& s : t.summed) {
      const Dim& d = t.col_shape.dim(s);
      add(s, d.size, t);
      known.push_back(s);
      space.push_back(d);
    }
    // visit() and contiguous() multiply these sizes together: a ShapeError if that overflows.
    volume_of(space);
    per_row = volume_of(std::span<const Dim>(space).subspan(static_cast<size_t>(rows.rank())));
    for (const Dim& d : t.col_shape.dims()) {
      if (std::find(known.begin(), known.end(), d.name) == known.end()) {
        throw Error(
            fmt::format("sparse assembly: a column array varies along '{}', which is neither a row dim of "
                        "{} nor summed",
                        d.name, rows.str()));
      }
    }
    for (const Dim& d : t.coef_shape.dims()) {
      if (std::find(known.begin(), known.end(), d.name) == known.end() && !batch.contains(d.name)) {
        throw Error(fmt::format(
            "sparse assembly: coefficients vary along '{}', which is not a dim of the matrix", d.name));
      }
    }
  }
  void add(const std::string& name, int64_t size, const AssemblyTerm& t) {
    sizes.push_back(size);
    col_strides.push_back(stride_in(t.col_shape, name));
    coef_strides.push_back(stride_in(t.coef_shape, name));
  }
  // Calls fn(row, column, coefficient offset) for every entry of rows [r0, r1) in order;
  // column arrays over the whole index space (the usual stencil) take a direct loop.
  template <class Fn>
  void visit(const int32_t* col, int64_t r0, int64_t r1, Fn&& fn) const {
    if (contiguous(col_strides) && (contiguous(coef_strides) || all_zero(coef_strides))) {
      bool scalar = all_zero(coef_strides);
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t q = r * per_row; q < (r + 1) * per_row; ++q) fn(r, col[q], scalar ? 0 : q);
      }
      return;
    }
    Odometer it(sizes, {col_strides, coef_strides});
    it.seek(r0 * per_row);
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t j = 0; j < per_row; ++j, it.next()) fn(r, col[it.offset(0)], it.offset(1));
    }
  }

 private:
  bool contiguous(const std::vector<int64_t>& st) const {
    int64_t acc = 1;
    for (size_t d = sizes.size(); d-- > 0;) {
      if (sizes[d] > 1 && st[d] != acc) return false;
      acc *= sizes[d];
    }
    return true;
  }
  static bool all_zero(const std::vector<int64_t>& st) {
    return std::all_of(st.begin(), st.end(), [](int64_t v) { return v == 0; });
  }
};

// Calls fn(first_row, end_row) for blocks of rows, over the thread pool.
template <class Fn>
void for_row_blocks(int64_t rows, Fn fn) {
  int64_t n_blocks = std::max<int64_t>(1, (rows + kRowsPerBlock - 1) / kRowsPerBlock);
  auto run = [&](int64_t b) { fn(b * kRowsPerBlock, std::min(rows, (b + 1) * kRowsPerBlock)); };
  if (n_blocks == 1) {
    run(0);
  } else {
    ThreadPool::instance().parallel_for(n_blocks, run);
  }
}

template <class T>
void gather_values(const ValuePlan& plan, std::span<const BufferPtr> coefs, Buffer& out) {
  int64_t nnz = plan.src->count();
  const int32_t* src = plan.src->as<int32_t>();
  int64_t n_batch = plan.batch.volume();
  // One row of all terms' coefficients per batch entry.
  std::vector<T> cat(static_cast<size_t>(plan.width * n_batch));
  std::vector<std::vector<int64_t>> batch_strides;
  for (const Shape& s : plan.coef_shapes) {
    std::vector<int64_t> st;
    for (const Dim& d : plan.batch.dims()) st.push_back(stride_in(s, d.name));
    batch_strides.push_back(std::move(st));
  }
  Odometer it(plan.batch, batch_strides);
  for (int64_t b = 0; b < n_batch; ++b, it.next()) {
    for (size_t t = 0; t < coefs.size(); ++t) {
      int64_t n = plan.coef_shapes[t].without(plan.batch.names()).volume();
      const T* from = coefs[t]->as<T>() + it.offset(t);
      std::copy_n(from, n, cat.data() + b * plan.width + plan.coef_base[t]);
    }
  }
  T* o = out.as<T>();
  for (int64_t b = 0; b < n_batch; ++b) {
    const T* c = cat.data() + b * plan.width;
    T* ob = o + b * nnz;
    for_row_blocks(nnz, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) ob[k] = c[src[k]];
    });
    for (auto [k, s] : plan.extra) ob[k] += c[s];
  }
}

}  // namespace

Assembly assemble(const Shape& rows, int64_t cols, const Shape& batch, std::span<const AssemblyTerm> terms,
                  RowRange range) {
  const int64_t all_rows = rows.volume();
  if (range.count < 0) range = {0, all_rows};
  if (range.first < 0 || range.first > all_rows || range.count > all_rows - range.first) {
    throw Error(fmt::format("sparse assembly: rows [{}, {}) of a matrix with {} rows", range.first,
                            range.first + range.count, all_rows));
  }
  // Local row r is row `first` + r of the whole matrix.
  const int64_t first = range.first, n_rows = range.count;
  Assembly out;
  ValuePlan& plan = out.plan;
  plan.batch = batch;
  std::vector<Walk> walks;
  for (const AssemblyTerm& t : terms) {
    if (t.col->dtype() != DType::i32 || t.col->count() != t.col_shape.volume())
      throw Error("sparse assembly: column arrays must be int32 and match their shape");
    walks.emplace_back(rows, batch, t);
    plan.coef_shapes.push_back(t.coef_shape);
    plan.coef_base.push_back(plan.width);
    plan.width += t.coef_shape.without(batch.names()).volume();
  }
  if (plan.width > std::numeric_limits<int32_t>::max()) {
    throw Error(fmt::format(
        "sparse assembly: {} coefficients per matrix exceed the 2^31-1 that entries can index", plan.width));
  }

  // Pass 1: the entries of each row (before duplicates merge) give tentative row offsets.
  auto row_ptr = std::make_shared<Buffer>(DType::i64, n_rows + 1, Buffer::Uninitialized{});
  int64_t* rp = row_ptr->as<int64_t>();
  rp[0] = 0;
  for_row_blocks(n_rows, [&](int64_t r0, int64_t r1) {
    std::fill(rp + r0 + 1, rp + r1 + 1, 0);
    for (size_t t = 0; t < terms.size(); ++t) {
      walks[t].visit(terms[t].col->as<int32_t>(), first + r0, first + r1,
                     [&](int64_t r, int32_t c, int64_t) { rp[r - first + 1] += c >= 0 ? 1 : 0; });
    }
  });
  for (int64_t r = 0; r < n_rows; ++r) rp[r + 1] += rp[r];
  int64_t raw_total = rp[n_rows];

  // Slots: per row, one per term and summed index (-1 where there is none). Terms go in the
  // order of their column offset in a middle row, so that a stencil's rows arrive sorted.
  std::vector<size_t> order(terms.size());
  std::vector<int64_t> typical(terms.size(), 0);
  std::iota(order.begin(), order.end(), size_t{0});
  for (size_t t = 0; t < terms.size() && all_rows > 0; ++t) {
    bool seen = false;
    walks[t].visit(terms[t].col->as<int32_t>(), all_rows / 2, all_rows / 2 + 1,
                   [&](int64_t r, int32_t c, int64_t) {
                     if (!seen) typical[t] = c - r;
                     seen = true;
                   });
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return typical[a] < typical[b]; });
  int64_t slots = 0;
  for (const Walk& w : walks) slots += w.per_row;

  // Pass 2: each block of rows gathers its slots into a small buffer, sorts each row there
  // (insertion sort: rows are short and mostly sorted already; stable, so among duplicate
  // columns the first term's entry stays first) and writes the unique columns.
  auto col = std::make_shared<Buffer>(DType::i32, raw_total, Buffer::Uninitialized{});
  auto src = std::make_shared<Buffer>(DType::i32, raw_total, Buffer::Uninitialized{});
  int32_t* cp = col->as<int32_t>();
  int32_t* sp = src->as<int32_t>();
  Buffer unique_counts(DType::i64, n_rows, Buffer::Uninitialized{});  // recycled, unlike a vector
  int64_t* unique = unique_counts.as<int64_t>();
  struct Extra {
    int64_t row, index, src;  // index: among the row's unique entries
  };
  std::vector<std::vector<Extra>> extras(static_cast<size_t>((n_rows + kRowsPerBlock - 1) / kRowsPerBlock) +
                                         1);
  std::atomic<int64_t> bad_col{-1};
  for_row_blocks(n_rows, [&](int64_t r0, int64_t r1) {
    thread_local std::vector<int32_t> rc;
    thread_local std::vector<int32_t> rs;
    rc.resize(static_cast<size_t>((r1 - r0) * slots));
    rs.resize(rc.size());
    int64_t slot0 = 0;
    for (size_t t : order) {
      int64_t base = plan.coef_base[t], per_row = walks[t].per_row, j = 0;
      walks[t].visit(terms[t].col->as<int32_t>(), first + r0, first + r1,
                     [&](int64_t r, int32_t c, int64_t coef) {
                       auto q = static_cast<size_t>((r - first - r0) * slots + slot0 + j);
                       rc[q] = c;
                       rs[q] = static_cast<int32_t>(base + coef);
                       j = j + 1 == per_row ? 0 : j + 1;
                     });
      slot0 += per_row;
    }
    auto& extra = extras[static_cast<size_t>(r0 / kRowsPerBlock)];
    for (int64_t r = r0; r < r1; ++r) {
      auto b = static_cast<size_t>((r - r0) * slots), e = b + static_cast<size_t>(slots);
      for (size_t k = b + 1; k < e; ++k) {
        if (rc[k - 1] <= rc[k]) continue;
        int32_t c = rc[k];
        int32_t s = rs[k];
        size_t q = k;
        for (; q > b && rc[q - 1] > c; --q) {
          rc[q] = rc[q - 1];
          rs[q] = rs[q - 1];
        }
        rc[q] = c;
        rs[q] = s;
      }
      int64_t k = rp[r] - 1;
      for (size_t q = b; q < e; ++q) {
        if (rc[q] < 0) continue;
        if (rc[q] >= cols) bad_col = rc[q];
        if (k < rp[r] || rc[q] != cp[k]) {
          ++k;
          cp[k] = rc[q];
          sp[k] = rs[q];
        } else {
          extra.push_back({r, k - rp[r], rs[q]});
        }
      }
      unique[r] = k + 1 - rp[r];
    }
  });
  if (bad_col >= 0) {
    throw Error(
        fmt::format("sparse assembly: column index {} is outside x's {} elements", bad_col.load(), cols));
  }
  // Merged duplicates leave gaps at the ends of rows: close them.
  int64_t nnz = std::accumulate(unique, unique + n_rows, int64_t{0});
  if (nnz != raw_total) {
    auto packed_col = std::make_shared<Buffer>(DType::i32, nnz, Buffer::Uninitialized{});
    auto packed_src = std::make_shared<Buffer>(DType::i32, nnz, Buffer::Uninitialized{});
    int64_t k = 0;
    for (int64_t r = 0; r < n_rows; ++r) {
      int64_t n = unique[r];
      std::copy_n(cp + rp[r], n, packed_col->as<int32_t>() + k);
      std::copy_n(sp + rp[r], n, packed_src->as<int32_t>() + k);
      rp[r] = k;
      k += n;
    }
    rp[n_rows] = nnz;
    col = std::move(packed_col);
    src = std::move(packed_src);
  }
  for (const auto& block : extras) {
    for (const Extra& e : block) plan.extra.emplace_back(rp[e.row] + e.index, e.src);
  }
  plan.src = std::move(src);
  out.pattern = std::make_shared<CsrPattern>(CsrPattern{n_rows, cols, std::move(row_ptr), std::move(col)});
  return out;
}

BufferPtr assemble_values(const ValuePlan& plan, std::span<const BufferPtr> coefs, DType dtype) {
  if (coefs.size() != plan.coef_shapes.size()) throw Error("sparse assembly: one coefficient array per term");
  for (size_t t = 0; t < coefs.size(); ++t) {
    if (coefs[t]->dtype() != dtype || coefs[t]->count() != plan.coef_shapes[t].volume())
      throw Error("sparse assembly: coefficient arrays must have the matrix dtype and their planned shape");
  }
  int64_t count = checked_mul(plan.batch.volume(), plan.src->count(), [&] {
    return fmt::format("sparse assembly: {} entries for each element of batch {} do not fit in int64",
                       plan.src->count(), plan.batch.str());
  });
  auto out = std::make_shared<Buffer>(dtype, count, Buffer::Uninitialized{});
  switch (dtype) {
    case DType::f32: gather_values<float>(plan, coefs, *out); break;
    case DType::f64: gather_values<double>(plan, coefs, *out); break;
    case DType::i32: gather_values<int32_t>(plan, coefs, *out); break;
    case DType::i64: gather_values<int64_t>(plan, coefs, *out); break;
    case DType::boolean: throw Error("sparse matrices of booleans are not supported");
  }
  return out;
}

}  // namespace phijit::runtime
