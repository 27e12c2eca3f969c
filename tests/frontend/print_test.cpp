// End-to-end tests of PhiML-style printing of tensors and shapes (API §1, §2).
#include <fmt/format.h>
#include <phijit/phijit.h>

#include <catch2/catch.hpp>
#include <sstream>
#include <string>

#include "test_helpers.h"

using namespace phijit;

namespace {
template <class T>
std::string streamed(const T& value) {
  std::ostringstream os;
  os << value;
  return os.str();
}
}  // namespace

TEST_CASE("print: a small 1-D f64 tensor lists its values and its dim", "[print]") {
  Tensor A = tensor({0, 1, 1, 0}, channel("b_vec", 2) & dual("x_vec", 2));
  Tensor y = matmul(A, tensor({2, 3}, channel("x_vec", 2)));
  CHECK(streamed(y) == "(3.000, 2.000) along b_vecᶜ");
  CHECK(to_string(y) == "(3.000, 2.000) along b_vecᶜ");
  CHECK(streamed(tensor({1, -2.5, 0.25}, spatial("x", 3))) == "(1.000, -2.500, 0.250) along xˢ");
  CHECK(streamed(tensor({7}, batch("b", 1))) == "(7.000) along bᵇ");
  CHECK(streamed(tensor({1, 2}, instance("i", 2))) == "(1.000, 2.000) along iⁱ");
}

TEST_CASE("print: ints print without decimals and name their dtype", "[print]") {
  CHECK(streamed(tensor({1, 2, -3}, spatial("x", 3), DType::i64)) == "(1, 2, -3) along xˢ int64");
  CHECK(streamed(tensor({4, 5}, channel("c", 2), DType::i32)) == "(4, 5) along cᶜ int32");
  CHECK(streamed(sum(tensor({1, 0, 1}, spatial("x", 3), DType::boolean))) == "2 int64");
}

TEST_CASE("print: other dtypes are named", "[print]") {
  CHECK(streamed(tensor({1.5, 2}, spatial("x", 2), DType::f32)) == "(1.500, 2.000) along xˢ float32");
  CHECK(streamed(tensor({1, 3}, spatial("x", 2)) > 2.0) == "(False, True) along xˢ bool");
}

TEST_CASE("print: item-named vectors print name=value pairs", "[print]") {
  Tensor v = tensor({1, 2}, channel("vector", {"x", "y"}));
  CHECK(streamed(v) == "(x=1.000, y=2.000)");
  Tensor w = stack({Tensor(0.5), Tensor(-1.0), Tensor(4.0)}, channel("vector", {"x", "y", "z"}));
  CHECK(streamed(w) == "(x=0.500, y=-1.000, z=4.000)");
  CHECK(streamed(tensor({3, 4}, channel("vector", {"x", "y"}), DType::i32)) == "(x=3, y=4) int32");
}

TEST_CASE("print: scalars print their value", "[print]") {
  CHECK(streamed(Tensor(2.5)) == "2.500");
  CHECK(streamed(sum(tensor({1, 2}, spatial("x", 2)))) == "3.000");
}

TEST_CASE("print: small 2-D tensors list values followed by the shape", "[print]") {
  Tensor t = tensor({1, 2, 3, 4}, spatial("x", 2) & spatial("y", 2));
  std::string s = streamed(t);
  CHECK(s == "(1.000, 2.000, 3.000, 4.000) (xˢ=2, yˢ=2)");
  std::string b = streamed(tensor({1, 2, 3, 4, 5, 6}, batch("b", 2) & channel("vector", {"x", "y", "z"})));
  CHECK(b.find("(bᵇ=2, vectorᶜ=x,y,z)") != std::string::npos);
  CHECK(b.find("1.000") < b.find("6.000"));
  CHECK(b.find("6.000") < b.find("(bᵇ=2"));
}

TEST_CASE("print: large tensors print a summary that begins with the shape", "[print]") {
  // linspace(0, 1, 64): mean 0.5, population std sqrt(65 / 756) = 0.2932, range 0...1.
  Tensor t = linspace(0, 1, spatial("x", 64));
  std::string s = streamed(t);
  CHECK(s.rfind("(xˢ=64)", 0) == 0);
  CHECK(s.find("0.500") != std::string::npos);
  CHECK(s.find("0.293") != std::string::npos);
  CHECK(s.find("1.000") == std::string::npos);  // values are not listed
  CHECK(s == "(xˢ=64) 0.500 ± 0.293 (0e+00...1e+00)");
  Tensor big = zeros(batch("b", 3) & spatial("x", 64) & spatial("y", 64));
  std::string bs = streamed(big);
  CHECK(bs.rfind("(bᵇ=3, xˢ=64, yˢ=64)", 0) == 0);
  CHECK(bs.find("0.000") != std::string::npos);
  Tensor ints = tensor({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, spatial("x", 12), DType::i32);
  std::string is = streamed(ints);
  CHECK(is.rfind("(xˢ=12)", 0) == 0);
  CHECK(is.find("int32") != std::string::npos);
  CHECK(is.find("6.500") != std::string::npos);  // the mean
  // Population std of 1..12 is sqrt(143 / 12) = 3.452.
  CHECK(is == "(xˢ=12) int32 6.500 ± 3.452 (1e+00...1e+01)");
}

TEST_CASE("print: fmt formats tensors like ostreams do", "[print]") {
  Tensor small = tensor({3, 2}, channel("b_vec", 2));
  CHECK(fmt::format("{}", small) == streamed(small));
  CHECK(fmt::format("{}", small) == "(3.000, 2.000) along b_vecᶜ");
  Tensor large = linspace(0, 1, spatial("x", 64));
  CHECK(fmt::format("{}", large) == streamed(large));
  Tensor ints = tensor({1, 2}, spatial("x", 2), DType::i64);
  CHECK(fmt::format("v={}", ints) == "v=" + streamed(ints));
}

TEST_CASE("print: shapes print with type superscripts in canonical order", "[print][shape]") {
  Shape s = channel("vector", {"x", "y"}) & spatial("x", 64) & batch("b", 3);
  CHECK(streamed(s) == "(bᵇ=3, xˢ=64, vectorᶜ=x,y)");
  CHECK(fmt::format("{}", s) == "(bᵇ=3, xˢ=64, vectorᶜ=x,y)");
  CHECK(s.str() == "(bᵇ=3, xˢ=64, vectorᶜ=x,y)");
  CHECK(fmt::format("{}", spatial("x", 64) & spatial("y", 32)) == "(xˢ=64, yˢ=32)");
  CHECK(fmt::format("{}", instance("i", 5) & dual("x", 4)) == "(~xᵈ=4, iⁱ=5)");
  CHECK(fmt::format("{}", channel("c", 3)) == "(cᶜ=3)");
  CHECK(fmt::format("{}", Shape()) == "()");
  CHECK(fmt::format("{}", tensor({1, 2, 3, 4}, batch("b", 2) & channel("c", 2)).shape()) == "(bᵇ=2, cᶜ=2)");
}

TEST_CASE("print: an empty Tensor prints as empty", "[print]") {
  CHECK(streamed(Tensor()) == "Tensor(empty)");
}
