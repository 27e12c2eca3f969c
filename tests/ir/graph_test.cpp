// Unit tests of ir/graph.h: hash-consing, type inference on construction, verifier, printer and
// the errors for operands that do not fit.
#include "ir/graph.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "ir/builder.h"
#include "ir/error.h"

using namespace phijit;
using Catch::Contains;
using phijit::ir::Attrs;
using phijit::ir::Graph;
using phijit::ir::Op;
using phijit::ir::Value;
using Names = std::vector<std::string>;
namespace attrs = phijit::ir::attrs;

namespace {

std::shared_ptr<const Buffer> scalar(DType t, double v) {
  auto b = std::make_shared<Buffer>(t, 1);
  b->set_real(0, v);
  return b;
}

std::shared_ptr<const Buffer> filled(DType t, std::vector<double> values) {
  auto b = std::make_shared<Buffer>(t, static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size(); ++i) b->set_real(static_cast<int64_t>(i), values[i]);
  return b;
}

// Attributes of the given layout, built field by field: only for the malformed attributes
// (a missing offset, type or drop flag, an odd number of pad widths) that the typed
// constructors of ir/builder.h cannot express and the op table must reject.
Attrs raw_attrs(Names names, std::vector<int64_t> ints) {
  Attrs a;
  a.names = std::move(names);
  a.ints = std::move(ints);
  return a;
}

}  // namespace

TEST_CASE("identical nodes are built once", "[graph]") {
  Graph g;
  Value x = g.add_input(spatial("x", 4), DType::f64);
  Value y = g.add_input(spatial("x", 4), DType::f64);
  Value s1 = g.add(Op::add, {x, y});
  Value s2 = g.add(Op::add, {x, y});
  CHECK(s1 == s2);
  CHECK(g.size() == 3);
  // Different operands, operand order, op or attributes give new nodes.
  CHECK_FALSE(g.add(Op::add, {y, x}) == s1);
  CHECK_FALSE(g.add(Op::sub, {x, y}) == s1);
  Value r1 = g.add(Op::reduce_sum, {x}, attrs::reduce({"x"}));
  CHECK(g.add(Op::reduce_sum, {x}, attrs::reduce({"x"})) == r1);
  CHECK_FALSE(g.add(Op::shift, {x}, attrs::shift("x", 1, extrapolation::ZERO)) ==
              g.add(Op::shift, {x}, attrs::shift("x", -1, extrapolation::ZERO)));
  CHECK_FALSE(g.add(Op::shift, {x}, attrs::shift("x", 1, extrapolation::ZERO)) ==
              g.add(Op::shift, {x}, attrs::shift("x", 1, extrapolation::PERIODIC)));
  CHECK(g.add(Op::shift, {x}, attrs::shift("x", 1, extrapolation::constant(3))) ==
        g.add(Op::shift, {x}, attrs::shift("x", 1, extrapolation::constant(3))));
  CHECK(g.size() == 10);  // x, y, x+y, y+x, x-y, sum, two shifts of ±1, periodic shift, constant(3) shift
}

TEST_CASE("inputs are never merged", "[graph]") {
  Graph g;
  Value a = g.add_input(spatial("x", 4), DType::f64);
  Value b = g.add_input(spatial("x", 4), DType::f64);
  CHECK_FALSE(a == b);
  CHECK(g.inputs() == std::vector<Value>{a, b});
  CHECK(g.node(a).attrs.ints == std::vector<int64_t>{0});
  CHECK(g.node(b).attrs.ints == std::vector<int64_t>{1});
  CHECK(g.node(a).op == Op::input);
  CHECK(g.type(b).shape == spatial("x", 4));
  CHECK(g.type(b).dtype == DType::f64);
}

TEST_CASE("scalar constants equal by value are merged, larger constants by identity only", "[graph]") {
  Graph g;
  Value c1 = g.add_constant(scalar(DType::f64, 2.0), Shape());
  Value c2 = g.add_constant(scalar(DType::f64, 2.0), Shape());
  CHECK(c1 == c2);
  CHECK(g.size() == 1);
  CHECK_FALSE(g.add_constant(scalar(DType::f64, 3.0), Shape()) == c1);
  CHECK_FALSE(g.add_constant(scalar(DType::f32, 2.0), Shape()) == c1);  // dtype differs
  CHECK_FALSE(g.add_constant(scalar(DType::f64, -0.0), Shape()) ==
              g.add_constant(scalar(DType::f64, 0.0), Shape()));  // bit patterns differ
  CHECK(g.add_constant(scalar(DType::f64, NAN), Shape()) == g.add_constant(scalar(DType::f64, NAN), Shape()));
  // A one-element constant with a shape is still compared by value, but the shape must agree.
  CHECK_FALSE(g.add_constant(scalar(DType::f64, 2.0), spatial("x", 1)) == c1);
  CHECK(g.add_constant(scalar(DType::f64, 2.0), spatial("x", 1)) ==
        g.add_constant(scalar(DType::f64, 2.0), spatial("x", 1)));
  int before = g.size();

  auto data = filled(DType::f64, {1, 2, 3});
  Value t1 = g.add_constant(data, spatial("x", 3));
  Value t2 = g.add_constant(filled(DType::f64, {1, 2, 3}), spatial("x", 3));
  CHECK_FALSE(t1 == t2);                               // equal values, distinct tensors
  CHECK(g.add_constant(data, spatial("x", 3)) == t1);  // the same tensor again
  CHECK(g.size() == before + 2);
  CHECK(g.type(t1).shape == spatial("x", 3));
  CHECK(g.type(t1).dtype == DType::f64);

  // Nodes on merged constants merge too.
  Value x = g.add_input(spatial("x", 3), DType::f64);
  CHECK(g.add(Op::mul, {x, c1}) == g.add(Op::mul, {x, g.add_constant(scalar(DType::f64, 2.0), Shape())}));
}

TEST_CASE("constants must match their declared shape and dtype", "[graph][error]") {
  Graph g;
  CHECK_THROWS_WITH(g.add_constant(filled(DType::f64, {1, 2}), spatial("x", 3)), Contains("constant"));
  // Raw on purpose: constant attributes whose dtype or data disagree, which add_constant never builds.
  Attrs a;
  a.shape = spatial("x", 1);
  a.dtype = DType::f32;
  a.data = scalar(DType::f64, 1);
  CHECK_THROWS_AS(g.add(Op::constant, {}, a), Error);
  a.data = nullptr;
  CHECK_THROWS_AS(g.add(Op::constant, {}, a), Error);
  CHECK(g.size() == 0);  // failed adds leave no node behind
}

TEST_CASE("types are inferred from the operands", "[graph]") {
  Graph g;
  Value xf = g.add_input(spatial("x", 4), DType::f64);
  Value bf = g.add_input(batch("b", 2), DType::f64);
  Value xi = g.add_input(spatial("x", 4), DType::i32);
  Value f32 = g.add_input(channel("c", 3), DType::f32);
  Value cond = g.add_input(spatial("y", 5), DType::boolean);

  auto t = g.type(g.add(Op::add, {xf, bf}));
  CHECK(t.shape == (batch("b", 2) & spatial("x", 4)));
  CHECK(t.dtype == DType::f64);
  CHECK(g.type(g.add(Op::lt, {xf, bf})).dtype == DType::boolean);
  CHECK(g.type(g.add(Op::lt, {xf, bf})).shape.names() == Names{"b", "x"});
  CHECK(g.type(g.add(Op::exp, {f32})).dtype == DType::f32);
  CHECK(g.type(g.add(Op::neg, {xi})).dtype == DType::i32);
  CHECK(g.type(g.add(Op::isfinite, {xi})).dtype == DType::boolean);
  CHECK(g.type(g.add(Op::cast, {xf}, attrs::cast(DType::i64))).dtype == DType::i64);
  CHECK(g.type(g.add(Op::cast, {xf}, attrs::cast(DType::i64))).shape == spatial("x", 4));
  auto w = g.type(g.add(Op::where, {cond, xf, bf}));
  CHECK(w.shape.names() == Names{"b", "y", "x"});  // y appears before x
  CHECK(w.dtype == DType::f64);
  // sum widens integers; max keeps the dtype.
  CHECK(g.type(g.add(Op::reduce_sum, {xi}, attrs::reduce({"x"}))).dtype == DType::i64);
  CHECK(g.type(g.add(Op::reduce_sum, {xi}, attrs::reduce({"x"}))).shape == Shape());
  CHECK(g.type(g.add(Op::reduce_sum, {cond}, attrs::reduce({"y"}))).dtype == DType::i64);
  CHECK(g.type(g.add(Op::reduce_max, {xi}, attrs::reduce({"x"}))).dtype == DType::i32);
  CHECK(g.type(g.add(Op::reduce_sum, {f32}, attrs::reduce({"c"}))).dtype == DType::f32);
}

TEST_CASE("shape rules of reductions, stencils and layout ops", "[graph]") {
  Graph g;
  Shape s = batch("b", 2) & spatial("x", 4) & spatial("y", 3) & channel("v", Names{"p", "q", "r"});
  Value x = g.add_input(s, DType::f64);

  CHECK(g.type(g.add(Op::reduce_sum, {x}, attrs::reduce({"x", "v"}))).shape ==
        (batch("b", 2) & spatial("y", 3)));
  CHECK(g.type(g.add(Op::reduce_min, {x}, attrs::reduce({"b", "x", "y", "v"}))).shape == Shape());
  CHECK(g.type(g.add(Op::shift, {x}, attrs::shift("y", -2, extrapolation::ZERO))).shape == s);

  Attrs pad = attrs::pad({{"x", 1, 2}, {"y", 0, 3}}, extrapolation::ZERO);
  Shape padded = g.type(g.add(Op::pad, {x}, pad)).shape;
  CHECK(padded.names() == Names{"b", "x", "y", "v"});
  CHECK(padded.size("x") == 7);
  CHECK(padded.size("y") == 6);
  Attrs pad_channel = attrs::pad({{"v", 0, 0}}, extrapolation::ZERO);
  CHECK(g.type(g.add(Op::pad, {x}, pad_channel)).shape.item_names("v") == Names{"p", "q", "r"});
  Attrs pad_channel1 = attrs::pad({{"v", 0, 1}}, extrapolation::ZERO);
  CHECK(g.type(g.add(Op::pad, {x}, pad_channel1)).shape.item_names("v").empty());

  Shape expanded = g.type(g.add(Op::expand, {x}, attrs::expand(instance("i", 5) & spatial("z", 2)))).shape;
  CHECK(expanded.names() == Names{"b", "i", "x", "y", "z", "v"});

  Value kept = g.add(Op::slice, {x}, attrs::slice("v", 1, 3, false));
  CHECK(g.type(kept).shape.size("v") == 2);
  CHECK(g.type(kept).shape.item_names("v") == Names{"q", "r"});
  Value dropped = g.add(Op::slice, {x}, attrs::slice("x", 2, 3, true));
  CHECK(g.type(dropped).shape.names() == Names{"b", "y", "v"});
  Value empty = g.add(Op::slice, {x}, attrs::slice("y", 3, 3, false));
  CHECK(g.type(empty).shape.size("y") == 0);
  CHECK(g.type(empty).shape.volume() == 0);

  Value a = g.add_input(spatial("x", 2) & channel("v", Names{"p", "q"}), DType::f64);
  Value b = g.add_input(spatial("x", 2) & channel("v", Names{"r"}), DType::f64);
  Value c = g.add_input(spatial("x", 2) & channel("v", 1), DType::f64);
  Shape ab = g.type(g.add(Op::concat, {a, b}, attrs::concat("v"))).shape;
  CHECK(ab.size("v") == 3);
  CHECK(ab.item_names("v") == Names{"p", "q", "r"});
  Shape abc = g.type(g.add(Op::concat, {a, b, c}, attrs::concat("v"))).shape;
  CHECK(abc.size("v") == 4);
  CHECK(abc.item_names("v").empty());  // one operand without item names: none
  CHECK(g.type(g.add(Op::concat, {a, a, a}, attrs::concat("x"))).shape.size("x") == 6);

  Value p = g.add_input(spatial("x", 2), DType::f64);
  Value q = g.add_input(spatial("y", 3), DType::f64);
  Shape stacked =
      g.type(g.add(Op::stack, {p, q}, attrs::stack(channel("k", Names{"first", "second"})))).shape;
  CHECK(stacked.str() == "(xˢ=2, yˢ=3, kᶜ=first,second)");
  CHECK(g.type(g.add(Op::stack, {p}, attrs::stack(batch("k", 1)))).shape.names() == Names{"k", "x"});
}

TEST_CASE("rename changes names and types and reorders", "[graph]") {
  Graph g;
  Value x = g.add_input(spatial("x", 2) & spatial("y", 3), DType::f64);
  Attrs to_dual = attrs::rename({{"y", "~y", DimType::dual}});
  CHECK(g.type(g.add(Op::rename, {x}, to_dual)).shape.str() == "(~yᵈ=3, xˢ=2)");
  Attrs swap = attrs::rename({{"x", "y", DimType::spatial}, {"y", "x", DimType::spatial}});
  Shape swapped = g.type(g.add(Op::rename, {x}, swap)).shape;
  CHECK(swapped.names() == Names{"y", "x"});
  CHECK(swapped.size("y") == 2);
  CHECK(swapped.size("x") == 3);
  Attrs to_batch = attrs::rename({{"x", "b", DimType::batch}});
  CHECK(g.type(g.add(Op::rename, {x}, to_batch)).shape.str() == "(bᵇ=2, yˢ=3)");

  // Errors: unknown old name, new name taken, bad dual naming, bad attribute layout.
  CHECK_THROWS_WITH(g.add(Op::rename, {x}, attrs::rename({{"z", "w", DimType::spatial}})), Contains("'z'"));
  CHECK_THROWS_WITH(g.add(Op::rename, {x}, attrs::rename({{"x", "y", DimType::spatial}})), Contains("'y'"));
  CHECK_THROWS_AS(g.add(Op::rename, {x}, attrs::rename({{"x", "u", DimType::dual}})), ShapeError);
  // Raw on purpose: a pair without its type, which attrs::rename cannot express.
  CHECK_THROWS_AS(g.add(Op::rename, {x}, raw_attrs({"x", "u"}, {})), Error);
}

TEST_CASE("wrong operand counts are errors naming the op", "[graph][error]") {
  Graph g;
  Value x = g.add_input(spatial("x", 4), DType::f64);
  CHECK_THROWS_WITH(g.add(Op::add, {x}), Contains("add") && Contains("2") && Contains("1"));
  CHECK_THROWS_WITH(g.add(Op::exp, {x, x}), Contains("exp"));
  CHECK_THROWS_WITH(g.add(Op::where, {x, x}), Contains("where"));
  CHECK_THROWS_WITH(g.add(Op::concat, {}, attrs::concat("x")), Contains("concat"));
  CHECK_THROWS_AS(g.add(Op::stack, {}, attrs::stack(batch("k", 0))), Error);
  CHECK_THROWS_WITH(g.add(Op::neg, {Value{7}}), Contains("%7"));
  CHECK_THROWS_AS(g.add(Op::neg, {Value{}}), Error);
  CHECK_THROWS_AS(g.add_output(Value{3}), Error);
  CHECK(g.size() == 1);
}

TEST_CASE("operands of different dtypes are errors", "[graph][error]") {
  Graph g;
  Value f = g.add_input(spatial("x", 4), DType::f64);
  Value h = g.add_input(spatial("x", 4), DType::f32);
  Value i = g.add_input(spatial("x", 4), DType::i32);
  Value c = g.add_input(spatial("x", 4), DType::boolean);
  CHECK_THROWS_WITH(g.add(Op::add, {f, h}), Contains("add") && Contains("float64") && Contains("float32"));
  CHECK_THROWS_WITH(g.add(Op::lt, {f, i}), Contains("lt") && Contains("int32"));
  CHECK_THROWS_WITH(g.add(Op::where, {c, f, i}), Contains("where"));
  CHECK_THROWS_WITH(g.add(Op::where, {f, f, f}), Contains("bool") && Contains("float64"));
  CHECK_THROWS_WITH(g.add(Op::concat, {f, h}, attrs::concat("x")), Contains("concat"));
  // Float-only ops reject integers (the frontend casts them first).
  CHECK_THROWS_WITH(g.add(Op::exp, {i}), Contains("exp") && Contains("int32"));
  CHECK_THROWS_WITH(g.add(Op::div, {i, i}), Contains("div"));
  CHECK_THROWS_AS(g.add(Op::sqrt, {c}), Error);
}

TEST_CASE("broadcast conflicts name both shapes", "[graph][error]") {
  Graph g;
  Value a = g.add_input(spatial("x", 4) & batch("b", 2), DType::f64);
  Value b = g.add_input(spatial("x", 5), DType::f64);
  Value c = g.add_input(instance("x", 4), DType::f64);
  CHECK_THROWS_AS(g.add(Op::mul, {a, b}), ShapeError);
  CHECK_THROWS_WITH(g.add(Op::mul, {a, b}),
                    Contains("mul") && Contains("(bᵇ=2, xˢ=4)") && Contains("(xˢ=5)") && Contains("'x'"));
  CHECK_THROWS_WITH(g.add(Op::add, {a, c}), Contains("(bᵇ=2, xˢ=4)") && Contains("(xⁱ=4)"));
  CHECK_THROWS_AS(g.add(Op::stack, {a, b}, attrs::stack(channel("k", 2))), ShapeError);
}

TEST_CASE("unknown dims in reductions, shift, pad and slice", "[graph][error]") {
  Graph g;
  Value x = g.add_input(spatial("x", 4) & spatial("y", 3), DType::f64);
  CHECK_THROWS_WITH(g.add(Op::reduce_sum, {x}, attrs::reduce({"x", "z"})),
                    Contains("sum") && Contains("'z'") && Contains("(xˢ=4, yˢ=3)"));
  CHECK_THROWS_WITH(g.add(Op::reduce_max, {x}, attrs::reduce({"q"})), Contains("max") && Contains("'q'"));
  CHECK_THROWS_WITH(g.add(Op::shift, {x}, attrs::shift("z", 1, extrapolation::ZERO)),
                    Contains("shift") && Contains("'z'"));
  CHECK_THROWS_WITH(g.add(Op::pad, {x}, attrs::pad({{"z", 1, 1}}, extrapolation::ZERO)),
                    Contains("pad") && Contains("'z'"));
  CHECK_THROWS_WITH(g.add(Op::slice, {x}, attrs::slice("z", 0, 1, false)),
                    Contains("slice") && Contains("'z'"));
  CHECK_THROWS_WITH(g.add(Op::concat, {x, x}, attrs::concat("z")), Contains("concat") && Contains("'z'"));
  CHECK_THROWS_AS(g.add(Op::shift, {x}, attrs::shift("~x", 1, extrapolation::ZERO)), ShapeError);
  CHECK(g.size() == 1);
}

TEST_CASE("invalid stencil and layout attributes", "[graph][error]") {
  Graph g;
  Value x = g.add_input(spatial("x", 4) & spatial("y", 3), DType::f64);
  Value e = g.add_input(spatial("x", 0), DType::f64);
  // pad
  CHECK_THROWS_WITH(g.add(Op::pad, {x}, attrs::pad({{"x", -1, 0}}, extrapolation::ZERO)),
                    Contains("'x'") && Contains("-1"));
  // Raw on purpose: one width for a dim, which attrs::pad cannot express.
  CHECK_THROWS_AS(g.add(Op::pad, {x}, raw_attrs({"x"}, {1})), Error);
  CHECK_THROWS_WITH(g.add(Op::pad, {e}, attrs::pad({{"x", 1, 1}}, extrapolation::PERIODIC)),
                    Contains("periodic") && Contains("'x'"));
  Attrs constant_pad = attrs::pad({{"x", 1, 1}}, extrapolation::ZERO);
  CHECK(g.type(g.add(Op::pad, {e}, constant_pad)).shape.size("x") == 2);  // constant is fine
  // shift
  CHECK_THROWS_AS(g.add(Op::shift, {e}, attrs::shift("x", 1, extrapolation::ZERO_GRADIENT)), ShapeError);
  // Raw on purpose: a shift without its offset, which attrs::shift cannot express.
  CHECK_THROWS_AS(g.add(Op::shift, {x}, raw_attrs({"x"}, {})), Error);
  // slice
  CHECK_THROWS_WITH(g.add(Op::slice, {x}, attrs::slice("x", 2, 5, false)),
                    Contains("'x'") && Contains("[2, 5)") && Contains("4"));
  CHECK_THROWS_AS(g.add(Op::slice, {x}, attrs::slice("x", -1, 2, false)), ShapeError);
  CHECK_THROWS_AS(g.add(Op::slice, {x}, attrs::slice("x", 3, 2, false)), ShapeError);
  CHECK_THROWS_AS(g.add(Op::slice, {x}, attrs::slice("x", 0, 2, true)), Error);  // drop needs one index
  // Raw on purpose: a slice without its drop flag, which attrs::slice cannot express.
  CHECK_THROWS_AS(g.add(Op::slice, {x}, raw_attrs({"x"}, {0, 2})), Error);
  // concat: the other dims must agree
  Value z = g.add_input(spatial("x", 4) & spatial("y", 2), DType::f64);
  CHECK(g.type(g.add(Op::concat, {x, z}, attrs::concat("y"))).shape.size("y") == 5);
  CHECK_THROWS_WITH(g.add(Op::concat, {x, z}, attrs::concat("x")),
                    Contains("'x'") && Contains("(xˢ=4, yˢ=3)") && Contains("(xˢ=4, yˢ=2)"));
  // reductions over an empty dim: sum is 0, max/min have no value
  CHECK(g.type(g.add(Op::reduce_sum, {e}, attrs::reduce({"x"}))).shape == Shape());
  CHECK_THROWS_WITH(g.add(Op::reduce_max, {e}, attrs::reduce({"x"})), Contains("max") && Contains("empty"));
  CHECK_THROWS_AS(g.add(Op::reduce_min, {e}, attrs::reduce({"x"})), ShapeError);
  // expand onto a conflicting size
  CHECK_THROWS_AS(g.add(Op::expand, {x}, attrs::expand(spatial("x", 5))), ShapeError);
}

TEST_CASE("stack checks the new dim", "[graph][error]") {
  Graph g;
  Value a = g.add_input(spatial("x", 2), DType::f64);
  Value b = g.add_input(spatial("x", 2), DType::f64);
  CHECK_THROWS_WITH(g.add(Op::stack, {a, b}, attrs::stack(channel("k", 3))),
                    Contains("(kᶜ=3)") && Contains("3") && Contains("2 tensors"));
  CHECK_THROWS_WITH(g.add(Op::stack, {a, b}, attrs::stack(spatial("x", 2))), Contains("'x'"));
  CHECK_THROWS_AS(g.add(Op::stack, {a, b}, attrs::stack(channel("k", 1) & batch("j", 2))), Error);
  CHECK_THROWS_AS(g.add(Op::stack, {a, b}, attrs::stack(Shape())), Error);
}

TEST_CASE("the verifier accepts graphs built through add", "[graph]") {
  Graph g;
  Value x = g.add_input(spatial("x", 4), DType::f64);
  Value y = g.add_input(batch("b", 2), DType::f32);
  Value c = g.add_constant(scalar(DType::f64, 0.5), Shape());
  Value s = g.add(Op::mul, {g.add(Op::shift, {x}, attrs::shift("x", 1, extrapolation::PERIODIC)), c});
  Value r = g.add(Op::reduce_sum, {s}, attrs::reduce({"x"}));
  Value e = g.add(Op::expand, {r}, attrs::expand(batch("b", 2)));
  g.add_output(e);
  g.add_output(y);
  CHECK_NOTHROW(ir::verify(g));
  CHECK(g.outputs() == std::vector<Value>{e, y});
  CHECK_NOTHROW(ir::verify(Graph()));
}

TEST_CASE("the verifier rejects an input that is not registered as an argument", "[graph][error]") {
  Graph g;
  g.add_input(spatial("x", 4), DType::f64);
  // Raw on purpose: input attributes come only from add_input, which this test bypasses.
  Attrs a;
  a.shape = spatial("x", 4);
  a.ints = {1};
  g.add(Op::input, {}, a);  // bypasses add_input: not in inputs()
  CHECK_THROWS_WITH(ir::verify(g), Contains("%1") && Contains("input"));
}

TEST_CASE("printing gives one line per node and the outputs", "[graph]") {
  Graph g;
  Value x = g.add_input(spatial("x", 4), DType::f64);
  Value y = g.add_input(batch("b", 2) & spatial("x", 4), DType::f64);
  Value c = g.add_constant(scalar(DType::f64, 2.5), Shape());
  Value s = g.add(Op::add, {x, y});
  Value m = g.add(Op::mul, {s, c});
  Value r = g.add(Op::reduce_sum, {m}, attrs::reduce({"x"}));
  g.add_output(r);
  g.add_output(x);
  std::string expected =
      "%0 = input() {index=0} : float64 (xˢ=4)\n"
      "%1 = input() {index=1} : float64 (bᵇ=2, xˢ=4)\n"
      "%2 = constant() {value=2.5} : float64 ()\n"
      "%3 = add(%0, %1) : float64 (bᵇ=2, xˢ=4)\n"
      "%4 = mul(%3, %2) : float64 (bᵇ=2, xˢ=4)\n"
      "%5 = sum(%4) {dims=[x]} : float64 (bᵇ=2)\n"
      "return %5, %0\n";
  CHECK(ir::print(g) == expected);
  CHECK(ir::print_node(g, s) == "%3 = add(%0, %1) : float64 (bᵇ=2, xˢ=4)");
}

TEST_CASE("printing shows each op's attributes", "[graph]") {
  Graph g;
  Value x = g.add_input(spatial("x", 4) & spatial("y", 3), DType::i32);
  CHECK(ir::print_node(g, g.add(Op::cast, {x}, attrs::cast(DType::f32))) ==
        "%1 = cast(%0) {dtype=float32} : float32 (xˢ=4, yˢ=3)");
  CHECK(ir::print_node(g, g.add(Op::shift, {x}, attrs::shift("y", -1, extrapolation::PERIODIC))) ==
        "%2 = shift(%0) {dim=y, offset=-1, extrapolation=periodic} : int32 (xˢ=4, yˢ=3)");
  Attrs pad = attrs::pad({{"x", 1, 0}, {"y", 2, 3}}, extrapolation::constant(2.5));
  CHECK(ir::print_node(g, g.add(Op::pad, {x}, pad)) ==
        "%3 = pad(%0) {widths=[x=(1, 0), y=(2, 3)], extrapolation=constant(2.5)} : int32 (xˢ=5, yˢ=8)");
  CHECK(ir::print_node(g, g.add(Op::slice, {x}, attrs::slice("x", 1, 2, true))) ==
        "%4 = slice(%0) {dim=x, start=1, stop=2, drop} : int32 (yˢ=3)");
  CHECK(ir::print_node(g, g.add(Op::slice, {x}, attrs::slice("x", 1, 3, false))) ==
        "%5 = slice(%0) {dim=x, start=1, stop=3} : int32 (xˢ=2, yˢ=3)");
  CHECK(ir::print_node(g, g.add(Op::rename, {x}, attrs::rename({{"y", "~y", DimType::dual}}))) ==
        "%6 = rename(%0) {y->~yᵈ} : int32 (~yᵈ=3, xˢ=4)");
  CHECK(ir::print_node(g, g.add(Op::stack, {x, x}, attrs::stack(batch("k", 2)))) ==
        "%7 = stack(%0, %0) {dim=(kᵇ=2)} : int32 (kᵇ=2, xˢ=4, yˢ=3)");
  CHECK(ir::print_node(g, g.add(Op::expand, {x}, attrs::expand(channel("c", 2)))) ==
        "%8 = expand(%0) {dims=(cᶜ=2)} : int32 (xˢ=4, yˢ=3, cᶜ=2)");
  CHECK(ir::print_node(g, g.add(Op::concat, {x, x}, attrs::concat("y"))) ==
        "%9 = concat(%0, %0) {dim=y} : int32 (xˢ=4, yˢ=6)");
  CHECK(ir::print_node(g, g.add(Op::reduce_max, {x}, attrs::reduce({"x", "y"}))) ==
        "%10 = max(%0) {dims=[x, y]} : int32 ()");
  CHECK(ir::print_node(g, g.add_constant(scalar(DType::i64, 7), Shape())) ==
        "%11 = constant() {value=7} : int64 ()");
  CHECK(
      ir::print_node(g, g.add_constant(filled(DType::f64, {1, 2, 3}), channel("v", Names{"a", "b", "c"}))) ==
      "%12 = constant() {data=[1, 2, 3]} : float64 (vᶜ=[a, b, c])");
}
