#include "frontend/stencils.h"

#include <fmt/format.h>

#include "frontend/math.h"
#include "frontend/tensor_data.h"
#include "ir/builder.h"

namespace phijit {

using detail::apply;

Tensor pad(const Tensor& x, const std::map<std::string, std::pair<int64_t, int64_t>>& widths,
           const Extrapolation& e) {
  if (widths.empty()) return x;
  std::vector<ir::attrs::PadWidth> w;
  for (const auto& [dim, lo_hi] : widths) w.push_back({dim, lo_hi.first, lo_hi.second});
  return apply(ir::Op::pad, {x}, ir::attrs::pad(w, e));
}

Tensor shift(const Tensor& x, std::string_view dim, int64_t offset, const Extrapolation& e) {
  return apply(ir::Op::shift, {x}, ir::attrs::shift(std::string(dim), offset, e));
}

namespace {
std::vector<std::string> spatial_dims(const Tensor& x, std::string_view what) {
  std::vector<std::string> dims = x.shape().spatial().names();
  if (dims.empty()) {
    throw ShapeError(fmt::format("{} needs a tensor with spatial dims, got shape {}", what, x.shape().str()));
  }
  return dims;
}
}  // namespace

Tensor laplace(const Tensor& x, const Extrapolation& padding, double dx) {
  Tensor result;
  for (const std::string& d : spatial_dims(x, "laplace")) {
    Tensor term = shift(x, d, 1, padding) - 2.0 * x + shift(x, d, -1, padding);
    result = result.defined() ? result + term : term;
  }
  return dx == 1 ? result : result / (dx * dx);
}

Tensor spatial_gradient(const Tensor& x, const Extrapolation& padding, double dx) {
  std::vector<std::string> dims = spatial_dims(x, "spatial_gradient");
  std::vector<Tensor> parts;
  for (const std::string& d : dims)
    parts.push_back((shift(x, d, 1, padding) - shift(x, d, -1, padding)) / (2 * dx));
  return stack(parts, channel("gradient", dims));
}

}  // namespace phijit
