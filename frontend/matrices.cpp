#include "frontend/matrices.h"

#include <fmt/format.h>

#include <cstring>

#include "frontend/math.h"
#include "frontend/sparse_math.h"
#include "frontend/tensor_data.h"
#include "ir/builder.h"
#include "runtime/layout.h"
#include "runtime/odometer.h"

namespace phijit {

namespace {

using detail::SparseData;

// The dual dim names of A that x must match, checked against x.
void check_columns(const Tensor& A, const Shape& cols, const Tensor& x) {
  for (const Dim& d : cols.dims()) {
    if (!x.shape().contains(d.name)) {
      throw ShapeError(fmt::format("matmul: matrix {} has dual dim '~{}' but the vector {} has no dim '{}'",
                                   A.shape().str(), d.name, x.shape().str(), d.name));
    }
    if (x.shape().size(d.name) != d.size) {
      throw ShapeError(
          fmt::format("matmul: dual dim '~{}' of matrix {} has size {} but dim '{}' of vector {} has size {}",
                      d.name, A.shape().str(), d.size, d.name, x.shape().str(), x.shape().size(d.name)));
    }
  }
}

// A·x through the matmul_sparse op: recorded into a trace when x is a tracer (a host op of the
// compiled program, differentiable), else evaluated now.
Tensor sparse_matmul(const Tensor& A, const SparseData& s, const Tensor& x) {
  check_columns(A, s.cols, x);
  DType dtype = promote(A.dtype(), x.dtype(), false, x.data().weak);
  if (dtype == DType::boolean) dtype = DType::i64;
  std::shared_ptr<const runtime::SparseOperand> matrix = s.operand;
  if (matrix->dtype() != dtype) matrix = matrix->with_dtype(dtype);
  std::vector<Tensor> operands{x.astype(dtype)};
  if (s.traced_values.defined()) operands.push_back(s.traced_values.astype(dtype));
  return detail::apply(ir::Op::matmul_sparse, std::move(operands), ir::attrs::matmul_sparse(matrix));
}

// A dense A times x: x's dim n becomes ~n, meets A's ~n in the product and is summed away.
// When x is a matrix whose own dual dims A contracts too, they are set aside under temporary
// names meanwhile.
Tensor dense_matmul(const Tensor& A, const Tensor& x) {
  std::vector<std::string> duals = A.shape().dual().names();
  if (duals.empty()) {
    throw ShapeError(
        fmt::format("matmul: the matrix needs dual dims (~n) to contract, got shape {}", A.shape().str()));
  }
  std::vector<std::pair<std::string, Shape>> renames, aside, back;
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
    if (x.shape().contains(d)) {
      std::string tmp = "_matmul_dual_" + primal;
      aside.emplace_back(d, instance(tmp, x.shape().size(d)));
      back.emplace_back(tmp, phijit::dual(primal, x.shape().size(d)));
    }
  }
  Tensor x_aside = aside.empty() ? x : rename_dims(x, aside);
  Tensor y = sum(A * rename_dims(x_aside, renames), A.shape().dual());
  return back.empty() ? y : rename_dims(y, back);
}

}  // namespace

Tensor matmul(const Tensor& A, const Tensor& x) {
  if (A.is_sparse() && x.is_sparse()) return detail::sparse_product(A, x);
  if (A.is_sparse()) return sparse_matmul(A, *A.data().sparse, x);
  // A dense matrix times a sparse one is dense by nature.
  return dense_matmul(A, x.is_sparse() ? dense(x) : x);
}

Tensor dense(const Tensor& A) {
  if (!A.is_sparse()) return A;
  detail::require_concrete_values(A, "dense");
  const SparseData& s = *A.data().sparse;
  const Shape& shape = A.shape();
  auto out = std::make_shared<Buffer>(A.dtype(), shape);
  std::vector<std::string> dual_names = detail::dual_of(s.cols).names();
  runtime::scatter_dense(s.csr, runtime::element_offsets(s.batch, shape),
                         runtime::element_offsets(s.rows, shape),
                         runtime::element_offsets(s.cols, shape, dual_names), *out);
  return detail::make_tensor(std::move(out), shape);
}

int64_t nnz(const Tensor& A) {
  if (!A.is_sparse()) return A.shape().volume();
  const SparseData& s = *A.data().sparse;
  return s.csr.pattern->nnz() * s.csr.batch;
}

Tensor transpose(const Tensor& A) {
  if (A.is_sparse()) {
    detail::require_concrete_values(A, "transpose");
    const SparseData& s = *A.data().sparse;
    // The transpose kept with the matrix (matmul_sparse's VJP uses it too).
    const auto& t = dynamic_cast<const runtime::SparseOperand&>(*s.operand->transposed());
    SparseData out{t.csr(), s.batch, s.cols, s.rows};
    out.cache->transpose_of = s.cache;
    out.cache->original_pattern = s.csr.pattern;
    out.cache->original_values = s.csr.values;
    return detail::make_sparse(std::move(out));
  }
  std::vector<std::pair<std::string, Shape>> renames;
  Shape non_batch = A.shape().non_batch();
  for (const Dim& d : non_batch.dims()) {
    if (d.type == DimType::dual) {
      std::string primal = d.name.substr(1);
      DimType t = A.shape().contains(primal) ? A.shape().type(primal) : DimType::channel;
      renames.emplace_back(d.name, Shape({Dim{primal, d.size, t, {}}}));
    } else {
      renames.emplace_back(d.name, phijit::dual(d.name, d.size));
    }
  }
  return rename_dims(A, renames);
}

}  // namespace phijit
