#include "runtime/program.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "ir/error.h"
#include "runtime/thread_pool.h"

namespace phijit::runtime {

namespace {

// Below this many elements a kernel runs on the calling thread in one call: waking the pool
// costs more than the work.
constexpr int64_t kInlineElements = 1 << 15;
constexpr int64_t kBlockElements = 1 << 16;
// Reduce kernels keep one row of partial results per block; this caps their memory.
constexpr int64_t kMaxPartialElements = 1 << 22;

int64_t block_count(int64_t volume, int64_t per_block_cost_cap) {
  if (volume < kInlineElements) return 1;
  int64_t threads = ThreadPool::instance().size();
  int64_t blocks = std::min<int64_t>((volume + kBlockElements - 1) / kBlockElements, 8 * threads);
  return std::max<int64_t>(1, std::min(blocks, per_block_cost_cap));
}

void fill_identity(Buffer& partials, ir::Op op) {
  bool f = is_float(partials.dtype());
  double real = op == ir::Op::reduce_max   ? -std::numeric_limits<double>::infinity()
                : op == ir::Op::reduce_min ? std::numeric_limits<double>::infinity()
                                           : 0.0;
  int64_t integer = op == ir::Op::reduce_max   ? std::numeric_limits<int64_t>::min()
                    : op == ir::Op::reduce_min ? std::numeric_limits<int64_t>::max()
                                               : 0;
  for (int64_t i = 0; i < partials.count(); ++i) {
    if (f) {
      partials.as<double>()[i] = real;
    } else {
      partials.as<int64_t>()[i] = integer;
    }
  }
}

// out[i] = combination over blocks of partials[b · n + i], converted to out's dtype.
void combine_partials(const Buffer& partials, int64_t blocks, ir::Op op, Buffer& out) {
  int64_t n = out.count();
  bool f = is_float(partials.dtype());
  for (int64_t i = 0; i < n; ++i) {
    if (f) {
      double acc = partials.as<double>()[i];
      for (int64_t b = 1; b < blocks; ++b) {
        double v = partials.as<double>()[b * n + i];
        if (op == ir::Op::reduce_sum) {
          acc += v;
        } else if (std::isnan(v) || std::isnan(acc)) {
          acc = NAN;
        } else {
          acc = op == ir::Op::reduce_max ? std::max(acc, v) : std::min(acc, v);
        }
      }
      out.set_real(i, acc);
    } else {
      int64_t acc = partials.as<int64_t>()[i];
      for (int64_t b = 1; b < blocks; ++b) {
        int64_t v = partials.as<int64_t>()[b * n + i];
        acc = op == ir::Op::reduce_sum
                  ? static_cast<int64_t>(static_cast<uint64_t>(acc) + static_cast<uint64_t>(v))
              : op == ir::Op::reduce_max ? std::max(acc, v)
                                         : std::min(acc, v);
      }
      out.set_int(i, acc);
    }
  }
}

void launch(KernelFn fn, int64_t volume, int64_t blocks, void** params) {
  if (blocks <= 1) {
    fn(0, volume, 0, params);
    return;
  }
  ThreadPool::instance().parallel_for(blocks, [&](int64_t b) {
    fn(volume * b / blocks, volume * (b + 1) / blocks, static_cast<int32_t>(b), params);
  });
}

}  // namespace

void launch_map(KernelFn fn, int64_t space_volume, void** params) {
  if (space_volume == 0) return;
  launch(fn, space_volume, block_count(space_volume, std::numeric_limits<int64_t>::max()), params);
}

void launch_reduce(KernelFn fn, ir::Op op, DType accumulator, int64_t space_volume, void** params,
                   Buffer& out) {
  int64_t out_volume = out.count();
  int64_t blocks =
      block_count(space_volume, std::max<int64_t>(1, kMaxPartialElements / std::max<int64_t>(out_volume, 1)));
  Buffer partials(accumulator, blocks * out_volume, Buffer::Uninitialized{});
  fill_identity(partials, op);
  params[0] = partials.data();
  if (space_volume > 0) launch(fn, space_volume, blocks, params);
  combine_partials(partials, blocks, op, out);
}

Program::Program(ir::Graph graph, std::vector<KernelCall> kernels, std::vector<int> slot,
                 std::vector<int64_t> slot_bytes, std::shared_ptr<void> keep_alive)
    : graph_(std::move(graph)),
      kernels_(std::move(kernels)),
      slot_(std::move(slot)),
      slot_bytes_(std::move(slot_bytes)),
      keep_alive_(std::move(keep_alive)) {}

namespace {
// A host op on its operands' buffers (scratch-slot values are never host operands: the schedule
// gives every materialized operand of a host op a buffer of its own).
void run_host_op(const ir::Graph& g, const KernelCall& k, std::vector<BufferPtr>& owned) {
  const ir::Node& n = g.node(k.root);
  std::vector<BufferPtr> in;
  std::vector<ir::ValueType> types;
  for (ir::Value v : n.inputs) {
    in.push_back(owned[static_cast<size_t>(v.id)]);
    types.push_back(g.type(v));
  }
  owned[static_cast<size_t>(k.root.id)] = evaluate(n.op, n.attrs, n.type, in, types);
}
}  // namespace

std::vector<BufferPtr> Program::run(std::span<const BufferPtr> inputs) const {
  const ir::Graph& g = graph_;
  if (inputs.size() != g.inputs().size()) {
    throw Error(fmt::format("compiled program takes {} inputs, got {}", g.inputs().size(), inputs.size()));
  }
  auto n = static_cast<size_t>(g.size());
  std::vector<const void*> data(n, nullptr);
  std::vector<BufferPtr> owned(n);  // buffers the outputs may be
  for (size_t k = 0; k < inputs.size(); ++k) {
    const ir::Node& node = g.node(g.inputs()[k]);
    const BufferPtr& b = inputs[k];
    if (!b || b->dtype() != node.type.dtype || b->count() != node.type.shape.volume()) {
      throw Error(fmt::format("compiled program: input {} must be {} {}", k, dtype_name(node.type.dtype),
                              node.type.shape.str()));
    }
    owned[static_cast<size_t>(g.inputs()[k].id)] = b;
  }
  for (size_t i = 0; i < n; ++i) {
    if (g.nodes()[i].op == ir::Op::constant) owned[i] = g.nodes()[i].attrs.data;
    if (owned[i]) data[i] = owned[i]->data();
  }
  std::vector<Buffer> scratch;
  scratch.reserve(slot_bytes_.size());
  for (int64_t bytes : slot_bytes_) scratch.emplace_back(DType::boolean, bytes, Buffer::Uninitialized{});

  std::vector<void*> params;
  for (const KernelCall& k : kernels_) {
    auto root = static_cast<size_t>(k.root.id);
    const ir::ValueType& t = g.nodes()[root].type;
    if (k.host) {
      run_host_op(g, k, owned);
      data[root] = owned[root]->data();
      continue;
    }
    void* out = nullptr;
    std::shared_ptr<Buffer> fresh;
    if (slot_[root] >= 0) {
      out = scratch[static_cast<size_t>(slot_[root])].data();
    } else {
      fresh = std::make_shared<Buffer>(t.dtype, t.shape, Buffer::Uninitialized{});
      out = fresh->data();
      owned[root] = fresh;
    }
    data[root] = out;
    params.assign(1 + k.loads.size(), nullptr);
    for (size_t i = 0; i < k.loads.size(); ++i)
      params[1 + i] = const_cast<void*>(data[static_cast<size_t>(k.loads[i].id)]);
    if (k.reduce) {
      launch_reduce(k.fn, g.nodes()[root].op, k.accumulator, k.space_volume, params.data(), *fresh);
    } else {
      params[0] = out;
      launch_map(k.fn, k.space_volume, params.data());
    }
  }
  std::vector<BufferPtr> result;
  for (ir::Value v : g.outputs()) result.push_back(owned[static_cast<size_t>(v.id)]);
  return result;
}

}  // namespace phijit::runtime
