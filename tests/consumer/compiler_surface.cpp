// A user's pass-writing code against the installed phijit: <phijit/compiler.h> brings the IR,
// the Builder and trace(). Returns the number of failed checks.
#include <phijit/compiler.h>

#include <cstdio>
#include <string>

int check_compiler_surface() {
  using namespace phijit;
  ir::Graph g = trace([](const Tensor& a, const Tensor& b) { return exp(a) * b; }, zeros(spatial("x", 4)),
                      ones(spatial("x", 4)));
  ir::verify(g);
  std::string text = ir::print(g);
  int failures = 0;
  if (g.inputs().size() != 2 || g.outputs().size() != 1 || text.find("exp(%0)") == std::string::npos ||
      text.find("mul(") == std::string::npos) {
    std::fprintf(stderr, "consumer: the traced graph is off:\n%s\n", text.c_str());
    ++failures;
  }
  // The same graph through the typed Builder.
  ir::Graph built;
  ir::Builder b(built);
  ir::Value a = built.add_input(spatial("x", 4), DType::f64);
  ir::Value c = built.add_input(spatial("x", 4), DType::f64);
  built.add_output(b.mul(b.op(ir::Op::exp, {a}), c));
  if (ir::print(built) != text) {
    std::fprintf(stderr, "consumer: the Builder's graph differs:\n%s\n", ir::print(built).c_str());
    ++failures;
  }
  return failures;
}
