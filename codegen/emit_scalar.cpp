#include "codegen/emit_scalar.h"

#include <llvm/IR/Module.h>

#include <algorithm>
#include <cstdint>

namespace phijit::codegen {

using ir::Op;

llvm::Type* ScalarEmitter::type_of(DType t) {
  switch (t) {
    case DType::f32: return b_.getFloatTy();
    case DType::f64: return b_.getDoubleTy();
    case DType::i32: return b_.getInt32Ty();
    case DType::i64: return b_.getInt64Ty();
    case DType::boolean: return b_.getInt1Ty();
  }
  return nullptr;
}

llvm::Type* ScalarEmitter::storage_type(DType t) { return t == DType::boolean ? b_.getInt8Ty() : type_of(t); }

llvm::Value* ScalarEmitter::constant(DType t, double value) {
  if (is_float(t)) return llvm::ConstantFP::get(type_of(t), value);
  if (t == DType::boolean) return b_.getInt1(value != 0);
  int64_t w = real_to_int(value);
  if (t == DType::i32) w = std::clamp<int64_t>(w, INT32_MIN, INT32_MAX);
  return llvm::ConstantInt::get(type_of(t), static_cast<uint64_t>(w), true);
}

// Conversions follow Buffer::set_real / set_int: float→int truncates and saturates, NaN → 0.
llvm::Value* ScalarEmitter::convert(llvm::Value* x, DType from, DType to) {
  if (from == to) return x;
  llvm::Type* t = type_of(to);
  if (to == DType::boolean) {
    return is_float(from) ? b_.CreateFCmpUNE(x, llvm::ConstantFP::get(x->getType(), 0.0))
                          : b_.CreateICmpNE(x, llvm::ConstantInt::get(x->getType(), 0));
  }
  if (is_float(from) && is_float(to)) return b_.CreateFPCast(x, t);
  if (is_float(from)) return b_.CreateIntrinsic(llvm::Intrinsic::fptosi_sat, {t, x->getType()}, {x});
  if (from == DType::boolean) return is_float(to) ? b_.CreateUIToFP(x, t) : b_.CreateZExt(x, t);
  if (is_float(to)) return b_.CreateSIToFP(x, t);
  return b_.CreateSExtOrTrunc(x, t);
}

llvm::Value* ScalarEmitter::libm_call(const char* name, llvm::Value* x) {
  bool f32 = x->getType()->isFloatTy();
  std::string fname = std::string(name) + (f32 ? "f" : "");
  llvm::FunctionCallee f = m_.getOrInsertFunction(fname, x->getType(), x->getType());
  auto* call = b_.CreateCall(f, {x});
  call->setDoesNotAccessMemory();
  call->setDoesNotThrow();
  return call;
}

// The op table's scalar meaning, in LLVM IR (interpreter: ir/op_table.cpp).
llvm::Value* ScalarEmitter::op(const ir::Node& n, std::vector<llvm::Value*> a, DType in) {
  using I = llvm::Intrinsic::ID;
  namespace In = llvm::Intrinsic;
  bool f = is_float(in);
  bool boolean = in == DType::boolean;
  llvm::Value* x = a.at(0);  // every elementwise op has operands
  // Booleans in arithmetic compute as integers and store "nonzero", as the interpreter does.
  auto as_int = [&](llvm::Value* v) { return b_.CreateZExt(v, b_.getInt64Ty()); };
  auto nonzero = [&](llvm::Value* v) { return b_.CreateICmpNE(v, b_.getInt64(0)); };
  switch (n.op) {
    case Op::neg: return f ? b_.CreateFNeg(x) : boolean ? x : b_.CreateNeg(x);
    case Op::exp: return intrinsic(In::exp, {x});
    case Op::log: return intrinsic(In::log, {x});
    case Op::sin: return intrinsic(In::sin, {x});
    case Op::cos: return intrinsic(In::cos, {x});
    case Op::tan: return libm_call("tan", x);
    case Op::tanh: return libm_call("tanh", x);
    case Op::sqrt: return intrinsic(In::sqrt, {x});
    case Op::abs:
      if (f) return intrinsic(In::fabs, {x});
      return boolean ? x : b_.CreateIntrinsic(In::abs, {x->getType()}, {x, b_.getFalse()});
    case Op::sign: {
      if (boolean) return x;
      llvm::Type* t = x->getType();
      if (f) {
        llvm::Value* zero = llvm::ConstantFP::get(t, 0.0);
        llvm::Value* s = b_.CreateSelect(b_.CreateFCmpOLT(x, zero), llvm::ConstantFP::get(t, -1.0),
                                         b_.CreateSelect(b_.CreateFCmpUNO(x, x), x, zero));
        return b_.CreateSelect(b_.CreateFCmpOGT(x, zero), llvm::ConstantFP::get(t, 1.0), s);
      }
      llvm::Value* zero = llvm::ConstantInt::get(t, 0);
      llvm::Value* s = b_.CreateSelect(b_.CreateICmpSLT(x, zero), llvm::ConstantInt::get(t, -1, true), zero);
      return b_.CreateSelect(b_.CreateICmpSGT(x, zero), llvm::ConstantInt::get(t, 1), s);
    }
    case Op::isfinite:
      if (!f) return b_.getTrue();
      return b_.CreateFCmpONE(intrinsic(In::fabs, {x}), llvm::ConstantFP::getInfinity(x->getType()));
    case Op::cast: return convert(x, in, n.type.dtype);
    case Op::add:
      if (boolean) return nonzero(b_.CreateAdd(as_int(a[0]), as_int(a[1])));
      return f ? b_.CreateFAdd(a[0], a[1]) : b_.CreateAdd(a[0], a[1]);
    case Op::sub:
      if (boolean) return nonzero(b_.CreateSub(as_int(a[0]), as_int(a[1])));
      return f ? b_.CreateFSub(a[0], a[1]) : b_.CreateSub(a[0], a[1]);
    case Op::mul:
      if (boolean) return b_.CreateAnd(a[0], a[1]);
      return f ? b_.CreateFMul(a[0], a[1]) : b_.CreateMul(a[0], a[1]);
    case Op::div: return b_.CreateFDiv(a[0], a[1]);
    case Op::pow: return intrinsic(In::pow, {a[0], a[1]});
    case Op::minimum: {
      I id = f ? In::minimum : boolean ? In::umin : In::smin;
      return intrinsic(id, {a[0], a[1]});
    }
    case Op::maximum: {
      I id = f ? In::maximum : boolean ? In::umax : In::smax;
      return intrinsic(id, {a[0], a[1]});
    }
    case Op::lt:
      return f         ? b_.CreateFCmpOLT(a[0], a[1])
             : boolean ? b_.CreateICmpULT(a[0], a[1])
                       : b_.CreateICmpSLT(a[0], a[1]);
    case Op::le:
      return f         ? b_.CreateFCmpOLE(a[0], a[1])
             : boolean ? b_.CreateICmpULE(a[0], a[1])
                       : b_.CreateICmpSLE(a[0], a[1]);
    case Op::gt:
      return f         ? b_.CreateFCmpOGT(a[0], a[1])
             : boolean ? b_.CreateICmpUGT(a[0], a[1])
                       : b_.CreateICmpSGT(a[0], a[1]);
    case Op::ge:
      return f         ? b_.CreateFCmpOGE(a[0], a[1])
             : boolean ? b_.CreateICmpUGE(a[0], a[1])
                       : b_.CreateICmpSGE(a[0], a[1]);
    case Op::eq: return f ? b_.CreateFCmpOEQ(a[0], a[1]) : b_.CreateICmpEQ(a[0], a[1]);
    case Op::ne: return f ? b_.CreateFCmpUNE(a[0], a[1]) : b_.CreateICmpNE(a[0], a[1]);
    case Op::where: return b_.CreateSelect(a[0], a[1], a[2]);
    case Op::input:
    case Op::constant:
    case Op::reduce_sum:
    case Op::reduce_max:
    case Op::reduce_min:
    case Op::shift:
    case Op::pad:
    case Op::grid_sample:
    case Op::grid_sample_transpose:
    case Op::expand:
    case Op::slice:
    case Op::concat:
    case Op::stack:
    case Op::rename:
    case Op::matmul_sparse:
    case Op::solve_linear: break;
  }
  ir::missing_rule(n.op, "scalar codegen");
}

}  // namespace phijit::codegen
