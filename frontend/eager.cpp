#include "frontend/eager.h"

#include <fmt/format.h>

#include <algorithm>

#include "codegen/compile_schedule.h"
#include "codegen/emit_kernel.h"
#include "frontend/tensor_data.h"
#include "frontend/trace_cache.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "passes/schedule.h"
#include "runtime/program.h"

namespace phijit::detail {

namespace {

// The size of the one dim of a flat kernel: larger than any tensor, so that only the range a
// call passes bounds the loop, and one kernel serves every size.
constexpr int64_t kFlatSize = int64_t{1} << 48;
// Kernels kept for reuse (the least recently used ones beyond this are unloaded).
constexpr size_t kMaxEagerKernels = 256;

bool has_kernel(ir::Op op) {
  switch (ir::op_info(op).kind) {
    case ir::OpKind::elementwise:
    case ir::OpKind::reduction:
    case ir::OpKind::stencil:
    case ir::OpKind::gather:
    case ir::OpKind::layout: return true;
    case ir::OpKind::source:
    case ir::OpKind::host: return false;
  }
  return false;
}

// An elementwise op whose operands are each the result's shape or a scalar, or a reduction over
// every dim of its operand, does not depend on the shape: it runs as a flat kernel over the
// values, whatever their count.
bool is_flat(ir::Op op, const ir::ValueType& result, std::span<const ir::ValueType> types) {
  switch (ir::op_info(op).kind) {
    case ir::OpKind::elementwise:
      return std::all_of(types.begin(), types.end(), [&](const ir::ValueType& t) {
        return t.shape.rank() == 0 || t.shape == result.shape;
      });
    case ir::OpKind::reduction: return result.shape.rank() == 0;
    case ir::OpKind::source:
    case ir::OpKind::stencil:
    case ir::OpKind::gather:
    case ir::OpKind::layout:
    case ir::OpKind::host: return false;
  }
  return false;
}

struct Signature {
  bool flat;
  std::string key;
};

std::string attrs_key(const ir::Attrs& a) {
  return fmt::format("[{}][{}]{}|{}|{}:{}", fmt::join(a.names, ","), fmt::join(a.ints, ","),
                     static_cast<int>(a.dtype), a.shape.str(), static_cast<int>(a.extrap.kind()),
                     a.extrap.value());
}

Signature signature_of(ir::Op op, const ir::Attrs& attrs, const ir::ValueType& result,
                       std::span<const ir::ValueType> types) {
  Signature s{is_flat(op, result, types), fmt::format("{}", static_cast<int>(op))};
  if (!s.flat) s.key += attrs_key(attrs);
  if (op == ir::Op::cast) s.key += fmt::format("→{}", static_cast<int>(attrs.dtype));
  for (const ir::ValueType& t : types) {
    s.key += fmt::format(";{}", static_cast<int>(t.dtype));
    // A flat kernel only tells scalars from value arrays.
    s.key += s.flat ? (t.shape.rank() == 0 ? "s" : "v") : t.shape.str();
  }
  return s;
}

struct EagerKernel {
  runtime::KernelFn fn = nullptr;
  bool reduce = false;
  DType accumulator = DType::f64;
  int64_t space_volume = 0;              // of an exact kernel; a flat one walks its values
  std::vector<size_t> operand_of_param;  // params[1 + i] = operands[operand_of_param[i]]
  std::shared_ptr<void> keep_alive;      // its code
};

// The one-op graph a kernel is compiled from: on the operands' shapes, or on a flat dim.
ir::Graph kernel_graph(ir::Op op, const ir::Attrs& attrs, std::span<const ir::ValueType> types, bool flat) {
  ir::Graph g;
  const Shape flat_shape = spatial("values", kFlatSize);
  std::vector<ir::Value> inputs;
  for (const ir::ValueType& t : types)
    inputs.push_back(g.add_input(flat && t.shape.rank() > 0 ? flat_shape : t.shape, t.dtype));
  bool flat_reduce = flat && ir::op_info(op).kind == ir::OpKind::reduction;
  g.add_output(g.add(op, std::move(inputs), flat_reduce ? ir::attrs::reduce({"values"}) : attrs));
  return g;
}

std::shared_ptr<const EagerKernel> compile(const ir::Graph& g) {
  passes::Schedule schedule = passes::run_schedule(g);
  if (schedule.kernels.size() != 1) {
    throw InternalError(fmt::format("eager kernel: one op scheduled as {} kernels", schedule.kernels.size()));
  }
  const passes::Kernel& kernel = schedule.kernels.front();
  codegen::CompiledSchedule code = codegen::compile_schedule(g, schedule);
  auto k = std::make_shared<EagerKernel>();
  k->fn = code.kernels.front().fn;
  k->reduce = kernel.kind == passes::Kernel::Kind::reduce;
  if (k->reduce) k->accumulator = codegen::accumulator_dtype(g.type(g.node(kernel.root).inputs[0]).dtype);
  k->space_volume = kernel.space.volume();
  for (ir::Value v : code.kernels.front().params) {
    auto it = std::find(g.inputs().begin(), g.inputs().end(), v);
    k->operand_of_param.push_back(static_cast<size_t>(it - g.inputs().begin()));
  }
  k->keep_alive = std::move(code.keep_alive);
  return k;
}

TraceCache<const EagerKernel>& kernels() {
  static TraceCache<const EagerKernel> cache("eager kernel", kMaxEagerKernels);
  return cache;
}

int64_t largest_volume(const ir::ValueType& result, std::span<const ir::ValueType> types) {
  int64_t v = result.shape.volume();
  for (const ir::ValueType& t : types) v = std::max(v, t.shape.volume());
  return v;
}

}  // namespace

runtime::BufferPtr evaluate_eager(ir::Op op, const ir::Attrs& attrs, const ir::ValueType& result,
                                  std::span<const runtime::BufferPtr> operands,
                                  std::span<const ir::ValueType> operand_types) {
  if (largest_volume(result, operand_types) < kEagerCompileFrom) {
    return runtime::evaluate(op, attrs, result, operands, operand_types);
  }
  return evaluate_compiled(op, attrs, result, operands, operand_types);
}

runtime::BufferPtr evaluate_compiled(ir::Op op, const ir::Attrs& attrs, const ir::ValueType& result,
                                     std::span<const runtime::BufferPtr> operands,
                                     std::span<const ir::ValueType> operand_types) {
  if (!has_kernel(op)) return runtime::evaluate(op, attrs, result, operands, operand_types);
  Signature sig = signature_of(op, attrs, result, operand_types);
  std::shared_ptr<const EagerKernel> k = kernels().get_or_make(
      sig.key, [&](const auto&) { return compile(kernel_graph(op, attrs, operand_types, sig.flat)); });
  auto out = std::make_shared<Buffer>(result.dtype, result.shape, Buffer::Uninitialized{});
  std::vector<void*> params(1 + k->operand_of_param.size());
  for (size_t i = 0; i < k->operand_of_param.size(); ++i)
    params[1 + i] = const_cast<void*>(operands[k->operand_of_param[i]]->data());
  if (k->reduce) {
    int64_t space = sig.flat ? operand_types[0].shape.volume() : k->space_volume;
    runtime::launch_reduce(k->fn, op, k->accumulator, space, params.data(), *out);
  } else {
    params[0] = out->data();
    runtime::launch_map(k->fn, sig.flat ? result.shape.volume() : k->space_volume, params.data());
  }
  return out;
}

std::vector<Tensor> run_fused(JitCore& core, const std::string& key, const std::vector<Tensor>& args,
                              const JitCore::TraceFn& f) {
  bool large = false;
  for (const Tensor& a : args) {
    if (is_tracer(a) || a.is_sparse()) return f(args);
    large |= a.shape().volume() >= kEagerCompileFrom;
  }
  if (!large || active_trace() != nullptr) return f(args);
  std::string full_key = key;
  for (const Tensor& a : args) full_key += key_of(a) + ";";
  return JitCore::run(*core.get_or_trace(full_key, args, f), args);
}

int eager_kernel_count() { return kernels().trace_count(); }

}  // namespace phijit::detail
