// Size arithmetic in the runtime: strides, relayouts and sparse layouts whose sizes multiply
// beyond int64 are ShapeErrors naming the dims, never wrapped offsets.
#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <vector>

#include "ir/error.h"
#include "runtime/layout.h"
#include "runtime/odometer.h"
#include "runtime/sparse.h"

using Catch::Contains;
using phijit::Buffer;
using phijit::Dim;
using phijit::DimType;
using phijit::DType;
using phijit::ShapeError;

namespace {
Dim spatial_dim(const char* name, int64_t size) { return Dim{name, size, DimType::spatial, {}}; }
}  // namespace

TEST_CASE("runtime: strides of dims whose sizes overflow int64", "[runtime][sizes]") {
  std::vector<Dim> dims{spatial_dim("x", 3), spatial_dim("y", int64_t{1} << 32),
                        spatial_dim("z", int64_t{1} << 32)};
  CHECK_THROWS_MATCHES(
      phijit::runtime::strides_of(dims), ShapeError,
      Catch::Matchers::Message("Shape (xˢ=3, yˢ=4294967296, zˢ=4294967296) is too large: the "
                               "product of its dim sizes does not fit in int64"));
  dims[2].size = 5;
  CHECK(phijit::runtime::strides_of(dims) == std::vector<int64_t>{5 * (int64_t{1} << 32), 5, 1});
}

TEST_CASE("runtime: a relayout into dims whose sizes overflow int64", "[runtime][sizes]") {
  // Each order alone is a valid shape; their concatenation is what the runtime lays out.
  auto src = std::make_shared<const Buffer>(DType::f64, 2);
  std::vector<Dim> from{spatial_dim("x", 2)};
  std::vector<Dim> to{spatial_dim("b", int64_t{1} << 62), spatial_dim("x", 2), spatial_dim("c", 4)};
  CHECK_THROWS_WITH(phijit::runtime::relayout(src, from, to),
                    Contains("(bˢ=4611686018427387904, xˢ=2, cˢ=4)") && Contains("too large"));
}

TEST_CASE("runtime: a dense matrix as CSR with more entries than int64 counts", "[runtime][sizes]") {
  auto values = std::make_shared<const Buffer>(DType::f64, 1);
  CHECK_THROWS_MATCHES(
      phijit::runtime::dense_as_csr(values, int64_t{1} << 32, int64_t{1} << 32, 1), ShapeError,
      Catch::Matchers::Message("A dense 4294967296×4294967296 matrix has more entries than fit "
                               "in int64"));
}
