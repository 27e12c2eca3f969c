// Matrices: tensors with primal (row) and dual (column) dims, dense or sparse (API §5).
#pragma once

#include "frontend/tensor.h"

namespace phijit {

// Contracts every dual dim ~n of A with dim n of x. A sparse A runs the CSR product over the
// thread pool; x's other dims (batch or not) give independent products. Two sparse matrices
// give a sparse product (A's rows, x's dual dims); a dense A times a sparse x is dense.
Tensor matmul(const Tensor& A, const Tensor& x);
Tensor dense(const Tensor& A);  // sparse → dense, same shape (dense matrices are returned as-is)
// Stored entries: of every batch entry of a sparse matrix together; a dense one stores all.
int64_t nnz(const Tensor& A);
// Swaps rows and columns: primal dim n becomes dual ~n and dual ~m becomes primal m (of the
// type A's primal m has, else of m's type in the vectors a sparse A multiplies, else channel).
Tensor transpose(const Tensor& A);

}  // namespace phijit
