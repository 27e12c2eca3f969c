// Unit tests of ir/parser.h: print(parse(print(g))) == print(g) over thousands of random graphs
// (and that they reach every op and attribute kind), hand-written IR, and the errors for bad
// input with their line:column. Regression cases found by fuzz/parse_fuzzer are at the end.
#include "ir/parser.h"

#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/random_graph.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "runtime/sparse_operand.h"

using namespace phijit;
using Catch::Contains;
using phijit::ir::Graph;
using phijit::ir::Op;
using phijit::ir::Value;
namespace attrs = phijit::ir::attrs;

namespace {

const ir::PrintOptions kAllLiteral{.max_literal_values = std::numeric_limits<int64_t>::max()};

// print(parse(text)) for text that must come back as written.
std::string reprint(const std::string& text, const ir::ConstantTable* constants = nullptr) {
  return ir::print(ir::parse(text, constants));
}

// Round trip of a graph: with large constants by reference, with every value literal, and the
// key of compiled code (constants as placeholders) unchanged. Returns an empty string or what failed.
std::string round_trip_failure(const Graph& g) {
  const std::string text = ir::print(g);
  const ir::ConstantTable refs = ir::referenced_constants(g);
  Graph back = ir::parse(text, &refs);
  if (ir::print(back) != text) return "by reference:\n" + text + "came back as\n" + ir::print(back);
  const std::string literal = ir::print(g, kAllLiteral);
  if (std::string again = ir::print(ir::parse(literal), kAllLiteral); again != literal) {
    return "all literal:\n" + literal + "came back as\n" + again;
  }
  if (ir::print(back, false) != ir::print(g, false)) return "the cache key changed";
  return "";
}

// What a set of graphs covers: ops, and the features of the text format.
struct Coverage {
  std::set<Op> ops;
  std::set<std::string> features;

  void add(const Graph& g) {
    for (int i = 0; i < g.size(); ++i) {
      const ir::Node& n = g.node(Value{i});
      ops.insert(n.op);
      features.insert(std::string(dtype_name(n.type.dtype)) + " " + std::string(ir::op_name(n.op)));
      for (const Dim& d : n.type.shape.dims()) {
        features.insert(std::string(dim_type_name(d.type)) + " dim");
        if (!d.item_names.empty()) features.insert("item names");
        if (!ir::is_bare_name(d.name)) features.insert("quoted name");
      }
      const ir::Attrs& a = n.attrs;
      switch (n.op) {
        case Op::constant: {
          const Buffer& b = *a.data;
          features.insert(b.count() > ir::kMaxLiteralValues ? "constant by reference"
                          : b.count() == 1                  ? "scalar constant"
                                                            : "literal tensor constant");
          for (int64_t k = 0; k < b.count(); ++k) {
            if (!is_float(b.dtype())) continue;
            double v = b.get_real(k);
            if (std::isinf(v)) features.insert("inf");
            if (v == 0 && std::signbit(v)) features.insert("-0");
            if (v != 0 && std::fabs(v) < 2.2250738585072014e-308) features.insert("subnormal");
            if (b.dtype() == DType::f64 && std::isnan(v) &&
                std::bit_cast<uint64_t>(b.as<double>()[k]) != std::bit_cast<uint64_t>(std::nan("")) &&
                !std::signbit(v)) {
              features.insert("nan payload");
            }
          }
          break;
        }
        case Op::slice:
          if (attrs::slice_of(a).drop) features.insert("slice drop");
          break;
        case Op::rename:
          for (const attrs::RenamePair& p : attrs::rename_pairs(a)) {
            features.insert(std::string("rename to ") + std::string(dim_type_name(p.type)));
          }
          break;
        case Op::grid_sample:
        case Op::grid_sample_transpose:
          for (const attrs::CellWeights& w : attrs::grid_sample_of(a).weights) {
            if (!(w == attrs::CellWeights{})) features.insert("cell weights");
          }
          break;
        case Op::shift:
        case Op::pad:
          features.insert("extrapolation " + a.extrap.str().substr(0, a.extrap.str().find('(')));
          if (a.extrap.kind() == Extrapolation::Kind::constant && std::isnan(a.extrap.value())) {
            features.insert("nan extrapolation");
          }
          break;
        default: break;
      }
    }
  }
};

std::shared_ptr<const Buffer> values_of(DType t, const std::vector<double>& values) {
  auto b = std::make_shared<Buffer>(t, static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size(); ++i) b->set_real(static_cast<int64_t>(i), values[i]);
  return b;
}

uint64_t bits_of(const Graph& g, int value) {
  return std::bit_cast<uint64_t>(g.node(Value{value}).attrs.data->as<double>()[0]);
}

}  // namespace

// ---- round trip of random graphs ------------------------------------------------------------

TEST_CASE("parse: print(parse(print(g))) == print(g) over thousands of random graphs", "[parser]") {
  Coverage coverage;
  struct Family {
    const char* name;
    testing::RandomGraphOptions options;
    uint64_t seeds;
  };
  const Family families[] = {
      {"plain", {}, 2000},
      {"smooth", {.smooth = true}, 500},
      {"every IR feature", {.every_ir_feature = true}, 2000},
  };
  int graphs = 0;
  for (const Family& f : families) {
    for (uint64_t seed = 0; seed < f.seeds; ++seed) {
      Graph g = testing::random_graph(seed, f.options);
      std::string failure = round_trip_failure(g);
      if (!failure.empty()) {
        INFO(f.name << " seed " << seed << ": " << failure);
        FAIL();
      }
      coverage.add(g);
      ++graphs;
    }
  }
  CHECK(graphs == 4500);

  // Every op but the host ops that carry payloads, and every feature of the format.
  for (int i = 0; i < ir::kNumOps; ++i) {
    auto op = static_cast<Op>(i);
    if (op == Op::matmul_sparse || op == Op::solve_linear) continue;
    INFO("op " << ir::op_name(op));
    CHECK(coverage.ops.contains(op));
  }
  for (const char* feature : {"float32 input",
                              "float64 input",
                              "int32 input",
                              "int64 input",
                              "bool input",
                              "float32 constant",
                              "float64 constant",
                              "int32 constant",
                              "int64 constant",
                              "bool constant",
                              "batch dim",
                              "dual dim",
                              "instance dim",
                              "spatial dim",
                              "channel dim",
                              "item names",
                              "quoted name",
                              "constant by reference",
                              "scalar constant",
                              "literal tensor constant",
                              "inf",
                              "-0",
                              "subnormal",
                              "nan payload",
                              "slice drop",
                              "rename to batch",
                              "rename to dual",
                              "rename to instance",
                              "rename to spatial",
                              "rename to channel",
                              "cell weights",
                              "extrapolation zero",
                              "extrapolation one",
                              "extrapolation periodic",
                              "extrapolation zero-gradient",
                              "extrapolation constant",
                              "nan extrapolation",
                              "bool where",
                              "int64 where",
                              "int32 cast",
                              "bool cast",
                              "int64 sum",
                              "bool max",
                              "bool eq",
                              "int64 abs",
                              "bool isfinite"}) {
    INFO("feature " << feature);
    CHECK(coverage.features.contains(feature));
  }
}

// ---- hand-written IR --------------------------------------------------------------------------

TEST_CASE("parse: the example of parser.h reads and prints back as written", "[parser]") {
  const std::string text =
      "%0 = input() {index=0} : float64 (bᵇ=2, xˢ=4)\n"
      "%1 = constant() {value=2.5} : float64 ()\n"
      "%2 = constant() {data=[1, -0, inf]} : float32 (vᶜ=[a, b, c])\n"
      "%3 = constant() {data=@c3} : float64 (xˢ=100)\n"
      "%4 = mul(%0, %1) : float64 (bᵇ=2, xˢ=4)\n"
      "%5 = shift(%4) {dim=x, offset=1, extrapolation=zero} : float64 (bᵇ=2, xˢ=4)\n"
      "%6 = sum(%5) {dims=[x]} : float64 (bᵇ=2)\n"
      "return %6, %0\n";
  auto big = std::make_shared<Buffer>(DType::f64, 100);
  ir::ConstantTable table{{"c3", big}};
  Graph g = ir::parse(text, &table);
  CHECK(ir::print(g) == text);
  CHECK(g.node(Value{3}).attrs.data == big);  // the table's buffer itself, not a copy
  CHECK(g.inputs().size() == 1);
  CHECK(g.outputs() == std::vector<Value>{Value{6}, Value{0}});
  const Buffer& small = *g.node(Value{2}).attrs.data;
  CHECK(small.dtype() == DType::f32);
  CHECK(std::signbit(small.as<float>()[1]));
  CHECK(std::isinf(small.as<float>()[2]));
}

TEST_CASE("parse: every attribute kind round-trips", "[parser]") {
  const std::string text =
      "%0 = input() {index=0} : int32 (xˢ=4, yˢ=3)\n"
      "%1 = input() {index=1} : float64 (pⁱ=2, vectorᶜ=[x, y])\n"
      "%2 = cast(%0) {dtype=float64} : float64 (xˢ=4, yˢ=3)\n"
      "%3 = sum(%0) {dims=[x, y]} : int64 ()\n"
      "%4 = max(%2) {dims=[y]} : float64 (xˢ=4)\n"
      "%5 = min(%2) {dims=[x]} : float64 (yˢ=3)\n"
      "%6 = shift(%0) {dim=y, offset=-1, extrapolation=periodic} : int32 (xˢ=4, yˢ=3)\n"
      "%7 = shift(%2) {dim=x, offset=2, extrapolation=zero-gradient} : float64 (xˢ=4, yˢ=3)\n"
      "%8 = pad(%0) {widths=[x=(1, 0), y=(2, 3)], extrapolation=constant(2.5)} : int32 (xˢ=5, yˢ=8)\n"
      "%9 = pad(%2) {widths=[x=(0, 1)], extrapolation=one} : float64 (xˢ=5, yˢ=3)\n"
      "%10 = pad(%2) {widths=[y=(1, 1)], extrapolation=constant(-0)} : float64 (xˢ=4, yˢ=5)\n"
      "%11 = pad(%2) {widths=[y=(1, 1)], extrapolation=constant(nan)} : float64 (xˢ=4, yˢ=5)\n"
      "%12 = expand(%0) {dims=(bᵇ=2, cᶜ=[r, g])} : int32 (bᵇ=2, xˢ=4, yˢ=3, cᶜ=[r, g])\n"
      "%13 = slice(%0) {dim=x, start=1, stop=2, drop} : int32 (yˢ=3)\n"
      "%14 = slice(%12) {dim=c, start=1, stop=2} : int32 (bᵇ=2, xˢ=4, yˢ=3, cᶜ=[g])\n"
      "%15 = concat(%0, %0) {dim=y} : int32 (xˢ=4, yˢ=6)\n"
      "%16 = stack(%0, %0) {dim=(~kᵈ=2)} : int32 (~kᵈ=2, xˢ=4, yˢ=3)\n"
      "%17 = rename(%0) {y->~yᵈ, x->\"my x\"ᶜ} : int32 (~yᵈ=3, \"my x\"ᶜ=4)\n"
      "%18 = grid_sample(%2, %1) {dims=[x, y], extrapolation=zero, weights=[y=(lo=-1+0f, hi=1+0f)]} : "
      "float64 "
      "(pⁱ=2)\n"
      "%19 = grid_sample(%2, %1) {dims=[x, y], extrapolation=constant(3)} : float64 (pⁱ=2)\n"
      "%20 = grid_sample_transpose(%18, %1) {dims=[x, y], extrapolation=periodic, weights=[x=(lo=0+0f, "
      "hi=1+0f), y=(lo=2-3f, hi=-1+0f)], grid=(xˢ=4, yˢ=3)} : float64 (xˢ=4, yˢ=3)\n"
      "%21 = lt(%0, %6) : bool (xˢ=4, yˢ=3)\n"
      "%22 = where(%21, %0, %6) : int32 (xˢ=4, yˢ=3)\n"
      "return %3, %4, %22\n";
  Graph g = ir::parse(text);
  CHECK(ir::print(g) == text);
  const attrs::GridSampleView transpose = attrs::grid_sample_of(g.node(Value{20}).attrs);
  CHECK(transpose.weights[1] == attrs::CellWeights{2, -3, -1, 0});
  CHECK(std::signbit(g.node(Value{10}).attrs.extrap.value()));
  CHECK(std::isnan(g.node(Value{11}).attrs.extrap.value()));
}

TEST_CASE("parse: scalar constants keep their exact bits", "[parser]") {
  const std::string text =
      "%0 = constant() {value=inf} : float64 ()\n"
      "%1 = constant() {value=-inf} : float64 ()\n"
      "%2 = constant() {value=nan} : float64 ()\n"
      "%3 = constant() {value=-nan} : float64 ()\n"
      "%4 = constant() {value=nan(0x7ff4000000000001)} : float64 ()\n"
      "%5 = constant() {value=-0} : float64 ()\n"
      "%6 = constant() {value=0} : float64 ()\n"
      "%7 = constant() {value=1e-300} : float64 ()\n"
      "%8 = constant() {value=5e-324} : float64 ()\n"
      "%9 = constant() {value=1.7976931348623157e+308} : float64 ()\n"
      "%10 = constant() {value=0.1} : float64 ()\n"
      "%11 = constant() {value=0.1} : float32 ()\n"
      "%12 = constant() {value=1e-45} : float32 ()\n"
      "%13 = constant() {value=nan(0x7fc00001)} : float32 ()\n"
      "%14 = constant() {value=-9223372036854775808} : int64 ()\n"
      "%15 = constant() {value=9223372036854775807} : int64 ()\n"
      "%16 = constant() {value=-2147483648} : int32 ()\n"
      "%17 = constant() {value=true} : bool ()\n"
      "%18 = constant() {value=false} : bool ()\n"
      "%19 = constant() {data=[1, 2, 3]} : int64 (xˢ=3)\n"
      "%20 = constant() {data=[true, false]} : bool (vᶜ=[yes, no])\n"
      "%21 = constant() {data=[]} : float64 (xˢ=0)\n"
      "%22 = constant() {value=0.30000000000000004} : float64 (xˢ=1, yˢ=1)\n"
      "return\n";
  Graph g = ir::parse(text);
  CHECK(ir::print(g) == text);
  CHECK(bits_of(g, 0) == std::bit_cast<uint64_t>(std::numeric_limits<double>::infinity()));
  CHECK(bits_of(g, 2) == std::bit_cast<uint64_t>(std::numeric_limits<double>::quiet_NaN()));
  CHECK(bits_of(g, 3) ==
        (std::bit_cast<uint64_t>(std::numeric_limits<double>::quiet_NaN()) | (uint64_t{1} << 63)));
  CHECK(bits_of(g, 4) == 0x7ff4000000000001ULL);
  CHECK(bits_of(g, 5) == uint64_t{1} << 63);
  CHECK(bits_of(g, 6) == 0);
  CHECK(g.node(Value{7}).attrs.data->get_real(0) == 1e-300);
  CHECK(bits_of(g, 8) == 1);
  CHECK(g.node(Value{9}).attrs.data->get_real(0) == std::numeric_limits<double>::max());
  CHECK(g.node(Value{11}).attrs.data->as<float>()[0] == 0.1f);
  CHECK(g.node(Value{12}).attrs.data->as<float>()[0] == std::numeric_limits<float>::denorm_min());
  CHECK(std::bit_cast<uint32_t>(g.node(Value{13}).attrs.data->as<float>()[0]) == 0x7fc00001U);
  CHECK(g.node(Value{14}).attrs.data->get_int(0) == std::numeric_limits<int64_t>::min());
  CHECK(g.node(Value{15}).attrs.data->get_int(0) == std::numeric_limits<int64_t>::max());
  CHECK(g.node(Value{16}).attrs.data->get_int(0) == std::numeric_limits<int32_t>::min());
  CHECK(g.node(Value{17}).attrs.data->get_int(0) == 1);
  CHECK(g.node(Value{20}).attrs.data->get_int(1) == 0);
  // Printed from a graph built in C++, the values read back bit for bit as well.
  Graph built;
  for (double v : {0.1, 1.0 / 3, -0.0, 2.5e-310, std::ldexp(1.0, -1074), 6.02214076e23}) {
    built.add_constant(values_of(DType::f64, {v}), Shape());
  }
  Graph back = ir::parse(ir::print(built));
  for (int i = 0; i < built.size(); ++i) CHECK(bits_of(back, i) == bits_of(built, i));
}

TEST_CASE("parse: large constants print by reference and need their buffers", "[parser]") {
  Graph g;
  Value x = g.add_input(spatial("x", 100), DType::f64);
  auto data = std::make_shared<Buffer>(DType::f64, 100);
  for (int64_t i = 0; i < 100; ++i) data->set_real(i, 0.5 * static_cast<double>(i));
  Value c = g.add_constant(data, spatial("x", 100));
  g.add_output(g.add(Op::add, {x, c}));
  const std::string text = ir::print(g);
  CHECK_THAT(text, Contains("%1 = constant() {data=@c1} : float64 (xˢ=100)"));
  ir::ConstantTable refs = ir::referenced_constants(g);
  REQUIRE(refs.size() == 1);
  CHECK(refs.at("c1") == data);
  CHECK(reprint(text, &refs) == text);

  // Without the table, or with a buffer that does not fit, the error names the reference.
  CHECK_THROWS_AS(ir::parse(text), ParseError);
  CHECK_THROWS_WITH(ir::parse(text), Contains("2:18: constant data=@c1 is printed by reference") &&
                                         Contains("no buffer named 'c1'"));
  ir::ConstantTable wrong{{"c1", std::make_shared<Buffer>(DType::f32, 100)}};
  CHECK_THROWS_WITH(
      ir::parse(text, &wrong),
      Contains("2:18: constant data=@c1: the buffer holds 100 float32 values") && Contains("needs 100"));
  ir::ConstantTable short_one{{"c1", std::make_shared<Buffer>(DType::f64, 99)}};
  CHECK_THROWS_WITH(ir::parse(text, &short_one), Contains("holds 99 float64 values"));

  // Printed with every value, the text needs no table.
  const std::string literal = ir::print(g, kAllLiteral);
  CHECK_THAT(literal, Contains("data=[0, 0.5, 1, 1.5,"));
  Graph back = ir::parse(literal);
  CHECK(ir::print(back, kAllLiteral) == literal);
  CHECK(back.node(Value{1}).attrs.data->get_real(99) == 49.5);
  // The threshold: 64 values print literally, 65 by reference.
  Graph edge;
  edge.add_constant(std::make_shared<Buffer>(DType::i32, 64), instance("i", 64));
  edge.add_constant(std::make_shared<Buffer>(DType::i32, 65), instance("i", 65));
  CHECK_THAT(ir::print(edge),
             Contains("%0 = constant() {data=[0, 0,") && Contains("%1 = constant() {data=@c1}"));
}

TEST_CASE("parse: hand-written conveniences", "[parser]") {
  SECTION("value names are free, in any order, and print densely") {
    CHECK(reprint("%in = input() : float64 (xˢ=4)\n"
                  "%10 = exp(%in) : float64 (xˢ=4)\n"
                  "%3 = neg(%10) : float64 (xˢ=4)\n"
                  "return %3\n") ==
          "%0 = input() {index=0} : float64 (xˢ=4)\n"
          "%1 = exp(%0) : float64 (xˢ=4)\n"
          "%2 = neg(%1) : float64 (xˢ=4)\n"
          "return %2\n");
  }
  SECTION("comments, blank lines, CRLF and FileCheck lines") {
    CHECK(reprint("// RUN: phijit-opt --passes=cse %s | FileCheck %s\n"
                  "\n"
                  "%0 = input() : float64 ()   // the argument\r\n"
                  "  // CHECK: %1 = neg(%0)\n"
                  "%1 = neg(%0) : float64 ()\r\n"
                  "return %1 // done\n"
                  "// CHECK-NEXT: return %1") ==
          "%0 = input() {index=0} : float64 ()\n%1 = neg(%0) : float64 ()\nreturn %1\n");
  }
  SECTION("dim types in ASCII, dims in any order, and defaults") {
    CHECK(reprint("%0 = input() : float64 (y^s=3, b^b=2, \"é\"^i=1, ~d^d=2, v^c=[a, b])\n"
                  "%1 = shift(%0) {offset=1, dim=y} : float64 (bᵇ=2, ~dᵈ=2, \"é\"ⁱ=1, yˢ=3, vᶜ=[a, b])\n"
                  "return %1\n") ==
          "%0 = input() {index=0} : float64 (bᵇ=2, ~dᵈ=2, \"é\"ⁱ=1, yˢ=3, vᶜ=[a, b])\n"
          "%1 = shift(%0) {dim=y, offset=1, extrapolation=zero} : float64 (bᵇ=2, ~dᵈ=2, \"é\"ⁱ=1, yˢ=3, "
          "vᶜ=[a, b])\n"
          "return %1\n");
  }
  SECTION("names that need quotes, with escapes") {
    const std::string text =
        "%0 = input() {index=0} : float64 (\"my dim\"ˢ=2, \"q\\\"\\\\\\x09\"ˢ=1, \"0\"ᶜ=[\"\", \"a b\", x])\n"
        "return %0\n";
    Graph g = ir::parse(text);
    CHECK(ir::print(g) == text);
    const Shape& s = g.type(Value{0}).shape;
    CHECK(s.contains("q\"\\\t"));
    CHECK(s.item_names("0") == std::vector<std::string>{"", "a b", "x"});
  }
  SECTION("identical statements are one node") {
    Graph g = ir::parse(
        "%0 = input() : float64 ()\n%1 = input() : float64 ()\n%a = neg(%0) : float64 ()\n"
        "%b = neg(%0) : float64 ()\n%c = add(%a, %b) : float64 ()\nreturn %c\n");
    CHECK(g.size() == 4);  // two inputs (never merged), one neg, the add
    CHECK(g.node(Value{3}).inputs == std::vector<Value>{Value{2}, Value{2}});
  }
  SECTION("no outputs") { CHECK(reprint("return\n") == "return\n"); }
}

TEST_CASE("parse: host ops print their payload but cannot be read back", "[parser]") {
  auto pattern = std::make_shared<runtime::CsrPattern>();
  pattern->rows = 2;
  pattern->cols = 2;
  auto row_ptr = std::make_shared<Buffer>(DType::i64, 3);
  row_ptr->set_int(1, 1);
  row_ptr->set_int(2, 2);
  auto col = std::make_shared<Buffer>(DType::i32, 2);
  col->set_int(1, 1);
  pattern->row_ptr = row_ptr;
  pattern->col = col;
  runtime::CsrMatrix csr{pattern, values_of(DType::f64, {2, 3}), 1};
  auto matrix = std::make_shared<runtime::SparseOperand>(csr, Shape(), spatial("y", 2), spatial("x", 2));
  Graph g;
  Value x = g.add_input(spatial("x", 2), DType::f64);
  g.add_output(g.add(Op::matmul_sparse, {x}, attrs::matmul_sparse(matrix)));
  const std::string text = ir::print(g);
  CHECK_THAT(text,
             Contains("%1 = matmul_sparse(%0) {payload=\"matrix=(yˢ=2)x(xˢ=2), nnz=2\"} : float64 (yˢ=2)"));
  CHECK_THROWS_AS(ir::parse(text), ParseError);
  CHECK_THROWS_WITH(ir::parse(text), Contains("2:6: matmul_sparse: host-op payloads") &&
                                         Contains("cannot be read back from text"));
  CHECK_THROWS_WITH(
      ir::parse("%0 = input() : float64 ()\n%1 = solve_linear(%0, %0) : float64 ()\nreturn %1\n"),
      Contains("2:6: solve_linear: host-op payloads"));
}

TEST_CASE("parse: the fuzzer's seeds read as their names say", "[parser]") {
  // The buffers parse_fuzzer gives (fuzz/parse_fuzzer.cpp): names, dtypes and sizes.
  ir::ConstantTable table;
  for (auto [name, dtype, count] : {std::tuple{"c0", DType::f64, 100}, std::tuple{"c1", DType::f32, 65},
                                    std::tuple{"c2", DType::i64, 200}, std::tuple{"c3", DType::boolean, 70},
                                    std::tuple{"c4", DType::i32, 1000}}) {
    table.emplace(name, std::make_shared<Buffer>(dtype, count));
  }
  const auto seeds = std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "fuzz" / "seeds";
  int valid = 0, bad = 0;
  for (const auto& entry : std::filesystem::directory_iterator(seeds)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    INFO(entry.path().filename().string());
    if (entry.path().filename().string().starts_with("bad-")) {
      CHECK_THROWS_AS(ir::parse(text, &table), ParseError);
      ++bad;
    } else {
      Graph g = ir::parse(text, &table);
      const ir::ConstantTable refs = ir::referenced_constants(g);
      CHECK(reprint(ir::print(g), &refs) == ir::print(g));
      ++valid;
    }
  }
  CHECK(valid >= 5);
  CHECK(bad >= 5);
}

// ---- errors -----------------------------------------------------------------------------------

TEST_CASE("parse: bad input is a ParseError with line:column and what was expected", "[parser][errors]") {
  struct Case {
    const char* name;
    std::string text;
    std::string where;  // "line:column: "
    std::vector<std::string> words;
  };
  const std::string x4 = "%0 = input() : float64 (xˢ=4)\n";
  const std::vector<Case> cases = {
      {"unknown op",
       x4 + "%1 = frobnicate(%0) : float64 (xˢ=4)\nreturn %1\n",
       "2:6: ",
       {"unknown op 'frobnicate'"}},
      {"undefined value",
       x4 + "%1 = neg(%7) : float64 (xˢ=4)\nreturn %1\n",
       "2:10: ",
       {"value %7 is not defined", "before its uses"}},
      {"redefined value",
       x4 + "%0 = neg(%0) : float64 (xˢ=4)\nreturn %0\n",
       "2:1: ",
       {"value %0 is defined twice (first at 1:1)"}},
      {"wrong arity",
       x4 + "%1 = add(%0) : float64 (xˢ=4)\nreturn %1\n",
       "2:6: ",
       {"add: expects 2 operands, got 1"}},
      {"wrong type annotation",
       x4 + "%1 = neg(%0) : float32 (xˢ=4)\nreturn %1\n",
       "2:14: ",
       {"neg: the written type float32 (xˢ=4) differs from the type the op table gives, float64 (xˢ=4)"}},
      {"wrong shape annotation",
       x4 + "%1 = sum(%0) {dims=[x]} : float64 (xˢ=4)\nreturn %1\n",
       "2:25: ",
       {"written type float64 (xˢ=4)", "float64 ()"}},
      {"unknown attribute",
       x4 + "%1 = shift(%0) {dim=x, ofset=1} : float64 (xˢ=4)\nreturn %1\n",
       "2:24: ",
       {"shift has no attribute 'ofset' (expected one of dim, offset, extrapolation)"}},
      {"attribute of an op that takes none",
       x4 + "%1 = neg(%0) {dim=x} : float64 (xˢ=4)\nreturn %1\n",
       "2:15: ",
       {"neg has no attribute 'dim' (it takes none)"}},
      {"missing attribute",
       x4 + "%1 = shift(%0) {dim=x} : float64 (xˢ=4)\nreturn %1\n",
       "2:6: ",
       {"shift needs the attribute 'offset'"}},
      {"attribute given twice",
       x4 + "%1 = shift(%0) {dim=x, offset=1, dim=x} : float64 (xˢ=4)\nreturn %1\n",
       "2:34: ",
       {"attribute 'dim' is given twice"}},
      {"bad extrapolation",
       x4 + "%1 = shift(%0) {dim=x, offset=1, extrapolation=mirror} : float64 (xˢ=4)\nreturn %1\n",
       "2:48: ",
       {"expected an extrapolation (zero, one, periodic, zero-gradient or constant(v)), found 'mirror'"}},
      {"missing return",
       x4 + "%1 = neg(%0) : float64 (xˢ=4)\n",
       "3:1: ",
       {"expected 'return' and the outputs before the end of the input"}},
      {"statement after return",
       x4 + "return %0\n%1 = neg(%0) : float64 (xˢ=4)\n",
       "3:1: ",
       {"expected the end of the input after 'return' (at 2:1), found '%1'"}},
      {"shape mismatch",
       x4 + "%1 = input() : float64 (xˢ=5)\n%2 = add(%0, %1) : float64 (xˢ=4)\nreturn %2\n",
       "3:6: ",
       {"add: cannot broadcast (xˢ=4) and (xˢ=5)", "two sizes"}},
      {"dim not in the operand",
       x4 + "%1 = sum(%0) {dims=[y]} : float64 ()\nreturn %1\n",
       "2:6: ",
       {"sum: dim 'y' is not in the operand's shape (xˢ=4)"}},
      {"unterminated list",
       x4 + "%1 = sum(%0) {dims=[x} : float64 ()\nreturn %1\n",
       "2:22: ",
       {"expected ',' or ']' after a dim name (in the list opened at 2:20), found '}'"}},
      {"unterminated attributes",
       x4 + "%1 = shift(%0) {dim=x, offset=1\nreturn %1\n",
       "2:32: ",
       {"expected ',' or '}' after an attribute (in the list opened at 2:16), found the end of the line"}},
      {"unterminated operands",
       x4 + "%1 = add(%0, %0 : float64 (xˢ=4)\nreturn %1\n",
       "2:17: ",
       {"expected ',' or ')' after an operand (in the list opened at 2:9), found ':'"}},
      {"bad dtype",
       "%0 = input() : float16 (xˢ=4)\nreturn %0\n",
       "1:16: ",
       {"expected a dtype (float32, float64, int32, int64 or bool), found 'float16'"}},
      {"missing type",
       x4 + "%1 = neg(%0)\nreturn %1\n",
       "2:13: ",
       {"expected ':' and the result type after the op and its attributes, found the end of the line"}},
      {"missing dim type",
       "%0 = input() : float64 (x=4)\nreturn %0\n",
       "1:26: ",
       {"expected the type of dim 'x' (ᵇ ᵈ ⁱ ˢ ᶜ (or ^b ^d ^i ^s ^c)) after its name, found '='"}},
      {"bad number: two points",
       "%0 = constant() {value=1.5.2} : float64 ()\nreturn %0\n",
       "1:27: ",
       {"unexpected character '.'"}},
      {"bad number: letters after it",
       "%0 = constant() {value=12abc} : float64 ()\nreturn %0\n",
       "1:26: ",
       {"expected ',' or '}' after an attribute", "found 'abc'"}},
      {"bad number: out of range",
       "%0 = constant() {value=1e999} : float64 ()\nreturn %0\n",
       "1:24: ",
       {"1e999 is out of the range of float64"}},
      {"integer too large",
       x4 + "%1 = shift(%0) {dim=x, offset=99999999999999999999} : float64 (xˢ=4)\nreturn %1\n",
       "2:31: ",
       {"integer 99999999999999999999 does not fit in int64"}},
      {"float for an integer constant",
       "%0 = constant() {value=2.5} : int32 ()\nreturn %0\n",
       "1:24: ",
       {"expected an integer, found 2.5"}},
      {"int32 out of range",
       "%0 = constant() {value=2147483648} : int32 ()\nreturn %0\n",
       "1:24: ",
       {"integer 2147483648 does not fit in int32"}},
      {"number for a bool",
       "%0 = constant() {value=1} : bool ()\nreturn %0\n",
       "1:24: ",
       {"expected true or false for a bool value, found 1"}},
      {"too few values",
       "%0 = constant() {data=[1, 2]} : float64 (xˢ=3)\nreturn %0\n",
       "1:18: ",
       {"constant data= lists 2 values, but the shape (xˢ=3) has 3 elements"}},
      {"one value for many elements",
       "%0 = constant() {value=1} : float64 (xˢ=1000000000000000000)\nreturn %0\n",
       "1:18: ",
       {"constant value= gives one element, but the shape (xˢ=1000000000000000000) has 1000000000000000000"}},
      {"shape too large",
       "%0 = input() : float64 (xˢ=4611686018427387904, yˢ=4)\nreturn %0\n",
       "1:24: ",
       {"is too large: the product of its dim sizes does not fit in int64"}},
      {"dual dim without ~",
       "%0 = input() : float64 (xᵈ=4)\nreturn %0\n",
       "1:24: ",
       {"dual dims and only dual dims have names starting with '~'"}},
      {"input out of order",
       "%0 = input() {index=1} : float64 ()\nreturn %0\n",
       "1:21: ",
       {"input index=1: inputs are numbered in the order they appear, so this one is 0"}},
      {"operands for an input",
       x4 + "%1 = input(%0) : float64 ()\nreturn %1\n",
       "2:6: ",
       {"input: expects 0 operands, got 1"}},
      {"unterminated string",
       "%0 = input() : float64 (\"x\n",
       "1:25: ",
       {"unterminated string", "no closing '\"'"}},
      {"unknown escape",
       "%0 = input() : float64 (\"x\\n\"ˢ=1)\nreturn %0\n",
       "1:27: ",
       {"unknown escape in a string"}},
      {"unexpected character",
       "%0 = input() : float64 ($)\nreturn %0\n",
       "1:25: ",
       {"unexpected character '$'"}},
      {"not a statement",
       "input() : float64 ()\n",
       "1:1: ",
       {"expected a statement ('%name = op(...) : type' or 'return'), found 'input'"}},
      {"constant placeholder",
       "%0 = constant() {param} : float64 ()\nreturn %0\n",
       "1:18: ",
       {"placeholder written by print(g, /*constant_values=*/false)"}},
      {"constant without values",
       "%0 = constant() : float64 ()\nreturn %0\n",
       "1:6: ",
       {"constant needs exactly one of the attributes 'value'"}},
      {"dim listed twice",
       x4 + "%1 = sum(%0) {dims=[x, x]} : float64 ()\nreturn %1\n",
       "2:6: ",
       {"sum: dim 'x' is listed twice"}},
      {"pad too large",
       x4 + "%1 = pad(%0) {widths=[x=(9223372036854775807, 0)]} : float64 (xˢ=4)\nreturn %1\n",
       "2:6: ",
       {"pad: dim 'x' of size 4 padded by (9223372036854775807, 0) is too large for int64"}},
      {"weights of a dim not sampled",
       "%0 = input() : float64 (xˢ=4)\n%1 = input() : float64 (pⁱ=2, vectorᶜ=[x])\n"
       "%2 = grid_sample(%0, %1) {dims=[x], weights=[y=(lo=1-1f, hi=0+1f)]} : float64 (pⁱ=2)\nreturn %2\n",
       "3:46: ",
       {"weights for 'y', which is not a sampled dim (dims=[x])"}},
      {"bad cell weight",
       x4 +
           "%1 = input() : float64 (pⁱ=2, vectorᶜ=[x])\n"
           "%2 = grid_sample(%0, %1) {dims=[x], weights=[x=(lo=1-1, hi=0+1f)]} : float64 (pⁱ=2)\nreturn %2\n",
       "3:55: ",
       {"expected 'f' after the weight's slope (as in 1-1f), found ','"}},
      {"reference without a name",
       "%0 = constant() {data=@} : float64 ()\nreturn %0\n",
       "1:23: ",
       {"expected a name after '@'"}},
      {"return of an undefined value", x4 + "return %0, %5\n", "2:12: ", {"value %5 is not defined"}},
  };
  CHECK(cases.size() >= 15);
  for (const Case& c : cases) {
    INFO(c.name << ":\n" << c.text);
    try {
      ir::parse(c.text);
      FAIL("no error");
    } catch (const ParseError& e) {
      const std::string message = e.what();
      INFO("message: " << message);
      CHECK(message.starts_with(c.where));
      for (const std::string& w : c.words) CHECK_THAT(message, Contains(w));
      const std::string where = std::to_string(e.line()) + ":" + std::to_string(e.column()) + ": ";
      CHECK(where == c.where);
    }
  }
}

// ---- regressions found by fuzz/parse_fuzzer ---------------------------------------------------

// Sizes near INT64_MAX are valid text: the shape rules must not overflow on them (UBSan in the
// fuzzer's build reports it if they do).
TEST_CASE("parse: shape rules at the int64 limits are errors, not overflows", "[parser][errors]") {
  // slice: start + 1 overflowed for start = INT64_MAX (found while fuzzing, in review).
  CHECK_THROWS_WITH(
      ir::parse("%0 = input() : float64 (xˢ=9223372036854775807)\n"
                "%1 = slice(%0) {dim=x, start=9223372036854775807, stop=9223372036854775807, drop} : "
                "float64 ()\nreturn %1\n"),
      Contains("2:6: slice: dropping a dim needs a range of one index"));
  CHECK(reprint(
            "%0 = input() : float64 (xˢ=9223372036854775807)\n"
            "%1 = slice(%0) {dim=x, start=9223372036854775806, stop=9223372036854775807, drop} : float64 ()\n"
            "return %1\n") ==
        "%0 = input() {index=0} : float64 (xˢ=9223372036854775807)\n"
        "%1 = slice(%0) {dim=x, start=9223372036854775806, stop=9223372036854775807, drop} : float64 ()\n"
        "return %1\n");
  // pad and concat add sizes.
  CHECK_THROWS_WITH(
      ir::parse("%0 = input() : float64 (xˢ=9223372036854775807)\n"
                "%1 = pad(%0) {widths=[x=(0, 1)]} : float64 (xˢ=1)\nreturn %1\n"),
      Contains("2:6: pad: dim 'x' of size 9223372036854775807 padded by (0, 1) is too large for int64"));
  CHECK_THROWS_WITH(ir::parse("%0 = input() : float64 (xˢ=9223372036854775807)\n"
                              "%1 = concat(%0, %0) {dim=x} : float64 (xˢ=1)\nreturn %1\n"),
                    Contains("2:6: concat along 'x': the total size") && Contains("too large for int64"));
  // Shapes whose product overflows are rejected where they are written; zero sizes are left out.
  CHECK_THROWS_WITH(ir::parse("%0 = input() : float64 (xˢ=4294967296, yˢ=4294967296)\nreturn %0\n"),
                    Contains("1:24: Shape") && Contains("too large"));
  CHECK_NOTHROW(ir::parse("%0 = input() : float64 (xˢ=9223372036854775807, yˢ=0)\nreturn %0\n"));
}
