// Element types and their promotion rules (numpy-like, API §2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace phijit {

enum class DType : uint8_t { f32, f64, i32, i64, boolean };

std::string_view dtype_name(DType);  // "float32", "float64", "int32", "int64", "bool"
size_t dtype_size(DType);
bool is_float(DType);
bool is_integer(DType);  // i32, i64 (not boolean)

// The dtype both operands of an arithmetic op are converted to. `weak_a`/`weak_b` mark a
// plain C++ `double` (NEP 50): it takes the other side's float type instead of promoting it.
DType promote(DType a, DType b, bool weak_a = false, bool weak_b = false);

// The float type a float-valued op (exp, /, mean, ...) computes in: f32 stays f32, else f64.
DType float_type(DType);

// The dtype `sum` accumulates into: booleans and i32 widen to i64 (as numpy), floats stay.
DType sum_type(DType);

}  // namespace phijit
