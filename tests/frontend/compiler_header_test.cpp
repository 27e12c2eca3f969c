// <phijit/compiler.h>, the research surface (API §9): trace() gives the graph of a function as
// jit_compile traces it, which the IR's printer and Builder work on.
#include <phijit/compiler.h>

#include <catch2/catch.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "test_helpers.h"

using namespace phijit;

namespace {
// The op names of the graph's nodes, in order.
std::vector<std::string> ops_of(const ir::Graph& g) {
  std::vector<std::string> ops;
  for (const ir::Node& n : g.nodes()) ops.emplace_back(ir::op_name(n.op));
  return ops;
}
}  // namespace

TEST_CASE("compiler.h: trace gives the graph of a function, one input per tensor argument") {
  Tensor a = tensor({1, 2, 3}, spatial("x", 3));
  Tensor b = ones(batch("b", 2) & spatial("x", 3));
  ir::Graph g = trace([](const Tensor& u, const Tensor& v) { return exp(u) * v + 1.0; }, a, b);
  ir::verify(g);
  REQUIRE(g.inputs().size() == 2);
  REQUIRE(g.outputs().size() == 1);
  CHECK(g.type(g.inputs()[0]).shape == a.shape());
  CHECK(g.type(g.inputs()[1]).shape == b.shape());
  const ir::ValueType& out = g.type(g.outputs()[0]);
  CHECK(out.shape == (batch("b", 2) & spatial("x", 3)));
  CHECK(out.dtype == DType::f64);
  CHECK(ops_of(g) == std::vector<std::string>{"input", "input", "exp", "mul", "constant", "add"});
  // The printed graph names the ops in the order they were traced.
  std::string text = ir::print(g);
  INFO(text);
  CHECK(text.find("exp(%0)") != std::string::npos);
  CHECK(text.find("mul(%2, %1)") != std::string::npos);
  CHECK(text.find("add(%3, %4)") != std::string::npos);
}

TEST_CASE("compiler.h: a traced graph equals the one the Builder makes for the same ops") {
  Tensor a = tensor({1, 2, 3}, spatial("x", 3));
  ir::Graph traced = trace([](const Tensor& u) { return sum(u * u, "x"); }, a);

  ir::Graph built;
  ir::Builder b(built);
  ir::Value u = built.add_input(a.shape(), DType::f64);
  built.add_output(b.sum(b.mul(u, u), {"x"}));
  CHECK(ir::print(traced) == ir::print(built));
}

TEST_CASE("compiler.h: auxiliary arguments are traced by value, tuples give several outputs") {
  Tensor x = tensor({1, 2}, spatial("x", 2));
  auto f = [](const Tensor& t, double scale, bool twice) {
    Tensor y = t * scale;
    return std::tuple<Tensor, Tensor>{y, twice ? y + y : y};
  };
  ir::Graph g = trace(f, x, 2.5, true);
  CHECK(g.inputs().size() == 1);
  CHECK(g.outputs().size() == 2);
  CHECK(ir::print(g).find("2.5") != std::string::npos);
  CHECK(ops_of(trace(f, x, 2.5, false)).size() < ops_of(g).size());  // no y + y
  // A traced graph is not compiled and not cached: tracing again gives the same text.
  CHECK(ir::print(trace(f, x, 2.5, true)) == ir::print(g));
}

TEST_CASE("compiler.h: tensors a function captures are constants of its graph") {
  Tensor k = tensor({10, 20}, spatial("x", 2));
  ir::Graph g = trace([&k](const Tensor& t) { return t + k; }, zeros(spatial("x", 2)));
  CHECK(g.inputs().size() == 1);
  CHECK(ops_of(g) == std::vector<std::string>{"input", "constant", "add"});
}

TEST_CASE("compiler.h: tracing a sparse argument is an Error naming trace") {
  auto A = matrix_from_function([](const Tensor& x) { return 2.0 * x; }, zeros(spatial("x", 3))).first;
  REQUIRE(A.is_sparse());
  CHECK_THROWS_MATCHES(trace([](const Tensor& m) { return m; }, A), Error,
                       MessageContains({"trace: tensor argument 0 is a sparse matrix"}));
}
