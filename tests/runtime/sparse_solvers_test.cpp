// The CSR operator, symmetry check, Jacobi and ILU(0) preconditioners and direct solves
// (runtime/sparse_solvers.h), checked against dense products and hand-computed answers.
#include "runtime/sparse_solvers.h"

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ir/error.h"

using namespace phijit;
using namespace phijit::runtime;
using Reals = std::vector<double>;
using Dense = std::vector<double>;  // a row-major matrix

namespace {

// Matches an Error whose message contains `text`.
class MessageContains : public Catch::MatcherBase<Error> {
 public:
  explicit MessageContains(std::string text) : text_(std::move(text)) {}
  bool match(const Error& e) const override { return std::string(e.what()).find(text_) != std::string::npos; }
  std::string describe() const override { return "has a message containing \"" + text_ + "\""; }

 private:
  std::string text_;
};

// A batch of matrices on the union of their nonzero patterns; diagonal entries are kept even
// when zero if asked (to test stored zero pivots).
CsrMatrix csr(int64_t rows, int64_t cols, const std::vector<Dense>& batch, DType dtype = DType::f64,
              bool keep_diagonal = false) {
  std::vector<int64_t> at;  // row-major index of each stored entry
  auto row_ptr = std::make_shared<Buffer>(DType::i64, rows + 1);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      bool keep = keep_diagonal && r == c;
      for (const Dense& m : batch) keep = keep || m[r * cols + c] != 0;
      if (keep) at.push_back(r * cols + c);
    }
    row_ptr->as<int64_t>()[r + 1] = static_cast<int64_t>(at.size());
  }
  auto nnz = static_cast<int64_t>(at.size());
  auto col = std::make_shared<Buffer>(DType::i32, nnz);
  auto values = std::make_shared<Buffer>(dtype, static_cast<int64_t>(batch.size()) * nnz);
  for (int64_t k = 0; k < nnz; ++k) {
    col->as<int32_t>()[k] = static_cast<int32_t>(at[k] % cols);
    for (size_t b = 0; b < batch.size(); ++b)
      values->set_real(static_cast<int64_t>(b) * nnz + k, batch[b][at[k]]);
  }
  auto pattern = std::make_shared<CsrPattern>(CsrPattern{rows, cols, row_ptr, col});
  return CsrMatrix{pattern, values, static_cast<int64_t>(batch.size())};
}

Dense tridiagonal(int64_t n, double lower, double diag, double upper) {
  Dense a(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    a[i * n + i] = diag;
    if (i > 0) a[i * n + i - 1] = lower;
    if (i + 1 < n) a[i * n + i + 1] = upper;
  }
  return a;
}
// 1D Poisson (SPD) and upwinded convection-diffusion (nonsymmetric).
Dense poisson(int64_t n, double shift = 0) { return tridiagonal(n, -1, 2 + shift, -1); }
Dense convection(int64_t n, double c) { return tridiagonal(n, -1 - c, 2, -1 + c); }
// 1D Laplacian with zero-flux ends: singular (constants are in its null space).
Dense neumann(int64_t n, double scale = 1) {
  Dense a = poisson(n);
  a[0] = a[n * n - 1] = 1;
  for (double& v : a) v *= scale;
  return a;
}

// The 5-point Laplacian on an m × m grid with zero boundaries.
Dense laplace2d(int64_t m) {
  int64_t n = m * m;
  Dense a(n * n, 0.0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < m; ++j) {
      int64_t r = i * m + j;
      a[r * n + r] = 4;
      if (i > 0) a[r * n + r - m] = -1;
      if (i + 1 < m) a[r * n + r + m] = -1;
      if (j > 0) a[r * n + r - 1] = -1;
      if (j + 1 < m) a[r * n + r + 1] = -1;
    }
  }
  return a;
}

Reals matvec(const Dense& a, int64_t rows, const Reals& v) {
  auto cols = static_cast<int64_t>(v.size());
  Reals out(rows, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) out[r] += a[r * cols + c] * v[c];
  }
  return out;
}

// The inverse by Gauss-Jordan elimination with partial pivoting.
Dense inverse(Dense a, int64_t n) {
  Dense inv(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) inv[i * n + i] = 1;
  for (int64_t c = 0; c < n; ++c) {
    int64_t p = c;
    for (int64_t r = c + 1; r < n; ++r) {
      if (std::abs(a[r * n + c]) > std::abs(a[p * n + c])) p = r;
    }
    for (int64_t k = 0; k < n; ++k) {
      std::swap(a[c * n + k], a[p * n + k]);
      std::swap(inv[c * n + k], inv[p * n + k]);
    }
    double d = a[c * n + c];
    for (int64_t k = 0; k < n; ++k) {
      a[c * n + k] /= d;
      inv[c * n + k] /= d;
    }
    for (int64_t r = 0; r < n; ++r) {
      double f = a[r * n + c];
      if (r == c || f == 0) continue;
      for (int64_t k = 0; k < n; ++k) {
        a[r * n + k] -= f * a[c * n + k];
        inv[r * n + k] -= f * inv[c * n + k];
      }
    }
  }
  return inv;
}

Buffer vec(DType dtype, const Reals& v) {
  Buffer b(dtype, static_cast<int64_t>(v.size()));
  for (size_t i = 0; i < v.size(); ++i) b.set_real(static_cast<int64_t>(i), v[i]);
  return b;
}
Reals values(const Buffer& b) {
  Reals out;
  for (int64_t i = 0; i < b.count(); ++i) out.push_back(b.get_real(i));
  return out;
}
Reals concat(const std::vector<Reals>& parts) {
  Reals out;
  for (const Reals& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
Reals slice(const Reals& v, int64_t b, int64_t n) { return {v.begin() + b * n, v.begin() + (b + 1) * n}; }
double max_diff(const Reals& a, const Reals& b) {
  REQUIRE(a.size() == b.size());
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}
// Test data on a grid of 2⁻²⁰, exact in f32, so that f32 and f64 runs see the same numbers.
// (Not through static_cast<float>: g++ 12.2 -O3 SLP-vectorizes that loop and drops the
// rounding of some elements.)
Reals ramp(int64_t n, double offset) {
  Reals v(n);
  for (int64_t i = 0; i < n; ++i) {
    double s = std::sin(0.7 * static_cast<double>(i) + offset) + 0.1 * offset;
    v[i] = std::round(s * 1048576.0) / 1048576.0;
  }
  return v;
}

// For the solve's batch entry b, the dense matrix it uses.
const Dense& used(const std::vector<Dense>& mats, const std::vector<int64_t>& a_batch, size_t b) {
  return mats[a_batch[b]];
}

// The right-hand side of the solve's batch entry b.
Reals rhs(int64_t n, size_t b) { return ramp(n, static_cast<double>(b)); }

// Solves A x = rhs with solve_direct and returns the x of every batch entry.
Reals direct(const std::vector<Dense>& mats, int64_t n, const std::vector<int64_t>& a_batch, DType dtype,
             std::vector<bool>& ok) {
  std::vector<Reals> ys;
  for (size_t b = 0; b < a_batch.size(); ++b) ys.push_back(rhs(n, b));
  Buffer y = vec(dtype, concat(ys));
  Buffer x(dtype, y.count());
  ok = solve_direct(csr(n, n, mats, dtype), a_batch, y, x);
  return values(x);
}

// The largest |A x − rhs| over the batch.
double residual(const std::vector<Dense>& mats, int64_t n, const std::vector<int64_t>& a_batch,
                const Reals& xs) {
  double worst = 0;
  for (size_t b = 0; b < a_batch.size(); ++b) {
    Reals ax = matvec(used(mats, a_batch, b), n, slice(xs, static_cast<int64_t>(b), n));
    worst = std::max(worst, max_diff(ax, rhs(n, b)));
  }
  return worst;
}

}  // namespace

TEST_CASE("sparse solvers: csr_operator applies each batch entry's matrix", "[sparse-solvers]") {
  int64_t n = 5;
  std::vector<Dense> mats{poisson(n), convection(n, 0.3)};
  std::vector<int64_t> a_batch{1, 0, 1};
  auto op = csr_operator(csr(n, n, mats), a_batch);
  CHECK(op->rows() == n);
  CHECK(op->cols() == n);
  std::vector<Reals> xs{ramp(n, 0), ramp(n, 1), ramp(n, 2)};
  Buffer x = vec(DType::f64, concat(xs));
  Buffer y(DType::f64, 3 * n);
  op->apply(x, y);
  Reals expected;
  for (size_t b = 0; b < 3; ++b) {
    Reals part = matvec(used(mats, a_batch, b), n, xs[b]);
    expected.insert(expected.end(), part.begin(), part.end());
  }
  CHECK(max_diff(values(y), expected) < 1e-14);

  // Rectangular: 2 × 3.
  auto rect = csr_operator(csr(2, 3, {{1, 0, 2, 0, 3, 0}}), {0});
  CHECK(rect->rows() == 2);
  CHECK(rect->cols() == 3);
  Buffer x3 = vec(DType::f64, {1, 2, 3});
  Buffer y2(DType::f64, 2);
  rect->apply(x3, y2);
  CHECK(values(y2) == Reals{7, 6});

  Buffer short_x(DType::f64, 2 * n);
  CHECK_THROWS_MATCHES(op->apply(short_x, y), Error, MessageContains("x to hold 3 × 5 = 15 values"));
  Buffer y32(DType::f32, 3 * n);
  CHECK_THROWS_MATCHES(op->apply(x, y32), Error, MessageContains("float64, got float32"));
  CHECK_THROWS_MATCHES(csr_operator(csr(n, n, mats), {0, 2}), Error, MessageContains("a_batch[1] = 2"));
  CHECK_THROWS_MATCHES(csr_operator(csr(n, n, mats, DType::i32), {0}), Error,
                       MessageContains("expected float32 or float64 values, got int32"));
}

TEST_CASE("sparse solvers: is_symmetric compares each entry with its mirror", "[sparse-solvers]") {
  CHECK(is_symmetric(csr(6, 6, {poisson(6)})));
  CHECK(is_symmetric(csr(6, 6, {poisson(6)}, DType::f32)));
  CHECK(is_symmetric(csr(16, 16, {laplace2d(4)})));
  CHECK_FALSE(is_symmetric(csr(6, 6, {convection(6, 0.3)})));
  CHECK_FALSE(is_symmetric(csr(6, 6, {poisson(6), convection(6, 0.3)})));
  CHECK(is_symmetric(csr(6, 6, {poisson(6), poisson(6, 1)})));
  CHECK_FALSE(is_symmetric(csr(2, 3, {{1, 0, 0, 0, 1, 0}})));

  // An entry without a stored mirror is compared with zero.
  Dense upper_only = poisson(3);
  upper_only[2] = 0.5;
  CHECK_FALSE(is_symmetric(csr(3, 3, {upper_only})));
  upper_only[2] = 1e-20;
  CHECK(is_symmetric(csr(3, 3, {upper_only})));

  // The tolerance is relative to the largest value.
  Dense nearly = poisson(3);
  nearly[1] = -1 + 1e-14;
  CHECK(is_symmetric(csr(3, 3, {nearly})));
  CHECK_FALSE(is_symmetric(csr(3, 3, {nearly}), 1e-16));
  for (double& v : nearly) v *= 1e-30;
  CHECK(is_symmetric(csr(3, 3, {nearly})));
}

TEST_CASE("sparse solvers: jacobi divides by each entry's diagonal", "[sparse-solvers]") {
  int64_t n = 4;
  std::vector<Dense> mats{poisson(n), tridiagonal(n, 1, -4, 0.5)};
  std::vector<int64_t> a_batch{1, 0, 1};
  for (DType dtype : {DType::f64, DType::f32}) {
    auto pre = jacobi(csr(n, n, mats, dtype), a_batch);
    Reals rs = concat({ramp(n, 0), ramp(n, 1), ramp(n, 2)});
    Buffer r = vec(dtype, rs);
    Buffer z(dtype, 3 * n);
    pre->apply(r, z);
    Reals expected = rs;
    for (int64_t b = 0; b < 3; ++b) {
      for (int64_t i = 0; i < n; ++i) expected[b * n + i] /= b == 1 ? 2.0 : -4.0;
    }
    CHECK(max_diff(values(z), expected) < (dtype == DType::f64 ? 1e-15 : 1e-6));
    Buffer short_z(dtype, n);
    CHECK_THROWS_MATCHES(pre->apply(r, short_z), Error, MessageContains("z to hold 3 × 4 = 12 values"));
  }

  Dense zero = poisson(n);
  zero[2 * n + 2] = 0;
  CHECK_THROWS_MATCHES(jacobi(csr(n, n, {zero}, DType::f64, true), {0}), Error, MessageContains("row 2"));
  CHECK_THROWS_MATCHES(jacobi(csr(n, n, {zero}), {0}), Error, MessageContains("row 2"));
  CHECK_THROWS_MATCHES(jacobi(csr(2, 3, {{1, 0, 0, 0, 1, 0}}), {0}), Error, MessageContains("square"));
}

TEST_CASE("sparse solvers: ilu0 of a tridiagonal or full matrix is its exact LU", "[sparse-solvers]") {
  int64_t n = 6;
  std::vector<Dense> mats{poisson(n), convection(n, 0.4)};
  std::vector<int64_t> a_batch{1, 0, 1};
  for (DType dtype : {DType::f64, DType::f32}) {
    auto pre = ilu0(csr(n, n, mats, dtype), a_batch);
    std::vector<Reals> vs{ramp(n, 0), ramp(n, 1), ramp(n, 2)};
    Reals rs;
    for (size_t b = 0; b < 3; ++b) {
      Reals part = matvec(used(mats, a_batch, b), n, vs[b]);
      rs.insert(rs.end(), part.begin(), part.end());
    }
    Buffer r = vec(dtype, rs);
    Buffer z(dtype, 3 * n);
    pre->apply(r, z);
    CHECK(max_diff(values(z), concat(vs)) < (dtype == DType::f64 ? 1e-12 : 1e-5));
  }

  Dense full{4, 1, 2, 1, 5, 3, 2, 1, 6};
  auto pre = ilu0(csr(3, 3, {full}), {0});
  Reals v{1, -2, 3};
  Buffer r = vec(DType::f64, matvec(full, 3, v));
  Buffer z(DType::f64, 3);
  pre->apply(r, z);
  CHECK(max_diff(values(z), v) < 1e-12);
}

TEST_CASE("sparse solvers: ilu0 of the 2D Laplacian reproduces A on its pattern", "[sparse-solvers]") {
  int64_t n = 16;
  Dense a = laplace2d(4);
  // M⁻¹ column by column (a batch of unit vectors on one matrix), then M = L·U.
  auto pre = ilu0(csr(n, n, {a}), std::vector<int64_t>(n, 0));
  Reals units(n * n, 0.0);
  for (int64_t j = 0; j < n; ++j) units[j * n + j] = 1;
  Buffer r = vec(DType::f64, units);
  Buffer z(DType::f64, n * n);
  pre->apply(r, z);
  Dense m_inv(n * n);
  Reals zs = values(z);
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t i = 0; i < n; ++i) m_inv[i * n + j] = zs[j * n + i];
  }
  Dense m = inverse(m_inv, n);
  double on_pattern = 0, fill = 0;
  for (int64_t k = 0; k < n * n; ++k) {
    if (a[k] != 0) {
      on_pattern = std::max(on_pattern, std::abs(m[k] - a[k]));
    } else {
      fill = std::max(fill, std::abs(m[k]));
    }
  }
  CHECK(on_pattern < 1e-12);
  CHECK(fill > 0.01);  // the dropped fill-in: M is not A
}

TEST_CASE("sparse solvers: ilu0 rejects missing diagonals and zero pivots", "[sparse-solvers]") {
  Dense no_diag = poisson(3);
  no_diag[4] = 0;
  CHECK_THROWS_MATCHES(ilu0(csr(3, 3, {no_diag}), {0}), Error,
                       MessageContains("row 1 has no diagonal entry"));
  Dense swap{0, 1, 1, 0};
  CHECK_THROWS_MATCHES(ilu0(csr(2, 2, {swap}, DType::f64, true), {0}), Error,
                       MessageContains("pivot of row 0"));
  Dense rank_one{1, 1, 1, 1};
  CHECK_THROWS_MATCHES(ilu0(csr(2, 2, {poisson(2), rank_one}), {0, 1}), Error,
                       MessageContains("pivot of row 1 (matrix batch entry 1)"));
  CHECK_NOTHROW(ilu0(csr(2, 2, {poisson(2), rank_one}), {0, 0}));  // unused entries are not factored
  CHECK_THROWS_MATCHES(ilu0(csr(2, 3, {{1, 0, 0, 0, 1, 0}}), {0}), Error, MessageContains("square"));
}

TEST_CASE("sparse solvers: solve_direct solves symmetric and nonsymmetric batches", "[sparse-solvers]") {
  int64_t n = 40;
  std::vector<int64_t> a_batch{1, 0, 1};
  std::vector<bool> ok;
  auto check = [&](const std::vector<Dense>& mats, int64_t size, const std::vector<int64_t>& batch) {
    INFO("matrix size " << size);
    Reals x = direct(mats, size, batch, DType::f64, ok);
    CHECK(residual(mats, size, batch, x) < 1e-10);
    CHECK(ok == std::vector<bool>(batch.size(), true));
  };
  check({poisson(n), poisson(n, 0.5)}, n, a_batch);
  check({convection(n, 0.3), convection(n, -0.7)}, n, a_batch);
  check({poisson(n), convection(n, -0.7)}, n, a_batch);
  check({laplace2d(5)}, 25, {0, 0});
  // Symmetric but indefinite, with a zero diagonal: LDLT may fail and LU takes over.
  check({{0, 1, 0, 1, 0, 2, 0, 2, 1}}, 3, {0});

  // f32 data is solved in double and rounded once (the data here is exact in f32).
  std::vector<Dense> mats{poisson(n), convection(n, 0.25)};
  Reals x64 = direct(mats, n, a_batch, DType::f64, ok);
  Reals x32 = direct(mats, n, a_batch, DType::f32, ok);
  CHECK(ok == std::vector<bool>{true, true, true});
  double scale = 0;
  for (double v : x64) scale = std::max(scale, std::abs(v));
  CHECK(max_diff(x32, x64) < 1e-5 * scale);
}

TEST_CASE("sparse solvers: solve_direct reports singular matrices as false", "[sparse-solvers]") {
  int64_t n = 6;
  auto solve = [](const std::vector<Dense>& mats, int64_t size, std::vector<int64_t> a_batch,
                  Reals* x_out = nullptr) {
    Buffer y = vec(DType::f64, concat(std::vector<Reals>(a_batch.size(), ramp(size, 0))));
    Buffer x = vec(DType::f64, Reals(y.count(), 7.0));
    std::vector<bool> ok = solve_direct(csr(size, size, mats), a_batch, y, x);
    if (x_out != nullptr) *x_out = values(x);
    return ok;
  };
  CHECK(solve({neumann(n)}, n, {0}) == std::vector<bool>{false});
  CHECK(solve({neumann(n, 0.1)}, n, {0}) == std::vector<bool>{false});
  CHECK(solve({neumann(50, 0.1), convection(50, 0.3)}, 50, {0, 1}) == std::vector<bool>{false, true});
  CHECK(solve({{1, 2, 3, 4, 5, 6, 7, 8, 9}}, 3, {0}) == std::vector<bool>{false});
  CHECK(solve({{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}}, 3, {0}) == std::vector<bool>{false});
  CHECK(solve({{1, 2, 0, 0, 0, 0, 0, 3, 4}}, 3, {0}) == std::vector<bool>{false});  // an empty row
  CHECK(solve({{0, 0, 0, 0}}, 2, {0}) == std::vector<bool>{false});

  // A failed entry keeps its x; the others are solved.
  Reals xs;
  CHECK(solve({poisson(n), neumann(n)}, n, {1, 0}, &xs) == std::vector<bool>{false, true});
  CHECK(slice(xs, 0, n) == Reals(n, 7.0));
  CHECK(max_diff(matvec(poisson(n), n, slice(xs, 1, n)), ramp(n, 0)) < 1e-12);
}

TEST_CASE("sparse solvers: solve_direct checks dtypes, sizes and batch indices", "[sparse-solvers]") {
  int64_t n = 4;
  CsrMatrix a = csr(n, n, {poisson(n), convection(n, 0.3)});
  Buffer y(DType::f64, 2 * n), x(DType::f64, 2 * n);
  std::vector<int64_t> a_batch{0, 1};
  CHECK_NOTHROW(solve_direct(a, a_batch, y, x));
  Buffer short_buf(DType::f64, n), y32(DType::f32, 2 * n);
  CHECK_THROWS_MATCHES(solve_direct(a, a_batch, short_buf, x), Error,
                       MessageContains("y to hold 2 × 4 = 8 values"));
  CHECK_THROWS_MATCHES(solve_direct(a, a_batch, y, short_buf), Error,
                       MessageContains("x to hold 2 × 4 = 8 values"));
  CHECK_THROWS_MATCHES(solve_direct(a, a_batch, y32, x), Error, MessageContains("float64, got float32"));
  std::vector<int64_t> bad_batch{0, 2};
  CHECK_THROWS_MATCHES(solve_direct(a, bad_batch, y, x), Error, MessageContains("a_batch[1] = 2 is outside"));
  Buffer yi(DType::i32, 2 * n), xi(DType::i32, 2 * n);
  CHECK_THROWS_MATCHES(solve_direct(csr(n, n, {poisson(n), poisson(n)}, DType::i32), a_batch, yi, xi), Error,
                       MessageContains("expected float32 or float64 values, got int32"));
  CHECK_THROWS_MATCHES(solve_direct(csr(2, 3, {{1, 0, 0, 0, 1, 0}}), std::vector<int64_t>{0}, short_buf, x),
                       Error, MessageContains("square"));
  CsrMatrix short_values = a;
  short_values.batch = 3;
  CHECK_THROWS_MATCHES(solve_direct(short_values, a_batch, y, x), Error, MessageContains("(batch × nnz)"));
}

TEST_CASE("sparse solvers: solve_direct_dense solves and detects singular matrices", "[sparse-solvers]") {
  // x = (1, 2, 3) solves both systems; the second matrix is twice the first.
  Dense a{2, 1, 1, 1, 3, 2, 1, 0, 0};
  Reals a_values = a;
  for (double v : a) a_values.push_back(2 * v);
  Reals ys{7, 13, 1, 14, 26, 2, 7, 13, 1};
  std::vector<int64_t> a_batch{0, 1, 0};
  for (DType dtype : {DType::f64, DType::f32}) {
    Buffer am = vec(dtype, a_values), y = vec(dtype, ys);
    Buffer x(dtype, 9);
    CHECK(solve_direct_dense(am, 3, a_batch, y, x) == std::vector<bool>{true, true, true});
    CHECK(max_diff(values(x), {1, 2, 3, 1, 2, 3, 1, 2, 3}) < (dtype == DType::f64 ? 1e-12 : 1e-5));
  }
  // Scale does not matter, only conditioning.
  Reals tiny = a;
  for (double& v : tiny) v *= 1e-200;
  Buffer at = vec(DType::f64, tiny), yt = vec(DType::f64, {7e-200, 13e-200, 1e-200}), xt(DType::f64, 3);
  CHECK(solve_direct_dense(at, 3, std::vector<int64_t>{0}, yt, xt) == std::vector<bool>{true});
  CHECK(max_diff(values(xt), {1, 2, 3}) < 1e-12);

  // Singular: a failed entry keeps its x.
  Reals singular{1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  Buffer as = vec(DType::f64, singular), y = vec(DType::f64, {1, 1, 1, 1, 1, 1}),
         x = vec(DType::f64, Reals(6, 7));
  CHECK(solve_direct_dense(as, 3, std::vector<int64_t>{0, 1}, y, x) == std::vector<bool>{false, false});
  CHECK(values(x) == Reals(6, 7));

  Buffer y3(DType::f64, 3), x3(DType::f64, 3);
  CHECK_THROWS_MATCHES(solve_direct_dense(as, 4, std::vector<int64_t>{0}, y3, x3), Error,
                       MessageContains("whole 4 × 4 matrices, got 18 values"));
  CHECK_THROWS_MATCHES(solve_direct_dense(as, 3, std::vector<int64_t>{2}, y3, x3), Error,
                       MessageContains("a_batch[0] = 2 is outside the matrix batch [0, 2)"));
  CHECK_THROWS_MATCHES(solve_direct_dense(as, 3, std::vector<int64_t>{0, 1}, y3, x3), Error,
                       MessageContains("y to hold 2 × 3 = 6 values"));
  Buffer x32(DType::f32, 3);
  CHECK_THROWS_MATCHES(solve_direct_dense(as, 3, std::vector<int64_t>{0}, y3, x32), Error,
                       MessageContains("float64, got float32"));
  Buffer ai(DType::i64, 9);
  CHECK_THROWS_MATCHES(solve_direct_dense(ai, 3, std::vector<int64_t>{0}, y3, x3), Error,
                       MessageContains("expected float32 or float64 values, got int64"));
}

TEST_CASE("sparse solvers: large tridiagonal systems split over the thread pool", "[sparse-solvers]") {
  // Two tridiagonal matrices with n = 100000 rows, built in O(n): (lower, diag, upper) each.
  int64_t n = 100000;
  std::vector<std::array<double, 3>> coef{{-1, 2.5, -1}, {-1.25, 3, -0.75}};
  std::vector<int64_t> at;
  auto row_ptr = std::make_shared<Buffer>(DType::i64, n + 1);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = std::max<int64_t>(0, i - 1); j <= std::min(n - 1, i + 1); ++j) at.push_back(i * n + j);
    row_ptr->as<int64_t>()[i + 1] = static_cast<int64_t>(at.size());
  }
  auto nnz = static_cast<int64_t>(at.size());
  auto col = std::make_shared<Buffer>(DType::i32, nnz);
  auto vals = std::make_shared<Buffer>(DType::f64, 2 * nnz);
  for (int64_t k = 0; k < nnz; ++k) {
    int64_t i = at[k] / n, j = at[k] % n;
    col->as<int32_t>()[k] = static_cast<int32_t>(j);
    for (int64_t m = 0; m < 2; ++m) vals->as<double>()[m * nnz + k] = coef[m][j - i + 1];
  }
  CsrMatrix a{std::make_shared<CsrPattern>(CsrPattern{n, n, row_ptr, col}), vals, 2};
  auto product = [&](int64_t m, const Reals& v) {
    Reals out(n);
    for (int64_t i = 0; i < n; ++i) {
      out[i] =
          coef[m][1] * v[i] + (i > 0 ? coef[m][0] * v[i - 1] : 0) + (i + 1 < n ? coef[m][2] * v[i + 1] : 0);
    }
    return out;
  };
  std::vector<int64_t> a_batch{1, 0, 1};
  std::vector<Reals> vs{ramp(n, 0), ramp(n, 1), ramp(n, 2)};
  Reals rs;
  for (size_t b = 0; b < 3; ++b) {
    Reals part = product(a_batch[b], vs[b]);
    rs.insert(rs.end(), part.begin(), part.end());
  }
  Buffer r = vec(DType::f64, rs), z(DType::f64, 3 * n);

  CHECK_FALSE(is_symmetric(a));
  auto first_values = std::make_shared<Buffer>(DType::f64, nnz);
  std::copy_n(vals->as<double>(), nnz, first_values->as<double>());
  CHECK(is_symmetric(CsrMatrix{a.pattern, first_values, 1}));

  auto op = csr_operator(a, a_batch);
  Buffer x = vec(DType::f64, concat(vs));
  op->apply(x, z);
  CHECK(max_diff(values(z), rs) < 1e-12);

  jacobi(a, a_batch)->apply(r, z);
  Reals expected = rs;
  for (int64_t b = 0; b < 3; ++b) {
    for (int64_t i = 0; i < n; ++i) expected[b * n + i] /= coef[a_batch[b]][1];
  }
  CHECK(max_diff(values(z), expected) < 1e-15);

  ilu0(a, a_batch)->apply(r, z);  // exact for a tridiagonal matrix
  CHECK(max_diff(values(z), concat(vs)) < 1e-12);

  Buffer solution(DType::f64, 3 * n);
  CHECK(solve_direct(a, a_batch, r, solution) == std::vector<bool>{true, true, true});
  CHECK(max_diff(values(solution), concat(vs)) < 1e-10);
}

TEST_CASE("sparse solvers: a DirectSolver solves the transposed system with the same factors",
          "[sparse-solvers]") {
  int64_t n = 12;
  // Nonsymmetric (LU) and symmetric (LDLᵀ) entries, sparse and dense.
  std::vector<Dense> mats{convection(n, 0.4), poisson(n, 0.3)};
  Reals rhs;
  for (int64_t i = 0; i < 2 * n; ++i) rhs.push_back(std::sin(0.7 * double(i)) + 0.1 * double(i));
  std::vector<int64_t> a_batch{0, 1};
  Buffer y = vec(DType::f64, rhs);
  auto dense_values = std::make_shared<Buffer>(vec(DType::f64, concat({mats[0], mats[1]})));
  DirectSolver sparse(csr(n, n, mats)), dense(dense_values, n);
  for (const DirectSolver* solver : {&sparse, &dense}) {
    for (bool transposed : {false, true}) {
      Buffer x(DType::f64, 2 * n);
      CHECK(solver->solve(a_batch, y, x, transposed) == std::vector<bool>{true, true});
      Reals xs = values(x);
      for (int64_t b = 0; b < 2; ++b) {
        // x = A⁻¹ y or A⁻ᵀ y from the Gauss-Jordan inverse.
        Dense inv = inverse(mats[static_cast<size_t>(b)], n);
        for (int64_t i = 0; i < n; ++i) {
          double want = 0;
          for (int64_t j = 0; j < n; ++j) {
            want += (transposed ? inv[j * n + i] : inv[i * n + j]) * rhs[static_cast<size_t>(b * n + j)];
          }
          CHECK(xs[static_cast<size_t>(b * n + i)] == Approx(want).epsilon(1e-10));
        }
      }
    }
  }
}

TEST_CASE("sparse solvers: transposed(ilu0(A)) applies (LU)⁻ᵀ", "[sparse-solvers]") {
  int64_t n = 16;
  Dense a = laplace2d(4);
  for (int64_t i = 0; i + 1 < n; ++i) a[i * n + i + 1] += 0.3;  // nonsymmetric on the same pattern
  std::shared_ptr<const Preconditioner> m = ilu0(csr(n, n, {a}), {0});
  std::shared_ptr<const Preconditioner> mt = transposed(m);
  // Column j of M⁻¹ by applying it to e_j; M⁻ᵀ e_i must be row i of M⁻¹.
  Dense m_inv(n * n, 0.0);
  for (int64_t j = 0; j < n; ++j) {
    Reals e(n, 0.0);
    e[j] = 1;
    Buffer z(DType::f64, n);
    m->apply(vec(DType::f64, e), z);
    for (int64_t i = 0; i < n; ++i) m_inv[i * n + j] = z.get_real(i);
  }
  for (int64_t i = 0; i < n; ++i) {
    Reals e(n, 0.0);
    e[i] = 1;
    Buffer z(DType::f64, n);
    mt->apply(vec(DType::f64, e), z);
    for (int64_t j = 0; j < n; ++j) CHECK(z.get_real(j) == Approx(m_inv[i * n + j]).margin(1e-12));
  }
}
