#include "frontend/linear.h"

#include <fmt/format.h>

#include <chrono>
#include <map>
#include <mutex>

#include "frontend/compiler.h"
#include "frontend/math.h"
#include "frontend/matrices.h"
#include "frontend/tensor_data.h"
#include "frontend/trace.h"
#include "frontend/trace_cache.h"
#include "ir/builder.h"
#include "ir/dump.h"
#include "passes/linearize.h"
#include "runtime/log.h"
#include "runtime/petsc_solve.h"
#include "runtime/sparse_assembly.h"

namespace phijit::detail {

// One trace of a linear function: the pattern, and how the values follow the arguments.
struct LinearCore::Extracted {
  passes::LinearForm form;
  // The CSR pattern of every row, and of this process's rows (PETSc under MPI), made on first use.
  runtime::Assembly assembly, own_assembly;
  std::once_flag assembled, own_assembled;
  int64_t own_first_row = 0;
  // The coefficients and bias as native code of the arguments (null when f has none: then
  // they are computed once, below).
  std::shared_ptr<const CompiledGraph> values;
  Shape batch, rows, cols;

  // The last result for the whole matrix and for this process's rows: the same argument
  // buffers give the same matrix (and the same values buffer, which solvers' caches key on).
  struct Kept {
    std::vector<runtime::BufferPtr> args;
    LinearCore::Affine affine;
    bool valid = false;
  };
  std::mutex mutex;  // guards the kept results and the value maps
  Kept whole, own;
  // Per term and dtype: the 0/1 matrix from its coefficients to the stored entries (traced values).
  std::map<std::pair<size_t, DType>, std::shared_ptr<const runtime::SparseOperand>> value_maps;
};

LinearCore::LinearCore()
    : cache_(std::make_unique<TraceCache<Extracted>>("jit_compile_linear", max_traces_from_env())) {}
LinearCore::~LinearCore() = default;

int LinearCore::trace_count() const { return cache_->trace_count(); }
void LinearCore::clear_cache() { cache_->clear(); }

namespace {

// f traced on x without its batch dims: each batch entry of x gets the same matrix. An f that
// reads or reduces a batch dim of x fails there; the error says why.
Trace trace_one_entry(std::vector<ir::ValueType> types, const std::vector<bool>& weak,
                      const JitCore::TraceFn& f) {
  const Shape x_batch = types[0].shape.batch();
  types[0].shape = types[0].shape.non_batch();
  try {
    return trace_function(types, weak, f);
  } catch (const Error& e) {
    std::string message = e.what();
    bool about_batch = false;
    for (const std::string& name : x_batch.names())
      about_batch = about_batch || message.find(name) != std::string::npos;
    if (!about_batch) throw;
    throw ShapeError(fmt::format(
        "jit_compile_linear traces f on one batch entry of x: x {} without its batch dims {}, because every "
        "batch entry gets the same matrix. f must act on each batch entry alone (it may not read or reduce "
        "x's batch dims). Tracing f failed with: {}",
        types[0].shape.str(), x_batch.str(), message));
  }
}

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
  Trace trace = trace_one_entry(types, weak, f);
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
  if (!form.values.inputs().empty()) e->values = compile_graph(form.values);
  runtime::logger().debug(
      "jit_compile_linear: {} → {} matrix, {} terms: trace {:.3f} ms, linearize {:.3f} ms, values compiled "
      "in "
      "{:.3f} ms",
      e->cols.str(), e->rows.str(), form.terms.size(), trace_ms, linearize_ms,
      runtime::ms_since(t0) - trace_ms - linearize_ms);
  return e;
}

// The CSR pattern of rows [range) from the terms' column arrays.
runtime::Assembly assemble_rows(const LinearCore::Extracted& e, runtime::RowRange range) {
  auto t0 = std::chrono::steady_clock::now();
  const passes::LinearForm& form = e.form;
  std::vector<runtime::BufferPtr> cols = runtime::interpret(form.pattern, {});
  double interpret_ms = runtime::ms_since(t0);
  std::vector<runtime::AssemblyTerm> terms;
  for (const passes::LinearTerm& t : form.terms) {
    const ir::Graph& pg = form.pattern;
    terms.push_back({cols[static_cast<size_t>(t.col)],
                     pg.type(pg.outputs()[static_cast<size_t>(t.col)]).shape,
                     form.values.type(form.values.outputs()[static_cast<size_t>(t.coef)]).shape, t.summed});
  }
  runtime::Assembly a = runtime::assemble(e.rows, e.cols.volume(), e.batch, terms, range);
  runtime::logger().debug(
      "jit_compile_linear: {} rows of {}, nnz {}: column arrays {:.3f} ms, CSR assembly {:.3f} ms",
      a.pattern->rows, e.rows.str(), a.pattern->nnz(), interpret_ms, runtime::ms_since(t0) - interpret_ms);
  return a;
}

const runtime::Assembly& whole_assembly(LinearCore::Extracted& e) {
  std::call_once(e.assembled, [&] { e.assembly = assemble_rows(e, {}); });
  return e.assembly;
}

// This process's block of rows as PETSc splits them.
const runtime::Assembly& own_assembly(LinearCore::Extracted& e) {
  std::call_once(e.own_assembled, [&] {
    auto [first, count] = runtime::petsc_row_block(e.rows.volume());
    e.own_first_row = first;
    e.own_assembly = assemble_rows(e, {first, count});
  });
  return e.own_assembly;
}

// A and b for the argument values (args after x): the whole A, or this process's rows of it.
LinearCore::Affine evaluate(LinearCore::Extracted& e, std::span<const runtime::BufferPtr> args,
                            bool own_rows) {
  const passes::LinearForm& form = e.form;
  std::vector<runtime::BufferPtr> out =
      e.values ? e.values->run(args) : runtime::interpret(form.values, std::span<const runtime::BufferPtr>());
  std::span<const runtime::BufferPtr> coefs(out.data(), form.terms.size());
  DType dtype = form.output.dtype;
  const runtime::Assembly& assembly = own_rows ? own_assembly(e) : whole_assembly(e);
  runtime::CsrMatrix csr{assembly.pattern, runtime::assemble_values(assembly.plan, coefs, dtype),
                         e.batch.volume()};
  LinearCore::Affine m;
  if (own_rows) {
    m.own_rows =
        std::make_shared<const RowBlock>(RowBlock{std::move(csr), e.own_first_row, e.batch, e.rows, e.cols});
  } else {
    m.A = make_sparse(SparseData{std::move(csr), e.batch, e.rows, e.cols});
  }
  m.b = form.bias >= 0 ? make_tensor(out[static_cast<size_t>(form.bias)], form.output.shape)
                       : zeros(form.output.shape, dtype);
  m.zero_bias = form.bias < 0;
  m.stencil = true;
  for (size_t t = 0; t < form.terms.size(); ++t) {
    m.stencil = m.stencil && form.terms[t].summed.empty() && coefs[t]->count() == 1;
  }
  return m;
}

// The matrix P with P·coefficients = the stored entries' share of term t (one row per entry,
// columns the coefficients' own dims): what assemble_values does, as a linear map.
std::shared_ptr<const runtime::SparseOperand> value_map(LinearCore::Extracted& e, size_t t, DType dtype) {
  std::lock_guard lock(e.mutex);
  auto& slot = e.value_maps[{t, dtype}];
  if (slot) return slot;
  const runtime::ValuePlan& plan = whole_assembly(e).plan;
  Shape own = plan.coef_shapes[t].without(plan.batch.names());
  int64_t base = plan.coef_base[t], n = own.volume(), nnz = plan.src->count();
  std::vector<std::map<int32_t, double>> rows(static_cast<size_t>(nnz));
  auto add = [&](int64_t entry, int64_t coefficient) {
    if (coefficient >= base && coefficient < base + n)
      rows[entry][static_cast<int32_t>(coefficient - base)] += 1;
  };
  for (int64_t k = 0; k < nnz; ++k) add(k, plan.src->as<int32_t>()[k]);
  for (auto [k, c] : plan.extra) add(k, c);
  auto row_ptr = std::make_shared<Buffer>(DType::i64, nnz + 1);
  std::vector<int32_t> cols;
  std::vector<double> counts;
  for (int64_t k = 0; k < nnz; ++k) {
    for (auto [c, count] : rows[static_cast<size_t>(k)]) {
      cols.push_back(c);
      counts.push_back(count);
    }
    row_ptr->as<int64_t>()[k + 1] = static_cast<int64_t>(cols.size());
  }
  auto col = std::make_shared<Buffer>(DType::i32, static_cast<int64_t>(cols.size()));
  std::copy(cols.begin(), cols.end(), col->as<int32_t>());
  auto values = std::make_shared<Buffer>(dtype, static_cast<int64_t>(counts.size()));
  for (size_t i = 0; i < counts.size(); ++i) values->set_real(static_cast<int64_t>(i), counts[i]);
  auto pattern = std::make_shared<const runtime::CsrPattern>(runtime::CsrPattern{nnz, n, row_ptr, col});
  Shape entries({Dim{ir::kSparseEntries, nnz, DimType::instance, {}}});
  slot =
      std::make_shared<runtime::SparseOperand>(runtime::CsrMatrix{pattern, values, 1}, Shape(), entries, own);
  return slot;
}

// A and b for arguments that are being traced: the values graph is traced too, and the
// coefficients reach the stored entries through the value maps, so the matrix's values are a
// tracer (differentiable with respect to the arguments).
LinearCore::Affine evaluate_traced(LinearCore::Extracted& e, const std::vector<Tensor>& args) {
  const passes::LinearForm& form = e.form;
  const runtime::Assembly& assembly = whole_assembly(e);
  const runtime::ValuePlan& plan = assembly.plan;
  DType dtype = form.output.dtype;
  std::vector<Tensor> out = call_graph(form.values, args);
  Dim entries{ir::kSparseEntries, assembly.pattern->nnz(), DimType::instance, {}};
  Tensor values = zeros(plan.batch & Shape({entries}), dtype);
  for (size_t t = 0; t < form.terms.size(); ++t) {
    Tensor coef = out[static_cast<size_t>(form.terms[t].coef)].astype(dtype);
    std::shared_ptr<const runtime::SparseOperand> P = value_map(e, t, dtype);
    if (P->cols().rank() == 0) {  // one coefficient for every entry of the term: counts them
      const runtime::CsrMatrix& m = P->csr();
      auto counts = std::make_shared<Buffer>(dtype, entries.size);
      for (int64_t k = 0; k < entries.size; ++k) {
        const int64_t* rp = m.pattern->row_ptr->as<int64_t>();
        counts->set_real(k, rp[k + 1] > rp[k] ? m.values->get_real(rp[k]) : 0.0);
      }
      values = values + coef * make_tensor(counts, Shape({entries}));
    } else {
      values = values + apply(ir::Op::matmul_sparse, {coef}, ir::attrs::matmul_sparse(P));
    }
  }
  SparseData s{runtime::CsrMatrix{assembly.pattern, nullptr, e.batch.volume()}, e.batch, e.rows, e.cols};
  Tensor b = form.bias >= 0 ? out[static_cast<size_t>(form.bias)] : zeros(form.output.shape, dtype);
  return {make_traced_sparse(std::move(s), values), b, form.bias < 0, false};
}

}  // namespace

LinearCore::Affine LinearCore::matrix(const std::string& key, const std::vector<Tensor>& args,
                                      const JitCore::TraceFn& f, bool own_rows) {
  std::shared_ptr<Extracted> e = cache_->get_or_make(key, [&](const auto&) { return extract(args, f); });
  std::vector<Tensor> f_args(args.begin() + 1, args.end());
  if (any_tracer(f_args)) {
    if (own_rows) throw InternalError("jit_compile_linear: a block of rows of a traced matrix");
    return evaluate_traced(*e, f_args);
  }
  std::vector<runtime::BufferPtr> arg_buffers;
  for (size_t i = 1; i < args.size(); ++i) arg_buffers.push_back(dense_buffer(args[i]));
  // The row split comes from PETSc, under PETSc's lock: not while holding e->mutex, which a
  // callable applied inside a PETSc solve may want.
  if (own_rows) own_assembly(*e);
  std::lock_guard lock(e->mutex);
  Extracted::Kept& kept = own_rows ? e->own : e->whole;
  if (!kept.valid || kept.args != arg_buffers) {
    auto t0 = std::chrono::steady_clock::now();
    kept.affine = evaluate(*e, arg_buffers, own_rows);
    kept.args = std::move(arg_buffers);
    kept.valid = true;
    runtime::logger().debug("jit_compile_linear: matrix values for the arguments in {:.3f} ms",
                            runtime::ms_since(t0));
  }
  return kept.affine;
}

std::string linear_x_key(const Tensor& x) {
  return fmt::format("T{}{}", dtype_name(x.dtype()), x.shape().non_batch().str());
}

Tensor apply_affine(const LinearCore::Affine& m, const Tensor& x) {
  Tensor y = matmul(m.A, x);
  return m.zero_bias ? y : y + m.b;
}

}  // namespace phijit::detail
