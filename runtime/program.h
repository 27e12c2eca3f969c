// The program executor: runs a scheduled graph's compiled kernels over the thread pool,
// allocating (and reusing) the buffers between them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "ir/graph.h"
#include "runtime/interpreter.h"

namespace phijit::runtime {

// The C ABI of every compiled kernel (see codegen/jit_engine.h).
using KernelFn = void (*)(int64_t begin, int64_t end, int32_t block, void** params);

struct KernelCall {
  KernelFn fn = nullptr;
  ir::Value root;       // the value it produces
  bool reduce = false;  // partial results per block, combined afterwards
  bool host = false;    // a host op: runtime::evaluate runs it on its operands (loads); no fn
  DType accumulator = DType::f64;
  int64_t space_volume = 0;      // elements the kernel walks
  std::vector<ir::Value> loads;  // params[1 + i]
};

// Runs a compiled map kernel over the first `space_volume` elements of its space, split over
// the thread pool when it is large. params[0] is the result, params[1..] the kernel's loads.
void launch_map(KernelFn fn, int64_t space_volume, void** params);
// Runs a compiled reduce kernel (reduction `op`, accumulating in `accumulator`) over
// `space_volume` elements into `out`: partial results per block, combined afterwards.
// params[1..] are the kernel's loads; params[0] is set here.
void launch_reduce(KernelFn fn, ir::Op op, DType accumulator, int64_t space_volume, void** params,
                   Buffer& out);

class Program {
 public:
  // `slot`/`slot_bytes`: the scratch buffer of each non-output kernel result (see
  // passes::Schedule). `keep_alive` owns the kernels' code.
  Program(ir::Graph graph, std::vector<KernelCall> kernels, std::vector<int> slot,
          std::vector<int64_t> slot_bytes, std::shared_ptr<void> keep_alive);

  std::vector<BufferPtr> run(std::span<const BufferPtr> inputs) const;
  const ir::Graph& graph() const { return graph_; }

 private:
  ir::Graph graph_;
  std::vector<KernelCall> kernels_;
  std::vector<int> slot_;
  std::vector<int64_t> slot_bytes_;
  std::shared_ptr<void> keep_alive_;
};

}  // namespace phijit::runtime
