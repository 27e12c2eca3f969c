#include "frontend/math.h"

#include <fmt/format.h>

#include "frontend/tensor_data.h"
#include "ir/builder.h"

namespace phijit {

using detail::apply;
using ir::Op;

Tensor operator+(const Tensor& a, const Tensor& b) { return apply(Op::add, {a, b}); }
Tensor operator-(const Tensor& a, const Tensor& b) { return apply(Op::sub, {a, b}); }
Tensor operator*(const Tensor& a, const Tensor& b) { return apply(Op::mul, {a, b}); }
Tensor operator/(const Tensor& a, const Tensor& b) { return apply(Op::div, {a, b}); }
Tensor operator-(const Tensor& a) { return apply(Op::neg, {a}); }
Tensor operator<(const Tensor& a, const Tensor& b) { return apply(Op::lt, {a, b}); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return apply(Op::le, {a, b}); }
Tensor operator>(const Tensor& a, const Tensor& b) { return apply(Op::gt, {a, b}); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return apply(Op::ge, {a, b}); }
Tensor operator==(const Tensor& a, const Tensor& b) { return apply(Op::eq, {a, b}); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return apply(Op::ne, {a, b}); }
Tensor& operator+=(Tensor& a, const Tensor& b) { return a = a + b; }
Tensor& operator-=(Tensor& a, const Tensor& b) { return a = a - b; }
Tensor& operator*=(Tensor& a, const Tensor& b) { return a = a * b; }
Tensor& operator/=(Tensor& a, const Tensor& b) { return a = a / b; }

Tensor exp(const Tensor& x) { return apply(Op::exp, {x}); }
Tensor log(const Tensor& x) { return apply(Op::log, {x}); }
Tensor sin(const Tensor& x) { return apply(Op::sin, {x}); }
Tensor cos(const Tensor& x) { return apply(Op::cos, {x}); }
Tensor tan(const Tensor& x) { return apply(Op::tan, {x}); }
Tensor tanh(const Tensor& x) { return apply(Op::tanh, {x}); }
Tensor sqrt(const Tensor& x) { return apply(Op::sqrt, {x}); }
Tensor abs(const Tensor& x) { return apply(Op::abs, {x}); }
Tensor sign(const Tensor& x) { return apply(Op::sign, {x}); }
Tensor isfinite(const Tensor& x) { return apply(Op::isfinite, {x}); }
Tensor pow(const Tensor& base, const Tensor& exponent) { return apply(Op::pow, {base, exponent}); }
Tensor minimum(const Tensor& a, const Tensor& b) { return apply(Op::minimum, {a, b}); }
Tensor maximum(const Tensor& a, const Tensor& b) { return apply(Op::maximum, {a, b}); }
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) { return apply(Op::where, {cond, a, b}); }

Tensor clip(const Tensor& x, double lo, double hi) {
  if (lo > hi) throw Error(fmt::format("clip: lower bound {} is above upper bound {}", lo, hi));
  ir::OriginScope origin("clip");
  return minimum(maximum(x, lo), hi);
}

namespace {

Tensor reduce(Op op, const Tensor& x, std::vector<std::string> dims) {
  for (const std::string& d : dims) {
    if (!x.shape().contains(d)) {
      throw ShapeError(fmt::format("{}: dim '{}' is not in shape {}", ir::op_name(op), d, x.shape().str()));
    }
  }
  if (dims.empty()) return op == Op::reduce_sum ? x.astype(sum_type(x.dtype())) : x;
  ir::OriginScope origin(op == Op::reduce_sum ? "sum" : op == Op::reduce_max ? "max" : "min");
  return apply(op, {x}, ir::attrs::reduce(std::move(dims)));
}

std::vector<std::string> default_dims(const Tensor& x) { return x.shape().non_batch().names(); }

Tensor mean_over(const Tensor& x, const std::vector<std::string>& dims) {
  ir::OriginScope origin("mean");
  int64_t count = 1;
  for (const std::string& d : dims) {
    if (x.shape().contains(d)) count *= x.shape().size(d);
  }
  Tensor s = reduce(Op::reduce_sum, x.astype(float_type(x.dtype())), dims);
  return s / static_cast<double>(count);
}

}  // namespace

Tensor sum(const Tensor& x) { return reduce(Op::reduce_sum, x, default_dims(x)); }
Tensor sum(const Tensor& x, std::string_view dims) {
  return reduce(Op::reduce_sum, x, parse_dim_names(dims));
}
Tensor sum(const Tensor& x, const Shape& dims) { return reduce(Op::reduce_sum, x, dims.names()); }
Tensor max(const Tensor& x) { return reduce(Op::reduce_max, x, default_dims(x)); }
Tensor max(const Tensor& x, std::string_view dims) {
  return reduce(Op::reduce_max, x, parse_dim_names(dims));
}
Tensor max(const Tensor& x, const Shape& dims) { return reduce(Op::reduce_max, x, dims.names()); }
Tensor min(const Tensor& x) { return reduce(Op::reduce_min, x, default_dims(x)); }
Tensor min(const Tensor& x, std::string_view dims) {
  return reduce(Op::reduce_min, x, parse_dim_names(dims));
}
Tensor min(const Tensor& x, const Shape& dims) { return reduce(Op::reduce_min, x, dims.names()); }
Tensor mean(const Tensor& x) { return mean_over(x, default_dims(x)); }
Tensor mean(const Tensor& x, std::string_view dims) { return mean_over(x, parse_dim_names(dims)); }
Tensor mean(const Tensor& x, const Shape& dims) { return mean_over(x, dims.names()); }

Tensor l2_loss(const Tensor& x) {
  ir::OriginScope origin("l2_loss");
  return sum(x * x) / 2.0;
}
Tensor l1_loss(const Tensor& x) {
  ir::OriginScope origin("l1_loss");
  return sum(abs(x));
}

Tensor rename_dims(const Tensor& x, const std::vector<std::pair<std::string, Shape>>& renames) {
  std::vector<ir::attrs::RenamePair> pairs;
  for (const auto& [old_name, target] : renames) {
    if (target.rank() != 1) {
      throw ShapeError(
          fmt::format("rename: the target of '{}' must be one dim, got {}", old_name, target.str()));
    }
    pairs.push_back({old_name, target.dims()[0].name, target.dims()[0].type});
  }
  return apply(Op::rename, {x}, ir::attrs::rename(pairs));
}

Tensor dot(const Tensor& a, std::string_view a_dims, const Tensor& b, std::string_view b_dims) {
  ir::OriginScope origin("dot");
  std::vector<std::string> an = parse_dim_names(a_dims), bn = parse_dim_names(b_dims);
  if (an.size() != bn.size()) {
    throw ShapeError(
        fmt::format("dot: {} dims of a ({}) but {} dims of b ({})", an.size(), a_dims, bn.size(), b_dims));
  }
  // Both sides' contracted dims get one private name each, so they meet in a broadcast
  // product and nothing else collides; the product is then summed over them.
  std::vector<std::pair<std::string, Shape>> ra, rb;
  std::vector<std::string> contracted;
  for (size_t k = 0; k < an.size(); ++k) {
    int64_t na = a.shape().size(an[k]), nb = b.shape().size(bn[k]);
    if (na != nb) {
      throw ShapeError(fmt::format("dot: dim '{}' of {} has size {} but dim '{}' of {} has size {}", an[k],
                                   a.shape().str(), na, bn[k], b.shape().str(), nb));
    }
    std::string tmp = fmt::format("_dot{}", k);
    ra.emplace_back(an[k], instance(tmp, na));
    rb.emplace_back(bn[k], instance(tmp, nb));
    contracted.push_back(tmp);
  }
  Tensor prod = rename_dims(a, ra) * rename_dims(b, rb);
  return apply(Op::reduce_sum, {prod}, ir::attrs::reduce(contracted));
}

}  // namespace phijit
