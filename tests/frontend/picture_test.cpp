// write_png (API §8): files decoded again with libpng and compared pixel by pixel with the
// colormap; the colour range, scaling and the errors.
#include <png.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "test_helpers.h"

using namespace phijit;

namespace {

struct Image {
  int width = 0, height = 0;
  std::vector<unsigned char> rgb;
  std::vector<unsigned char> at(int x, int y) const {
    size_t i = (static_cast<size_t>(y) * static_cast<size_t>(width) + static_cast<size_t>(x)) * 3;
    return {rgb[i], rgb[i + 1], rgb[i + 2]};
  }
};

Image decode(const std::string& path) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  REQUIRE(png_image_begin_read_from_file(&image, path.c_str()) != 0);
  image.format = PNG_FORMAT_RGB;
  Image out{static_cast<int>(image.width), static_cast<int>(image.height),
            std::vector<unsigned char>(PNG_IMAGE_SIZE(image))};
  REQUIRE(png_image_finish_read(&image, nullptr, out.rgb.data(), 0, nullptr) != 0);
  return out;
}

std::string temp_png(const char* name) {
  return "/tmp/phijit_picture_test_" + std::to_string(getpid()) + name;
}

}  // namespace

TEST_CASE("write_png: every cell has its colormap colour, the first dim drawn top to bottom", "[png]") {
  // 2 rows (y) × 3 columns (x), values 0..5: t = v / 5.
  Tensor field = tensor({0, 1, 2, 3, 4, 5}, spatial("y", 2) & spatial("x", 3));
  for (const char* map : {"viridis", "gray"}) {
    std::string path = temp_png(map);
    write_png(field, path, {.colormap = map});
    Image img = decode(path);
    REQUIRE(img.width == 3);
    REQUIRE(img.height == 2);
    for (int y = 0; y < 2; ++y) {
      for (int x = 0; x < 3; ++x) CHECK(img.at(x, y) == detail::colormap_rgb(map, (3 * y + x) / 5.0));
    }
    std::remove(path.c_str());
  }
  // The ends of the maps as published: viridis #440154 → #FDE725, gray black → white.
  CHECK(detail::colormap_rgb("viridis", 0) == std::vector<unsigned char>{0x44, 0x01, 0x54});
  CHECK(detail::colormap_rgb("viridis", 1) == std::vector<unsigned char>{0xfd, 0xe7, 0x25});
  CHECK(detail::colormap_rgb("gray", 0.5) == std::vector<unsigned char>{128, 128, 128});
}

TEST_CASE("write_png: vmin/vmax clip, RdBu is centred at 0, NaN is black, scale repeats cells", "[png]") {
  Tensor field = tensor({-1, 0, 3, NAN}, spatial("y", 2) & spatial("x", 2));
  std::string path = temp_png("rdbu");
  write_png(field, path, {.colormap = "RdBu", .scale = 3});
  Image img = decode(path);
  REQUIRE(img.width == 6);
  REQUIRE(img.height == 6);
  // Range [-3, 3]: -1 → t = 1/3, 0 → the white middle, 3 → the dark blue end.
  CHECK(img.at(0, 0) == detail::colormap_rgb("RdBu", 1.0 / 3));
  CHECK(img.at(2, 2) == detail::colormap_rgb("RdBu", 1.0 / 3));
  CHECK(img.at(3, 0) == std::vector<unsigned char>{0xf7, 0xf7, 0xf7});
  CHECK(img.at(0, 5) == detail::colormap_rgb("RdBu", 1));
  CHECK(img.at(5, 5) == std::vector<unsigned char>{0, 0, 0});
  write_png(field, path, {.colormap = "gray", .vmin = 0, .vmax = 1});
  Image clipped = decode(path);
  CHECK(clipped.at(0, 0) == std::vector<unsigned char>{0, 0, 0});        // -1 clips to vmin
  CHECK(clipped.at(0, 1) == std::vector<unsigned char>{255, 255, 255});  // 3 clips to vmax
  std::remove(path.c_str());
}

TEST_CASE("write_png: fields that are not two-dimensional and unwritable paths are errors", "[png][errors]") {
  std::string path = temp_png("bad");
  CHECK_THROWS_MATCHES(write_png(zeros(spatial("x", 4)), path), ShapeError,
                       message_contains({"two spatial dims", "(xˢ=4)"}));
  CHECK_THROWS_MATCHES(write_png(zeros(spatial("x", 2) & spatial("y", 2) & channel("c", 2)), path),
                       ShapeError, message_contains({"two spatial dims", "cᶜ=2"}));
  CHECK_THROWS_MATCHES(write_png(zeros(spatial("x", 2) & spatial("y", 2)), path, {.colormap = "jet"}), Error,
                       message_contains({"'jet'", "viridis", "RdBu", "gray"}));
  CHECK_THROWS_MATCHES(write_png(zeros(spatial("x", 2) & spatial("y", 2)), path, {.scale = 0}), Error,
                       message_contains({"scale", "0"}));
  CHECK_THROWS_MATCHES(write_png(zeros(spatial("x", 2) & spatial("y", 2)), "/nonexistent_dir/field.png"),
                       Error, message_contains({"cannot write", "/nonexistent_dir/field.png"}));
}
