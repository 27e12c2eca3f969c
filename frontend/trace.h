// Tracing internals behind jit_compile, gradient and the linear functions: a function run on
// tracers into an IR graph, a graph called inside another trace, and the graph rewrite a jit
// function applies before compiling. Kept out of frontend/jit.h so that <phijit/phijit.h>
// does not include the IR.
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "frontend/jit.h"
#include "frontend/tensor.h"
#include "ir/graph.h"

namespace phijit::detail {

struct JitCore::Transform {
  std::function<void(ir::Graph&)> rewrite;
};

// The graph of `f` run on tracers of the given types (inputs in order), with its outputs
// and whether each output is a weak scalar. Under a `parent` trace, tensors of the parent
// that `f` uses become further inputs of the graph, standing for the parent's `captured` values.
struct Trace {
  ir::Graph graph;
  std::vector<bool> weak;
  std::vector<ir::Value> captured;
};
Trace trace_function(const std::vector<ir::ValueType>& types, const std::vector<bool>& weak,
                     const JitCore::TraceFn& f, std::shared_ptr<TraceState> parent = nullptr);
// The same with tracers standing for `args`. A sparse matrix cannot be an argument of a traced
// function yet: an Error naming `kind` says how to pass it instead.
Trace trace_arguments(std::string_view kind, const std::vector<Tensor>& args, const JitCore::TraceFn& f,
                      std::shared_ptr<TraceState> parent = nullptr);

// `g` applied to tracers (one per input of g): its nodes added to their trace.
std::vector<Tensor> call_graph(const ir::Graph& g, const std::vector<Tensor>& tracers);

}  // namespace phijit::detail
