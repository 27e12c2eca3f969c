// Typed payloads of host ops (DESIGN decision 8): work that is not a loop nest — a sparse
// matrix product, a linear solve — is still a node of the graph; what it needs besides its
// operands travels in Attrs::payload. ir/ and passes/ see these interfaces; runtime/ and the
// frontend implement them, and the runtime runs the ops between kernels.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "ir/buffer.h"
#include "ir/dtype.h"
#include "ir/shape.h"

namespace phijit::ir {

class Graph;
struct ValueType;

class HostPayload {
 public:
  virtual ~HostPayload() = default;
  virtual std::string str() const = 0;  // for the printed IR
};

// The matrix of matmul_sparse: one matrix per entry of batch(), with primal dims rows() and
// columns that pair with the vector's dims cols(). Its values are its own, or — when they are
// computed in the program — the op's second operand, of shape batch() & entries().
class SparseMatrixPayload : public HostPayload {
 public:
  virtual const Shape& batch() const = 0;
  virtual const Shape& rows() const = 0;
  virtual const Shape& cols() const = 0;
  virtual DType dtype() const = 0;
  // The dim of a values operand: one element per stored entry.
  virtual const Dim& entries() const = 0;
  // Aᵀ, built once per matrix and kept with it.
  virtual std::shared_ptr<const SparseMatrixPayload> transposed() const = 0;
  // 0/1 matrices of `dtype` (built once and kept) that gather one element per stored entry,
  // rows entries(): the entry's row of a vector on rows(), its column of a vector on cols(), and
  // from this matrix's values (entries() renamed to kSourceEntries) the values of transposed().
  virtual std::shared_ptr<const SparseMatrixPayload> row_gather(DType dtype) const = 0;
  virtual std::shared_ptr<const SparseMatrixPayload> col_gather(DType dtype) const = 0;
  virtual std::shared_ptr<const SparseMatrixPayload> transpose_gather(DType dtype) const = 0;
  // The rows laid out as rows() & a slot dim kSparseSlots (one slot per stored entry of the
  // longest row; shorter rows leave theirs empty, gathering 0): from the values (entries()) the
  // value of each slot, and from a vector on cols() the element each slot's entry reads.
  virtual std::shared_ptr<const SparseMatrixPayload> slot_values(DType dtype) const = 0;
  virtual std::shared_ptr<const SparseMatrixPayload> slot_columns(DType dtype) const = 0;
  // The matrix's own values (batch × entries), null when an operand gives them.
  virtual std::shared_ptr<const Buffer> values() const = 0;
};
inline constexpr const char* kSparseEntries = "sparse_entries";
inline constexpr const char* kSourceEntries = "sparse_source_entries";
inline constexpr const char* kSparseSlots = "sparse_slots";

// The payload of solve_linear: solves f(x, operands...) = y for x. The node's operands are y,
// x0 (the start, of the result's type), then the operator's operands (values f reads from the
// enclosing trace). Running it may record on SolveTapes and throw NotConverged / Diverged.
class LinearSolvePayload : public HostPayload {
 public:
  // The solution's shape and dtype (fixed when the solve is traced).
  virtual const ValueType& result_type() const = 0;
  // The right-hand side's type as the operator produces it: the adjoint's result type.
  virtual const ValueType& rhs_type() const = 0;
  virtual std::shared_ptr<const Buffer> compute(std::span<const std::shared_ptr<const Buffer>> operands,
                                                std::span<const ValueType> operand_types) const = 0;
  // The adjoint solve (DESIGN decision 5): Aᵀ λ = ct with the gradient_solve settings, on the
  // same operator operands. Its y is ct (result_type()), its x0 of type rhs_type().
  virtual std::shared_ptr<const LinearSolvePayload> adjoint() const = 0;
  // f as a graph with inputs (x, operands...) and output f(x) of rhs_type(), through which the
  // operands get their gradients (−λ chained through f's VJP); null when they get none.
  virtual const Graph* operator_graph() const = 0;
};

}  // namespace phijit::ir
