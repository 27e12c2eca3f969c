// custom_pass: writing a pass outside the library and adding it to the pipeline by name.
//   1. trace a function into its graph (phijit::trace) and print it;
//   2. run the pass on it by name (passes::run_passes) and print the result;
//   3. add it to the pipeline of compiled programs (passes::set_pipeline; PHIJIT_PASSES does the
//      same from the environment) and check that the compiled function still computes f.
// The same pass also loads into phijit-opt as a plugin (plugin.cpp).
#include <phijit/compiler.h>

#include <cmath>
#include <cstdio>

#include "square_pow.h"

using namespace phijit;

namespace {

// A smooth bump, written with pow as a user might.
Tensor bump(const Tensor& x) { return exp(-pow(x, 2.0) / 2.0) + pow(x - 1.0, 2.0); }

int count_pow(const ir::Graph& g) {
  int count = 0;
  for (const ir::Node& n : g.nodes()) count += n.op == ir::Op::pow ? 1 : 0;
  return count;
}

}  // namespace

int main() {
  square_pow::register_pass();
  Tensor x = linspace(-3, 3, spatial("x", 1001));

  ir::Graph traced = trace(bump, x);
  std::printf("traced graph of bump (%d pow nodes):\n%s\n", count_pow(traced), ir::print(traced).c_str());
  ir::Graph rewritten = passes::run_passes(traced, {"square_pow", "eliminate_dead_code"});
  std::printf("after square_pow (%d pow nodes):\n%s\n", count_pow(rewritten), ir::print(rewritten).c_str());

  std::vector<std::string> pipeline = passes::default_pipeline();
  pipeline.insert(pipeline.begin(), "square_pow");
  passes::set_pipeline(pipeline);
  int before = square_pow::rewrites();
  Tensor compiled = jit_compile(bump)(x);
  int during_compile = square_pow::rewrites() - before;
  passes::set_pipeline({});  // back to PHIJIT_PASSES or the default

  Tensor eager = bump(x);
  double difference = max(abs(compiled - eager)).item();
  std::string names;
  for (const std::string& name : pipeline) names += (names.empty() ? "" : ",") + name;
  std::printf("compiled with the pipeline %s: square_pow rewrote %d pow nodes; max |compiled - eager| = %.3g\n",
              names.c_str(), during_compile, difference);
  bool ok = count_pow(traced) == 2 && count_pow(rewritten) == 0 && during_compile == 2 && difference <= 1e-14;
  std::printf("%s\n", ok ? "custom_pass: OK" : "custom_pass: FAILED");
  return ok ? 0 : 1;
}
