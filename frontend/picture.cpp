#include "frontend/picture.h"

#include <fmt/format.h>
#include <png.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

#include "ir/error.h"

namespace phijit {

namespace {

using Rgb = std::array<unsigned char, 3>;

// Colormaps as evenly spaced anchor colours, linearly interpolated: viridis by its ten-step
// palette, RdBu by ColorBrewer's eleven classes (red for low values, blue for high ones).
const std::vector<Rgb>& anchors(const std::string& name) {
  static const std::vector<Rgb> viridis{
      {0x44, 0x01, 0x54}, {0x48, 0x28, 0x78}, {0x3e, 0x4a, 0x89}, {0x31, 0x68, 0x8e}, {0x26, 0x82, 0x8e},
      {0x1f, 0x9e, 0x89}, {0x35, 0xb7, 0x79}, {0x6d, 0xcd, 0x59}, {0xb4, 0xde, 0x2c}, {0xfd, 0xe7, 0x25}};
  static const std::vector<Rgb> rdbu{{0x67, 0x00, 0x1f}, {0xb2, 0x18, 0x2b}, {0xd6, 0x60, 0x4d},
                                     {0xf4, 0xa5, 0x82}, {0xfd, 0xdb, 0xc7}, {0xf7, 0xf7, 0xf7},
                                     {0xd1, 0xe5, 0xf0}, {0x92, 0xc5, 0xde}, {0x43, 0x93, 0xc3},
                                     {0x21, 0x66, 0xac}, {0x05, 0x30, 0x61}};
  static const std::vector<Rgb> gray{{0, 0, 0}, {255, 255, 255}};
  if (name == "viridis") return viridis;
  if (name == "RdBu") return rdbu;
  if (name == "gray") return gray;
  throw Error(
      fmt::format("write_png: unknown colormap '{}'; the colormaps are viridis, RdBu and gray", name));
}

Rgb color(const std::vector<Rgb>& table, double t) {
  if (std::isnan(t)) return {0, 0, 0};
  double pos = std::clamp(t, 0.0, 1.0) * static_cast<double>(table.size() - 1);
  auto i = std::min(static_cast<size_t>(pos), table.size() - 2);
  double w = pos - static_cast<double>(i);
  Rgb out{};
  for (size_t c = 0; c < 3; ++c) {
    double v = (1 - w) * table[i][c] + w * table[i + 1][c];
    out[c] = static_cast<unsigned char>(std::lround(v));
  }
  return out;
}

// The field's dims: exactly two spatial ones, nothing else.
void check_field(const Tensor& field) {
  const Shape& s = field.shape();
  if (s.spatial().rank() != 2 || s.rank() != 2) {
    throw ShapeError(
        fmt::format("write_png needs a field with exactly two spatial dims (the first drawn vertically) and "
                    "no other dims, "
                    "got shape {}; select one entry of the other dims with slice() first",
                    s.str()));
  }
}

// [lo, hi] of the colour range: the options', else the field's finite min and max; a diverging
// map is centred at 0.
std::pair<double, double> color_range(const std::vector<double>& values, const ImageOptions& o) {
  double lo = INFINITY, hi = -INFINITY;
  for (double v : values) {
    if (std::isfinite(v)) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (!std::isfinite(lo)) lo = hi = 0;
  lo = o.vmin.value_or(lo);
  hi = o.vmax.value_or(hi);
  if (o.colormap == "RdBu") {
    double m = std::max(std::abs(lo), std::abs(hi));
    lo = -m;
    hi = m;
  }
  return {lo, hi};
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// libpng reports errors by longjmp: this function holds no object with a destructor between
// setjmp and the calls that may jump (png and info are freed on both paths).
bool encode(std::FILE* file, const std::vector<unsigned char>& rgb, int width, int height) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (png == nullptr) return false;
  png_infop info = png_create_info_struct(png);
  if (info == nullptr || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_init_io(png, file);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < height; ++y) {
    png_write_row(png, rgb.data() + static_cast<size_t>(y) * static_cast<size_t>(width) * 3);
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

namespace detail {
std::vector<unsigned char> colormap_rgb(const std::string& colormap, double t) {
  Rgb c = color(anchors(colormap), t);
  return {c[0], c[1], c[2]};
}
}  // namespace detail

void write_png(const Tensor& field, const std::string& path, const ImageOptions& options) {
  check_field(field);
  const std::vector<Rgb>& table = anchors(options.colormap);
  if (options.scale < 1 || options.scale > 4096) {
    throw Error(fmt::format("write_png: scale must be between 1 and 4096, got {}", options.scale));
  }
  std::vector<std::string> dims = field.shape().names();
  int64_t rows = field.shape().size(dims[0]), cols = field.shape().size(dims[1]);
  int64_t height = rows * options.scale, width = cols * options.scale;
  if (width > (int64_t{1} << 24) || height > (int64_t{1} << 24)) {
    throw Error(fmt::format("write_png: an image of {}×{} pixels is too large", width, height));
  }
  std::vector<double> values = field.to_vector();  // row-major: dims[0] outer, dims[1] inner
  auto [lo, hi] = color_range(values, options);
  double span = hi > lo ? hi - lo : 1;
  std::vector<unsigned char> rgb(static_cast<size_t>(width * height * 3));
  for (int64_t y = 0; y < height; ++y) {
    for (int64_t x = 0; x < width; ++x) {
      double v = values[static_cast<size_t>((y / options.scale) * cols + x / options.scale)];
      Rgb c = color(table, (v - lo) / span);
      std::copy(c.begin(), c.end(), rgb.begin() + (y * width + x) * 3);
    }
  }
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "wb"));
  if (!file) throw Error(fmt::format("write_png: cannot write '{}': {}", path, std::strerror(errno)));
  if (!encode(file.get(), rgb, static_cast<int>(width), static_cast<int>(height))) {
    throw Error(fmt::format("write_png: libpng failed to write '{}'", path));
  }
  if (std::fflush(file.get()) != 0) {
    throw Error(fmt::format("write_png: cannot write '{}': {}", path, std::strerror(errno)));
  }
}

}  // namespace phijit
