#include "frontend/gradient.h"

#include <fmt/format.h>

#include "frontend/tensor_data.h"
#include "frontend/trace.h"
#include "passes/autodiff.h"
#include "passes/rebuild.h"

namespace phijit::detail {

namespace {

void check_differentiable(const Tensor& t, int index) {
  if (t.is_sparse()) {
    throw Error(
        fmt::format("gradient: argument {} is a sparse matrix {}; gradients with respect to sparse "
                    "matrices are not supported, pass its values as a dense tensor",
                    index, t.shape().str()));
  }
  if (!is_float(t.dtype())) {
    throw Error(
        fmt::format("gradient: argument {} has dtype {}; gradients exist only for float32 and float64 "
                    "tensors (convert it with astype, or leave it out of wrt)",
                    index, dtype_name(t.dtype())));
  }
}

// Under an enclosing trace: f and its VJP are traced into it (never cached: the enclosing
// trace is made once per key of its own function).
std::vector<Tensor> trace_into(const std::shared_ptr<TraceState>& outer, const std::vector<Tensor>& args,
                               const std::vector<int>& wrt, const JitCore::TraceFn& f) {
  Trace sub = trace_arguments("gradient", args, f, outer);
  passes::add_gradient(sub.graph, wrt);
  std::vector<ir::Value> inputs;
  for (const Tensor& a : args) inputs.push_back(trace_value(*outer, a));
  inputs.insert(inputs.end(), sub.captured.begin(), sub.captured.end());
  std::vector<ir::Value> values = passes::inline_graph(outer->graph, sub.graph, inputs);
  std::vector<Tensor> out;
  for (size_t i = 0; i < values.size(); ++i) {
    out.push_back(make_tracer(outer, values[i], i < sub.weak.size() && sub.weak[i]));
  }
  return out;
}

}  // namespace

std::vector<int> tensor_indices(const std::vector<int>& wrt, const std::vector<bool>& is_tensor,
                                const std::vector<Tensor>& tensors) {
  std::vector<int> position(is_tensor.size(), -1);
  int count = 0;
  for (size_t i = 0; i < is_tensor.size(); ++i) {
    if (is_tensor[i]) position[i] = count++;
  }
  std::vector<int> out;
  for (int i : wrt) {
    if (i < 0 || static_cast<size_t>(i) >= is_tensor.size()) {
      throw Error(
          fmt::format("gradient: wrt index {} is outside the function's {} arguments", i, is_tensor.size()));
    }
    if (position[static_cast<size_t>(i)] < 0) {
      throw Error(
          fmt::format("gradient: wrt index {} names an argument that is not a Tensor; only tensor "
                      "arguments can be differentiated",
                      i));
    }
    out.push_back(position[static_cast<size_t>(i)]);
    check_differentiable(tensors.at(static_cast<size_t>(out.back())), i);
  }
  return out;
}

std::vector<Tensor> GradientCore::call(const std::string& key, const std::vector<Tensor>& args,
                                       const std::vector<int>& wrt, const JitCore::TraceFn& f) {
  if (std::shared_ptr<TraceState> outer = innermost_trace(args)) return trace_into(outer, args, wrt, f);
  const JitCore::Transform add_gradient{[&](ir::Graph& g) { passes::add_gradient(g, wrt); }};
  auto traced = jit_.get_or_trace(key, args, f, &add_gradient);
  return JitCore::run(*traced, args);
}

}  // namespace phijit::detail
