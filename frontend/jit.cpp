#include "frontend/jit.h"

#include <fmt/format.h>

#include <chrono>

#include "frontend/compiler.h"
#include "frontend/tensor_data.h"
#include "frontend/trace_cache.h"
#include "ir/dump.h"
#include "passes/rebuild.h"
#include "runtime/log.h"

namespace phijit::detail {

namespace {
// Retracing this often usually means an auxiliary argument changes on every call.
constexpr int kRetraceWarning = 8;

// The traces whose functions run on this thread, innermost last.
thread_local std::vector<std::shared_ptr<TraceState>> running_traces;
struct RunningTrace {
  explicit RunningTrace(std::shared_ptr<TraceState> t) { running_traces.push_back(std::move(t)); }
  ~RunningTrace() { running_traces.pop_back(); }
  RunningTrace(const RunningTrace&) = delete;
  RunningTrace& operator=(const RunningTrace&) = delete;
};

}  // namespace

std::shared_ptr<TraceState> active_trace() {
  return running_traces.empty() ? nullptr : running_traces.back();
}

struct JitCore::Traced {
  std::shared_ptr<const CompiledGraph> program;
  std::vector<bool> weak;  // per output
};

JitCore::JitCore(std::string kind)
    : kind_(std::move(kind)), cache_(std::make_unique<TraceCache<const Traced>>()) {}
JitCore::~JitCore() = default;

int JitCore::trace_count() const { return cache_->trace_count(); }
void JitCore::clear_cache() { cache_->clear(); }

std::shared_ptr<const JitCore::Traced> JitCore::get_or_trace(const std::string& key,
                                                             const std::vector<Tensor>& args,
                                                             const TraceFn& f, const Transform& transform) {
  return cache_->get_or_make(key, [&](int count) {
    if (count == kRetraceWarning) {
      runtime::logger().warn(
          "{}: this function has been traced {} times; an auxiliary argument (a number, bool or "
          "string) or a tensor shape that changes on every call causes a new trace each time. "
          "Latest key: {}",
          kind_, count, key);
    }
    auto t0 = std::chrono::steady_clock::now();
    Trace trace = trace_arguments(kind_, args, f);
    if (transform) {
      transform(trace.graph);
      trace.weak.resize(trace.graph.outputs().size(), false);  // what the transform adds is strong
    }
    auto traced = std::make_shared<Traced>();
    traced->weak = std::move(trace.weak);
    double trace_ms = runtime::ms_since(t0);
    traced->program = compile_graph(trace.graph);
    runtime::logger().debug("{}: traced key '{}' in {:.3f} ms ({} nodes), compiled in {:.3f} ms", kind_, key,
                            trace_ms, trace.graph.size(), runtime::ms_since(t0) - trace_ms);
    if (ir::dump_enabled("ir")) fmt::print(stderr, "=== {}: trace {:.3f} ms ===\n", kind_, trace_ms);
    return std::shared_ptr<const Traced>(std::move(traced));
  });
}

Trace trace_function(const std::vector<ir::ValueType>& types, const std::vector<bool>& weak,
                     const JitCore::TraceFn& f, std::shared_ptr<TraceState> parent) {
  auto state = std::make_shared<TraceState>();
  state->parent = std::move(parent);
  std::vector<Tensor> tracers;
  for (size_t i = 0; i < types.size(); ++i) {
    tracers.push_back(make_tracer(state, state->graph.add_input(types[i].shape, types[i].dtype), weak[i]));
  }
  std::vector<Tensor> outputs;
  {
    RunningTrace running(state);
    outputs = f(tracers);
  }
  Trace out;
  for (const Tensor& t : outputs) {
    state->graph.add_output(trace_value(*state, t));
    out.weak.push_back(t.data().weak);
  }
  for (const TraceState::Capture& c : state->captures) out.captured.push_back(c.outer);
  out.graph = std::move(state->graph);
  return out;
}

Trace trace_arguments(std::string_view kind, const std::vector<Tensor>& args, const JitCore::TraceFn& f,
                      std::shared_ptr<TraceState> parent) {
  std::vector<ir::ValueType> types;
  std::vector<bool> weak;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].is_sparse()) {
      throw Error(fmt::format(
          "{}: tensor argument {} is a sparse matrix {}; sparse matrices cannot be arguments of a traced "
          "function yet. Capture it in the function instead (it becomes part of the program) or pass "
          "dense(A)",
          kind, i, args[i].shape().str()));
    }
    types.push_back(args[i].data().type);
    weak.push_back(args[i].data().weak);
  }
  return trace_function(types, weak, f, std::move(parent));
}

std::vector<Tensor> JitCore::run(const Traced& traced, const std::vector<Tensor>& args) {
  std::vector<runtime::BufferPtr> inputs;
  inputs.reserve(args.size());
  for (const Tensor& a : args) inputs.push_back(a.data().buffer);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<runtime::BufferPtr> out = traced.program->run(inputs);
  if (ir::dump_enabled("ir")) fmt::print(stderr, "=== run {:.3f} ms ===\n", runtime::ms_since(t0));
  const ir::Graph& g = traced.program->optimized_graph();
  std::vector<Tensor> result;
  for (size_t i = 0; i < out.size(); ++i) {
    result.push_back(make_tensor(out[i], g.type(g.outputs()[i]).shape, traced.weak[i]));
  }
  return result;
}

std::vector<Tensor> call_graph(const ir::Graph& g, const std::vector<Tensor>& tracers) {
  std::shared_ptr<TraceState> trace = innermost_trace(tracers);
  std::vector<ir::Value> inputs;
  for (const Tensor& t : tracers) inputs.push_back(trace_value(*trace, t));
  std::vector<Tensor> out;
  for (ir::Value v : passes::inline_graph(trace->graph, g, inputs))
    out.push_back(make_tracer(trace, v, false));
  return out;
}

bool any_tracer(const std::vector<Tensor>& ts) {
  for (const Tensor& t : ts) {
    if (is_tracer(t)) return true;
  }
  return false;
}

std::string key_of(const Tensor& t) {
  return fmt::format("T{}{}{}", dtype_name(t.dtype()), t.shape().str(), t.data().weak ? "w" : "");
}
std::string key_of(const std::string& s) { return fmt::format("S{}:{}", s.size(), s); }
std::string key_of(bool b) { return b ? "Btrue" : "Bfalse"; }
std::string key_of(double v) { return fmt::format("D{}", v); }
std::string key_of(int64_t v) { return fmt::format("I{}", v); }
std::string key_of(uint64_t v) { return fmt::format("U{}", v); }

}  // namespace phijit::detail
