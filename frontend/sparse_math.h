// Math with sparse matrices: the one place where ops meet a sparse operand. Results keep the
// CSR form where they are sparse by nature (scaling, sums of matrices, products) and are dense
// where they are dense by nature (sums over rows or columns, comparisons, a sparse plus a dense
// tensor). Ops without a sparse meaning are an Error naming the op and what is supported.
#pragma once

#include <vector>

#include "frontend/tensor.h"
#include "ir/op_table.h"

namespace phijit::detail {

bool any_sparse(const std::vector<Tensor>& operands);

// `op` applied to operands of which at least one is a sparse matrix (detail::apply sends them
// here): elementwise ops, comparisons and the reductions reduce_sum/max/min.
Tensor apply_sparse(ir::Op op, const std::vector<Tensor>& operands, const ir::Attrs& attrs);

// A·B of two sparse matrices: A's dual dims ~n contract B's primal dims n. The result has A's
// rows, B's dual dims and the batch dims of both; it is sparse.
Tensor sparse_product(const Tensor& A, const Tensor& B);

// Error unless A's values are here now (not computed in a traced function); `what` names the op.
void require_concrete_values(const Tensor& A, std::string_view what);

}  // namespace phijit::detail
