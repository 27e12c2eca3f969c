#include "ir/dtype.h"

namespace phijit {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::boolean: return "bool";
  }
  return "?";
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32:
    case DType::i32: return 4;
    case DType::f64:
    case DType::i64: return 8;
    case DType::boolean: return 1;
  }
  return 0;
}

bool is_float(DType t) { return t == DType::f32 || t == DType::f64; }
bool is_integer(DType t) { return t == DType::i32 || t == DType::i64; }

namespace {
// Position in the lattice bool < i32 < i64 < f32 < f64.
int rank_of(DType t) {
  switch (t) {
    case DType::boolean: return 0;
    case DType::i32: return 1;
    case DType::i64: return 2;
    case DType::f32: return 3;
    case DType::f64: return 4;
  }
  return 0;
}
}  // namespace

DType promote(DType a, DType b, bool weak_a, bool weak_b) {
  if (weak_a && !weak_b) return is_float(b) ? b : DType::f64;
  if (weak_b && !weak_a) return is_float(a) ? a : DType::f64;
  if (a == b) return a;
  // numpy: a 32-bit float cannot hold every integer, so int with f32 gives f64.
  if ((a == DType::f32 && is_integer(b)) || (b == DType::f32 && is_integer(a))) return DType::f64;
  return rank_of(a) >= rank_of(b) ? a : b;
}

DType float_type(DType t) { return t == DType::f32 ? DType::f32 : DType::f64; }

DType sum_type(DType t) { return is_float(t) ? t : DType::i64; }

}  // namespace phijit
