// grid_sample and grid_sample_transpose in the IR: shape rules and their errors, the printed
// attributes (the kernel cache's key), the schedule (the grid stored, the coordinates fused) and
// the structure linearize gives them.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "ir/builder.h"
#include "ir/error.h"
#include "passes/linearize.h"
#include "passes/schedule.h"

using namespace phijit;
using ir::Op;
using ir::Value;

namespace {

Shape components(std::vector<std::string> dims) { return channel(ir::kSampleVector, std::move(dims)); }

ir::ValueType f64(const Shape& s) { return {s, DType::f64}; }

}  // namespace

TEST_CASE("grid_sample: the result has the points' dims and the grid's unsampled dims",
          "[grid_sample][op_table]") {
  Shape grid = batch("b", 2) & spatial("x", 5) & spatial("y", 4) & channel("c", 3);
  Shape coords = instance("p", 7) & components({"y", "x"});
  std::vector<ir::ValueType> in = {f64(grid), f64(coords)};
  ir::ValueType r =
      ir::infer_type(Op::grid_sample, in, ir::attrs::grid_sample({"y", "x"}, extrapolation::ZERO));
  CHECK(r.shape == (batch("b", 2) & instance("p", 7) & channel("c", 3)));
  CHECK(r.dtype == DType::f64);
  // Sampling one dim keeps the other; points named like the grid's dims are the points'.
  std::vector<ir::ValueType> along_x = {f64(grid), f64(spatial("x", 9) & components({"x"}))};
  CHECK(ir::infer_type(Op::grid_sample, along_x, ir::attrs::grid_sample({"x"}, extrapolation::ZERO)).shape ==
        (batch("b", 2) & spatial("x", 9) & spatial("y", 4) & channel("c", 3)));
  // The transpose gives the grid's shape.
  std::vector<ir::ValueType> t = {f64(r.shape), f64(coords)};
  CHECK(ir::infer_type(Op::grid_sample_transpose, t,
                       ir::attrs::grid_sample_transpose(grid, {"y", "x"}, extrapolation::PERIODIC))
            .shape == grid);
}

TEST_CASE("grid_sample: shape rule errors", "[grid_sample][op_table]") {
  Shape grid = spatial("x", 5) & spatial("y", 4);
  auto infer = [&](const Shape& coords, std::vector<std::string> dims) {
    std::vector<ir::ValueType> in = {f64(grid), f64(coords)};
    return ir::infer_type(Op::grid_sample, in, ir::attrs::grid_sample(std::move(dims), extrapolation::ZERO));
  };
  CHECK_THROWS_AS(infer(instance("p", 2), {"x"}), ShapeError);
  CHECK_THROWS_AS(infer(instance("p", 2) & components({"x", "y"}), {"x"}), ShapeError);  // 2 components
  CHECK_THROWS_AS(infer(instance("p", 2) & components({"z"}), {"z"}), ShapeError);
  CHECK_THROWS_AS(infer(spatial("y", 3) & components({"x"}), {"x"}), ShapeError);  // y: 3 vs 4
  std::vector<ir::ValueType> empty = {f64(spatial("x", 0)), f64(instance("p", 1) & components({"x"}))};
  CHECK_THROWS_AS(ir::infer_type(Op::grid_sample, empty, ir::attrs::grid_sample({"x"}, extrapolation::ZERO)),
                  ShapeError);
  // Float only: integers are converted by the builder, not accepted as they are.
  std::vector<ir::ValueType> ints = {{grid, DType::i32}, {instance("p", 1) & components({"x"}), DType::i32}};
  CHECK_THROWS_AS(ir::infer_type(Op::grid_sample, ints, ir::attrs::grid_sample({"x"}, extrapolation::ZERO)),
                  Error);
}

TEST_CASE("grid_sample: printed attributes tell extrapolations and weights apart", "[grid_sample][printer]") {
  ir::Graph g;
  ir::Builder b(g);
  Value grid = g.add_input(spatial("x", 4), DType::f64);
  Value c = g.add_input(instance("p", 2) & components({"x"}), DType::f64);
  Value a = b.grid_sample(grid, c, {"x"}, extrapolation::ZERO);
  Value p = b.grid_sample(grid, c, {"x"}, extrapolation::PERIODIC);
  Value d = b.grid_sample(grid, c, {"x"}, extrapolation::ZERO, {ir::attrs::CellWeights{}.derivative()});
  Value t = b.grid_sample_transpose(a, c, spatial("x", 4), {"x"}, extrapolation::constant(3));
  CHECK(ir::print_node(g, a).find("dims=[x], extrapolation=zero") != std::string::npos);
  CHECK(ir::print_node(g, p).find("extrapolation=periodic") != std::string::npos);
  CHECK(ir::print_node(g, d).find("weights=[x=(lo=-1+0f, hi=1+0f)]") != std::string::npos);
  // A transpose adds nothing outside the grid: a constant is ZERO there.
  CHECK(ir::print_node(g, t).find("extrapolation=zero, grid=(xˢ=4)") != std::string::npos);
  CHECK(a != p);
  CHECK(a != d);
}

TEST_CASE("grid_sample: the schedule stores the grid and fuses the coordinates", "[grid_sample][schedule]") {
  ir::Graph g;
  ir::Builder b(g);
  Value u = g.add_input(spatial("x", 16) & spatial("y", 8), DType::f64);
  Value v = g.add_input(spatial("x", 16) & spatial("y", 8), DType::f64);
  Value grid = b.op(Op::exp, {u});
  Value coords = b.stack({b.mul(v, b.scalar(2, DType::f64)), b.op(Op::neg, {v})}, components({"x", "y"}));
  Value r = b.mul(b.grid_sample(grid, coords, {"x", "y"}, extrapolation::ZERO), b.scalar(3, DType::f64));
  g.add_output(r);
  passes::Schedule s = passes::run_schedule(g);
  CHECK(s.materialized[static_cast<size_t>(grid.id)]);
  CHECK_FALSE(s.materialized[static_cast<size_t>(coords.id)]);
  REQUIRE(s.kernels.size() == 2);  // exp(u), then the sample with its coordinates and the product
  CHECK(s.kernels[1].root == r);
}

TEST_CASE("grid_sample: linearize gives one term per corner; the transpose sums over the points",
          "[grid_sample][linearize]") {
  ir::Graph g;
  ir::Builder b(g);
  Shape s = spatial("x", 5) & spatial("y", 4);
  Value x = g.add_input(s, DType::f64);
  auto buffer = std::make_shared<Buffer>(DType::f64, 6);
  for (int i = 0; i < 6; ++i) buffer->set_real(i, 0.7 * i - 0.5);
  Value c = g.add_constant(buffer, instance("p", 3) & components({"x", "y"}));
  Value y = b.grid_sample(x, c, {"x", "y"}, extrapolation::constant(2));
  g.add_output(y);
  passes::LinearForm form = passes::run_linearize(g);
  CHECK(form.terms.size() == 4);
  CHECK(form.bias >= 0);  // the constant's share
  for (const passes::LinearTerm& t : form.terms) CHECK(t.summed.empty());

  ir::Graph h;
  ir::Builder hb(h);
  Value u = h.add_input(instance("p", 3), DType::f64);
  Value hc = h.add_constant(buffer, instance("p", 3) & components({"x", "y"}));
  h.add_output(hb.grid_sample_transpose(u, hc, s, {"x", "y"}, extrapolation::PERIODIC));
  passes::LinearForm t = passes::run_linearize(h);
  REQUIRE(t.terms.size() == 1);
  CHECK(t.terms[0].summed.size() == 1);  // the points
  CHECK(t.bias == -1);
}

TEST_CASE("grid_sample: a transpose too large to linearize densely says so", "[grid_sample][linearize]") {
  ir::Graph h;
  ir::Builder hb(h);
  Shape grid = spatial("x", 256) & spatial("y", 256);
  Value u = h.add_input(instance("p", 65536), DType::f64);
  Value c = hb.zeros(f64(instance("p", 65536) & components({"x", "y"})));
  h.add_output(hb.grid_sample_transpose(u, c, grid, {"x", "y"}, extrapolation::ZERO));
  CHECK_THROWS_WITH(passes::run_linearize(h),
                    Catch::Contains("transpose of grid_sample") && Catch::Contains("matrix-free"));
}
