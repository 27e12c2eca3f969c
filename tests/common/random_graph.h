// Seeded random IR graphs and inputs for differential testing of compiled code against the
// reference interpreter (tests/codegen) and for the textual IR's round trip (tests/ir).
//
// A graph has 1–4 inputs over dims from a small pool (batch b ≤ 3, spatial x ≤ 17 — in one graph
// of six up to 300, in one of 32 2000–3000, so kernels get split into blocks — spatial y ≤ 9,
// channel c ≤ 3; sizes drawn per graph) so that operands broadcast by name, one float dtype (f32 or f64;
// int32 inputs enter through cast), and 3–25 random steps: elementwise math, comparisons feeding where,
// constants, stencils (shift, pad with every extrapolation), grid_sample and its transpose (at constant
// coordinates, or at exact values scaled by a power of two), layout ops and reductions. Values stay bounded
// (|v| <= 16 by construction, rescaled by powers of two) and every discontinuous op (sign, comparisons,
// where's condition, the floor of grid_sample's coordinates where its weights jump) reads only values that
// compiled code computes exactly (inputs, constants, layout ops, neg, abs, min/max, ...), so compiled and
// reference results may differ by rounding only.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.h"
#include "runtime/interpreter.h"

namespace phijit::testing {

struct RandomGraphOptions {
  // For finite differences (gradient_differential_test): every float is float64, and the
  // positive operands of log, sqrt, div and pow are sqrt(a² + 1) rather than |a|, so the only
  // kinks and jumps left are those of abs, sign, minimum/maximum, reduce_max/min and of the
  // comparisons feeding where; the test samples its points away from them.
  bool smooth = false;
  // For the textual IR's round trip (tests/ir/parser_test): after the usual steps, steps that
  // reach every attribute kind and dtype the generator otherwise leaves out — inputs and
  // constants of every dtype (int64, bool), special values (inf, nan and NaN payloads, -0,
  // subnormals, integer limits), dual dims, item names and names that need quotes, renames to
  // every dim type, grid_sample weights other than interpolation, odd extrapolation constants,
  // and int/bool where, comparisons, casts and reductions. Such graphs are meant to be printed
  // and parsed, not run: their values are not bounded. Off, the generator's stream is unchanged.
  bool every_ir_feature = false;
};

ir::Graph random_graph(uint64_t seed, const RandomGraphOptions& options = {});

// One buffer per input of g: floats uniform in [-2, 2], integers in [-5, 5], booleans 0/1.
std::vector<runtime::BufferPtr> random_inputs(const ir::Graph& g, uint64_t seed);

}  // namespace phijit::testing
