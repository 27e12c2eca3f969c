#include "codegen/emit_kernel.h"

#include <fmt/format.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Module.h>

#include <map>

#include "codegen/emit_scalar.h"
#include "ir/builder.h"
#include "ir/error.h"

namespace phijit::codegen {

DType accumulator_dtype(DType value_dtype) { return is_float(value_dtype) ? DType::f64 : DType::i64; }

namespace {

using ir::Op;
using passes::Kernel;

// Where an element is read along one dim. `v` is always inside the dim (clamped or wrapped
// if need be). When `inner` is set the index is j + off for the inner loop variable j, and
// inside the interior range of the inner loop j + off needs no check at all.
struct Idx {
  llvm::Value* v = nullptr;
  bool inner = false;
  int64_t off = 0;
};
using Index = std::map<std::string, Idx>;

class Emitter {
 public:
  Emitter(llvm::Module& m, const ir::Graph& g, const passes::Schedule& s, const Kernel& k)
      : m_(m), ctx_(m.getContext()), b_(ctx_), scalar_(b_, m), g_(g), s_(s), k_(k) {}

  void emit(const std::string& name);

 private:
  llvm::Type* type_of(DType t) { return scalar_.type_of(t); }
  llvm::Type* storage_type(DType t) { return scalar_.storage_type(t); }
  llvm::Value* i64(int64_t v) { return b_.getInt64(static_cast<uint64_t>(v)); }
  llvm::Value* constant(DType t, double value) { return scalar_.constant(t, value); }
  llvm::Value* convert(llvm::Value* x, DType from, DType to) { return scalar_.convert(x, from, to); }
  llvm::Value* intrinsic(llvm::Intrinsic::ID id, std::vector<llvm::Value*> args) {
    return scalar_.intrinsic(id, std::move(args));
  }

  llvm::Value* eval(ir::Value v, const Index& idx);
  llvm::Value* compute(const ir::Node& n, const Index& idx);
  llvm::Value* load(ir::Value v, const Index& idx);
  std::pair<Idx, llvm::Value*> move(const Idx& i, int64_t off, int64_t n, const Extrapolation& e);
  llvm::Value* grid_sample(const ir::Node& n, const Index& idx);

  // One element of the kernel at inner index j (row-major offset row_flat + j of the space).
  llvm::Value* element(llvm::Value* j, const Index& outer);
  void emit_rows(llvm::Function* fn, llvm::Value* begin, llvm::Value* end);
  llvm::Value* emit_loop(llvm::Value* from, llvm::Value* to, llvm::Value* acc_init, bool hot,
                         const std::function<llvm::Value*(llvm::Value* j, llvm::Value* acc)>& body);
  void collect_interior();

  llvm::Module& m_;
  llvm::LLVMContext& ctx_;
  llvm::IRBuilder<> b_;
  ScalarEmitter scalar_;
  const ir::Graph& g_;
  const passes::Schedule& s_;
  const Kernel& k_;

  std::map<int32_t, llvm::Value*> buffers_;  // materialized value → base pointer
  llvm::Value* out_ = nullptr;
  llvm::MDNode* load_scope_ = nullptr;  // alias metadata: loads never alias the output
  llvm::MDNode* store_scope_ = nullptr;
  std::map<std::string, llvm::Value*> memo_;

  std::string inner_;      // the space's last dim ("" for a scalar space)
  bool interior_ = false;  // emitting the interior loop: checks on j + off are known true
  std::vector<std::pair<int64_t, int64_t>> checks_;  // (off, size): 0 <= j + off < size
  int64_t lo_ = 0, hi_ = 0;                          // the interior range of j
};

llvm::Value* Emitter::load(ir::Value v, const Index& idx) {
  const ir::ValueType& t = g_.type(v);
  // Row-major strides of the value's own shape.
  llvm::Value* offset = i64(0);
  int64_t stride = 1;
  for (int d = t.shape.rank() - 1; d >= 0; --d) {
    const Dim& dim = t.shape.dims()[static_cast<size_t>(d)];
    auto it = idx.find(dim.name);
    if (it == idx.end())
      throw InternalError(fmt::format("codegen: no index for dim '{}' of %{}", dim.name, v.id));
    if (dim.size > 1) offset = b_.CreateAdd(offset, b_.CreateMul(it->second.v, i64(stride)));
    stride *= dim.size;
  }
  llvm::Type* st = storage_type(t.dtype);
  llvm::Value* ptr = b_.CreateGEP(st, buffers_.at(v.id), offset);
  auto* ld = b_.CreateLoad(st, ptr);
  ld->setMetadata(llvm::LLVMContext::MD_alias_scope, load_scope_);
  ld->setMetadata(llvm::LLVMContext::MD_noalias, store_scope_);
  return t.dtype == DType::boolean ? b_.CreateICmpNE(ld, b_.getInt8(0)) : ld;
}

// The index i + off along a dim of size n, kept inside the dim by the extrapolation; the
// second result is "inside" (null when known true) for constant extrapolations.
std::pair<Idx, llvm::Value*> Emitter::move(const Idx& i, int64_t off, int64_t n, const Extrapolation& e) {
  Idx r{nullptr, i.inner, i.off + off};
  if (interior_ && i.inner) {  // the interior range guarantees 0 <= j + off < n
    r.v = b_.CreateAdd(i.v, i64(off));
    return {r, nullptr};
  }
  if (!interior_ && i.inner) checks_.emplace_back(r.off, n);
  llvm::Value* raw = b_.CreateAdd(i.v, i64(off));
  llvm::Value* inside = b_.CreateICmpULT(raw, i64(n));
  llvm::Value* clamped = b_.CreateIntrinsic(
      llvm::Intrinsic::smin, {b_.getInt64Ty()},
      {b_.CreateIntrinsic(llvm::Intrinsic::smax, {b_.getInt64Ty()}, {raw, i64(0)}), i64(n - 1)});
  switch (e.kind()) {
    case Extrapolation::Kind::constant: r.v = clamped; return {r, inside};
    case Extrapolation::Kind::zero_gradient: r.v = clamped; return {r, nullptr};
    case Extrapolation::Kind::periodic: {
      llvm::Value* m = b_.CreateSRem(raw, i64(n));
      r.v = b_.CreateSelect(b_.CreateICmpSLT(m, i64(0)), b_.CreateAdd(m, i64(n)), m);
      return {r, nullptr};
    }
  }
  return {r, nullptr};
}

llvm::Value* Emitter::eval(ir::Value v, const Index& idx) {
  const ir::Node& n = g_.node(v);
  if (s_.materialized[static_cast<size_t>(v.id)] && v != k_.root) return load(v, idx);
  // Equal (value, index) pairs are computed once per element.
  std::string key = fmt::format("{}", v.id);
  for (const Dim& d : n.type.shape.dims()) {
    const Idx& i = idx.at(d.name);
    key += fmt::format("|{}:{}:{}", static_cast<const void*>(i.v), i.inner, i.off);
  }
  auto it = memo_.find(key);
  if (it != memo_.end()) return it->second;
  llvm::Value* r = compute(n, idx);
  memo_[key] = r;
  return r;
}

llvm::Value* Emitter::compute(const ir::Node& n, const Index& idx) {
  const ir::Attrs& a = n.attrs;
  if (ir::op_info(n.op).kind == ir::OpKind::elementwise) {
    std::vector<llvm::Value*> args;
    for (ir::Value in : n.inputs) args.push_back(eval(in, idx));
    return scalar_.op(n, std::move(args), g_.type(n.inputs.back()).dtype);
  }
  // Sources and reductions are always materialized, so they are loaded, never computed here.
  if (n.inputs.empty()) ir::missing_rule(n.op, "codegen");
  const ir::ValueType& in0 = g_.type(n.inputs[0]);
  switch (n.op) {
    case Op::shift:
    case Op::pad: {
      Index moved = idx;
      llvm::Value* inside = nullptr;
      for (size_t k = 0; k < a.names.size(); ++k) {
        const std::string& d = a.names[k];
        int64_t off = n.op == Op::shift ? a.ints[0] : -a.ints[2 * k];
        auto [r, in] = move(idx.at(d), off, in0.shape.size(d), a.extrap);
        moved[d] = r;
        if (in != nullptr) inside = inside != nullptr ? b_.CreateAnd(inside, in) : in;
      }
      llvm::Value* v = eval(n.inputs[0], moved);
      return inside != nullptr ? b_.CreateSelect(inside, v, constant(n.type.dtype, a.extrap.value())) : v;
    }
    case Op::expand: return eval(n.inputs[0], idx);
    case Op::slice: {
      Index moved = idx;
      const std::string& d = a.names[0];
      if (a.ints[2] != 0) {
        moved[d] = Idx{i64(a.ints[0]), false, 0};
      } else {
        const Idx& i = idx.at(d);
        moved[d] = Idx{b_.CreateAdd(i.v, i64(a.ints[0])), i.inner, i.off + a.ints[0]};
      }
      return eval(n.inputs[0], moved);
    }
    case Op::rename: {
      Index moved = idx;
      for (size_t k = 0; k < a.ints.size(); ++k) {
        moved.erase(a.names[2 * k + 1]);
      }
      for (size_t k = 0; k < a.ints.size(); ++k) moved[a.names[2 * k]] = idx.at(a.names[2 * k + 1]);
      return eval(n.inputs[0], moved);
    }
    case Op::concat: {
      // Every piece is read at an index clamped into it; the one that covers i is selected.
      const std::string& d = a.names[0];
      llvm::Value* i = idx.at(d).v;
      std::vector<llvm::Value*> pieces;
      std::vector<int64_t> starts;
      int64_t start = 0;
      for (ir::Value in : n.inputs) {
        int64_t size = g_.type(in).shape.size(d);
        Index moved = idx;
        llvm::Value* local = b_.CreateSub(i, i64(start));
        local = b_.CreateIntrinsic(
            llvm::Intrinsic::smin, {b_.getInt64Ty()},
            {b_.CreateIntrinsic(llvm::Intrinsic::smax, {b_.getInt64Ty()}, {local, i64(0)}), i64(size - 1)});
        moved[d] = Idx{local, false, 0};
        pieces.push_back(eval(in, moved));
        starts.push_back(start);
        start += size;
      }
      llvm::Value* r = pieces.back();
      for (size_t k = pieces.size() - 1; k-- > 0;)
        r = b_.CreateSelect(b_.CreateICmpSLT(i, i64(starts[k + 1])), pieces[k], r);
      return r;
    }
    case Op::stack: {
      const std::string& d = a.shape.dims()[0].name;
      llvm::Value* i = idx.at(d).v;
      Index rest = idx;
      rest.erase(d);
      llvm::Value* r = eval(n.inputs.back(), rest);
      for (size_t k = n.inputs.size() - 1; k-- > 0;) {
        r = b_.CreateSelect(b_.CreateICmpEQ(i, i64(static_cast<int64_t>(k))), eval(n.inputs[k], rest), r);
      }
      return r;
    }
    case Op::grid_sample: return grid_sample(n, idx);
    default: break;
  }
  ir::missing_rule(n.op, "codegen");
}

// grid_sample as the interpreter computes it: per sampled dim the cells around the coordinate
// (through move(), as shift finds them), then Σ over the corners of Π weights · grid value in
// corner order. The grid is materialized (the scheduler stores a gather's first operand).
llvm::Value* Emitter::grid_sample(const ir::Node& n, const Index& idx) {
  struct Cells {
    Idx lo, hi;
    llvm::Value *lo_inside, *hi_inside;  // null when known true
    llvm::Value* f;
  };
  const ir::attrs::GridSampleView s = ir::attrs::grid_sample_of(n.attrs);
  const ir::Value grid = n.inputs[0], coordinates = n.inputs[1];
  const DType t = n.type.dtype;
  llvm::Type* ft = type_of(t);
  llvm::Value* limit = llvm::ConstantFP::get(ft, ir::attrs::kMaxSampleCell);
  std::vector<Cells> cells;
  for (size_t k = 0; k < s.dims.size(); ++k) {
    Index component = idx;
    component[ir::kSampleVector] = Idx{i64(static_cast<int64_t>(k)), false, 0};
    llvm::Value* c = eval(coordinates, component);
    llvm::Value* floor = intrinsic(llvm::Intrinsic::floor, {c});
    llvm::Value* clamped =
        intrinsic(llvm::Intrinsic::maxnum, {llvm::ConstantFP::get(ft, -ir::attrs::kMaxSampleCell),
                                            intrinsic(llvm::Intrinsic::minnum, {floor, limit})});
    Idx cell{b_.CreateFPToSI(clamped, b_.getInt64Ty()), false, 0};
    int64_t size = g_.type(grid).shape.size(s.dims[k]);
    auto [lo, lo_inside] = move(cell, 0, size, s.extrap);
    auto [hi, hi_inside] = move(cell, 1, size, s.extrap);
    if (s.extrap.kind() == Extrapolation::Kind::periodic) {
      // The upper cell follows the wrapped lower one: one remainder per dim instead of two.
      llvm::Value* next = b_.CreateAdd(lo.v, i64(1));
      hi.v = b_.CreateSelect(b_.CreateICmpEQ(next, i64(size)), i64(0), next);
    }
    cells.push_back({lo, hi, lo_inside, hi_inside, b_.CreateFSub(c, floor)});
  }
  auto weight = [&](int64_t constant, int64_t slope, llvm::Value* f) -> llvm::Value* {
    if (slope == 0) return llvm::ConstantFP::get(ft, static_cast<double>(constant));
    llvm::Value* sf =
        slope == 1 ? f : b_.CreateFMul(llvm::ConstantFP::get(ft, static_cast<double>(slope)), f);
    return constant == 0 ? sf : b_.CreateFAdd(llvm::ConstantFP::get(ft, static_cast<double>(constant)), sf);
  };
  llvm::Value* acc = nullptr;
  for (uint32_t corner = 0; corner < (1U << s.dims.size()); ++corner) {
    Index at = idx;
    llvm::Value* w = nullptr;
    llvm::Value* inside = nullptr;
    bool read = true;
    for (size_t k = 0; k < s.dims.size() && read; ++k) {
      bool upper = ((corner >> k) & 1U) != 0;
      const ir::attrs::CellWeights& cw = s.weights[k];
      read = cw.reads(upper);
      llvm::Value* wk =
          upper ? weight(cw.hi_const, cw.hi_slope, cells[k].f) : weight(cw.lo_const, cw.lo_slope, cells[k].f);
      w = w == nullptr ? wk : b_.CreateFMul(w, wk);
      at[s.dims[k]] = upper ? cells[k].hi : cells[k].lo;
      llvm::Value* in = upper ? cells[k].hi_inside : cells[k].lo_inside;
      if (in != nullptr) inside = inside != nullptr ? b_.CreateAnd(inside, in) : in;
    }
    if (!read) continue;
    llvm::Value* v = eval(grid, at);
    if (inside != nullptr) v = b_.CreateSelect(inside, v, constant(t, s.extrap.value()));
    llvm::Value* term = b_.CreateFMul(w, v);
    acc = acc == nullptr ? term : b_.CreateFAdd(acc, term);
  }
  return acc != nullptr ? acc : constant(t, 0);
}

llvm::Value* Emitter::emit_loop(llvm::Value* from, llvm::Value* to, llvm::Value* acc_init, bool hot,
                                const std::function<llvm::Value*(llvm::Value*, llvm::Value*)>& body) {
  llvm::Function* fn = b_.GetInsertBlock()->getParent();
  llvm::BasicBlock* pre = b_.GetInsertBlock();
  auto* header = llvm::BasicBlock::Create(ctx_, "loop", fn);
  auto* bodybb = llvm::BasicBlock::Create(ctx_, "body", fn);
  auto* exit = llvm::BasicBlock::Create(ctx_, "loop.end", fn);
  b_.CreateBr(header);
  b_.SetInsertPoint(header);
  llvm::PHINode* j = b_.CreatePHI(b_.getInt64Ty(), 2, "j");
  llvm::PHINode* acc = acc_init != nullptr ? b_.CreatePHI(acc_init->getType(), 2, "acc") : nullptr;
  j->addIncoming(from, pre);
  if (acc != nullptr) acc->addIncoming(acc_init, pre);
  b_.CreateCondBr(b_.CreateICmpSLT(j, to), bodybb, exit);
  b_.SetInsertPoint(bodybb);
  memo_.clear();
  llvm::Value* next_acc = body(j, acc);
  llvm::Value* next = b_.CreateAdd(j, i64(1), "", true, true);
  llvm::BasicBlock* latch = b_.GetInsertBlock();
  j->addIncoming(next, latch);
  if (acc != nullptr) acc->addIncoming(next_acc, latch);
  llvm::BranchInst* back = b_.CreateBr(header);
  if (!hot) {
    // Boundary loops run a few iterations per row: vectorizing or unrolling them only
    // multiplies the code (and the compile time) of the whole fused body.
    llvm::Metadata* no_vec[] = {llvm::MDString::get(ctx_, "llvm.loop.vectorize.enable"),
                                llvm::ConstantAsMetadata::get(b_.getFalse())};
    llvm::Metadata* no_unroll[] = {llvm::MDString::get(ctx_, "llvm.loop.unroll.disable")};
    llvm::Metadata* props[] = {nullptr, llvm::MDNode::get(ctx_, no_vec), llvm::MDNode::get(ctx_, no_unroll)};
    llvm::MDNode* self = llvm::MDNode::getDistinct(ctx_, props);
    self->replaceOperandWith(0, self);
    back->setMetadata(llvm::LLVMContext::MD_loop, self);
  }
  b_.SetInsertPoint(exit);
  memo_.clear();
  return acc;
}

llvm::Value* Emitter::element(llvm::Value* j, const Index& outer) {
  Index idx = outer;
  if (!inner_.empty()) idx[inner_] = Idx{j, true, 0};
  const ir::Node& root = g_.node(k_.root);
  if (k_.kind == Kernel::Kind::map) return compute(root, idx);
  llvm::Value* v = eval(root.inputs[0], idx);
  DType t = g_.type(root.inputs[0]).dtype;
  return convert(v, t, accumulator_dtype(t));
}

void Emitter::emit(const std::string& name) {
  auto* fty = llvm::FunctionType::get(
      b_.getVoidTy(), {b_.getInt64Ty(), b_.getInt64Ty(), b_.getInt32Ty(), b_.getPtrTy()}, false);
  auto* fn = llvm::Function::Create(fty, llvm::Function::ExternalLinkage, name, m_);
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  fn->addFnAttr(llvm::Attribute::NoRecurse);
  llvm::Value* begin = fn->getArg(0);
  llvm::Value* end = fn->getArg(1);
  llvm::Value* block = fn->getArg(2);
  llvm::Value* params = fn->getArg(3);
  fn->getArg(3)->addAttr(llvm::Attribute::NoAlias);

  llvm::MDBuilder md(ctx_);
  llvm::MDNode* domain = md.createAnonymousAliasScopeDomain("phijit");
  llvm::MDNode* in_scope = md.createAnonymousAliasScope(domain, "inputs");
  llvm::MDNode* out_scope = md.createAnonymousAliasScope(domain, "output");
  load_scope_ = llvm::MDNode::get(ctx_, {in_scope});
  store_scope_ = llvm::MDNode::get(ctx_, {out_scope});

  auto* entry = llvm::BasicBlock::Create(ctx_, "entry", fn);
  b_.SetInsertPoint(entry);
  auto param = [&](size_t i) {
    auto* p = b_.CreateLoad(b_.getPtrTy(), b_.CreateConstGEP1_64(b_.getPtrTy(), params, i));
    p->setMetadata(llvm::LLVMContext::MD_invariant_load, llvm::MDNode::get(ctx_, {}));
    return p;
  };
  out_ = param(0);
  for (size_t i = 0; i < k_.loads.size(); ++i) buffers_[k_.loads[i].id] = param(i + 1);
  const ir::Node& root = g_.node(k_.root);
  if (k_.kind == Kernel::Kind::reduce) {
    // This block's row of partial results.
    int64_t out_volume = root.type.shape.volume();
    llvm::Value* row = b_.CreateMul(b_.CreateSExt(block, b_.getInt64Ty()), i64(out_volume));
    out_ = b_.CreateGEP(type_of(accumulator_dtype(g_.type(root.inputs[0]).dtype)), out_, row);
  }
  emit_rows(fn, begin, end);
}

// Runs one checked pass over a throwaway function to learn every bound check on j + off;
// their intersection is the interior range [lo, hi) where the inner loop needs no check.
void Emitter::collect_interior() {
  int64_t n = k_.space.dims().back().size;
  auto* fty = llvm::FunctionType::get(b_.getVoidTy(), {b_.getInt64Ty()}, false);
  auto* scratch = llvm::Function::Create(fty, llvm::Function::PrivateLinkage, "scratch", m_);
  auto saved = buffers_;
  auto* bb = llvm::BasicBlock::Create(ctx_, "entry", scratch);
  llvm::IRBuilderBase::InsertPointGuard guard(b_);
  b_.SetInsertPoint(bb);
  Index outer;
  for (const Dim& d : k_.space.dims()) outer[d.name] = Idx{i64(0), false, 0};
  for (auto& [id, ptr] : buffers_) ptr = llvm::ConstantPointerNull::get(b_.getPtrTy());
  memo_.clear();
  checks_.clear();
  interior_ = false;
  element(scratch->getArg(0), outer);
  memo_.clear();
  b_.CreateRetVoid();
  scratch->eraseFromParent();
  buffers_ = saved;
  lo_ = 0;
  hi_ = n;
  for (auto [off, size] : checks_) {
    lo_ = std::max(lo_, -off);
    hi_ = std::min(hi_, size - off);
  }
  hi_ = std::max(hi_, lo_);
  lo_ = std::min(lo_, n);
  hi_ = std::min(hi_, n);
}

void Emitter::emit_rows(llvm::Function* fn, llvm::Value* begin, llvm::Value* end) {
  auto* work = llvm::BasicBlock::Create(ctx_, "work", fn);
  auto* exit = llvm::BasicBlock::Create(ctx_, "exit", fn);
  b_.CreateCondBr(b_.CreateICmpSLT(begin, end), work, exit);
  b_.SetInsertPoint(work);
  bool reduce = k_.kind == Kernel::Kind::reduce;
  const ir::Node& root = g_.node(k_.root);
  const Shape& out_shape = root.type.shape;
  DType acc_t = reduce ? accumulator_dtype(g_.type(root.inputs[0]).dtype) : root.type.dtype;
  ir::Op rop = root.op;

  auto combine = [&](llvm::Value* acc, llvm::Value* v) -> llvm::Value* {
    bool f = is_float(acc_t);
    if (rop == Op::reduce_sum) {
      if (!f) return b_.CreateAdd(acc, v);
      auto* add = llvm::cast<llvm::Instruction>(b_.CreateFAdd(acc, v));
      add->setHasAllowReassoc(true);  // lets the vectorizer split the sum into lanes
      return add;
    }
    namespace In = llvm::Intrinsic;
    llvm::Intrinsic::ID id =
        rop == Op::reduce_max ? (f ? In::maximum : In::smax) : (f ? In::minimum : In::smin);
    return intrinsic(id, {acc, v});
  };
  // Offset of a space index in the output (reduce kernels), by the output's row-major strides.
  auto out_offset = [&](const Index& idx) {
    llvm::Value* off = i64(0);
    int64_t stride = 1;
    for (int d = out_shape.rank() - 1; d >= 0; --d) {
      const Dim& dim = out_shape.dims()[static_cast<size_t>(d)];
      if (dim.size > 1) off = b_.CreateAdd(off, b_.CreateMul(idx.at(dim.name).v, i64(stride)));
      stride *= dim.size;
    }
    return off;
  };
  auto store = [&](llvm::Value* offset, llvm::Value* v) {
    llvm::Type* st = storage_type(acc_t);
    if (acc_t == DType::boolean) v = b_.CreateZExt(v, st);
    auto* s = b_.CreateStore(v, b_.CreateGEP(st, out_, offset));
    s->setMetadata(llvm::LLVMContext::MD_alias_scope, store_scope_);
    s->setMetadata(llvm::LLVMContext::MD_noalias, load_scope_);
  };
  auto accumulate = [&](llvm::Value* offset, llvm::Value* v) {
    llvm::Type* st = storage_type(acc_t);
    llvm::Value* p = b_.CreateGEP(st, out_, offset);
    auto* old = b_.CreateLoad(st, p);
    old->setMetadata(llvm::LLVMContext::MD_alias_scope, store_scope_);
    old->setMetadata(llvm::LLVMContext::MD_noalias, load_scope_);
    store(offset, combine(old, v));
  };

  if (k_.space.rank() == 0) {
    llvm::Value* v = element(i64(0), {});
    if (reduce) {
      accumulate(i64(0), v);
    } else {
      store(i64(0), v);
    }
    b_.CreateBr(exit);
    b_.SetInsertPoint(exit);
    b_.CreateRetVoid();
    return;
  }

  inner_ = k_.space.dims().back().name;
  int64_t n = k_.space.dims().back().size;
  collect_interior();
  bool checked = !checks_.empty();
  bool inner_reduced = reduce && !out_shape.contains(inner_);

  // Rows of the space: all dims but the inner one, flattened.
  llvm::Value* row0 = b_.CreateSDiv(begin, i64(n));
  llvm::Value* j0 = b_.CreateSub(begin, b_.CreateMul(row0, i64(n)));
  auto* row_bb = llvm::BasicBlock::Create(ctx_, "row", fn);
  b_.CreateBr(row_bb);
  b_.SetInsertPoint(row_bb);
  llvm::PHINode* row = b_.CreatePHI(b_.getInt64Ty(), 2, "row");
  llvm::PHINode* jstart = b_.CreatePHI(b_.getInt64Ty(), 2, "jstart");
  row->addIncoming(row0, work);
  jstart->addIncoming(j0, work);
  llvm::Value* row_flat = b_.CreateMul(row, i64(n));
  llvm::Value* jend =
      b_.CreateIntrinsic(llvm::Intrinsic::smin, {b_.getInt64Ty()}, {i64(n), b_.CreateSub(end, row_flat)});
  Index outer;
  int64_t inner_stride = 1;
  for (int d = k_.space.rank() - 2; d >= 0; --d) {
    const Dim& dim = k_.space.dims()[static_cast<size_t>(d)];
    llvm::Value* q = b_.CreateUDiv(row, i64(inner_stride));
    outer[dim.name] = Idx{dim.size == 1 ? i64(0) : b_.CreateURem(q, i64(dim.size)), false, 0};
    inner_stride *= dim.size;
  }

  // Loops over t in [from, to) with j = to_j(t) (the identity unless given).
  auto run = [&](llvm::Value* from, llvm::Value* to, bool interior,
                 const std::function<llvm::Value*(llvm::Value*)>& to_j) {
    interior_ = interior;
    auto element_at = [&](llvm::Value* t) { return element(to_j ? to_j(t) : t, outer); };
    if (inner_reduced) {
      // The identity of the reduction, so the register accumulator can start empty.
      llvm::Value* init = nullptr;
      if (rop == Op::reduce_sum) {
        init = constant(acc_t, 0);
      } else if (is_float(acc_t)) {
        init = llvm::ConstantFP::getInfinity(type_of(acc_t), rop == Op::reduce_max);
      } else {
        init = llvm::ConstantInt::get(type_of(acc_t), rop == Op::reduce_max
                                                          ? llvm::APInt::getSignedMinValue(64)
                                                          : llvm::APInt::getSignedMaxValue(64));
      }
      llvm::Value* acc = emit_loop(from, to, init, interior,
                                   [&](llvm::Value* t, llvm::Value* a) { return combine(a, element_at(t)); });
      accumulate(out_offset(outer), acc);
    } else {
      emit_loop(from, to, nullptr, interior, [&](llvm::Value* t, llvm::Value*) {
        llvm::Value* j = to_j ? to_j(t) : t;
        if (reduce) {
          Index idx = outer;
          idx[inner_] = Idx{j, true, 0};
          accumulate(out_offset(idx), element(j, outer));
        } else {
          store(b_.CreateAdd(row_flat, j), element(j, outer));
        }
        return nullptr;
      });
    }
  };
  if (checked) {
    auto clamp = [&](llvm::Value* v, llvm::Value* lo, llvm::Value* hi) {
      return b_.CreateIntrinsic(llvm::Intrinsic::smin, {b_.getInt64Ty()},
                                {b_.CreateIntrinsic(llvm::Intrinsic::smax, {b_.getInt64Ty()}, {v, lo}), hi});
    };
    llvm::Value* lo = clamp(i64(lo_), jstart, jend);
    llvm::Value* hi = clamp(i64(hi_), lo, jend);
    // One checked loop covers both boundaries, [jstart, lo) then [hi, jend): a single copy of
    // the checked body instead of two.
    llvm::Value* left = b_.CreateSub(lo, jstart);
    llvm::Value* count = b_.CreateAdd(left, b_.CreateSub(jend, hi));
    run(i64(0), count, false, [&](llvm::Value* t) {
      return b_.CreateSelect(b_.CreateICmpSLT(t, left), b_.CreateAdd(jstart, t),
                             b_.CreateAdd(hi, b_.CreateSub(t, left)));
    });
    run(lo, hi, true, nullptr);
  } else {
    run(jstart, jend, true, nullptr);
  }
  llvm::Value* next = b_.CreateAdd(row, i64(1));
  row->addIncoming(next, b_.GetInsertBlock());
  jstart->addIncoming(i64(0), b_.GetInsertBlock());
  b_.CreateCondBr(b_.CreateICmpSLT(b_.CreateMul(next, i64(n)), end), row_bb, exit);
  b_.SetInsertPoint(exit);
  b_.CreateRetVoid();
}

}  // namespace

void emit_kernel(llvm::Module& m, const ir::Graph& g, const passes::Schedule& s, const passes::Kernel& kernel,
                 const std::string& name) {
  Emitter(m, g, s, kernel).emit(name);
}

}  // namespace phijit::codegen
