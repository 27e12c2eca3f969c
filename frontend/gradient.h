// gradient (API §6): reverse-mode derivatives of traced functions. The function is traced once
// per key, the autodiff pass adds its vector-Jacobian product to the graph, and the result is
// compiled as one program with the forward pass (cached like jit_compile).
#pragma once

#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "frontend/jit.h"
#include "frontend/tensor.h"

namespace phijit {

namespace detail {

// The non-template core of a gradient function.
class GradientCore {
 public:
  GradientCore() : jit_("gradient") {}

  // f's outputs, then the gradient of its first output with respect to each tensor argument
  // listed in `wrt` (indices into `args`). Traced and compiled once per key; when an argument
  // is a tracer (gradient inside jit_compile or inside another gradient), f is traced into
  // that trace instead, with its VJP.
  std::vector<Tensor> call(const std::string& key, const std::vector<Tensor>& args,
                           const std::vector<int>& wrt, const JitCore::TraceFn& f);
  int trace_count() const { return jit_.trace_count(); }
  void clear_cache() { jit_.clear_cache(); }

 private:
  JitCore jit_;
};

// `wrt` (indices into all arguments) as indices into `tensors`, the tensor arguments; an index
// past the arguments, of a non-tensor argument or of a non-float tensor is an Error.
std::vector<int> tensor_indices(const std::vector<int>& wrt, const std::vector<bool>& is_tensor,
                                const std::vector<Tensor>& tensors);

}  // namespace detail

template <class F>
class GradientFunction {
 public:
  GradientFunction(F f, std::vector<int> wrt, bool get_output)
      : f_(std::move(f)),
        wrt_(std::move(wrt)),
        get_output_(get_output),
        core_(std::make_shared<detail::GradientCore>()) {}

  // With get_output: f's outputs, then one gradient per index of wrt; else the gradients.
  template <class... Args>
  std::vector<Tensor> operator()(const Args&... args) const {
    using R = std::decay_t<std::invoke_result_t<const F&, const Args&...>>;
    std::vector<Tensor> tensors;
    (detail::collect_tensor(args, tensors), ...);
    std::vector<int> wrt = detail::tensor_indices(wrt_, {std::is_same_v<Args, Tensor>...}, tensors);
    // The arguments' parts first, as in jit_compile's key, so that the retrace warning can
    // name the argument that changed by its position.
    std::string key;
    ((key += detail::key_part(args) + ";"), ...);
    key += "W";
    for (int i : wrt) key += std::to_string(i) + ",";
    key += ";";
    std::vector<Tensor> out = core_->call(key, tensors, wrt, [&](const std::vector<Tensor>& tracers) {
      [[maybe_unused]] size_t next = 0;
      auto call = [&](const auto&... a) { return f_(a...); };
      std::tuple<const Args&...> traced_args{detail::traced_arg(args, tracers, next)...};
      return detail::Outputs<R>::flatten(std::apply(call, traced_args));
    });
    if (!get_output_) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(wrt.size()));
    return out;
  }

  int trace_count() const { return core_->trace_count(); }
  void clear_cache() { core_->clear_cache(); }

 private:
  F f_;
  std::vector<int> wrt_;
  bool get_output_;
  std::shared_ptr<detail::GradientCore> core_;
};

template <class F>
auto gradient(F f, std::vector<int> wrt = {0}, bool get_output = true) {
  return GradientFunction<F>(std::move(f), std::move(wrt), get_output);
}

}  // namespace phijit
