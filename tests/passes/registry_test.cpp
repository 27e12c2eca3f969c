// The pass registry (passes/registry.h): built-in passes and analyses by name, a user's pass
// registered from outside the library and run in the pipeline of compiled programs, and the
// errors for names that are unknown, taken or malformed.
#include "passes/registry.h"

#include <catch2/catch.hpp>
#include <cstdlib>

#include "frontend/compiler.h"
#include "ir/builder.h"
#include "ir/error.h"
#include "passes/pipeline.h"
#include "passes/rebuild.h"

using namespace phijit;
using Catch::Contains;
using phijit::ir::Graph;
using phijit::ir::Op;
using phijit::ir::Value;

namespace {

// The pipeline of the test's choice, restored at the end of the scope.
struct PipelineScope {
  explicit PipelineScope(std::vector<std::string> names) { passes::set_pipeline(std::move(names)); }
  ~PipelineScope() { passes::set_pipeline({}); }
};

// x * 3 over (x=4), and 2·x + 1 with an unused node (for DCE).
Graph times_three() {
  Graph g;
  ir::Builder b(g);
  Value x = g.add_input(Shape{spatial("x", 4)}, DType::f64);
  g.add_output(b.mul(x, b.scalar(3, DType::f64)));
  return g;
}

// A pass that changes the meaning of a program, so a test can see that it ran: mul becomes add.
Graph mul_to_add(const Graph& g) {
  return passes::rebuild(g, [](Graph& out, const ir::Node& n, std::span<const Value> in) {
    if (n.op == Op::mul) return out.add(Op::add, {in.begin(), in.end()});
    return passes::copy_node(out, n, in);
  });
}

int count_ops(const Graph& g, Op op) {
  int count = 0;
  for (const ir::Node& n : g.nodes()) count += n.op == op ? 1 : 0;
  return count;
}

}  // namespace

TEST_CASE("the built-in passes and analyses are registered with summaries", "[passes][registry]") {
  std::vector<std::string> names;
  for (const passes::RegisteredPass& p : passes::registered_passes()) {
    names.push_back(p.name);
    CHECK_FALSE(p.summary.empty());
  }
  for (const char* expected : {"autodiff", "cse", "eliminate_dead_code", "fold_constants", "linearize",
                               "schedule", "simplify_algebra"}) {
    CHECK(std::find(names.begin(), names.end(), expected) != names.end());
  }
  CHECK(std::is_sorted(names.begin(), names.end()));
  CHECK(passes::find_pass("schedule").is_analysis());
  CHECK_FALSE(passes::find_pass("cse").is_analysis());
  CHECK(passes::default_pipeline() ==
        std::vector<std::string>{"fold_constants", "simplify_algebra", "eliminate_dead_code"});
}

TEST_CASE("run_passes runs the named passes in order and shows each step", "[passes][registry]") {
  Graph g = times_three();
  std::vector<std::string> seen;
  std::string schedule_text;
  Graph out = passes::run_passes(g, {"simplify_algebra", "schedule", "cse"},
                                 [&](const passes::RegisteredPass& p, const Graph&, const std::string& text) {
                                   seen.push_back(p.name);
                                   if (p.name == "schedule") schedule_text = text;
                                 });
  CHECK(seen == std::vector<std::string>{"simplify_algebra", "schedule", "cse"});
  CHECK(ir::print(out) == ir::print(g));
  // One map kernel computes the product into the output; the input and the constant are stored.
  CHECK(schedule_text == "kernel 0: map %2 = mul over (xˢ=4) loads %0, %1\nstored: %0, %1, %2\n");
}

TEST_CASE("the linearize analysis prints the stencil terms and the bias", "[passes][registry]") {
  Graph g;
  ir::Builder b(g);
  Value x = g.add_input(Shape{spatial("x", 4)}, DType::f64);
  Value shifted = b.shift(x, "x", 1, extrapolation::ZERO);
  g.add_output(b.add(b.sub(shifted, x), b.scalar(1, DType::f64)));
  std::string text = passes::find_pass("linearize").analysis(g);
  CHECK_THAT(text, Contains("linear in float64 (xˢ=4) to float64 (xˢ=4)"));
  CHECK_THAT(text, Contains("term 0: columns pattern[0], coefficients values[0]"));
  CHECK_THAT(text, Contains("term 1: columns pattern[1], coefficients values[1]"));
  CHECK_THAT(text, Contains("bias: values[2]"));
}

TEST_CASE("a pass registered from outside the library runs in the pipeline by name", "[passes][registry]") {
  static bool registered = false;
  if (!registered) {
    passes::register_pass("test_mul_to_add", "mul becomes add (a test of the registry)", mul_to_add);
    registered = true;
  }
  Graph g = times_three();
  CHECK(count_ops(passes::run_pipeline(g), Op::mul) == 1);
  {
    PipelineScope scope({"test_mul_to_add", "eliminate_dead_code"});
    CHECK(passes::pipeline() == std::vector<std::string>{"test_mul_to_add", "eliminate_dead_code"});
    Graph optimized = passes::run_pipeline(g);
    CHECK(count_ops(optimized, Op::mul) == 0);
    CHECK(count_ops(optimized, Op::add) == 1);
    // A program compiled now has the pass's meaning: x + 3.
    auto program = compile_graph(g);
    auto x = std::make_shared<Buffer>(DType::f64, 4);
    for (int i = 0; i < 4; ++i) x->set_real(i, i);
    std::vector<runtime::BufferPtr> out = program->run({{x}});
    for (int i = 0; i < 4; ++i) CHECK(out[0]->get_real(i) == i + 3);
  }
  CHECK(passes::pipeline() == passes::default_pipeline());
  CHECK_THROWS_WITH(passes::register_pass("test_mul_to_add", "again", mul_to_add),
                    Contains("a pass named 'test_mul_to_add' is registered already"));
}

TEST_CASE("PHIJIT_PASSES chooses the pipeline unless set_pipeline did", "[passes][registry]") {
  ::setenv("PHIJIT_PASSES", "cse, eliminate_dead_code", 1);
  CHECK(passes::pipeline() == std::vector<std::string>{"cse", "eliminate_dead_code"});
  {
    PipelineScope scope({"fold_constants"});
    CHECK(passes::pipeline() == std::vector<std::string>{"fold_constants"});
  }
  ::setenv("PHIJIT_PASSES", "cse,no_such_pass", 1);
  CHECK_THROWS_WITH(passes::pipeline(), Contains("unknown pass 'no_such_pass'; the registered passes are "));
  ::setenv("PHIJIT_PASSES", "schedule", 1);
  CHECK_THROWS_WITH(passes::pipeline(),
                    Contains("PHIJIT_PASSES: 'schedule' is an analysis; a pipeline holds transforms only"));
  ::unsetenv("PHIJIT_PASSES");
  CHECK(passes::pipeline() == passes::default_pipeline());
}

TEST_CASE("bad pass names and lists are errors that say what is wrong", "[passes][registry][errors]") {
  auto identity = [](const Graph& g) { return g; };
  CHECK_THROWS_WITH(passes::register_pass("Bad Name", "x", identity),
                    Contains("'Bad Name' is not a pass name; use lowercase letters, digits, '_' and '-'"));
  CHECK_THROWS_WITH(passes::register_pass("test_empty", "x", passes::PassFunction{}),
                    Contains("the pass 'test_empty' has no function"));
  CHECK_THROWS_WITH(passes::find_pass("fold"),
                    Contains("unknown pass 'fold'; the registered passes are autodiff, cse"));
  CHECK_THROWS_WITH(passes::parse_pass_list("cse,,fold_constants"), Contains("an empty name at position 4"));
  CHECK(passes::parse_pass_list("").empty());
  CHECK_THROWS_WITH(passes::set_pipeline({"cse", "linearize"}),
                    Contains("set_pipeline: 'linearize' is an analysis"));
  CHECK(passes::pipeline() == passes::default_pipeline());
}

TEST_CASE("a pass that changes the program's signature is reported by name", "[passes][registry][errors]") {
  static bool registered = false;
  if (!registered) {
    passes::register_pass("test_no_outputs", "returns a graph without outputs (a test)", [](const Graph& g) {
      Graph out;
      for (Value in : g.inputs()) out.add_input(g.type(in).shape, g.type(in).dtype);
      return out;
    });
    registered = true;
  }
  PipelineScope scope({"test_no_outputs"});
  CHECK_THROWS_AS(passes::run_pipeline(times_three()), Error);
  CHECK_THROWS_WITH(
      passes::run_pipeline(times_three()),
      Contains("pass 'test_no_outputs' changed the program's outputs from (float64 (xˢ=4)) to ()"));
}
