#include "frontend/linear.h"

#include <fmt/format.h>

#include <chrono>
#include <mutex>

#include "frontend/compiler.h"
#include "frontend/math.h"
#include "frontend/matrices.h"
#include "frontend/tensor_data.h"
#include "frontend/trace_cache.h"
#include "ir/dump.h"
#include "passes/linearize.h"
#include "runtime/log.h"
#include "runtime/sparse_assembly.h"

namespace phijit::detail {

// One trace of a linear function: the pattern, and how the values follow the arguments.
struct LinearCore::Extracted {
  passes::LinearForm form;
  runtime::Assembly assembly;
  // The coefficients and bias as native code of the arguments (null when f has none: then
  // they are computed once, below).
  std::shared_ptr<const CompiledGraph> values;
  Shape batch, rows, cols;

  std::mutex mutex;  // guards the last result
  std::vector<runtime::BufferPtr> last_args;
  LinearCore::Affine last;
};

LinearCore::LinearCore() : cache_(std::make_unique<TraceCache<Extracted>>()) {}
LinearCore::~LinearCore() = default;

int LinearCore::trace_count() const { return cache_->trace_count(); }
void LinearCore::clear_cache() { cache_->clear(); }

namespace {

std::shared_ptr<LinearCore::Extracted> extract(const std::vector<Tensor>& args, const JitCore::TraceFn& f) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<ir::ValueType> types;
  std::vector<bool> weak;
  for (const Tensor& a : args) {
    if (a.is_sparse())
      throw Error("jit_compile_linear: sparse matrices cannot be arguments of the function yet");
    types.push_back(a.data().type);
    weak.push_back(a.data().weak);
  }
  types[0].shape = types[0].shape.non_batch();  // each batch entry of x gets the same matrix
  Trace trace = trace_function(types, weak, f);
  double trace_ms = runtime::ms_since(t0);
  auto e = std::make_shared<LinearCore::Extracted>();
  e->form = passes::run_linearize(trace.graph);
  const passes::LinearForm& form = e->form;
  if (ir::dump_enabled("ir")) {
    fmt::print(stderr, "=== linearize: traced ===\n{}=== column pattern ===\n{}=== values ===\n{}",
               ir::print(trace.graph), ir::print(form.pattern), ir::print(form.values));
  }
  double linearize_ms = runtime::ms_since(t0) - trace_ms;
  e->batch = form.output.shape.batch();
  e->rows = form.output.shape.non_batch();
  e->cols = form.x.shape;

  std::vector<runtime::BufferPtr> cols = runtime::interpret(form.pattern, {});
  double interpret_ms = runtime::ms_since(t0) - trace_ms - linearize_ms;
  std::vector<runtime::AssemblyTerm> terms;
  for (const passes::LinearTerm& t : form.terms) {
    const ir::Graph& pg = form.pattern;
    terms.push_back({cols[static_cast<size_t>(t.col)],
                     pg.type(pg.outputs()[static_cast<size_t>(t.col)]).shape,
                     form.values.type(form.values.outputs()[static_cast<size_t>(t.coef)]).shape, t.summed});
  }
  e->assembly = runtime::assemble(e->rows, e->cols.volume(), e->batch, terms);
  double assemble_ms = runtime::ms_since(t0) - trace_ms - linearize_ms;
  if (!form.values.inputs().empty()) e->values = compile_graph(form.values);
  runtime::logger().debug(
      "jit_compile_linear: {} → {} matrix, {} terms, nnz {}: trace {:.3f} ms, linearize {:.3f} ms, column "
      "arrays {:.3f} ms, CSR assembly {:.3f} ms, values compiled in {:.3f} ms",
      e->cols.str(), e->rows.str(), terms.size(), e->assembly.pattern->nnz(), trace_ms, linearize_ms,
      interpret_ms, assemble_ms - interpret_ms,
      runtime::ms_since(t0) - trace_ms - linearize_ms - assemble_ms);
  return e;
}

// A and b for the argument values (args after x).
LinearCore::Affine evaluate(const LinearCore::Extracted& e, std::span<const runtime::BufferPtr> args) {
  const passes::LinearForm& form = e.form;
  std::vector<runtime::BufferPtr> out =
      e.values ? e.values->run(args) : runtime::interpret(form.values, std::span<const runtime::BufferPtr>());
  std::span<const runtime::BufferPtr> coefs(out.data(), form.terms.size());
  DType dtype = form.output.dtype;
  SparseData s{runtime::CsrMatrix{e.assembly.pattern, runtime::assemble_values(e.assembly.plan, coefs, dtype),
                                  e.batch.volume()},
               e.batch, e.rows, e.cols};
  Tensor b = form.bias >= 0 ? make_tensor(out[static_cast<size_t>(form.bias)], form.output.shape)
                            : zeros(form.output.shape, dtype);
  bool stencil = true;
  for (size_t t = 0; t < form.terms.size(); ++t) {
    stencil = stencil && form.terms[t].summed.empty() && coefs[t]->count() == 1;
  }
  return {make_sparse(std::move(s)), b, form.bias < 0, stencil};
}

}  // namespace

LinearCore::Affine LinearCore::matrix(const std::string& key, const std::vector<Tensor>& args,
                                      const JitCore::TraceFn& f) {
  if (any_tracer(std::vector<Tensor>(args.begin() + 1, args.end()))) {
    throw Error(
        "matrix_from_function / jit_compile_linear: a sparse matrix cannot hold values computed in a traced "
        "function yet (an argument after x is being traced). Pass the linear function itself to solve_linear "
        "(with grad_for_f for gradients with respect to its arguments), or apply it to x");
  }
  std::shared_ptr<Extracted> e = cache_->get_or_make(key, [&](int) { return extract(args, f); });
  std::vector<runtime::BufferPtr> arg_buffers;
  for (size_t i = 1; i < args.size(); ++i) arg_buffers.push_back(args[i].data().buffer);
  std::lock_guard lock(e->mutex);
  // The same argument buffers (or none) give the same matrix: reuse it.
  if (!e->last.A.defined() || e->last_args != arg_buffers) {
    auto t0 = std::chrono::steady_clock::now();
    e->last = evaluate(*e, arg_buffers);
    runtime::logger().debug("jit_compile_linear: matrix values for the arguments in {:.3f} ms",
                            runtime::ms_since(t0));
    e->last_args = std::move(arg_buffers);
  }
  return e->last;
}

std::string linear_x_key(const Tensor& x) {
  return fmt::format("T{}{}", dtype_name(x.dtype()), x.shape().non_batch().str());
}

Tensor apply_affine(const LinearCore::Affine& m, const Tensor& x) {
  Tensor y = matmul(m.A, x);
  return m.zero_bias ? y : y + m.b;
}

}  // namespace phijit::detail
