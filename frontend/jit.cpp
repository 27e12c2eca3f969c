#include "frontend/jit.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>

#include "frontend/compiler.h"
#include "frontend/tensor_data.h"
#include "frontend/trace.h"
#include "frontend/trace_cache.h"
#include "ir/dump.h"
#include "passes/rebuild.h"
#include "phijit/compiler.h"
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

// The parts of a key: key_part of each argument, each followed by ';'. A string's part starts
// with its length, so a ';' inside the string does not split it.
std::vector<std::string_view> key_parts(std::string_view key) {
  std::vector<std::string_view> parts;
  while (!key.empty()) {
    size_t end = key.find(';');
    size_t length = 0;
    if (key.front() == 'S') {
      const char* last = key.data() + key.size();
      auto [colon, ec] = std::from_chars(key.data() + 1, last, length);
      if (ec == std::errc() && colon != last && *colon == ':' && length < key.size())
        end = static_cast<size_t>(colon - key.data()) + 1 + length;
    }
    end = std::min(end, key.size());
    parts.push_back(key.substr(0, end));
    key.remove_prefix(std::min(key.size(), end + 1));
  }
  return parts;
}

// The value a key part stands for, as the user wrote it (a tensor's dtype and shape).
std::string shown_value(std::string_view part) {
  if (part.front() == 'S') return fmt::format("\"{}\"", part.substr(part.find(':') + 1));
  return std::string(part.substr(1));
}

// How the argument at `position` changed, and how to stop it from causing traces.
std::string describe_argument_change(size_t position, std::string_view before, std::string_view after) {
  const std::string old_value = shown_value(before), new_value = shown_value(after);
  switch (after.front()) {
    case 'D':
    case 'I':
    case 'U':
      return fmt::format(
          "Argument {} (a number) changed from {} to {}: each value of a number argument is a trace "
          "of its own. If it changes from call to call (an adaptive time step, say), make it a tensor: "
          "declare the parameter `const Tensor&` and pass `Tensor({})`; the compiled code then reads "
          "the value as an input and is traced once",
          position, old_value, new_value, new_value);
    case 'T':
      return fmt::format(
          "Argument {} (a tensor) changed from {} to {}: each shape and dtype is traced and compiled "
          "on its own",
          position, old_value, new_value);
    default:
      return fmt::format("Argument {} changed from {} to {}: each of its values is a trace of its own",
                         position, old_value, new_value);
  }
}

// Which argument differs between two keys of one function, and what to do about it.
std::string describe_change(std::string_view before, std::string_view after) {
  const std::vector<std::string_view> a = key_parts(before), b = key_parts(after);
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i] == b[i]) continue;
    // Key parts of one argument type (the same letter) compare; others are another overload.
    if (a[i].empty() || b[i].empty() || a[i].front() != b[i].front()) break;
    return describe_argument_change(i, a[i], b[i]);
  }
  return fmt::format("Latest key: {} (previous: {})", after, before);
}

}  // namespace

std::shared_ptr<TraceState> active_trace() {
  return running_traces.empty() ? nullptr : running_traces.back();
}

struct JitCore::Traced {
  std::shared_ptr<const CompiledGraph> program;
  std::vector<bool> weak;  // per output
};

JitCore::JitCore(std::string kind, bool warn_on_retrace)
    : kind_(std::move(kind)),
      warn_on_retrace_(warn_on_retrace),
      cache_(std::make_unique<TraceCache<const Traced>>(kind_, max_traces_from_env())) {}
JitCore::~JitCore() = default;

int JitCore::trace_count() const { return cache_->trace_count(); }
void JitCore::clear_cache() { cache_->clear(); }

std::shared_ptr<const JitCore::Traced> JitCore::get_or_trace(const std::string& key,
                                                             const std::vector<Tensor>& args,
                                                             const TraceFn& f, const Transform* transform) {
  return cache_->get_or_make(key, [&](const TraceCache<const Traced>::Miss& miss) {
    if (warn_on_retrace_ && miss.count == kRetraceWarning) {
      runtime::logger().warn(
          "{}: this function has been traced {} times; an auxiliary argument (a number, bool or "
          "string) or a tensor shape that changes on every call causes a new trace each time. {}",
          kind_, miss.count, describe_change(miss.previous_key, key));
    }
    auto t0 = std::chrono::steady_clock::now();
    Trace trace = trace_arguments(kind_, args, f);
    if (transform != nullptr) {
      transform->rewrite(trace.graph);
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

ir::Graph trace_graph(const std::vector<Tensor>& args, const JitCore::TraceFn& f) {
  return trace_arguments("trace", args, f).graph;
}

std::vector<Tensor> JitCore::run(const Traced& traced, const std::vector<Tensor>& args) {
  std::vector<runtime::BufferPtr> inputs;
  inputs.reserve(args.size());
  for (const Tensor& a : args) inputs.push_back(dense_buffer(a));
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
