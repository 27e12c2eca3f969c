// The op table: every op's name, arity, attributes, shape/dtype rule and scalar meaning.
// Later layers (interpreter, autodiff, linearize, codegen) each hold one rule per op in a
// `switch` over Op without a default, so a new op that lacks a rule fails to compile there;
// an op that deliberately has no rule in a layer raises missing_rule() naming it (an
// InternalError: phijit handed the op to a layer that cannot run it).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ir/buffer.h"
#include "ir/dtype.h"
#include "ir/extrapolation.h"
#include "ir/host_payload.h"
#include "ir/shape.h"

namespace phijit::ir {

enum class Op : uint8_t {
  // sources
  input,
  constant,
  // elementwise
  neg,
  exp,
  log,
  sin,
  cos,
  tan,
  tanh,
  sqrt,
  abs,
  sign,
  isfinite,
  cast,
  add,
  sub,
  mul,
  div,
  pow,
  minimum,
  maximum,
  lt,
  le,
  gt,
  ge,
  eq,
  ne,
  where,
  // reductions over named dims
  reduce_sum,
  reduce_max,
  reduce_min,
  // stencils
  shift,
  pad,
  // gathers at data-dependent indices
  grid_sample,
  // layout
  expand,
  slice,
  concat,
  stack,
  rename,
  // host ops: run by the runtime between kernels (their payload in Attrs::payload)
  matmul_sparse,
  solve_linear,
  grid_sample_transpose,  // grid_sample's transpose: a scatter-add, run serially by the runtime
};
inline constexpr int kNumOps = static_cast<int>(Op::grid_sample_transpose) + 1;

// gather: reads its first operand (materialized) at indices computed from the others.
enum class OpKind : uint8_t { source, elementwise, reduction, stencil, gather, layout, host };

// The channel dim of grid_sample's coordinates: one component per sampled dim.
inline constexpr const char* kSampleVector = "vector";

// How an op's result dtype follows from its operands (operands are first made equal by the
// frontend, see operand_dtype()).
enum class DTypeRule : uint8_t {
  none,        // sources, cast: from attributes
  same,        // result = operand dtype
  float_only,  // operands must be f32/f64 (ints are converted to f64 first); result the same
  compare,     // result boolean
  predicate,   // any operand dtype, result boolean (isfinite)
  sum,         // result sum_type(operand)
  select,      // where: cond boolean, the two branches equal; result = branch dtype
};

// Attributes of a node. Which fields an op uses is listed beside each op in op_table.cpp.
struct Attrs {
  std::vector<std::string> names;  // dims the op acts on
  std::vector<int64_t> ints;       // offsets, widths, slice bounds, input index
  DType dtype = DType::f64;        // cast target; input/constant dtype
  Shape shape;                     // input/constant/expand shape, stack's new dim, rename targets
  Extrapolation extrap = extrapolation::ZERO;
  std::shared_ptr<const Buffer> data;          // constant values
  std::shared_ptr<const HostPayload> payload;  // host ops; equal by identity

  bool operator==(const Attrs& other) const;
  size_t hash() const;
};

struct ValueType {
  Shape shape;
  DType dtype = DType::f64;
  bool operator==(const ValueType&) const = default;
};

// The scalar meaning of an elementwise op, in the real and the integer domain.
using RealFn = double (*)(double a, double b, double c);
using IntFn = int64_t (*)(int64_t a, int64_t b, int64_t c);

struct OpInfo {
  Op op;
  std::string_view name;
  int arity;  // -1: one or more operands
  OpKind kind;
  DTypeRule dtype_rule;
  RealFn real = nullptr;    // elementwise ops
  IntFn integer = nullptr;  // elementwise ops defined on integers
};

const OpInfo& op_info(Op op);
std::string_view op_name(Op op);
bool op_from_name(std::string_view name, Op* out);

// The dtype each operand must have before `op` applies to operands of dtypes `in`.
// `weak[i]` marks plain C++ scalars (they do not promote an f32 tensor).
std::vector<DType> operand_dtypes(Op op, std::span<const DType> in, const std::vector<bool>& weak);

// Type of op's result; ShapeError/Error naming the op and shapes when operands do not fit.
ValueType infer_type(Op op, std::span<const ValueType> operands, const Attrs& attrs);

// Raised by a layer asked for a rule the op does not have (e.g. the VJP of a comparison): an
// InternalError, since phijit must not route such an op there.
[[noreturn]] void missing_rule(Op op, std::string_view rule);

}  // namespace phijit::ir
