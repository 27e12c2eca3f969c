// The CSR kernels of runtime/sparse.h behind sparse math: products, pattern unions,
// renumbering and max/min folds, checked against dense loops on the same matrices.
#include "runtime/sparse.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "ir/error.h"

using namespace phijit;
using namespace phijit::runtime;
using Dense = std::vector<double>;  // a row-major matrix

namespace {

// The nonzeros of row-major matrices (one per batch entry) on the union of their patterns.
CsrMatrix csr(int64_t rows, int64_t cols, const std::vector<Dense>& batch) {
  std::vector<int64_t> at;
  auto row_ptr = std::make_shared<Buffer>(DType::i64, rows + 1);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      bool keep = false;
      for (const Dense& m : batch) keep = keep || m[static_cast<size_t>(r * cols + c)] != 0;
      if (keep) at.push_back(r * cols + c);
    }
    row_ptr->as<int64_t>()[r + 1] = static_cast<int64_t>(at.size());
  }
  auto nnz = static_cast<int64_t>(at.size());
  auto col = std::make_shared<Buffer>(DType::i32, nnz);
  auto values = std::make_shared<Buffer>(DType::f64, static_cast<int64_t>(batch.size()) * nnz);
  for (int64_t k = 0; k < nnz; ++k) {
    col->as<int32_t>()[k] = static_cast<int32_t>(at[static_cast<size_t>(k)] % cols);
    for (size_t b = 0; b < batch.size(); ++b) {
      values->as<double>()[static_cast<int64_t>(b) * nnz + k] =
          batch[b][static_cast<size_t>(at[static_cast<size_t>(k)])];
    }
  }
  return CsrMatrix{std::make_shared<CsrPattern>(CsrPattern{rows, cols, row_ptr, col}), values,
                   static_cast<int64_t>(batch.size())};
}

// Batch entry b of a CSR matrix as a row-major dense matrix.
Dense to_dense(const CsrMatrix& A, int64_t b) {
  const CsrPattern& p = *A.pattern;
  Dense out(static_cast<size_t>(p.rows * p.cols), 0.0);
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int64_t k = p.row_ptr->as<int64_t>()[r]; k < p.row_ptr->as<int64_t>()[r + 1]; ++k) {
      out[static_cast<size_t>(r * p.cols + p.col->as<int32_t>()[k])] = A.values->get_real(b * p.nnz() + k);
    }
  }
  return out;
}

Dense dense_product(const Dense& a, const Dense& b, int64_t n, int64_t m, int64_t k) {
  Dense c(static_cast<size_t>(n * k), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < m; ++j) {
      for (int64_t l = 0; l < k; ++l) {
        c[static_cast<size_t>(i * k + l)] +=
            a[static_cast<size_t>(i * m + j)] * b[static_cast<size_t>(j * k + l)];
      }
    }
  }
  return c;
}

// A random n×m matrix with about `density` of its entries nonzero (rows may be empty).
Dense random_sparse(int64_t n, int64_t m, double density, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0, 1), v(-2, 2);
  Dense d(static_cast<size_t>(n * m), 0.0);
  for (double& x : d) x = u(rng) < density ? v(rng) : 0.0;
  return d;
}

}  // namespace

TEST_CASE("sparse kernels: multiply matches dense products, batch by batch", "[sparse]") {
  std::mt19937 rng(42);
  for (auto [n, m, k, density] : std::vector<std::tuple<int64_t, int64_t, int64_t, double>>{
           {1, 1, 1, 1.0}, {7, 5, 3, 0.3}, {30, 40, 25, 0.08}, {300, 200, 250, 0.05}, {4, 0, 3, 0.5}}) {
    INFO(n << "x" << m << " times " << m << "x" << k);
    std::vector<Dense> as{random_sparse(n, m, density, rng), random_sparse(n, m, density, rng)};
    std::vector<Dense> bs{random_sparse(m, k, density, rng), random_sparse(m, k, density, rng),
                          random_sparse(m, k, density, rng)};
    CsrMatrix A = csr(n, m, as), B = csr(m, k, bs);
    std::vector<int64_t> a_batch{0, 1, 1, 0}, b_batch{2, 0, 1, 1};
    CsrMatrix C = multiply(A, B, a_batch, b_batch);
    validate(*C.pattern);
    REQUIRE(C.batch == 4);
    for (int64_t i = 0; i < 4; ++i) {
      Dense want = dense_product(as[static_cast<size_t>(a_batch[static_cast<size_t>(i)])],
                                 bs[static_cast<size_t>(b_batch[static_cast<size_t>(i)])], n, m, k);
      CHECK_THAT(to_dense(C, i), Catch::Matchers::Approx(want).margin(1e-12));
    }
  }
}

TEST_CASE("sparse kernels: multiply rejects mismatched sizes and dtypes", "[sparse]") {
  CsrMatrix A = csr(2, 3, {Dense(6, 1.0)}), B = csr(2, 2, {Dense(4, 1.0)});
  std::vector<int64_t> one{0};
  CHECK_THROWS_AS(multiply(A, B, one, one), Error);
  CHECK_THROWS_AS(multiply(B, with_values_dtype(B, DType::f32), one, one), Error);
}

TEST_CASE("sparse kernels: pattern_union merges rows and places each side's entries", "[sparse]") {
  // Row 0: a has columns 0, 2 and b has 1, 2; row 1 is empty in both; row 2 only in b.
  CsrMatrix a = csr(3, 3, {{1, 0, 2, 0, 0, 0, 0, 0, 0}});
  CsrMatrix b = csr(3, 3, {{0, 3, 4, 0, 0, 0, 5, 0, 0}});
  PatternUnion u = pattern_union(*a.pattern, *b.pattern);
  validate(*u.pattern);
  CHECK(u.pattern->nnz() == 4);
  CHECK(std::vector<int32_t>(u.pattern->col->as<int32_t>(), u.pattern->col->as<int32_t>() + 4) ==
        std::vector<int32_t>{0, 1, 2, 0});
  CHECK(u.a_at == std::vector<int64_t>{0, 2});
  CHECK(u.b_at == std::vector<int64_t>{1, 2, 3});
  BufferPtr spread = spread_values(*a.values, 1, u.a_at, 4);
  CHECK(std::vector<double>(spread->as<double>(), spread->as<double>() + 4) ==
        std::vector<double>{1, 0, 2, 0});
}

TEST_CASE("sparse kernels: renumber permutes rows and columns and keeps rows sorted", "[sparse]") {
  Dense m{1, 2, 0, 0, 0, 3, 4, 0, 5};
  CsrMatrix A = csr(3, 3, {m, {2, 4, 0, 0, 0, 6, 8, 0, 10}});
  std::vector<int64_t> row_from{2, 0, 1}, col_to{2, 0, 1};
  CsrMatrix R = renumber(A, row_from, col_to);
  validate(*R.pattern);
  for (int64_t b = 0; b < 2; ++b) {
    Dense got = to_dense(R, b), src = to_dense(A, b);
    for (int64_t r = 0; r < 3; ++r) {
      for (int64_t c = 0; c < 3; ++c) {
        CHECK(got[static_cast<size_t>(r * 3 + col_to[static_cast<size_t>(c)])] ==
              src[static_cast<size_t>(row_from[static_cast<size_t>(r)] * 3 + c)]);
      }
    }
  }
}

TEST_CASE("sparse kernels: fold_extremum takes the unstored zeros into account", "[sparse]") {
  // Row 0 stores (−1, −2) fully, row 1 stores only −3.
  CsrMatrix A = csr(2, 2, {{-1, -2, 0, -3}});
  std::vector<int64_t> batch{0}, rows{0, 1}, none{0, 0};
  Buffer out(DType::f64, 2);
  fold_extremum(A, batch, rows, none, Extremum::max, 2, out);  // max over each row
  CHECK(std::vector<double>(out.as<double>(), out.as<double>() + 2) == std::vector<double>{-1, 0});
  fold_extremum(A, batch, rows, none, Extremum::min, 2, out);
  CHECK(std::vector<double>(out.as<double>(), out.as<double>() + 2) == std::vector<double>{-2, -3});
  Buffer all(DType::f64, 1);
  fold_extremum(A, batch, none, none, Extremum::max, 4, all);
  CHECK(all.as<double>()[0] == 0);
}
