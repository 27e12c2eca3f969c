// The smoke simulation's step, shared by examples/smoke and bench_smoke_step: semi-Lagrangian
// advection of density and velocity (grid_sample at the departure points), buoyancy, and a
// pressure projection with solve_linear (CG), on a collocated grid with dims (y, x).
#pragma once

#include <phijit/phijit.h>

#include <tuple>

namespace smoke {

using phijit::Tensor;

inline constexpr double kDt = 1.0;  // time step in cells per unit velocity
inline constexpr double kTolerance = 1e-5;
inline const phijit::Extrapolation& wall() { return phijit::extrapolation::ZERO; }

// Central differences with zero values outside: D = −Gᵀ, so the pressure operator −D·G is
// symmetric positive semi-definite (CG) and the projected velocity's D·v is the solve's residual.
inline Tensor d_dy(const Tensor& p) { return (shift(p, "y", 1, wall()) - shift(p, "y", -1, wall())) / 2; }
inline Tensor d_dx(const Tensor& p) { return (shift(p, "x", 1, wall()) - shift(p, "x", -1, wall())) / 2; }
inline Tensor divergence(const Tensor& vy, const Tensor& vx) { return d_dy(vy) + d_dx(vx); }

// Semi-Lagrangian advection of `fields` by (vy, vx): each cell takes the value at its departure
// point, its index minus its velocity · dt.
inline Tensor departure_points(const Tensor& vy, const Tensor& vx) {
  int64_t ny = vy.shape().size("y"), nx = vy.shape().size("x");
  Tensor iy = phijit::linspace(0, static_cast<double>(ny - 1), phijit::spatial("y", ny));
  Tensor ix = phijit::linspace(0, static_cast<double>(nx - 1), phijit::spatial("x", nx));
  return stack({iy - kDt * vy, ix - kDt * vx}, phijit::channel("vector", {"y", "x"}));
}

// Advection, the inflow and buoyancy (upwards is −y: the top of a picture).
inline std::tuple<Tensor, Tensor, Tensor> advect_and_force(const Tensor& density, const Tensor& vy,
                                                           const Tensor& vx, const Tensor& inflow) {
  Tensor points = departure_points(vy, vx);
  Tensor d = grid_sample(density, points, wall()) + inflow;
  Tensor uy = grid_sample(vy, points, wall()) - 0.05 * kDt * d;
  Tensor ux = grid_sample(vx, points, wall());
  return {d, uy, ux};
}

// The pressure p with −D·G p = −D·u (CG to kTolerance).
inline Tensor pressure(const Tensor& uy, const Tensor& ux) {
  auto pressure_operator = [](const Tensor& p) { return -divergence(d_dy(p), d_dx(p)); };
  return solve_linear(
      pressure_operator, -divergence(uy, ux),
      phijit::Solve{
          .method = "CG", .rel_tol = kTolerance, .abs_tol = 1e-12, .x0 = phijit::zeros(uy.shape())});
}

// One step: the new density and velocity, and the divergence before and after the projection.
inline std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> step(const Tensor& density, const Tensor& vy,
                                                               const Tensor& vx, const Tensor& inflow) {
  auto [d, uy, ux] = advect_and_force(density, vy, vx, inflow);
  Tensor before = divergence(uy, ux);
  Tensor p = pressure(uy, ux);
  uy = uy - d_dy(p);
  ux = ux - d_dx(p);
  return {d, uy, ux, before, divergence(uy, ux)};
}

// A round inflow near the bottom (large y) of an n × n grid.
inline Tensor inflow(int64_t n) {
  Tensor iy = phijit::linspace(0, static_cast<double>(n - 1), phijit::spatial("y", n));
  Tensor ix = phijit::linspace(0, static_cast<double>(n - 1), phijit::spatial("x", n));
  double cy = 0.86 * static_cast<double>(n), cx = 0.5 * static_cast<double>(n),
         r2 = 30.0 * (n / 128.0) * (n / 128.0);
  return 0.2 * exp(-((iy - cy) * (iy - cy) + (ix - cx) * (ix - cx)) / r2);
}

}  // namespace smoke
