// What the solvers need from a CSR matrix besides products: its operator, symmetry, the
// Jacobi and ILU(0) preconditioners, and direct solves through Eigen (sparse Cholesky or LU,
// dense LU).
#pragma once

#include <memory>
#include <mutex>
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

// M of the transposed system: M's apply_transposed as apply (an adjoint solve reuses the
// forward solve's preconditioner).
std::shared_ptr<const Preconditioner> transposed(std::shared_ptr<const Preconditioner> m);

// Direct solves through factorizations made once per matrix entry, on first use, and kept:
// a DirectSolver kept with its matrix serves repeated solves and the adjoint's transposed ones.
// Sparse: Eigen's SimplicialLDLT for a symmetric entry (with SparseLU when LDLᵀ, which does not
// pivot, gives an answer the backward-error check rejects), SparseLU otherwise. Dense: Eigen's
// PartialPivLU, a singular matrix detected through its pivots' size relative to the largest.
class DirectSolver {
 public:
  explicit DirectSolver(CsrMatrix A);
  // `dense` holds n × n row-major matrices, one per matrix entry.
  DirectSolver(std::shared_ptr<const Buffer> dense, int64_t n);
  ~DirectSolver();
  DirectSolver(const DirectSolver&) = delete;
  DirectSolver& operator=(const DirectSolver&) = delete;

  // Solves A x = y (Aᵀ x = y with `transposed`) for each batch entry b with matrix entry
  // a_batch[b]; x (batch × n) receives the solutions. Per entry: false when the matrix is
  // singular or the answer is not accurate (x keeps its values there).
  std::vector<bool> solve(std::span<const int64_t> a_batch, const Buffer& y, Buffer& x,
                          bool transposed = false) const;

 private:
  struct Factorization;
  Factorization& factorization(int64_t entry) const;
  CsrMatrix A_;
  bool dense_ = false;
  int64_t n_ = 0;
  std::unique_ptr<std::once_flag[]> once_;
  mutable std::vector<std::unique_ptr<Factorization>> entries_;
};

// One solve through a DirectSolver made for it (nothing kept).
std::vector<bool> solve_direct(const CsrMatrix& A, std::span<const int64_t> a_batch, const Buffer& y,
                               Buffer& x);
std::vector<bool> solve_direct_dense(const Buffer& A, int64_t n, std::span<const int64_t> a_batch,
                                     const Buffer& y, Buffer& x);

}  // namespace phijit::runtime
