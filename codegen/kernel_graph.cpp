#include "codegen/kernel_graph.h"

#include <fmt/format.h>

#include <unordered_map>

namespace phijit::codegen {

namespace {

using ir::Value;

// Bump when the generated code changes for the same key, so stale disk caches are not reused.
constexpr int kCodegenVersion = 4;

// Copies the nodes of one kernel into a graph of their own, in a canonical order: a
// depth-first walk from the root, operands in order, each node after its operands. Numbering
// by that walk rather than by the program's value ids gives identical kernels (two steps of a
// rollout, say, or one kernel in two programs) identical graphs.
class KernelCutter {
 public:
  KernelCutter(const ir::Graph& program, const passes::Schedule& schedule, const passes::Kernel& kernel)
      : program_(program), schedule_(schedule), kernel_(kernel) {}

  KernelGraph cut() {
    Value root = copy_reachable_from(kernel_.root);
    out_.graph.add_output(root);
    out_.schedule = single_kernel_schedule(root);
    out_.key = fmt::format("phijit-codegen-v{}\nkernel {} over {}\n{}", kCodegenVersion,
                           kernel_.kind == passes::Kernel::Kind::reduce ? "reduce" : "map",
                           kernel_.space.str(), ir::print(out_.graph, /*constant_values=*/false));
    return std::move(out_);
  }

 private:
  // A value the kernel reads from memory rather than computing it. The root is materialized
  // too, but it is what the kernel computes.
  bool is_param(Value v) const {
    return v != kernel_.root && schedule_.materialized[static_cast<size_t>(v.id)];
  }

  // Copies `root` and everything fused into it; returns the copy of `root`. Iterative, since
  // a fused chain can be thousands of nodes deep.
  Value copy_reachable_from(Value root) {
    struct Visit {
      Value v;
      size_t next_operand = 0;
    };
    std::vector<Visit> stack = {{root}};
    while (!stack.empty()) {
      Visit& visit = stack.back();
      const Value v = visit.v;
      if (copies_.contains(v.id)) {
        stack.pop_back();
      } else if (is_param(v)) {
        copies_.emplace(v.id, add_param(v));
        stack.pop_back();
      } else if (visit.next_operand < program_.node(v).inputs.size()) {
        const Value operand = program_.node(v).inputs[visit.next_operand++];
        stack.push_back({operand});  // may move the stack: `visit` is not used after this
      } else {
        copies_.emplace(v.id, copy_node(v));
        stack.pop_back();
      }
    }
    return copies_.at(root.id);
  }

  // A constant becomes a parameter like any other buffer: the key holds its type, not its value.
  Value add_param(Value v) {
    const ir::ValueType& t = program_.type(v);
    out_.params.push_back(v);
    return out_.graph.add_input(t.shape, t.dtype);
  }

  // Copies one node whose operands have been copied already.
  Value copy_node(Value v) {
    const ir::Node& n = program_.node(v);
    std::vector<Value> operands;
    operands.reserve(n.inputs.size());
    for (Value in : n.inputs) operands.push_back(copies_.at(in.id));
    return out_.graph.add(n.op, std::move(operands), n.attrs, &n.type);
  }

  // What run_schedule would make of the cut graph: one kernel over the same space, reading
  // every input in order; the inputs and the root live in memory.
  passes::Schedule single_kernel_schedule(Value root) const {
    const auto n = static_cast<size_t>(out_.graph.size());
    passes::Schedule s;
    passes::Kernel& k = s.kernels.emplace_back();
    k.kind = kernel_.kind;
    k.root = root;
    k.space = kernel_.space;
    k.loads = out_.graph.inputs();
    s.materialized.assign(n, false);
    for (Value in : k.loads) s.materialized[static_cast<size_t>(in.id)] = true;
    s.materialized[static_cast<size_t>(root.id)] = true;
    s.slot.assign(n, -1);
    return s;
  }

  const ir::Graph& program_;
  const passes::Schedule& schedule_;
  const passes::Kernel& kernel_;
  std::unordered_map<int32_t, Value> copies_;  // program value id → its copy
  KernelGraph out_;
};

}  // namespace

KernelGraph extract_kernel(const ir::Graph& g, const passes::Schedule& s, const passes::Kernel& kernel) {
  return KernelCutter(g, s, kernel).cut();
}

}  // namespace phijit::codegen
