#include <catch2/catch.hpp>
#include <phijit/phijit.h>

using namespace phijit;

TEST_CASE("smoke: broadcast add") {
  Tensor a = tensor({1, 2, 3}, spatial("x", 3));
  Tensor b = tensor({10, 20}, spatial("y", 2));
  Tensor c = a + b;
  CHECK(c.shape() == (spatial("x", 3) & spatial("y", 2)));
  CHECK(c.to_vector() == std::vector<double>{11, 21, 12, 22, 13, 23});
}
