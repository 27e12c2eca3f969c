// The user-facing Tensor: named-dim values (API §2) and the functions that create them.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "ir/dtype.h"
#include "ir/error.h"
#include "ir/shape.h"

namespace phijit {

namespace detail {
struct TensorData;
}

class Tensor {
 public:
  Tensor();               // empty (no value yet); assign to it later
  Tensor(double scalar);  // NOLINT(google-explicit-constructor): a f64 scalar
  explicit Tensor(std::shared_ptr<const detail::TensorData> data);

  bool defined() const { return data_ != nullptr; }
  const Shape& shape() const;
  DType dtype() const;
  double item() const;                    // volume must be 1, else ShapeError
  std::vector<double> to_vector() const;  // values in shape order, last dim fastest
  bool is_sparse() const;
  Tensor slice(std::string_view dim, int64_t index) const;                // drops dim
  Tensor slice(std::string_view dim, int64_t start, int64_t stop) const;  // keeps dim
  Tensor astype(DType dtype) const;

  const detail::TensorData& data() const;  // Error when empty

 private:
  std::shared_ptr<const detail::TensorData> data_;
};

Tensor tensor(std::vector<double> values, Shape shape, DType dtype = DType::f64);
Tensor zeros(Shape shape, DType dtype = DType::f64);
Tensor ones(Shape shape, DType dtype = DType::f64);
Tensor full(Shape shape, double value, DType dtype = DType::f64);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor random_normal(Shape shape, uint64_t seed = 0);
Tensor random_uniform(Shape shape, double low = 0, double high = 1, uint64_t seed = 0);
Tensor linspace(double start, double stop, Shape one_dim);  // includes both ends
Tensor stack(const std::vector<Tensor>& values, Shape new_dim);
Tensor concat(const std::vector<Tensor>& values, std::string_view dim);

}  // namespace phijit
