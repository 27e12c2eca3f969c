// Padding, shifts and finite-difference stencils on grids (API §4).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "frontend/tensor.h"
#include "ir/extrapolation.h"

namespace phijit {

// Widths (lower, upper) per dim name.
Tensor pad(const Tensor& x, const std::map<std::string, std::pair<int64_t, int64_t>>& widths,
           const Extrapolation& e);
// result[i] = x[i + offset] along dim, outside values from e; same shape as x.
Tensor shift(const Tensor& x, std::string_view dim, int64_t offset, const Extrapolation& e);
// Sum over all spatial dims of (x[i+1] - 2 x[i] + x[i-1]) / dx².
Tensor laplace(const Tensor& x, const Extrapolation& padding = extrapolation::ZERO, double dx = 1);
// Central differences (x[i+1] - x[i-1]) / 2dx, stacked along channel dim "gradient" whose
// items are the spatial dims.
Tensor spatial_gradient(const Tensor& x, const Extrapolation& padding = extrapolation::ZERO, double dx = 1);
// Multilinear interpolation of `grid` at fractional cell indices (value at integer i = grid[i]).
// `coordinates` has a channel dim "vector" whose item names are the spatial dims of `grid` it
// samples (without item names: all of grid's spatial dims, in order); its other dims say where
// to sample. The result has those dims and grid's unsampled dims (batch dims broadcast by name).
// Cells outside take their values from `e`. Linear in `grid`, differentiable in both.
Tensor grid_sample(const Tensor& grid, const Tensor& coordinates, const Extrapolation& e);

}  // namespace phijit
