// jit_compile (API §6): traces a function once per key into an IR graph and runs it as
// native code compiled by LLVM.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "frontend/tensor.h"

namespace phijit {

namespace detail {

template <class T>
class TraceCache;

// The non-template core of a jit function: its cache of compiled traces, the
// PHIJIT_MAX_TRACES most recently used ones (their code is unloaded when they are dropped).
class JitCore {
 public:
  // `warn_on_retrace`: warn when the function has been traced many times (a user function whose
  // key changes on every call); eager composites (run_fused) are traced once per shape on purpose.
  explicit JitCore(std::string kind, bool warn_on_retrace = true);
  ~JitCore();
  struct Traced;  // a compiled trace
  using TraceFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& tracers)>;
  // Rewrites the traced graph in place before it is compiled (gradient adds its VJP here).
  // Defined in frontend/trace.h: the IR stays out of the public headers.
  struct Transform;

  // The compiled trace for `key`; on a miss, `f` runs once on tracers standing for `args`
  // (also when many threads ask for the same key at once), `transform` (if not null) rewrites
  // its graph, and the result is compiled. The key must determine what `transform` does; its parts
  // (key_part of each argument in order, each followed by ';') let the retrace warning name
  // the argument that changed. `f` calling this function with concrete arguments of a key
  // being traced on this thread raises an Error.
  std::shared_ptr<const Traced> get_or_trace(const std::string& key, const std::vector<Tensor>& args,
                                             const TraceFn& f, const Transform* transform = nullptr);
  // Runs the compiled code on the concrete `args`.
  static std::vector<Tensor> run(const Traced& traced, const std::vector<Tensor>& args);

  int trace_count() const;
  void clear_cache();

 private:
  std::string kind_;
  bool warn_on_retrace_;
  std::unique_ptr<TraceCache<const Traced>> cache_;
};

struct TraceState;

// Key parts: shape and dtype of tensors, values of everything else.
std::string key_of(const Tensor& t);
std::string key_of(const std::string& s);
std::string key_of(bool b);
std::string key_of(double v);
std::string key_of(int64_t v);
std::string key_of(uint64_t v);
template <class A>
std::string key_part(const A& a) {
  if constexpr (std::is_same_v<A, Tensor> || std::is_same_v<A, bool>) {
    return key_of(a);
  } else if constexpr (std::is_convertible_v<const A&, std::string_view>) {
    return key_of(std::string(std::string_view(a)));
  } else if constexpr (std::is_floating_point_v<A>) {
    return key_of(static_cast<double>(a));
  } else if constexpr (std::is_integral_v<A> && std::is_signed_v<A>) {
    return key_of(static_cast<int64_t>(a));
  } else if constexpr (std::is_integral_v<A>) {
    return key_of(static_cast<uint64_t>(a));
  } else {
    static_assert(sizeof(A) == 0,
                  "jit_compile arguments must be Tensors, arithmetic values, bools or strings");
  }
}

bool any_tracer(const std::vector<Tensor>& ts);

// Flattening of what the user function returns: a Tensor, a tuple of Tensors or a vector.
template <class R>
struct Outputs;
template <>
struct Outputs<Tensor> {
  static std::vector<Tensor> flatten(const Tensor& t) { return {t}; }
  static Tensor build(const std::vector<Tensor>& v) { return v.at(0); }
};
template <>
struct Outputs<std::vector<Tensor>> {
  static std::vector<Tensor> flatten(const std::vector<Tensor>& v) { return v; }
  static std::vector<Tensor> build(const std::vector<Tensor>& v) { return v; }
};
template <class... T>
struct Outputs<std::tuple<T...>> {
  static_assert((std::is_same_v<T, Tensor> && ...), "jit_compile: a returned tuple must hold only Tensors");
  static std::vector<Tensor> flatten(const std::tuple<T...>& t) {
    return std::apply([](const auto&... x) { return std::vector<Tensor>{x...}; }, t);
  }
  static std::tuple<T...> build(const std::vector<Tensor>& v) {
    return build_impl(v, std::index_sequence_for<T...>{});
  }
  template <size_t... I>
  static std::tuple<T...> build_impl(const std::vector<Tensor>& v, std::index_sequence<I...>) {
    return std::tuple<T...>{v.at(I)...};
  }
};

template <class A>
void collect_tensor(const A& a, std::vector<Tensor>& out) {
  if constexpr (std::is_same_v<A, Tensor>) out.push_back(a);
}
// The argument to pass to the user function while tracing: tracers replace tensors in order.
template <class A>
const A& traced_arg(const A& a, const std::vector<Tensor>& tracers, size_t& next) {
  if constexpr (std::is_same_v<A, Tensor>) {
    return tracers.at(next++);
  } else {
    return a;
  }
}

}  // namespace detail

template <class F>
class JitFunction {
 public:
  explicit JitFunction(F f, std::string kind = "jit_compile")
      : f_(std::move(f)), core_(std::make_shared<detail::JitCore>(std::move(kind))) {}

  template <class... Args>
  auto operator()(const Args&... args) const {
    using R = std::decay_t<std::invoke_result_t<const F&, const Args&...>>;
    std::vector<Tensor> tensors;
    (detail::collect_tensor(args, tensors), ...);
    // Called while another function is being traced: become part of that trace.
    if (detail::any_tracer(tensors)) return f_(args...);
    std::string key;
    ((key += detail::key_part(args) + ";"), ...);
    auto traced = core_->get_or_trace(key, tensors, [&](const std::vector<Tensor>& tracers) {
      [[maybe_unused]] size_t next = 0;  // unused when f takes no tensors
      // Arguments are evaluated left to right inside a braced initializer.
      auto call = [&](const auto&... a) { return f_(a...); };
      std::tuple<const Args&...> traced_args{detail::traced_arg(args, tracers, next)...};
      return detail::Outputs<R>::flatten(std::apply(call, traced_args));
    });
    return detail::Outputs<R>::build(detail::JitCore::run(*traced, tensors));
  }

  int trace_count() const { return core_->trace_count(); }
  void clear_cache() { core_->clear_cache(); }

 private:
  F f_;
  std::shared_ptr<detail::JitCore> core_;
};

template <class F>
auto jit_compile(F f) {
  return JitFunction<F>(std::move(f));
}

}  // namespace phijit
