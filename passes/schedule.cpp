#include "passes/schedule.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "ir/checked.h"

namespace phijit::passes {

using ir::Op;

namespace {

// A value used by several consumers is computed once into memory when recomputing it in
// each would cost more than this many simple ops (a transcendental counts as 8).
constexpr int kRecomputeLimit = 8;

int op_cost(Op op) {
  switch (op) {
    case Op::exp:
    case Op::log:
    case Op::sin:
    case Op::cos:
    case Op::tan:
    case Op::tanh:
    case Op::pow: return 8;
    case Op::div:
    case Op::sqrt: return 2;
    case Op::grid_sample: return 16;  // 2^d loads and weights: worth storing for several consumers
    default: return 1;
  }
}

bool is_source(Op op) { return op == Op::input || op == Op::constant; }

}  // namespace

Schedule run_schedule(const ir::Graph& g) {
  auto n = static_cast<size_t>(g.size());
  std::vector<int> uses(n, 0);
  for (const ir::Node& node : g.nodes()) {
    for (ir::Value v : node.inputs) ++uses[static_cast<size_t>(v.id)];
  }
  std::vector<bool> is_output(n, false);
  for (ir::Value v : g.outputs()) is_output[static_cast<size_t>(v.id)] = true;

  // A host op reads its operands from memory and writes its result there.
  std::vector<bool> host(n, false), host_operand(n, false);
  for (size_t i = 0; i < n; ++i) {
    if (ir::op_info(g.nodes()[i].op).kind != ir::OpKind::host) continue;
    host[i] = true;
    for (ir::Value v : g.nodes()[i].inputs) host_operand[static_cast<size_t>(v.id)] = true;
  }

  // A gather reads its first operand at indices computed per element: that operand is stored,
  // never recomputed at every corner (grid_sample's grid).
  std::vector<bool> gathered(n, false);
  for (const ir::Node& node : g.nodes()) {
    if (ir::op_info(node.op).kind == ir::OpKind::gather)
      gathered[static_cast<size_t>(node.inputs[0].id)] = true;
  }

  Schedule s;
  s.materialized.assign(n, false);
  // Cost of computing a value inline: its op plus its inlined operands.
  std::vector<int> cost(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const ir::Node& node = g.nodes()[i];
    bool reduction = ir::op_info(node.op).kind == ir::OpKind::reduction;
    int c = op_cost(node.op);
    for (ir::Value v : node.inputs)
      c += s.materialized[static_cast<size_t>(v.id)] ? 0 : cost[static_cast<size_t>(v.id)];
    cost[i] = c;
    s.materialized[i] = is_source(node.op) || is_output[i] || reduction || host[i] || host_operand[i] ||
                        gathered[i] || (uses[i] > 1 && c > kRecomputeLimit);
  }
  for (size_t i = 0; i < n; ++i) {
    const ir::Node& node = g.nodes()[i];
    if (!s.materialized[i] || is_source(node.op)) continue;
    Kernel k;
    k.root = ir::Value{static_cast<int32_t>(i)};
    if (host[i]) {
      k.kind = Kernel::Kind::host;
      k.space = node.type.shape;
      k.loads = node.inputs;
      s.kernels.push_back(std::move(k));
      continue;
    }
    bool reduction = ir::op_info(node.op).kind == ir::OpKind::reduction;
    k.kind = reduction ? Kernel::Kind::reduce : Kernel::Kind::map;
    k.space = reduction ? g.type(node.inputs[0]).shape : node.type.shape;
    // Collect the materialized values reachable through inlined nodes.
    std::vector<int32_t> stack(node.inputs.size());
    for (size_t j = 0; j < node.inputs.size(); ++j) stack[j] = node.inputs[j].id;
    std::vector<bool> seen(n, false);
    while (!stack.empty()) {
      int32_t v = stack.back();
      stack.pop_back();
      if (seen[static_cast<size_t>(v)]) continue;
      seen[static_cast<size_t>(v)] = true;
      if (s.materialized[static_cast<size_t>(v)]) {
        k.loads.push_back(ir::Value{v});
      } else {
        for (ir::Value in : g.nodes()[static_cast<size_t>(v)].inputs) stack.push_back(in.id);
      }
    }
    std::sort(k.loads.begin(), k.loads.end(), [](ir::Value a, ir::Value b) { return a.id < b.id; });
    s.kernels.push_back(std::move(k));
  }

  // Slots by liveness: a value is live from its kernel to the last kernel that loads it.
  s.slot.assign(n, -1);
  std::vector<int> last_use(n, -1);
  for (size_t k = 0; k < s.kernels.size(); ++k) {
    for (ir::Value v : s.kernels[k].loads) last_use[static_cast<size_t>(v.id)] = static_cast<int>(k);
  }
  std::vector<int> free_slots;
  for (size_t k = 0; k < s.kernels.size(); ++k) {
    auto root = static_cast<size_t>(s.kernels[k].root.id);
    // Reduce kernels combine their partial results into a buffer of their own, and a host op
    // gets its operands as buffers of their own.
    if (!is_output[root] && !host_operand[root] && s.kernels[k].kind == Kernel::Kind::map) {
      const ir::ValueType& t = g.nodes()[root].type;
      int64_t bytes = checked_mul(t.shape.volume(), static_cast<int64_t>(dtype_size(t.dtype)), [&] {
        return fmt::format("A {} value of shape {} has more bytes than fit in int64", dtype_name(t.dtype),
                           t.shape.str());
      });
      auto it = std::find_if(free_slots.begin(), free_slots.end(),
                             [&](int sl) { return s.slot_bytes[static_cast<size_t>(sl)] >= bytes; });
      if (it != free_slots.end()) {
        s.slot[root] = *it;
        free_slots.erase(it);
      } else {
        s.slot[root] = static_cast<int>(s.slot_bytes.size());
        s.slot_bytes.push_back(bytes);
      }
    }
    // Buffers whose last reader was this kernel are free for the kernels after it.
    for (ir::Value v : s.kernels[k].loads) {
      auto vi = static_cast<size_t>(v.id);
      if (last_use[vi] == static_cast<int>(k) && s.slot[vi] >= 0) free_slots.push_back(s.slot[vi]);
    }
  }
  return s;
}

std::string str(const Schedule& s, const ir::Graph& g) {
  auto values = [](const std::vector<ir::Value>& vs) {
    std::vector<std::string> out;
    for (ir::Value v : vs) out.push_back(fmt::format("%{}", v.id));
    return out.empty() ? std::string("nothing") : fmt::format("{}", fmt::join(out, ", "));
  };
  std::string out;
  for (size_t k = 0; k < s.kernels.size(); ++k) {
    const Kernel& kernel = s.kernels[k];
    const char* kind = kernel.kind == Kernel::Kind::map      ? "map"
                       : kernel.kind == Kernel::Kind::reduce ? "reduce"
                                                             : "host";
    int slot = s.slot[static_cast<size_t>(kernel.root.id)];
    out += fmt::format("kernel {}: {} %{} = {} over {} loads {}{}\n", k, kind, kernel.root.id,
                       op_name(g.node(kernel.root).op), kernel.space.str(), values(kernel.loads),
                       slot >= 0 ? fmt::format(" slot {}", slot) : "");
  }
  std::vector<ir::Value> stored;
  for (size_t i = 0; i < s.materialized.size(); ++i) {
    if (s.materialized[i]) stored.push_back(ir::Value{static_cast<int32_t>(i)});
  }
  out += fmt::format("stored: {}\n", values(stored));
  return out;
}

}  // namespace phijit::passes
