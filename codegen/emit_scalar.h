// The scalar meaning of elementwise ops (ir/op_table.cpp) as LLVM IR, with the dtype
// conversions of Buffer::set_real / set_int.
#pragma once

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>

#include <vector>

#include "ir/graph.h"

namespace phijit::codegen {

class ScalarEmitter {
 public:
  ScalarEmitter(llvm::IRBuilder<>& b, llvm::Module& m) : b_(b), m_(m) {}

  llvm::Type* type_of(DType t);       // booleans are i1 in registers
  llvm::Type* storage_type(DType t);  // and i8 in memory
  llvm::Value* constant(DType t, double value);
  llvm::Value* convert(llvm::Value* x, DType from, DType to);
  llvm::Value* intrinsic(llvm::Intrinsic::ID id, std::vector<llvm::Value*> args) {
    return b_.CreateIntrinsic(id, {args[0]->getType()}, args);
  }
  // Node n's op applied to `a` (operands of dtype `in`).
  llvm::Value* op(const ir::Node& n, std::vector<llvm::Value*> a, DType in);

 private:
  llvm::Value* libm_call(const char* name, llvm::Value* x);
  llvm::IRBuilder<>& b_;
  llvm::Module& m_;
};

}  // namespace phijit::codegen
