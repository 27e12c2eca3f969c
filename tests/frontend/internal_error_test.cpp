// The two kinds of errors (Conventions): a user's mistake is a phijit::Error (or a subclass)
// that says what to change, never "please report"; a broken invariant inside phijit is an
// InternalError that asks for a report. Both derive from Error, so one catch sees either.
#include <phijit/compiler.h>

#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "passes/rebuild.h"
#include "runtime/sparse.h"
#include "test_helpers.h"

using namespace phijit;

namespace {

// The exception `f` throws, which must be a phijit::Error; its message and whether it is internal.
struct Caught {
  std::string message;
  bool internal = false;
};
Caught caught(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return {e.what(), dynamic_cast<const InternalError*>(&e) != nullptr};
  }
  FAIL("no phijit::Error was thrown");
  return {};
}

void check_user_error(const Caught& c) {
  INFO(c.message);
  CHECK_FALSE(c.internal);
  CHECK(c.message.find("please report") == std::string::npos);
  CHECK(c.message.find("internal error") == std::string::npos);
}

void check_internal_error(const Caught& c) {
  INFO(c.message);
  CHECK(c.internal);
  CHECK(c.message.rfind("phijit internal error (please report): ", 0) == 0);
}

}  // namespace

TEST_CASE("errors: a user's mistake is an Error that does not ask for a report") {
  Tensor x = ones(spatial("x", 3));
  // Shapes that do not fit, in eager code and inside jit_compile.
  check_user_error(caught([&] { (void)(x + ones(spatial("x", 4))); }));
  auto f = jit_compile([](const Tensor& a, const Tensor& b) { return a * b; });
  check_user_error(caught([&] { (void)f(x, ones(spatial("x", 4))); }));
  // A "linear" function that is not (linearize), a gradient of a non-scalar (autodiff).
  check_user_error(caught([&] { (void)matrix_from_function([](const Tensor& u) { return u * u; }, x); }));
  check_user_error(caught([&] { (void)gradient([](const Tensor& u) { return u * 2.0; })(x); }));
  // Settings a solve cannot run with.
  check_user_error(caught([&] { (void)solve_linear([](const Tensor& u) { return u; }, x, Solve{}); }));
  // A research user's graph: the Builder asked to broadcast to a shape that lacks a dim.
  check_user_error(caught([] {
    ir::Graph g;
    ir::Builder b(g);
    b.broadcast_to(g.add_input(spatial("x", 3), DType::f64), spatial("y", 2));
  }));
}

TEST_CASE("errors: a broken invariant inside phijit is an InternalError asking for a report") {
  // A layer handed an op it has no rule for.
  check_internal_error(caught([] { ir::missing_rule(ir::Op::lt, "codegen"); }));
  // A graph inlined with the wrong number of inputs (phijit's own passes call this).
  check_internal_error(caught([] {
    ir::Graph into, g;
    g.add_output(g.add_input(spatial("x", 2), DType::f64));
    (void)passes::inline_graph(into, g, {});
  }));
  // A CSR pattern phijit built wrongly: columns out of range.
  check_internal_error(caught([] {
    auto row_ptr = std::make_shared<Buffer>(DType::i64, 2);
    row_ptr->set_int(1, 1);
    auto col = std::make_shared<Buffer>(DType::i32, 1);
    col->set_int(0, 5);
    runtime::validate(runtime::CsrPattern{.rows = 1, .cols = 1, .row_ptr = row_ptr, .col = col});
  }));
}
