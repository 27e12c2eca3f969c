// <phijit/compiler.h>: the compiler research surface (API §9) for people who write passes — the
// public API plus the IR (ir::Graph, its printer and parser, the typed ir::Builder), trace(),
// which gives the graph of a function, and the pass registry (passes::register_pass, the
// pipeline by name, passes::rebuild to write a pass). <phijit/phijit.h> stays free of the IR;
// only this header brings it. docs/COMPILER.md is the guide.
#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <vector>

#include "frontend/jit.h"
#include "ir/builder.h"
#include "ir/graph.h"
#include "ir/parser.h"
#include "passes/rebuild.h"
#include "passes/registry.h"
#include "phijit/phijit.h"

namespace phijit {

namespace detail {
// The graph of `f` run on tracers standing for `args` (as jit_compile traces it, before any
// pass runs): one graph input per tensor in `args`, in order.
ir::Graph trace_graph(const std::vector<Tensor>& args, const JitCore::TraceFn& f);
}  // namespace detail

// The IR graph of f(args...) as jit_compile would trace it for these arguments (their shapes and
// dtypes; auxiliary arguments — numbers, bools, strings — by value), before the passes run. Its
// inputs are the tensor arguments in order; its outputs what f returns (a Tensor, a tuple or a
// vector of tensors). Tensors f captures become constants.
template <class F, class... Args>
ir::Graph trace(F&& f, const Args&... args) {
  using R = std::decay_t<std::invoke_result_t<F&, const Args&...>>;
  std::vector<Tensor> tensors;
  (detail::collect_tensor(args, tensors), ...);
  return detail::trace_graph(tensors, [&](const std::vector<Tensor>& tracers) {
    [[maybe_unused]] size_t next = 0;  // unused when f takes no tensors
    auto call = [&](const auto&... a) { return f(a...); };
    // Arguments are evaluated left to right inside a braced initializer.
    std::tuple<const Args&...> traced_args{detail::traced_arg(args, tracers, next)...};
    return detail::Outputs<R>::flatten(std::apply(call, traced_args));
  });
}

}  // namespace phijit
