// Assembly of a CSR matrix from the terms of a linear form (passes/linearize.h) in O(nnz),
// without dense intermediates or hash maps: the pattern once per trace, the values from the
// coefficient arrays on every call.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "runtime/sparse.h"

namespace phijit::runtime {

struct AssemblyTerm {
  BufferPtr col;  // int32: x's flat index per element, -1 where the term has no entry
  Shape col_shape;
  Shape coef_shape;                 // the coefficients' shape (may hold batch dims)
  std::vector<std::string> summed;  // dims of col/coef every row sums over
};

// How the values of each stored entry are gathered from the terms' coefficients.
struct ValuePlan {
  Shape batch;
  std::vector<Shape> coef_shapes;
  std::vector<int64_t> coef_base;                  // per term: where its coefficients start in one batch row
  int64_t width = 0;                               // coefficients per batch row, all terms together
  BufferPtr src;                                   // int32 per entry: its first coefficient
  std::vector<std::pair<int64_t, int64_t>> extra;  // (entry, coefficient) of merged duplicates
};

struct Assembly {
  std::shared_ptr<const CsrPattern> pattern;
  ValuePlan plan;
};

// A block of consecutive rows [first, first + count); count < 0: every row.
struct RowRange {
  int64_t first = 0, count = -1;
};

// Rows are the elements of `rows` (canonical order), columns the `cols` elements of x; the
// matrix has one batch of values per element of `batch`. With a row range, the matrix holds
// those rows only (numbered from 0, all columns): a process's block under MPI.
Assembly assemble(const Shape& rows, int64_t cols, const Shape& batch, std::span<const AssemblyTerm> terms,
                  RowRange range = {});

// The values (batch × nnz, of `dtype`) for coefficient arrays shaped as the plan says.
BufferPtr assemble_values(const ValuePlan& plan, std::span<const BufferPtr> coefs, DType dtype);

}  // namespace phijit::runtime
