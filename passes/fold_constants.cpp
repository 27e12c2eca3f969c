#include "passes/fold_constants.h"

#include "passes/rebuild.h"

namespace phijit::passes {

using ir::Op;

ir::Graph run_fold_constants(const ir::Graph& g) {
  return rebuild(g, [](ir::Graph& out, const ir::Node& n, std::span<const ir::Value> operands) {
    const ir::OpInfo& info = ir::op_info(n.op);
    bool foldable = info.kind == ir::OpKind::elementwise && n.type.shape.volume() == 1 && !operands.empty();
    for (ir::Value v : operands) foldable = foldable && out.node(v).op == Op::constant;
    if (!foldable) return copy_node(out, n, operands);
    // The same computation as the interpreter's: the real domain for float operands.
    bool real = is_float(out.type(operands.back()).dtype);
    auto result = std::make_shared<Buffer>(n.type.dtype, 1);
    if (real) {
      double a[3] = {0, 0, 0};
      for (size_t k = 0; k < operands.size(); ++k) a[k] = out.node(operands[k]).attrs.data->get_real(0);
      result->set_real(0, info.real(a[0], a[1], a[2]));
    } else {
      int64_t a[3] = {0, 0, 0};
      for (size_t k = 0; k < operands.size(); ++k) a[k] = out.node(operands[k]).attrs.data->get_int(0);
      result->set_int(0, info.integer(a[0], a[1], a[2]));
    }
    return out.add_constant(std::move(result), n.type.shape);
  });
}

}  // namespace phijit::passes
