// The baseline of bench_linear_extraction, compiled with -O3 -march=native -fopenmp: Eigen's
// assembly of the 5-/7-point Laplace matrix with zero boundary from a triplet list. Eigen stays
// inside the baselines' translation unit (the phijit side is compiled with other flags).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace bench {

// The Laplace matrix of a grid with sizes `dims` (row-major, last dim fastest): -2·ndim on the
// diagonal, +1 for every neighbour inside the grid; neighbours outside are left out.
class EigenLaplace {
 public:
  explicit EigenLaplace(std::vector<int64_t> dims);
  ~EigenLaplace();
  EigenLaplace(const EigenLaplace&) = delete;
  EigenLaplace& operator=(const EigenLaplace&) = delete;

  int64_t rows() const;
  // Builds a fresh triplet list and a fresh SparseMatrix<double, RowMajor, int> from it with
  // setFromTriplets (both freed before returning); returns the matrix's nonZeros().
  int64_t assemble() const;
  // setFromTriplets alone, from the triplet list built once by the constructor, into a fresh
  // matrix (freed before returning); returns nonZeros().
  int64_t set_from_triplets() const;
  // Assembles the matrix kept for the checks (call once, outside the timing).
  void assemble_kept();
  int64_t kept_nonzeros() const;
  // y = A·v with the kept matrix (both arrays rows() long).
  void multiply(const double* v, double* y) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bench
