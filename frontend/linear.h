// Linear functions as sparse matrices (API §5, §6): matrix_from_function and
// jit_compile_linear trace f, extract A and b = f(0) with the linearize pass, and keep the
// sparsity pattern per key while the values follow f's extra arguments.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "frontend/jit.h"
#include "frontend/tensor.h"

namespace phijit {

namespace detail {

// This process's block of rows of a linear function's matrix (frontend/tensor_data.h).
struct RowBlock;

// The non-template core of a linear function: its extracted matrices per key.
class LinearCore {
 public:
  LinearCore();
  ~LinearCore();
  struct Extracted;
  struct Affine {
    Tensor A, b;
    bool zero_bias = false;
    // Every term has one constant coefficient (a pure stencil such as laplace): applying f
    // itself moves less memory than the CSR matrix does.
    bool stencil = false;
    // Set instead of A when only this process's rows were asked for.
    std::shared_ptr<const RowBlock> own_rows;
  };

  // A (sparse) and b of f at `args` (x first; only x's non-batch dims and dtype matter).
  // `key` identifies the trace; on a miss f is traced and linearized. With `own_rows`, only
  // this process's block of A's rows as PETSc splits them (a PETSc solve under MPI): the whole
  // matrix is never assembled.
  Affine matrix(const std::string& key, const std::vector<Tensor>& args, const JitCore::TraceFn& f,
                bool own_rows = false);
  int trace_count() const;
  void clear_cache();

 private:
  std::unique_ptr<TraceCache<Extracted>> cache_;
};

// The key part of x: its non-batch shape and dtype.
std::string linear_x_key(const Tensor& x);
// A·x + b.
Tensor apply_affine(const LinearCore::Affine& m, const Tensor& x);

}  // namespace detail

template <class F>
class LinearFunction {
 public:
  explicit LinearFunction(F f)
      : f_(std::move(f)),
        core_(std::make_shared<detail::LinearCore>()),
        compiled_(f_, "jit_compile_linear") {}

  // f(x, args...) = A·x + b with A and b extracted on the first call per key.
  template <class... Args>
  Tensor operator()(const Tensor& x, const Args&... args) const {
    std::vector<Tensor> tensors{x};
    (detail::collect_tensor(args, tensors), ...);
    if (detail::any_tracer(tensors)) return f_(x, args...);  // part of an enclosing trace
    return detail::apply_affine(affine(x, args...), x);
  }

  // The sparse matrix A (the output's dims as rows, "~" + x's non-batch dims as columns) and
  // the offset b = f(0, args...).
  template <class... Args>
  std::pair<Tensor, Tensor> matrix(const Tensor& x, const Args&... args) const {
    detail::LinearCore::Affine m = affine(x, args...);
    return {m.A, m.b};
  }

  const F& function() const { return f_; }
  // f itself as compiled code (matrix-free solves of stencils apply it), traced once per key.
  const JitFunction<F>& compiled() const { return compiled_; }
  int trace_count() const { return core_->trace_count(); }
  void clear_cache() { core_->clear_cache(); }

  // A, b and what kind of matrix it is (solve_linear uses this); with `own_rows`, this
  // process's rows of A instead of A.
  template <class... Args>
  detail::LinearCore::Affine affine(const Tensor& x, const Args&... args) const {
    return affine_of_rows(false, x, args...);
  }
  template <class... Args>
  detail::LinearCore::Affine affine_of_rows(bool own_rows, const Tensor& x, const Args&... args) const {
    std::vector<Tensor> tensors{x};
    (detail::collect_tensor(args, tensors), ...);
    std::string key = detail::linear_x_key(x) + ";";
    ((key += detail::key_part(args) + ";"), ...);
    return core_->matrix(
        key, tensors,
        [&](const std::vector<Tensor>& tracers) {
          [[maybe_unused]] size_t next = 1;  // unused when f has no extra arguments
          auto call = [&](const auto&... a) { return f_(tracers.at(0), a...); };
          std::tuple<const Args&...> traced_args{detail::traced_arg(args, tracers, next)...};
          return std::vector<Tensor>{std::apply(call, traced_args)};
        },
        own_rows);
  }

 private:
  F f_;
  std::shared_ptr<detail::LinearCore> core_;
  JitFunction<F> compiled_;
};

template <class F>
auto jit_compile_linear(F f) {
  return LinearFunction<F>(std::move(f));
}

// (A, b) with f(x, f_args...) = A·x + b; A sparse, b = f(0). Non-affine f → NotLinearError.
template <class F, class... Args>
std::pair<Tensor, Tensor> matrix_from_function(F f, const Tensor& x, const Args&... f_args) {
  return LinearFunction<F>(std::move(f)).matrix(x, f_args...);
}

}  // namespace phijit
