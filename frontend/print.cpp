#include "frontend/print.h"

#include <fmt/format.h>

#include <cmath>
#include <ostream>

#include "frontend/matrices.h"
#include "frontend/tensor_data.h"

namespace phijit {

namespace {

constexpr int64_t kMaxListed = 10;  // tensors with at most this many values list them all

std::string value_str(double v, DType dtype) {
  if (dtype == DType::boolean) return v != 0 ? "True" : "False";
  if (is_integer(dtype)) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{:.3f}", v);
}

std::string dtype_suffix(DType dtype) {
  return dtype == DType::f64 ? "" : fmt::format(" {}", dtype_name(dtype));
}

std::string listed(const Tensor& t, const std::vector<double>& values) {
  const Shape& s = t.shape();
  std::vector<std::string> parts;
  const std::vector<std::string>* items = s.rank() == 1 ? &s.dims()[0].item_names : nullptr;
  for (size_t i = 0; i < values.size(); ++i) {
    std::string v = value_str(values[i], t.dtype());
    parts.push_back(items != nullptr && !items->empty() ? fmt::format("{}={}", (*items)[i], v) : v);
  }
  std::string out = fmt::format("({})", fmt::join(parts, ", "));
  if (s.rank() == 1) {
    if (items == nullptr || items->empty()) {
      const Dim& d = s.dims()[0];
      out += fmt::format(" along {}{}", d.name, dim_type_superscript(d.type));
    }
  } else {
    out += " " + s.str();
  }
  return out + dtype_suffix(t.dtype());
}

// Mean, std and range of the stored values: each stands for equally many of t's values, so
// they are t's (a collapsed tensor is not expanded for printing).
std::string summary(const Tensor& t, const std::vector<double>& values) {
  std::string head = t.shape().str() + dtype_suffix(t.dtype());
  if (values.empty()) return head + " empty";
  if (t.dtype() == DType::boolean) {
    int64_t count = 0;
    for (double v : values) count += v != 0 ? 1 : 0;
    int64_t repeats = t.shape().volume() / static_cast<int64_t>(values.size());
    return fmt::format("{} {} / {} true", head, count * repeats, t.shape().volume());
  }
  double sum = 0, lo = values[0], hi = values[0];
  for (double v : values) {
    sum += v;
    lo = std::fmin(lo, v);
    hi = std::fmax(hi, v);
  }
  double mean = sum / static_cast<double>(values.size());
  double var = 0;
  for (double v : values) var += (v - mean) * (v - mean);
  double std = std::sqrt(var / static_cast<double>(values.size()));
  return fmt::format("{} {:.3f} ± {:.3f} ({:.0e}...{:.0e})", head, mean, std, lo, hi);
}

}  // namespace

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "Tensor(empty)";
  if (detail::is_tracer(t)) return fmt::format("{} traced{}", t.shape().str(), dtype_suffix(t.dtype()));
  if (t.is_sparse()) {
    std::string head = fmt::format("sparse {}{}, nnz={}", t.shape().str(), dtype_suffix(t.dtype()), nnz(t));
    // Small matrices list their dense values; large ones are not densified for printing.
    return t.shape().volume() <= kMaxListed ? head + ": " + listed(t, t.to_vector()) : head;
  }
  if (t.shape().rank() == 0) return value_str(t.item(), t.dtype()) + dtype_suffix(t.dtype());
  if (t.shape().volume() <= kMaxListed && t.shape().volume() > 0) return listed(t, t.to_vector());
  return summary(t, detail::stored_values(t));
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << to_string(t); }

}  // namespace phijit
