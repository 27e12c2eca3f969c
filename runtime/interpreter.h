// The reference interpreter: executes any Graph op by op with plain loops. Its code is the
// definition of what each op means; compiled kernels are tested against it.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "ir/graph.h"

namespace phijit::runtime {

using BufferPtr = std::shared_ptr<const Buffer>;

// The value of one op applied to operands of the given types (eager math calls this).
BufferPtr evaluate(ir::Op op, const ir::Attrs& attrs, const ir::ValueType& result,
                   std::span<const BufferPtr> operands, std::span<const ir::ValueType> operand_types);

// Runs the whole graph on `inputs` (one per graph input) and returns its outputs.
std::vector<BufferPtr> interpret(const ir::Graph& g, std::span<const BufferPtr> inputs);

}  // namespace phijit::runtime
