// What the solvers need from a CSR matrix besides products: its operator, symmetry, the
// Jacobi and ILU(0) preconditioners, and direct solves through Eigen (sparse Cholesky or LU,
// dense LU).
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "runtime/linear_operator.h"
#include "runtime/sparse.h"

namespace phijit::runtime {

// The solve's batch entry b uses the matrix's batch entry a_batch[b] everywhere below.

// A·x over the thread pool (runtime::spmv). Square or not.
std::unique_ptr<LinearOperator> csr_operator(const CsrMatrix& A, std::vector<int64_t> a_batch);

// True when every matrix of the batch equals its transpose up to `rel_tol` · max |value|.
bool is_symmetric(const CsrMatrix& A, double rel_tol = 1e-12);

// Diagonal preconditioner z = r / diag(A). A zero or missing diagonal entry throws Error
// naming the row.
std::shared_ptr<const Preconditioner> jacobi(const CsrMatrix& A, std::vector<int64_t> a_batch);

// Incomplete LU with zero fill-in on A's own pattern: L (unit diagonal) and U share A's CSR
// pattern; apply() is a forward and a backward substitution. One factorization per batch entry
// of A. A zero pivot throws Error naming the row.
std::shared_ptr<const Preconditioner> ilu0(const CsrMatrix& A, std::vector<int64_t> a_batch);

// Direct solve of A x = y for each batch entry: Eigen's SimplicialLDLT when A is symmetric,
// SparseLU otherwise (also when LDLT fails). `x` (batch × cols) receives the solutions; the
// result says per entry whether the factorization succeeded (false: singular).
std::vector<bool> solve_direct(const CsrMatrix& A, std::span<const int64_t> a_batch, const Buffer& y,
                               Buffer& x);

// The same for dense matrices: `A` holds a_count row-major n × n matrices; Eigen's
// PartialPivLU, with a singular matrix reported as false (checked through the pivots' size
// relative to the largest, and the result being finite).
std::vector<bool> solve_direct_dense(const Buffer& A, int64_t n, std::span<const int64_t> a_batch,
                                     const Buffer& y, Buffer& x);

}  // namespace phijit::runtime
