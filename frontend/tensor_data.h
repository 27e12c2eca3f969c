// What a Tensor holds, and the single entry point through which every op is applied.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "frontend/collapsed.h"
#include "frontend/tensor.h"
#include "ir/graph.h"
#include "runtime/interpreter.h"
#include "runtime/linear_operator.h"
#include "runtime/sparse.h"
#include "runtime/sparse_operand.h"
#include "runtime/sparse_solvers.h"

namespace phijit::detail {

// The graph a trace records into. A trace started while another one runs (gradient inside
// jit_compile) has that one as its parent: tensors of the parent it meets become extra inputs
// of its graph ("captures", numbered after the function's arguments).
struct TraceState {
  ir::Graph graph;
  std::shared_ptr<TraceState> parent;
  struct Capture {
    ir::Value outer;  // in parent->graph
    ir::Value inner;  // the input of this graph standing for it
  };
  std::vector<Capture> captures;
};

// What solvers derive from a sparse matrix once and keep with it.
struct SolverCache {
  std::mutex mutex;
  std::optional<bool> symmetric;
  std::map<std::string, std::shared_ptr<const runtime::Preconditioner>> preconditioners;
  std::map<std::string, std::shared_ptr<const runtime::DirectSolver>> direct;  // per dtype
  // Set by transpose(): the original's factors and preconditioners serve this matrix, applied
  // transposed (an adjoint solve reuses its forward solve's).
  std::weak_ptr<SolverCache> transpose_of;
  // Also set by transpose(): the original matrix, whose PETSc solver solves transposed with its
  // preconditioner's setup. Weak: a transpose does not keep its original alive.
  std::weak_ptr<const runtime::CsrPattern> original_pattern;
  std::weak_ptr<const Buffer> original_values;
};

// A sparse matrix: CSR values with named row (primal) and column dims (API §5).
struct SparseData {
  runtime::CsrMatrix csr;
  Shape batch;  // one matrix per entry
  Shape rows;   // primal dims
  Shape cols;   // the dims of the vectors it multiplies; the tensor shows them as dual "~" dims
  std::shared_ptr<SolverCache> cache = std::make_shared<SolverCache>();
  // The matrix as matmul_sparse's payload (set by make_sparse); it keeps the transpose.
  std::shared_ptr<const runtime::SparseOperand> operand;
  // Values computed in a trace (csr.values is null): a tracer of shape batch & entries.
  Tensor traced_values;
};

// This process's rows of a linear function's matrix: under MPI a PETSc solve extracts only
// the block of rows that PETSc gives this process (API §7).
struct RowBlock {
  runtime::CsrMatrix csr;  // rows [first, first + csr.pattern->rows) of the matrix, every column
  int64_t first = 0;
  Shape batch, rows, cols;  // the whole matrix's dims, as SparseData's
};

// A tensor is concrete (it has a buffer, or sparse data) or a tracer (a value of a trace's graph).
struct TensorData {
  ir::ValueType type;
  // The buffer holds the values of the dims `stored` (type.shape's, in its order): all of them,
  // or fewer for a tensor constant along the others (collapsed.h). Read it through
  // dense_buffer() or values_in_order() where every value is needed.
  Shape stored;
  std::shared_ptr<const Buffer> stored_buffer;
  // A collapsed tensor's values over all its dims, made on first use by dense_buffer().
  struct Expansion {
    std::once_flag once;
    std::shared_ptr<const Buffer> buffer;
  };
  std::shared_ptr<Expansion> expansion;
  std::shared_ptr<const SparseData> sparse;
  // A plain C++ double: it takes the float type of the tensors it meets (numpy's NEP 50).
  bool weak = false;
  std::shared_ptr<TraceState> trace;
  ir::Value value;
};

bool is_tracer(const Tensor& t);
// The trace an op on `ts` records into: the innermost of their traces (null: none is a tracer).
std::shared_ptr<TraceState> innermost_trace(const std::vector<Tensor>& ts);
Tensor make_tracer(const std::shared_ptr<TraceState>& trace, ir::Value v, bool weak);
// The trace whose function runs on this thread now (the innermost one; null: none).
std::shared_ptr<TraceState> active_trace();
// The value of t in trace's graph: its own if t is a tracer of that trace, else a constant.
ir::Value trace_value(TraceState& trace, const Tensor& t);

Tensor make_tensor(std::shared_ptr<const Buffer> buffer, Shape shape, bool weak = false);
Tensor make_sparse(SparseData sparse);
// A sparse matrix whose values (batch & the operand's entries dim) are a tracer: the matrix is
// a tracer of the same trace.
Tensor make_traced_sparse(SparseData pattern, const Tensor& values);
// The dual dims "~n" a sparse matrix shows for its column dims n.
Shape dual_of(const Shape& cols);

// Applies `op`: converts operands to the dtypes the op table asks for, checks shapes, and
// records the op into the trace if an operand is a tracer, else evaluates it through the
// reference interpreter.
// `caller`: the frontend function that applies op (GCC's and Clang's __builtin_FUNCTION), recorded
// as the origin of a traced node unless an outer ir::OriginScope names the user's call.
Tensor apply(ir::Op op, std::vector<Tensor> operands, ir::Attrs attrs = {},
             const char* caller = __builtin_FUNCTION());

}  // namespace phijit::detail
