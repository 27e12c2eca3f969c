// solve_linear inside traces (DESIGN decisions 5 and 8): the solve becomes a solve_linear node
// whose payload runs the same solve as an eager call — SolveInfo, tapes, exceptions — when the
// program runs, and whose adjoint is the transposed solve.
#include <fmt/format.h>

#include <mutex>
#include <optional>

#include "frontend/compiler.h"
#include "frontend/matrices.h"
#include "frontend/solve.h"
#include "frontend/tensor_data.h"
#include "frontend/trace.h"
#include "ir/builder.h"
#include "passes/autodiff.h"
#include "passes/rebuild.h"
#include "runtime/layout.h"

namespace phijit::detail {

namespace {

// A graph's program, compiled on first use (a solve's operator is applied every iteration).
class LazyProgram {
 public:
  explicit LazyProgram(std::shared_ptr<const ir::Graph> g) : graph_(std::move(g)) {}
  const ir::Graph& graph() const { return *graph_; }
  const CompiledGraph& program() const {
    std::call_once(once_, [&] { program_ = compile_graph(*graph_); });
    return *program_;
  }

 private:
  std::shared_ptr<const ir::Graph> graph_;
  mutable std::once_flag once_;
  mutable std::shared_ptr<const CompiledGraph> program_;
};

// `t` as a buffer of `type` (the same dims in another order, or another float dtype).
runtime::BufferPtr as_type(const Tensor& t, const ir::ValueType& type, const char* what) {
  if (!same_dims(t.shape(), type.shape)) {
    throw InternalError(
        fmt::format("solve_linear: {} is {} where {} was traced", what, t.shape().str(), type.shape.str()));
  }
  return values_in_order(t.astype(type.dtype), type.shape.dims());
}

// The graph applied to x (in any dim order) and the operands.
Tensor apply_graph(const LazyProgram& f, const Tensor& x, const std::vector<Tensor>& operands) {
  const ir::Graph& g = f.graph();
  std::vector<runtime::BufferPtr> inputs{as_type(x, g.type(g.inputs()[0]), "x")};
  for (const Tensor& o : operands) inputs.push_back(dense_buffer(o));
  return make_tensor(f.program().run(inputs).at(0), g.type(g.outputs()[0]).shape);
}

class SolvePayload final : public ir::LinearSolvePayload {
 public:
  // What the solve applies: a system fixed at trace time (`constant`), or f as graphs with
  // inputs (x, operands...) — `apply` for x with the solve's batch dims, `matrix` (when a
  // method needs the matrix) for x without them; `transposed`: the matrix of `matrix` is to be
  // transposed (the adjoint's).
  struct Operator {
    std::string kind;
    std::function<LinearSystem()> constant;
    std::shared_ptr<const LazyProgram> apply;
    std::shared_ptr<const ir::Graph> matrix;
    bool transposed = false;
  };

  SolvePayload(Solve settings, Operator op, ir::ValueType result, ir::ValueType rhs, bool adjoint)
      : settings_(std::move(settings)),
        op_(std::move(op)),
        result_(std::move(result)),
        rhs_(std::move(rhs)),
        adjoint_(adjoint),
        matrices_(std::make_shared<LinearCore>()) {}

  const ir::ValueType& result_type() const override { return result_; }
  const ir::ValueType& rhs_type() const override { return rhs_; }

  std::string str() const override {
    return fmt::format("{}{} of a {}, {} rel_tol={} abs_tol={} max_iterations={}{}",
                       adjoint_ ? "adjoint " : "", settings_.method, op_.kind,
                       op_.constant ? "fixed" : "traced", settings_.rel_tol, settings_.abs_tol,
                       settings_.max_iterations,
                       settings_.preconditioner.empty() ? "" : " preconditioner=" + settings_.preconditioner);
  }

  runtime::BufferPtr compute(std::span<const runtime::BufferPtr> buffers,
                             std::span<const ir::ValueType> types) const override {
    Tensor y = make_tensor(buffers[0], types[0].shape);
    Solve s = settings_;
    if (!s.x0) s.x0 = make_tensor(buffers[1], types[1].shape);
    std::vector<Tensor> operands;
    for (size_t k = 2; k < buffers.size(); ++k) operands.push_back(make_tensor(buffers[k], types[k].shape));
    LinearSystem sys = op_.constant ? op_.constant() : traced_system(operands);
    return as_type(solve_linear_system(sys, y, s, adjoint_), result_, "the solution");
  }

  std::shared_ptr<const ir::LinearSolvePayload> adjoint() const override {
    std::lock_guard lock(mutex_);
    if (adjoint_payload_) return adjoint_payload_;
    Solve s = settings_.gradient_solve ? *settings_.gradient_solve : settings_;
    if (!settings_.gradient_solve) s.x0.reset();  // the adjoint starts from 0
    s.gradient_solve = nullptr;
    Operator t{op_.kind, nullptr, nullptr, op_.matrix, true};
    if (op_.constant) {
      t.constant = [system = transposed(op_.constant())] { return system; };
    } else {
      t.apply = std::make_shared<LazyProgram>(
          std::make_shared<const ir::Graph>(passes::transpose_linear(op_.apply->graph())));
    }
    auto p = std::make_shared<SolvePayload>(std::move(s), std::move(t), rhs_, result_, true);
    p->matrices_ = matrices_;  // the matrix extracted for the forward solve serves the adjoint's
    adjoint_payload_ = p;
    return p;
  }

  const ir::Graph* operator_graph() const override {
    return settings_.grad_for_f && op_.apply ? &op_.apply->graph() : nullptr;
  }

 private:
  // Aᵀ of a fixed system: the matrix itself when symmetric (then a stencil keeps being applied
  // as f), else its transpose; the offset plays no part in the adjoint.
  static LinearSystem transposed(LinearSystem sys) {
    sys.offset.reset();
    if (!sys.matrix) {  // this process's rows of A: PETSc solves with them transposed
      sys.own_rows_transposed = true;
      sys.build_matrix = [build = sys.build_matrix] {  // where the whole Aᵀ is needed after all
        auto [A, b] = build();
        return std::pair{transpose(A), b};
      };
      return sys;
    }
    if (sys.matrix->is_sparse() && is_symmetric(*sys.matrix)) return sys;
    sys.matrix = transpose(*sys.matrix);
    sys.apply = nullptr;
    return sys;
  }

  LinearSystem traced_system(const std::vector<Tensor>& operands) const {
    LinearSystem sys;
    sys.kind = op_.kind;
    sys.apply = [apply = op_.apply, operands](const Tensor& x) { return apply_graph(*apply, x, operands); };
    sys.offset_unknown = !adjoint_;  // a transposed graph has no offset
    if (op_.matrix) {
      sys.build_matrix = [this, operands] {
        LinearCore::Affine m = traced_matrix(operands, false);
        return std::pair{op_.transposed ? transpose(m.A) : m.A, m.b};
      };
      if (extracts_own_rows(settings_)) {  // this process's rows of A (of Aᵀ's A for an adjoint)
        LinearCore::Affine m = traced_matrix(operands, true);
        sys.own_rows = m.own_rows;
        sys.own_rows_transposed = op_.transposed;
        if (!m.zero_bias && !adjoint_) sys.offset = m.b;
        sys.offset_unknown = false;
      }
    }
    return sys;
  }

  // A and b of the matrix graph at the operands (or this process's rows of A).
  LinearCore::Affine traced_matrix(const std::vector<Tensor>& operands, bool own_rows) const {
    const ir::ValueType& x = op_.matrix->type(op_.matrix->inputs()[0]);
    std::vector<Tensor> args{zeros(x.shape, x.dtype)};
    args.insert(args.end(), operands.begin(), operands.end());
    return matrices_->matrix(
        "traced", args, [&](const std::vector<Tensor>& tracers) { return call_graph(*op_.matrix, tracers); },
        own_rows);
  }

  Solve settings_;  // x0 unset: the node's operand (or gradient_solve's own)
  Operator op_;
  ir::ValueType result_, rhs_;
  bool adjoint_;
  std::shared_ptr<LinearCore> matrices_;
  mutable std::mutex mutex_;
  mutable std::shared_ptr<const SolvePayload> adjoint_payload_;
};

// Adds the values of the enclosing trace that `t` reads to `operands`, once each.
void add_captures(const Trace& t, std::vector<ir::Value>& operands) {
  for (ir::Value c : t.captured) {
    if (std::find(operands.begin(), operands.end(), c) == operands.end()) operands.push_back(c);
  }
}

// `t`'s graph with inputs (x, operands...); `operands` holds every value of the enclosing trace
// that t reads.
std::shared_ptr<const ir::Graph> with_operands(const Trace& t, const std::vector<ir::Value>& operands,
                                               const ir::Graph& enclosing) {
  auto out = std::make_shared<ir::Graph>();
  const ir::ValueType x = t.graph.type(t.graph.inputs()[0]);
  std::vector<ir::Value> inputs{out->add_input(x.shape, x.dtype)}, all;
  for (ir::Value o : operands)
    all.push_back(out->add_input(enclosing.type(o).shape, enclosing.type(o).dtype));
  for (ir::Value c : t.captured) {
    inputs.push_back(
        all[static_cast<size_t>(std::find(operands.begin(), operands.end(), c) - operands.begin())]);
  }
  out->add_output(passes::inline_graph(*out, t.graph, inputs).at(0));
  return out;
}

// A matrix-free operator traced under the enclosing trace: on x with the solve's batch dims
// (again when f adds batch dims or a wider dtype to them), and without them when a method needs
// the matrix; the solution's and the right-hand side's types.
struct TracedFunction {
  Trace batched;
  std::optional<Trace> single;
  ir::ValueType result, rhs;
};
TracedFunction trace_operator(const std::shared_ptr<TraceState>& trace, const TracedOperator& op,
                              const Tensor& y, const Tensor& x0, DType dtype, Shape batch,
                              bool matrix_needed) {
  auto traced = [&](const Shape& x_shape) {
    return trace_function(
        {{x_shape, dtype}}, {false},
        [&](const std::vector<Tensor>& x) { return std::vector<Tensor>{op.function(x[0])}; }, trace);
  };
  TracedFunction f{traced(batch & x0.shape().non_batch()), std::nullopt, {}, {}};
  Shape y_rows = y.shape().non_batch();
  for (int round = 0; round < 3; ++round) {
    const ir::ValueType out = f.batched.graph.type(f.batched.graph.outputs()[0]);
    if (round == 0) y_rows = y_rows.without(y_dims_besides(y, out.shape.non_batch()).names());
    Shape wider_batch = batch & out.shape.batch() & y_dims_besides(y, y_rows);
    DType wider = float_type(promote(dtype, out.dtype));
    if (same_dims(wider_batch, batch) && wider == dtype) break;
    batch = wider_batch;
    dtype = wider;
    f.batched = traced(batch & x0.shape().non_batch());
  }
  f.result = {batch & x0.shape().non_batch(), dtype};
  f.rhs = f.batched.graph.type(f.batched.graph.outputs()[0]);
  if (!same_dims(f.rhs.shape.without(batch.names()), y_rows)) {
    throw ShapeError(fmt::format("solve_linear: f returned other dims than y has: f(x0) {} vs {}",
                                 f.rhs.shape.str(), y.shape().str()));
  }
  if (f.rhs.dtype != dtype ||
      f.rhs.shape.without(batch.names()).rank() + batch.rank() != f.rhs.shape.rank()) {
    throw Error(fmt::format("solve_linear: f(x) for x {} {} returned {} {}, which changes with x's type",
                            dtype_name(dtype), f.result.shape.str(), dtype_name(f.rhs.dtype),
                            f.rhs.shape.str()));
  }
  if (matrix_needed) f.single = traced(x0.shape().non_batch());
  return f;
}

}  // namespace

std::shared_ptr<TraceState> solve_trace(const std::vector<Tensor>& tensors) {
  std::shared_ptr<TraceState> active = active_trace();
  return active ? active : innermost_trace(tensors);
}

Tensor trace_solve_linear(const std::shared_ptr<TraceState>& trace, const TracedOperator& op, const Tensor& y,
                          const Solve& solve) {
  const Tensor& x0 = require_x0(solve);
  validate_settings(solve);
  if (y.is_sparse() || x0.is_sparse()) throw Error("solve_linear: y and x0 must be dense tensors");
  const Solve& adjoint_settings = solve.gradient_solve ? *solve.gradient_solve : solve;
  if (solve.gradient_solve && solve.gradient_solve->x0 && is_tracer(*solve.gradient_solve->x0)) {
    throw Error("solve_linear: gradient_solve->x0 must be a concrete tensor, not one computed in the trace");
  }
  // Also checks the names.
  bool matrix_needed = needs_matrix(op.kind, solve) || needs_matrix(op.kind, adjoint_settings);
  DType dtype = float_type(promote(y.dtype(), x0.dtype()));
  Shape batch = y.shape().batch() & x0.shape().batch();
  SolvePayload::Operator payload_op{op.kind, op.constant, nullptr, nullptr, false};
  ir::ValueType result, rhs;
  std::vector<ir::Value> operands;
  if (op.constant) {
    LinearSystem sys = op.constant();
    if (sys.matrix) {
      const Tensor& A = *sys.matrix;
      dtype = float_type(promote(dtype, A.dtype()));
      batch = batch & (A.is_sparse() ? A.data().sparse->batch : A.shape().batch()) &
              y_dims_besides(y, matrix_rows(A, x0));
    } else {  // this process's rows of a jit_compile_linear function's matrix
      const RowBlock& block = *sys.own_rows;
      dtype = float_type(promote(dtype, block.csr.values->dtype()));
      batch = batch & block.batch & y_dims_besides(y, block.rows);
    }
    result = {batch & x0.shape().non_batch(), dtype};
    rhs = {batch & y.shape().non_batch(), dtype};
  } else {
    TracedFunction f = trace_operator(trace, op, y, x0, dtype, batch, matrix_needed);
    result = f.result;
    rhs = f.rhs;
    add_captures(f.batched, operands);
    if (f.single) add_captures(*f.single, operands);
    payload_op.apply = std::make_shared<LazyProgram>(with_operands(f.batched, operands, trace->graph));
    if (f.single) payload_op.matrix = with_operands(*f.single, operands, trace->graph);
  }
  Solve settings = solve;
  settings.x0.reset();  // a node operand; a tracer kept in the payload would keep its trace alive
  auto payload =
      std::make_shared<SolvePayload>(std::move(settings), std::move(payload_op), result, rhs, false);

  ir::Builder b(trace->graph);
  std::vector<ir::Value> inputs{b.cast(trace_value(*trace, y), result.dtype),
                                b.broadcast_to(b.cast(trace_value(*trace, x0), result.dtype), result.shape)};
  inputs.insert(inputs.end(), operands.begin(), operands.end());
  ir::OriginScope origin("solve_linear");
  return make_tracer(trace, trace->graph.add(ir::Op::solve_linear, inputs, ir::attrs::solve_linear(payload)),
                     false);
}

}  // namespace phijit::detail
