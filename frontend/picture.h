// Pictures (API §8): a 2-D field as a PNG image through libpng, with the colormaps viridis, a
// diverging RdBu centred at 0, and gray.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "frontend/tensor.h"

namespace phijit {

struct ImageOptions {
  std::string colormap = "viridis";  // also "RdBu" (diverging, centred at 0) and "gray"
  std::optional<double> vmin, vmax;  // colour range; default: the field's min and max
  int scale = 1;                     // each cell becomes scale × scale pixels
};

// A field with exactly two spatial dims (the first is vertical, drawn top to bottom) as an
// 8-bit RGB PNG. Any other dim, an unknown colormap or scale < 1 is an Error, as is a path that
// cannot be written. Values outside [vmin, vmax] take the end colours; NaN is drawn black.
void write_png(const Tensor& field, const std::string& path, const ImageOptions& options = {});

namespace detail {
// The colour of t ∈ [0, 1] in the named colormap (RGB, 0–255); the one definition the writer
// and the tests use.
std::vector<unsigned char> colormap_rgb(const std::string& colormap, double t);
}  // namespace detail

}  // namespace phijit
