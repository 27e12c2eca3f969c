// Matrices: tensors with primal (row) and dual (column) dims (API §5).
#pragma once

#include "frontend/tensor.h"

namespace phijit {

// Contracts every dual dim ~n of A with dim n of x.
Tensor matmul(const Tensor& A, const Tensor& x);
Tensor dense(const Tensor& A);  // sparse → dense, same shape (dense matrices are returned as-is)
int64_t nnz(const Tensor& A);   // stored entries (a dense matrix stores all of them)

}  // namespace phijit
