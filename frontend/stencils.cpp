#include "frontend/stencils.h"

#include <fmt/format.h>

#include <algorithm>

#include "frontend/eager.h"
#include "frontend/math.h"
#include "frontend/tensor_data.h"
#include "ir/builder.h"

namespace phijit {

using detail::apply;

Tensor pad(const Tensor& x, const std::map<std::string, std::pair<int64_t, int64_t>>& widths,
           const Extrapolation& e) {
  // Negative widths crop (as in PhiML): those cells are cut off first, then the rest is padded.
  Tensor cropped = x;
  std::vector<ir::attrs::PadWidth> w;
  for (const auto& [dim, lo_hi] : widths) {
    auto [lo, hi] = lo_hi;
    if (lo < 0 || hi < 0) {
      if (!x.shape().contains(dim)) {
        throw ShapeError(fmt::format("pad: dim '{}' is not in {}", dim, x.shape().str()));
      }
      int64_t size = x.shape().size(dim), start = std::max<int64_t>(0, -lo),
              stop = size - std::max<int64_t>(0, -hi);
      if (start > stop) {
        throw ShapeError(fmt::format("pad: widths ({}, {}) crop {} cells from dim '{}' of size {} in {}", lo,
                                     hi, start + size - stop, dim, size, x.shape().str()));
      }
      cropped = cropped.slice(dim, start, stop);
    }
    w.push_back({dim, std::max<int64_t>(lo, 0), std::max<int64_t>(hi, 0)});
  }
  return w.empty() ? cropped : apply(ir::Op::pad, {cropped}, ir::attrs::pad(w, e));
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

namespace {

// The stencils as ops; laplace and spatial_gradient run them fused (run_fused). `dx` is a weak
// scalar tensor, so that a new grid spacing reuses the compiled stencil.
Tensor laplace_ops(const Tensor& x, const Extrapolation& padding, const Tensor& dx) {
  ir::OriginScope origin("laplace");
  Tensor result;
  for (const std::string& d : spatial_dims(x, "laplace")) {
    Tensor term = shift(x, d, 1, padding) - 2.0 * x + shift(x, d, -1, padding);
    result = result.defined() ? result + term : term;
  }
  return result / (dx * dx);
}

Tensor spatial_gradient_ops(const Tensor& x, const Extrapolation& padding, const Tensor& dx) {
  ir::OriginScope origin("spatial_gradient");
  std::vector<std::string> dims = spatial_dims(x, "spatial_gradient");
  std::vector<Tensor> parts;
  for (const std::string& d : dims)
    parts.push_back((shift(x, d, 1, padding) - shift(x, d, -1, padding)) / (2 * dx));
  return stack(parts, channel("gradient", dims));
}

using StencilOps = Tensor (*)(const Tensor&, const Extrapolation&, const Tensor&);

Tensor fused_stencil(detail::JitCore& core, StencilOps ops, const Tensor& x, const Extrapolation& padding,
                     double dx) {
  auto f = [&](const std::vector<Tensor>& a) { return std::vector<Tensor>{ops(a[0], padding, a[1])}; };
  return detail::run_fused(core, padding.str(), {x, Tensor(dx)}, f).front();
}

}  // namespace

namespace {

// The grid's dims that the coordinates' components name, in component order; ShapeErrors that
// say what was expected otherwise.
std::vector<std::string> sampled_dims(const Tensor& grid, const Tensor& coordinates) {
  const Shape& c = coordinates.shape();
  const Shape& g = grid.shape();
  if (!c.contains(ir::kSampleVector) || c.type(ir::kSampleVector) != DimType::channel) {
    throw ShapeError(
        fmt::format("grid_sample: the coordinates {} need a channel dim '{}' whose items name the "
                    "grid's spatial dims to sample (grid {})",
                    c.str(), ir::kSampleVector, g.str()));
  }
  std::vector<std::string> dims = c.item_names(ir::kSampleVector);
  if (dims.empty()) {
    dims = g.spatial().names();  // as in PhiML: all spatial dims, in order
    if (static_cast<int64_t>(dims.size()) != c.size(ir::kSampleVector)) {
      throw ShapeError(
          fmt::format("grid_sample: the coordinates {} have {} unnamed components but the grid {} has {} "
                      "spatial dims; name the components after the dims they sample",
                      c.str(), c.size(ir::kSampleVector), g.str(), dims.size()));
    }
  }
  for (size_t k = 0; k < dims.size(); ++k) {
    if (!g.contains(dims[k]) || g.type(dims[k]) != DimType::spatial) {
      throw ShapeError(
          fmt::format("grid_sample: coordinate component '{}' of {} is not a spatial dim of the grid {}",
                      dims[k], c.str(), g.str()));
    }
    if (std::find(dims.begin(), dims.begin() + static_cast<std::ptrdiff_t>(k), dims[k]) !=
        dims.begin() + static_cast<std::ptrdiff_t>(k)) {
      throw ShapeError(fmt::format("grid_sample: the coordinates {} name dim '{}' twice", c.str(), dims[k]));
    }
  }
  return dims;
}

}  // namespace

Tensor grid_sample(const Tensor& grid, const Tensor& coordinates, const Extrapolation& e) {
  return apply(ir::Op::grid_sample, {grid, coordinates},
               ir::attrs::grid_sample(sampled_dims(grid, coordinates), e));
}

Tensor laplace(const Tensor& x, const Extrapolation& padding, double dx) {
  static detail::JitCore core("laplace", false);
  return fused_stencil(core, laplace_ops, x, padding, dx);
}

Tensor spatial_gradient(const Tensor& x, const Extrapolation& padding, double dx) {
  static detail::JitCore core("spatial_gradient", false);
  return fused_stencil(core, spatial_gradient_ops, x, padding, dx);
}

}  // namespace phijit
