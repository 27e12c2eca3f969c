// Named, typed dimensions and shapes (API §1): the canonical dim order and the union rule.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace phijit {

enum class DimType : uint8_t { batch, dual, instance, spatial, channel };

std::string_view dim_type_name(DimType);         // "batch", "dual", ...
std::string_view dim_type_superscript(DimType);  // "ᵇ", "ᵈ", "ⁱ", "ˢ", "ᶜ"

struct Dim {
  std::string name;
  int64_t size = 0;
  DimType type = DimType::spatial;
  std::vector<std::string> item_names;  // channel dims only; empty when unnamed
  bool operator==(const Dim&) const = default;
};

// The number of elements of dims of these sizes. A ShapeError naming the dims when the product
// of their non-zero sizes does not fit in int64: then neither do their strides or byte counts.
int64_t volume_of(std::span<const Dim> dims);
// "(bᵇ=3, xˢ=64, vectorᶜ=x,y)"
std::string dims_str(std::span<const Dim> dims);

class Shape {
 public:
  Shape() = default;  // rank 0: the shape of a scalar
  // Dims in any order; they are kept in canonical order. Repeated names must agree. Names
  // are non-empty without ',' (dim lists such as "x,y" split there) or surrounding spaces;
  // sizes are >= 0 and their product fits in int64 (so every volume and stride does).
  explicit Shape(const std::vector<Dim>& dims);

  int rank() const { return static_cast<int>(dims_.size()); }
  int64_t volume() const { return volume_of(dims_); }
  std::vector<std::string> names() const;
  int64_t size(std::string_view name) const;  // ShapeError if absent
  bool contains(std::string_view name) const;
  DimType type(std::string_view name) const;  // ShapeError if absent
  const std::vector<std::string>& item_names(std::string_view name) const;

  Shape batch() const { return of_type(DimType::batch); }
  Shape dual() const { return of_type(DimType::dual); }
  Shape instance() const { return of_type(DimType::instance); }
  Shape spatial() const { return of_type(DimType::spatial); }
  Shape channel() const { return of_type(DimType::channel); }
  Shape non_batch() const;
  Shape of_type(DimType) const;

  const std::vector<Dim>& dims() const { return dims_; }
  const Dim& dim(std::string_view name) const;                 // ShapeError if absent
  int index_of(std::string_view name) const;                   // -1 if absent
  Shape only(const std::vector<std::string>& names) const;     // ShapeError for unknown names
  Shape without(const std::vector<std::string>& names) const;  // unknown names are ignored
  Shape with_size(std::string_view name, int64_t size) const;  // drops item names if resized

  bool operator==(const Shape& other) const { return dims_ == other.dims_; }
  std::string str() const;  // (bᵇ=3, xˢ=64, vectorᶜ=x,y)

 private:
  std::vector<Dim> dims_;
};

std::ostream& operator<<(std::ostream&, const Shape&);

// Union by name, canonical order; one name with two sizes or two types is a ShapeError.
Shape operator&(const Shape& a, const Shape& b);

Shape batch(std::string_view name, int64_t size);
Shape dual(std::string_view name, int64_t size);  // named "~" + name
Shape instance(std::string_view name, int64_t size);
Shape spatial(std::string_view name, int64_t size);
Shape channel(std::string_view name, int64_t size);
Shape channel(std::string_view name, std::vector<std::string> item_names);

// "x, y,z" → {"x", "y", "z"}; empty parts are a ShapeError.
std::vector<std::string> parse_dim_names(std::string_view names);

}  // namespace phijit
