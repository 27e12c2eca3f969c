// CSR assembly of a block of rows (runtime/sparse_assembly.h): what a process extracts under MPI
// must be exactly those rows of the whole matrix — pattern, merged duplicates and values — for
// stencil terms, a coefficient field, a duplicate of the diagonal and a term with a summed dim.
#include "runtime/sparse_assembly.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <vector>

#include "ir/error.h"

using namespace phijit;
using namespace phijit::runtime;

namespace {

constexpr int64_t kX = 7, kY = 5, kN = kX * kY;

// An int32 column array over `shape` (row-major) from col(index of each element).
template <class Fn>
BufferPtr column_array(const Shape& shape, Fn col) {
  auto b = std::make_shared<Buffer>(DType::i32, shape.volume());
  for (int64_t i = 0; i < shape.volume(); ++i) b->as<int32_t>()[i] = col(i);
  return b;
}

BufferPtr values(int64_t n, double scale) {
  auto b = std::make_shared<Buffer>(DType::f64, n);
  for (int64_t i = 0; i < n; ++i) b->as<double>()[i] = scale * static_cast<double>(i + 1);
  return b;
}

struct Terms {
  Shape rows = spatial("x", kX) & spatial("y", kY);
  Shape batch = phijit::batch("b", 2);
  std::vector<AssemblyTerm> terms;
  std::vector<BufferPtr> coefs;

  Terms() {
    auto x_of = [](int64_t i) { return i / kY; };
    auto y_of = [](int64_t i) { return i % kY; };
    // The right neighbour (none at the boundary), one coefficient.
    add(column_array(rows, [&](int64_t i) { return x_of(i) + 1 < kX ? static_cast<int32_t>(i + kY) : -1; }),
        rows, Shape(), {}, values(1, -1.0));
    // The diagonal with a coefficient per row and batch entry.
    add(column_array(rows, [](int64_t i) { return static_cast<int32_t>(i); }), rows, batch & rows, {},
        values(2 * kN, 0.5));
    // The diagonal again: merged into the entry above.
    add(column_array(rows, [](int64_t i) { return static_cast<int32_t>(i); }), rows, Shape(), {},
        values(1, 3.0));
    // Summed over k: columns (x, (y + k) mod 5) with a coefficient per k (walked by an odometer).
    Shape with_k = rows & channel("k", 3);
    add(column_array(with_k,
                     [&](int64_t i) {
                       int64_t row = i / 3, k = i % 3;
                       return static_cast<int32_t>(x_of(row) * kY + (y_of(row) + k) % kY);
                     }),
        with_k, channel("k", 3), {"k"}, values(3, 0.25));
  }
  void add(BufferPtr col, Shape col_shape, Shape coef_shape, std::vector<std::string> summed,
           BufferPtr coef) {
    terms.push_back({std::move(col), std::move(col_shape), std::move(coef_shape), std::move(summed)});
    coefs.push_back(std::move(coef));
  }
};

}  // namespace

TEST_CASE("sparse assembly: a block of rows is those rows of the whole matrix", "[sparse][assembly]") {
  Terms t;
  Assembly whole = assemble(t.rows, kN, t.batch, t.terms);
  BufferPtr whole_values = assemble_values(whole.plan, t.coefs, DType::f64);
  const int64_t* wrp = whole.pattern->row_ptr->as<int64_t>();
  REQUIRE(!whole.plan.extra.empty());  // the duplicate diagonal was merged
  for (RowRange range : {RowRange{0, kN}, RowRange{0, 12}, RowRange{12, 11}, RowRange{23, 12},
                         RowRange{34, 1}, RowRange{kN, 0}}) {
    INFO("rows [" << range.first << ", " << range.first + range.count << ")");
    Assembly block = assemble(t.rows, kN, t.batch, t.terms, range);
    BufferPtr block_values = assemble_values(block.plan, t.coefs, DType::f64);
    const CsrPattern& p = *block.pattern;
    REQUIRE(p.rows == range.count);
    CHECK(p.cols == kN);
    const int64_t* rp = p.row_ptr->as<int64_t>();
    REQUIRE(p.nnz() == wrp[range.first + range.count] - wrp[range.first]);
    for (int64_t r = 0; r < range.count; ++r) {
      REQUIRE(rp[r + 1] - rp[r] == wrp[range.first + r + 1] - wrp[range.first + r]);
      for (int64_t k = 0; k < rp[r + 1] - rp[r]; ++k) {
        int64_t local = rp[r] + k, global = wrp[range.first + r] + k;
        CHECK(p.col->as<int32_t>()[local] == whole.pattern->col->as<int32_t>()[global]);
        for (int64_t b = 0; b < 2; ++b) {
          CHECK(block_values->as<double>()[b * p.nnz() + local] ==
                whole_values->as<double>()[b * whole.pattern->nnz() + global]);
        }
      }
    }
  }
  // One hand-checked entry: row 0's diagonal = 0.5·1 (batch entry 0) + 3 + 0.25 (k = 0).
  Assembly first = assemble(t.rows, kN, t.batch, t.terms, RowRange{0, 1});
  BufferPtr v = assemble_values(first.plan, t.coefs, DType::f64);
  CHECK(first.pattern->col->as<int32_t>()[0] == 0);
  CHECK(v->as<double>()[0] == 0.5 + 3.0 + 0.25);
}

TEST_CASE("sparse assembly: a row range outside the matrix is an Error", "[sparse][assembly][errors]") {
  Terms t;
  CHECK_THROWS_AS(assemble(t.rows, kN, t.batch, t.terms, RowRange{30, 6}), Error);
  CHECK_THROWS_AS(assemble(t.rows, kN, t.batch, t.terms, RowRange{-1, 3}), Error);
}
