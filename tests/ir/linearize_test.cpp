// The linearize pass on hand-built graphs: the structure of the linear form it produces.
#include "passes/linearize.h"

#include <catch2/catch.hpp>

#include "ir/builder.h"
#include "ir/error.h"

using namespace phijit;
using ir::Op;
using ir::Value;

namespace {
// The 2D 5-point laplace of v.
Value laplace2d(ir::Graph& g, Value x) {
  ir::Builder b(g);
  Value sum = b.mul(x, b.scalar(-4, DType::f64));
  for (const char* d : {"x", "y"}) {
    sum = b.add(sum, b.shift(x, d, 1, extrapolation::ZERO));
    sum = b.add(sum, b.shift(x, d, -1, extrapolation::ZERO));
  }
  return sum;
}
}  // namespace

TEST_CASE("linearize: a 2D laplace stays a stencil of five terms", "[linearize]") {
  ir::Graph g;
  Value x = g.add_input(spatial("x", 5) & spatial("y", 4), DType::f64);
  g.add_output(laplace2d(g, x));
  passes::LinearForm form = passes::run_linearize(g);
  CHECK(form.terms.size() == 5);
  CHECK(form.bias == -1);
  CHECK(form.values.inputs().empty());
  CHECK(form.pattern.inputs().empty());
  for (const passes::LinearTerm& t : form.terms) CHECK(t.summed.empty());
  // The column arrays are the identity and its four shifts: nothing but constants and shifts.
  for (const ir::Node& n : form.pattern.nodes()) CHECK((n.op == Op::constant || n.op == Op::shift));
}

TEST_CASE("linearize: coefficients from an argument live in the values graph only", "[linearize]") {
  ir::Graph g;
  Shape s = spatial("x", 6);
  Value x = g.add_input(s, DType::f64);
  Value k = g.add_input(s, DType::f64);
  ir::Builder b(g);
  g.add_output(b.add(b.mul(k, b.shift(x, "x", 1, extrapolation::ZERO)), k));
  passes::LinearForm form = passes::run_linearize(g);
  CHECK(form.terms.size() == 1);
  CHECK(form.values.inputs().size() == 1);
  CHECK(form.pattern.inputs().empty());
  CHECK(form.bias == 1);
  CHECK(form.values.type(form.values.outputs()[1]).shape == s);
}

TEST_CASE("linearize: a sum over a dim x varies along becomes a summed dim of the term", "[linearize]") {
  ir::Graph g;
  Value x = g.add_input(spatial("x", 3) & spatial("y", 4), DType::f64);
  g.add_output(ir::Builder(g).sum(x, {"y"}));
  passes::LinearForm form = passes::run_linearize(g);
  REQUIRE(form.terms.size() == 1);
  REQUIRE(form.terms[0].summed.size() == 1);
  const Shape& col = form.pattern.type(form.pattern.outputs()[0]).shape;
  CHECK(col.contains(form.terms[0].summed[0]));
  CHECK(col.size(form.terms[0].summed[0]) == 4);
}

TEST_CASE("linearize: a product of two x-dependent values is rejected with the op and shapes",
          "[linearize]") {
  ir::Graph g;
  Value x = g.add_input(spatial("x", 3), DType::f64);
  ir::Builder b(g);
  g.add_output(b.mul(x, b.shift(x, "x", 1, extrapolation::ZERO)));
  CHECK_THROWS_AS(passes::run_linearize(g), NotLinearError);
  try {
    passes::run_linearize(g);
  } catch (const NotLinearError& e) {
    std::string m = e.what();
    CHECK(m.find("'mul'") != std::string::npos);
    CHECK(m.find("(xˢ=3), (xˢ=3)") != std::string::npos);
  }
}
