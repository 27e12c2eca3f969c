#include "ir/shape.h"

#include <fmt/format.h>

#include <algorithm>
#include <ostream>

#include "ir/checked.h"
#include "ir/error.h"

namespace phijit {

std::string_view dim_type_name(DimType t) {
  switch (t) {
    case DimType::batch: return "batch";
    case DimType::dual: return "dual";
    case DimType::instance: return "instance";
    case DimType::spatial: return "spatial";
    case DimType::channel: return "channel";
  }
  return "?";
}

std::string_view dim_type_superscript(DimType t) {
  switch (t) {
    case DimType::batch: return "ᵇ";
    case DimType::dual: return "ᵈ";
    case DimType::instance: return "ⁱ";
    case DimType::spatial: return "ˢ";
    case DimType::channel: return "ᶜ";
  }
  return "?";
}

namespace {

void check_dim(const Dim& d) {
  if (d.name.empty() || d.name == "~") throw ShapeError("A dim needs a non-empty name");
  // Dim lists such as sum(x, "a, b") are split at commas and trimmed, so such a name could
  // never be selected again (and sum(x, "a,b") would mean two dims).
  if (d.name.find(',') != std::string::npos) {
    throw ShapeError(
        fmt::format("Dim name '{}' contains ',': dim lists such as \"x,y\" are split at commas, so a name "
                    "cannot hold one",
                    d.name));
  }
  if (d.name.front() == ' ' || d.name.back() == ' ') {
    throw ShapeError(fmt::format(
        "Dim name '{}' starts or ends with a space: dim lists such as \"x, y\" drop those spaces", d.name));
  }
  if (d.size < 0) {
    throw ShapeError(fmt::format("Dim '{}' needs a size >= 0, got {}", d.name, d.size));
  }
  bool tilde = d.name[0] == '~';
  if (tilde != (d.type == DimType::dual)) {
    throw ShapeError(
        fmt::format("Dim '{}' of type {}: dual dims and only dual dims have names starting with '~'", d.name,
                    dim_type_name(d.type)));
  }
  if (!d.item_names.empty() && static_cast<int64_t>(d.item_names.size()) != d.size) {
    throw ShapeError(
        fmt::format("Dim '{}' has size {} but {} item names", d.name, d.size, d.item_names.size()));
  }
}

// Adds `d` to `dims` unless a dim of that name is there; then the two must agree.
void merge_dim(std::vector<Dim>& dims, const Dim& d, const Shape* a, const Shape* b) {
  for (Dim& e : dims) {
    if (e.name != d.name) continue;
    auto shapes = [&] {
      return a != nullptr ? fmt::format(" (combining shapes {} and {})", a->str(), b->str()) : std::string();
    };
    if (e.size != d.size) {
      throw ShapeError(fmt::format("Dim '{}' has two sizes, {} and {}{}", d.name, e.size, d.size, shapes()));
    }
    if (e.type != d.type) {
      throw ShapeError(fmt::format("Dim '{}' has two types, {} and {}{}", d.name, dim_type_name(e.type),
                                   dim_type_name(d.type), shapes()));
    }
    if (e.item_names.empty()) {
      e.item_names = d.item_names;
    } else if (!d.item_names.empty() && e.item_names != d.item_names) {
      throw ShapeError(fmt::format("Dim '{}' has two lists of item names, {} and {}{}", d.name,
                                   fmt::join(e.item_names, ","), fmt::join(d.item_names, ","), shapes()));
    }
    return;
  }
  dims.push_back(d);
}

void sort_canonical(std::vector<Dim>& dims) {
  std::stable_sort(dims.begin(), dims.end(), [](const Dim& x, const Dim& y) { return x.type < y.type; });
}

Shape make(std::string_view name, int64_t size, DimType type) {
  return Shape({Dim{std::string(name), size, type, {}}});
}

}  // namespace

Shape::Shape(const std::vector<Dim>& dims) {
  for (const Dim& d : dims) {
    check_dim(d);
    merge_dim(dims_, d, nullptr, nullptr);
  }
  sort_canonical(dims_);
  volume_of(dims_);  // rejects shapes too large to count or index
}

int64_t volume_of(std::span<const Dim> dims) {
  // Zero sizes are left out of the check: strides still multiply the other sizes together.
  int64_t product = 1;
  bool empty = false;
  for (const Dim& d : dims) {
    if (d.size == 0) {
      empty = true;
      continue;
    }
    product = checked_mul(product, d.size, [&] {
      return fmt::format("Shape {} is too large: the product of its dim sizes does not fit in int64",
                         dims_str(dims));
    });
  }
  return empty ? 0 : product;
}

std::vector<std::string> Shape::names() const {
  std::vector<std::string> out;
  out.reserve(dims_.size());
  for (const Dim& d : dims_) out.push_back(d.name);
  return out;
}

int Shape::index_of(std::string_view name) const {
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (dims_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

const Dim& Shape::dim(std::string_view name) const {
  int i = index_of(name);
  if (i < 0) throw ShapeError(fmt::format("Shape {} has no dim '{}'", str(), name));
  return dims_[i];
}

int64_t Shape::size(std::string_view name) const { return dim(name).size; }
bool Shape::contains(std::string_view name) const { return index_of(name) >= 0; }
DimType Shape::type(std::string_view name) const { return dim(name).type; }
const std::vector<std::string>& Shape::item_names(std::string_view name) const {
  return dim(name).item_names;
}

Shape Shape::of_type(DimType t) const {
  Shape s;
  for (const Dim& d : dims_) {
    if (d.type == t) s.dims_.push_back(d);
  }
  return s;
}

Shape Shape::non_batch() const {
  Shape s;
  for (const Dim& d : dims_) {
    if (d.type != DimType::batch) s.dims_.push_back(d);
  }
  return s;
}

Shape Shape::only(const std::vector<std::string>& names) const {
  Shape s;
  for (const Dim& d : dims_) {
    if (std::find(names.begin(), names.end(), d.name) != names.end()) s.dims_.push_back(d);
  }
  for (const std::string& n : names) dim(n);  // reject unknown names
  return s;
}

Shape Shape::without(const std::vector<std::string>& names) const {
  Shape s;
  for (const Dim& d : dims_) {
    if (std::find(names.begin(), names.end(), d.name) == names.end()) s.dims_.push_back(d);
  }
  return s;
}

Shape Shape::with_size(std::string_view name, int64_t size) const {
  Shape s = *this;
  Dim& d = s.dims_[s.index_of(dim(name).name)];
  if (d.size != size) d.item_names.clear();
  d.size = size;
  check_dim(d);
  volume_of(s.dims_);
  return s;
}

std::string Shape::str() const { return dims_str(dims_); }

std::string dims_str(std::span<const Dim> dims) {
  std::string out = "(";
  for (size_t i = 0; i < dims.size(); ++i) {
    const Dim& d = dims[i];
    if (i > 0) out += ", ";
    out += fmt::format("{}{}=", d.name, dim_type_superscript(d.type));
    out += d.item_names.empty() ? std::to_string(d.size) : fmt::format("{}", fmt::join(d.item_names, ","));
  }
  return out + ")";
}

std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.str(); }

Shape operator&(const Shape& a, const Shape& b) {
  std::vector<Dim> dims = a.dims();
  for (const Dim& d : b.dims()) merge_dim(dims, d, &a, &b);
  sort_canonical(dims);
  return Shape(dims);
}

Shape batch(std::string_view name, int64_t size) { return make(name, size, DimType::batch); }
Shape dual(std::string_view name, int64_t size) {
  std::string full = name.starts_with('~') ? std::string(name) : "~" + std::string(name);
  return make(full, size, DimType::dual);
}
Shape instance(std::string_view name, int64_t size) { return make(name, size, DimType::instance); }
Shape spatial(std::string_view name, int64_t size) { return make(name, size, DimType::spatial); }
Shape channel(std::string_view name, int64_t size) { return make(name, size, DimType::channel); }
Shape channel(std::string_view name, std::vector<std::string> item_names) {
  auto size = static_cast<int64_t>(item_names.size());
  return Shape({Dim{std::string(name), size, DimType::channel, std::move(item_names)}});
}

std::vector<std::string> parse_dim_names(std::string_view names) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= names.size()) {
    size_t end = names.find(',', pos);
    if (end == std::string_view::npos) end = names.size();
    std::string_view part = names.substr(pos, end - pos);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (part.empty()) {
      throw ShapeError(fmt::format("Expected comma-separated dim names, got '{}'", names));
    }
    out.emplace_back(part);
    pos = end + 1;
  }
  return out;
}

}  // namespace phijit
