#include "runtime/sparse_assembly.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <numeric>

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
    for (const Dim& d : rows.dims()) add(d.name, d.size, t);
    for (const std::string& s : t.summed) {
      int64_t size = t.col_shape.size(s);
      add(s, size, t);
      per_row *= size;
      known.push_back(s);
    }
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
  Odometer at_row(int64_t row) const {
    Odometer it(sizes, {col_strides, coef_strides});
    it.seek(row * per_row);
    return it;
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

// Exclusive prefix sum in place; returns the total.
int64_t prefix_sum(std::vector<int64_t>& v) {
  int64_t acc = 0;
  for (int64_t& x : v) {
    int64_t n = x;
    x = acc;
    acc += n;
  }
  return acc;
}

template <class T>
void gather_values(const ValuePlan& plan, std::span<const BufferPtr> coefs, Buffer& out) {
  int64_t nnz = static_cast<int64_t>(plan.src.size());
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
      const T* src = coefs[t]->as<T>() + it.offset(t);
      std::copy_n(src, n, cat.data() + b * plan.width + plan.coef_base[t]);
    }
  }
  T* o = out.as<T>();
  for (int64_t b = 0; b < n_batch; ++b) {
    const T* c = cat.data() + b * plan.width;
    T* ob = o + b * nnz;
    for_row_blocks(nnz, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) ob[k] = c[plan.src[static_cast<size_t>(k)]];
    });
    for (auto [k, s] : plan.extra) ob[k] += c[s];
  }
}

}  // namespace

Assembly assemble(const Shape& rows, int64_t cols, const Shape& batch, std::span<const AssemblyTerm> terms) {
  int64_t n_rows = rows.volume();
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

  // Pass 1: entries per row before duplicates merge.
  std::vector<int64_t> raw_ptr(static_cast<size_t>(n_rows) + 1, 0);
  for_row_blocks(n_rows, [&](int64_t r0, int64_t r1) {
    for (size_t t = 0; t < terms.size(); ++t) {
      const int32_t* col = terms[t].col->as<int32_t>();
      Odometer it = walks[t].at_row(r0);
      for (int64_t r = r0; r < r1; ++r) {
        int64_t count = 0;
        for (int64_t j = 0; j < walks[t].per_row; ++j, it.next()) count += col[it.offset(0)] >= 0 ? 1 : 0;
        raw_ptr[static_cast<size_t>(r)] += count;
      }
    }
  });
  int64_t raw_total = prefix_sum(raw_ptr);
  raw_ptr.back() = raw_total;

  // Pass 2: (column, coefficient) of every entry, then each row sorted by column.
  std::vector<int32_t> raw_col(static_cast<size_t>(raw_total));
  std::vector<int64_t> raw_src(static_cast<size_t>(raw_total));
  std::vector<int64_t> unique(static_cast<size_t>(n_rows) + 1, 0);
  std::atomic<int64_t> bad_col{-1};
  for_row_blocks(n_rows, [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> pos(raw_ptr.begin() + r0, raw_ptr.begin() + r1);
    for (size_t t = 0; t < terms.size(); ++t) {
      const int32_t* col = terms[t].col->as<int32_t>();
      int64_t base = plan.coef_base[t];
      Odometer it = walks[t].at_row(r0);
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t j = 0; j < walks[t].per_row; ++j, it.next()) {
          int32_t c = col[it.offset(0)];
          if (c < 0) continue;
          if (c >= cols) bad_col = c;
          int64_t& p = pos[static_cast<size_t>(r - r0)];
          raw_col[static_cast<size_t>(p)] = c;
          raw_src[static_cast<size_t>(p)] = base + it.offset(1);
          ++p;
        }
      }
    }
    std::vector<std::pair<int32_t, int64_t>> row;
    for (int64_t r = r0; r < r1; ++r) {
      auto b = static_cast<size_t>(raw_ptr[static_cast<size_t>(r)]);
      auto e = static_cast<size_t>(raw_ptr[static_cast<size_t>(r) + 1]);
      row.clear();
      for (size_t k = b; k < e; ++k) row.emplace_back(raw_col[k], raw_src[k]);
      // Stable: among duplicates the first term's coefficient stays first.
      std::stable_sort(row.begin(), row.end(),
                       [](const auto& x, const auto& y) { return x.first < y.first; });
      int64_t n_unique = 0;
      for (size_t k = 0; k < row.size(); ++k) {
        raw_col[b + k] = row[k].first;
        raw_src[b + k] = row[k].second;
        n_unique += k == 0 || row[k].first != row[k - 1].first ? 1 : 0;
      }
      unique[static_cast<size_t>(r)] = n_unique;
    }
  });
  if (bad_col >= 0) {
    throw Error(
        fmt::format("sparse assembly: column index {} is outside x's {} elements", bad_col.load(), cols));
  }
  int64_t nnz = prefix_sum(unique);
  unique.back() = nnz;

  // Pass 3: the CSR arrays; duplicates become extra contributions to their entry.
  auto row_ptr = std::make_shared<Buffer>(DType::i64, n_rows + 1, Buffer::Uninitialized{});
  std::copy(unique.begin(), unique.end(), row_ptr->as<int64_t>());
  auto col = std::make_shared<Buffer>(DType::i32, nnz, Buffer::Uninitialized{});
  plan.src.resize(static_cast<size_t>(nnz));
  int32_t* cp = col->as<int32_t>();
  for (int64_t r = 0; r < n_rows; ++r) {
    int64_t k = unique[static_cast<size_t>(r)] - 1;
    for (int64_t q = raw_ptr[static_cast<size_t>(r)]; q < raw_ptr[static_cast<size_t>(r) + 1]; ++q) {
      auto qi = static_cast<size_t>(q);
      if (q == raw_ptr[static_cast<size_t>(r)] || raw_col[qi] != raw_col[qi - 1]) {
        ++k;
        cp[k] = raw_col[qi];
        plan.src[static_cast<size_t>(k)] = raw_src[qi];
      } else {
        plan.extra.emplace_back(k, raw_src[qi]);
      }
    }
  }
  out.pattern = std::make_shared<CsrPattern>(CsrPattern{n_rows, cols, std::move(row_ptr), std::move(col)});
  return out;
}

BufferPtr assemble_values(const ValuePlan& plan, std::span<const BufferPtr> coefs, DType dtype) {
  if (coefs.size() != plan.coef_shapes.size()) throw Error("sparse assembly: one coefficient array per term");
  for (size_t t = 0; t < coefs.size(); ++t) {
    if (coefs[t]->dtype() != dtype || coefs[t]->count() != plan.coef_shapes[t].volume())
      throw Error("sparse assembly: coefficient arrays must have the matrix dtype and their planned shape");
  }
  auto out = std::make_shared<Buffer>(dtype, plan.batch.volume() * static_cast<int64_t>(plan.src.size()),
                                      Buffer::Uninitialized{});
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
