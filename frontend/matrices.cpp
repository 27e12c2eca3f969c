#include "frontend/matrices.h"

#include <fmt/format.h>

#include "frontend/math.h"
#include "frontend/tensor_data.h"

namespace phijit {

Tensor matmul(const Tensor& A, const Tensor& x) {
  std::vector<std::string> duals = A.shape().dual().names();
  if (duals.empty()) {
    throw ShapeError(
        fmt::format("matmul: the matrix needs dual dims (~n) to contract, got shape {}", A.shape().str()));
  }
  // x's dim n becomes ~n, meets A's ~n in the product and is summed away.
  std::vector<std::pair<std::string, Shape>> renames;
  for (const std::string& d : duals) {
    std::string primal = d.substr(1);
    if (!x.shape().contains(primal)) {
      throw ShapeError(fmt::format("matmul: matrix {} has dual dim '{}' but the vector {} has no dim '{}'",
                                   A.shape().str(), d, x.shape().str(), primal));
    }
    if (x.shape().size(primal) != A.shape().size(d)) {
      throw ShapeError(fmt::format(
          "matmul: dual dim '{}' of matrix {} has size {} but dim '{}' of vector {} has size {}", d,
          A.shape().str(), A.shape().size(d), primal, x.shape().str(), x.shape().size(primal)));
    }
    renames.emplace_back(primal, phijit::dual(primal, x.shape().size(primal)));
  }
  return sum(A * rename_dims(x, renames), A.shape().dual());
}

Tensor dense(const Tensor& A) { return A; }

int64_t nnz(const Tensor& A) { return A.shape().volume(); }

}  // namespace phijit
