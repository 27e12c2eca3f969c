// Unit tests of ir/shape.h: canonical dim order, union, queries, printing and ShapeErrors.
#include "ir/shape.h"

#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "ir/error.h"

using Catch::Contains;
using phijit::Dim;
using phijit::DimType;
using phijit::Shape;
using phijit::ShapeError;
using Names = std::vector<std::string>;

namespace {
// The message of the ShapeError `f` throws; fails the test if it throws nothing.
template <class F>
std::string shape_error_of(F f) {
  try {
    f();
  } catch (const ShapeError& e) {
    return e.what();
  }
  FAIL("expected a ShapeError");
  return "";
}
}  // namespace

TEST_CASE("an empty shape is a scalar", "[shape]") {
  Shape s;
  CHECK(s.rank() == 0);
  CHECK(s.volume() == 1);
  CHECK(s.names().empty());
  CHECK(s.str() == "()");
  CHECK_FALSE(s.contains("x"));
}

TEST_CASE("factory functions make one dim of the right type", "[shape]") {
  CHECK(phijit::batch("b", 3).type("b") == DimType::batch);
  CHECK(phijit::instance("i", 2).type("i") == DimType::instance);
  CHECK(phijit::spatial("x", 4).type("x") == DimType::spatial);
  CHECK(phijit::channel("c", 5).type("c") == DimType::channel);
  Shape d = phijit::dual("x", 3);
  CHECK(d.names() == Names{"~x"});
  CHECK(d.type("~x") == DimType::dual);
  CHECK(d.size("~x") == 3);
  CHECK_FALSE(d.contains("x"));
  // A name that already has the tilde is not given a second one.
  CHECK(phijit::dual("~y", 2).names() == Names{"~y"});
}

TEST_CASE("dims are kept in canonical type order, first appearance within a type", "[shape]") {
  Shape s = phijit::channel("vector", 2) & phijit::spatial("y", 5) & phijit::instance("i", 7) &
            phijit::spatial("x", 4) & phijit::dual("k", 6) & phijit::batch("b", 3);
  CHECK(s.names() == Names{"b", "~k", "i", "y", "x", "vector"});
  CHECK(s.rank() == 6);
  CHECK(s.volume() == 2 * 5 * 7 * 4 * 6 * 3);

  // The constructor orders its dims the same way.
  Shape c({Dim{"vector", 2, DimType::channel, {}}, Dim{"y", 5, DimType::spatial, {}},
           Dim{"b", 3, DimType::batch, {}}, Dim{"x", 4, DimType::spatial, {}}});
  CHECK(c.names() == Names{"b", "y", "x", "vector"});
  // Repeated names that agree are merged.
  Shape r({Dim{"x", 4, DimType::spatial, {}}, Dim{"x", 4, DimType::spatial, {}}});
  CHECK(r.rank() == 1);
}

TEST_CASE("operator& is a union by name", "[shape]") {
  Shape a = phijit::spatial("x", 4) & phijit::batch("b", 2);
  Shape b = phijit::spatial("y", 3) & phijit::spatial("x", 4);
  Shape u = a & b;
  CHECK(u.names() == Names{"b", "x", "y"});
  CHECK(u.size("b") == 2);
  CHECK(u.size("x") == 4);
  CHECK(u.size("y") == 3);
  CHECK(u.volume() == 24);
  // Order within a type follows first appearance, so the union is not commutative in order.
  Shape v = b & a;
  CHECK(v.names() == Names{"b", "y", "x"});
  CHECK_FALSE(u == v);
  // Union with itself and with the empty shape changes nothing.
  CHECK((a & a) == a);
  CHECK((a & Shape()) == a);
  CHECK((Shape() & a) == a);
}

TEST_CASE("shape queries: size, contains, type, index_of, dim", "[shape]") {
  Shape s = phijit::batch("b", 3) & phijit::spatial("x", 64) & phijit::channel("vector", Names{"x", "y"});
  CHECK(s.size("b") == 3);
  CHECK(s.size("x") == 64);
  CHECK(s.size("vector") == 2);
  CHECK(s.contains("x"));
  CHECK_FALSE(s.contains("y"));
  CHECK_FALSE(s.contains("~x"));
  CHECK(s.type("vector") == DimType::channel);
  CHECK(s.index_of("b") == 0);
  CHECK(s.index_of("vector") == 2);
  CHECK(s.index_of("nope") == -1);
  CHECK(s.dim("x").size == 64);
  CHECK(s.item_names("vector") == Names{"x", "y"});
  CHECK(s.item_names("x").empty());
}

TEST_CASE("filtering by type", "[shape]") {
  Shape s = phijit::channel("c", 2) & phijit::spatial("x", 4) & phijit::batch("b", 3) & phijit::dual("x", 4) &
            phijit::instance("i", 5) & phijit::spatial("y", 6) & phijit::batch("b2", 7);
  CHECK(s.batch().names() == Names{"b", "b2"});
  CHECK(s.dual().names() == Names{"~x"});
  CHECK(s.instance().names() == Names{"i"});
  CHECK(s.spatial().names() == Names{"x", "y"});
  CHECK(s.channel().names() == Names{"c"});
  CHECK(s.non_batch().names() == Names{"~x", "i", "x", "y", "c"});
  CHECK(s.non_batch().volume() == 4 * 5 * 4 * 6 * 2);
  CHECK(s.of_type(DimType::spatial) == s.spatial());
  CHECK(phijit::spatial("x", 2).batch().rank() == 0);
}

TEST_CASE("only, without and with_size", "[shape]") {
  Shape s = phijit::batch("b", 3) & phijit::spatial("x", 4) & phijit::spatial("y", 5);
  CHECK(s.only({"y", "b"}).names() == Names{"b", "y"});  // shape order, not argument order
  CHECK_THROWS_AS(s.only({"z"}), ShapeError);
  CHECK(s.without({"x", "unknown"}).names() == Names{"b", "y"});
  Shape t = s.with_size("x", 9);
  CHECK(t.size("x") == 9);
  CHECK(t.names() == s.names());
  CHECK_THROWS_AS(s.with_size("z", 1), ShapeError);

  Shape v = phijit::channel("vector", Names{"x", "y"});
  CHECK(v.with_size("vector", 2).item_names("vector") == Names{"x", "y"});  // same size keeps names
  CHECK(v.with_size("vector", 3).item_names("vector").empty());             // resizing drops them
}

TEST_CASE("channel dims can carry item names", "[shape]") {
  Shape v = phijit::channel("vector", Names{"x", "y", "z"});
  CHECK(v.size("vector") == 3);
  CHECK(v.item_names("vector") == Names{"x", "y", "z"});
  // A union with the unnamed dim of the same size keeps the names, from either side.
  CHECK((v & phijit::channel("vector", 3)).item_names("vector") == Names{"x", "y", "z"});
  CHECK((phijit::channel("vector", 3) & v).item_names("vector") == Names{"x", "y", "z"});
}

TEST_CASE("shapes print with type superscripts and item names", "[shape]") {
  Shape s = phijit::channel("vector", Names{"x", "y"}) & phijit::spatial("x", 64) & phijit::spatial("y", 64) &
            phijit::batch("b", 3);
  CHECK(s.str() == "(bᵇ=3, xˢ=64, yˢ=64, vectorᶜ=x,y)");
  std::ostringstream os;
  os << s;
  CHECK(os.str() == "(bᵇ=3, xˢ=64, yˢ=64, vectorᶜ=x,y)");
  CHECK((phijit::dual("n", 2) & phijit::instance("p", 7)).str() == "(~nᵈ=2, pⁱ=7)");
  CHECK(phijit::channel("c", 0).str() == "(cᶜ=0)");
  CHECK(phijit::dim_type_name(DimType::instance) == "instance");
  CHECK(phijit::dim_type_superscript(DimType::dual) == "ᵈ");
}

TEST_CASE("equality compares names, sizes, types, order and item names", "[shape]") {
  CHECK(phijit::spatial("x", 3) == phijit::spatial("x", 3));
  CHECK_FALSE(phijit::spatial("x", 3) == phijit::spatial("x", 4));
  CHECK_FALSE(phijit::spatial("x", 3) == phijit::instance("x", 3));
  CHECK_FALSE(phijit::spatial("x", 3) == phijit::spatial("y", 3));
  CHECK_FALSE(phijit::channel("v", Names{"a", "b"}) == phijit::channel("v", 2));
  CHECK_FALSE((phijit::spatial("x", 2) & phijit::spatial("y", 2)) ==
              (phijit::spatial("y", 2) & phijit::spatial("x", 2)));
}

TEST_CASE("a name with two sizes is a ShapeError naming the dim and both shapes", "[shape][error]") {
  std::string msg = shape_error_of([] { return phijit::spatial("x", 3) & phijit::spatial("x", 4); });
  CHECK_THAT(msg, Contains("'x'"));
  CHECK_THAT(msg, Contains("3"));
  CHECK_THAT(msg, Contains("4"));
  CHECK_THAT(msg, Contains("(xˢ=3)"));
  CHECK_THAT(msg, Contains("(xˢ=4)"));
  CHECK_THROWS_WITH(Shape({Dim{"x", 3, DimType::spatial, {}}, Dim{"x", 5, DimType::spatial, {}}}),
                    Contains("'x'") && Contains("two sizes"));
}

TEST_CASE("a name with two types is a ShapeError", "[shape][error]") {
  std::string msg = shape_error_of([] { return phijit::spatial("x", 3) & phijit::instance("x", 3); });
  CHECK_THAT(msg, Contains("'x'"));
  CHECK_THAT(msg, Contains("spatial"));
  CHECK_THAT(msg, Contains("instance"));
  CHECK_THAT(msg, Contains("(xⁱ=3)"));
}

TEST_CASE("conflicting item names are a ShapeError", "[shape][error]") {
  std::string msg = shape_error_of([] {
    return phijit::channel("vector", Names{"x", "y"}) & phijit::channel("vector", Names{"u", "v"});
  });
  CHECK_THAT(msg, Contains("'vector'"));
  CHECK_THAT(msg, Contains("x,y"));
  CHECK_THAT(msg, Contains("u,v"));
}

TEST_CASE("size/type/dim of an unknown dim is a ShapeError naming it and the shape", "[shape][error]") {
  Shape s = phijit::spatial("x", 3) & phijit::batch("b", 2);
  CHECK_THROWS_WITH(s.size("y"), Contains("'y'") && Contains("(bᵇ=2, xˢ=3)"));
  CHECK_THROWS_AS(s.type("y"), ShapeError);
  CHECK_THROWS_AS(s.dim("y"), ShapeError);
  CHECK_THROWS_AS(s.item_names("y"), ShapeError);
  CHECK_THROWS_AS(Shape().size("x"), ShapeError);
}

TEST_CASE("only dual dims have names starting with '~'", "[shape][error]") {
  CHECK_THROWS_WITH(phijit::spatial("~x", 3), Contains("'~x'") && Contains("spatial"));
  CHECK_THROWS_AS(phijit::batch("~b", 3), ShapeError);
  CHECK_THROWS_AS(phijit::channel("~c", Names{"a"}), ShapeError);
  CHECK_THROWS_WITH(Shape({Dim{"x", 3, DimType::dual, {}}}), Contains("'x'") && Contains("dual"));
  CHECK_NOTHROW(Shape({Dim{"~x", 3, DimType::dual, {}}}));
}

TEST_CASE("invalid dims are ShapeErrors", "[shape][error]") {
  CHECK_THROWS_AS(phijit::spatial("", 3), ShapeError);
  CHECK_THROWS_WITH(phijit::spatial("x", -1), Contains("'x'") && Contains("-1"));
  CHECK_THROWS_WITH(Shape({Dim{"v", 3, DimType::channel, {"a", "b"}}}),
                    Contains("'v'") && Contains("3") && Contains("2 item names"));
  CHECK_THROWS_AS(Shape().with_size("x", 2), ShapeError);
  CHECK_THROWS_AS(phijit::spatial("x", 2).with_size("x", -3), ShapeError);
}

TEST_CASE("parse_dim_names splits on commas and trims spaces", "[shape]") {
  CHECK(phijit::parse_dim_names("x") == Names{"x"});
  CHECK(phijit::parse_dim_names("x, y,z") == Names{"x", "y", "z"});
  CHECK(phijit::parse_dim_names("  a ,b  ") == Names{"a", "b"});
  CHECK(phijit::parse_dim_names("~x,y") == Names{"~x", "y"});
  CHECK_THROWS_AS(phijit::parse_dim_names(""), ShapeError);
  CHECK_THROWS_AS(phijit::parse_dim_names("x,"), ShapeError);
  CHECK_THROWS_AS(phijit::parse_dim_names(",x"), ShapeError);
  CHECK_THROWS_WITH(phijit::parse_dim_names("x,,y"), Contains("x,,y"));
  CHECK_THROWS_AS(phijit::parse_dim_names(" , "), ShapeError);
}

TEST_CASE("a shape whose sizes multiply beyond int64 is a ShapeError naming it", "[shape][error]") {
  constexpr int64_t k2to32 = int64_t{1} << 32;
  // The product 2^64 wrapped to a volume of 0, so zeros() of it "succeeded".
  CHECK_THROWS_MATCHES(phijit::spatial("x", k2to32) & phijit::spatial("y", k2to32), ShapeError,
                       Catch::Matchers::Message(
                           "Shape (xˢ=4294967296, yˢ=4294967296) is too large: the product of its dim sizes "
                           "does not fit in int64"));
  CHECK_THROWS_WITH(Shape({Dim{"a", k2to32, DimType::batch, {}}, Dim{"b", k2to32, DimType::spatial, {}}}),
                    Contains("(aᵇ=4294967296, bˢ=4294967296)") && Contains("too large"));
  Shape wide = phijit::spatial("x", k2to32) & phijit::spatial("y", 2);
  CHECK_THROWS_WITH(wide.with_size("y", k2to32), Contains("yˢ=4294967296") && Contains("too large"));
  // Up to the limit is fine; INT64_MAX itself is a valid size.
  CHECK((phijit::spatial("x", int64_t{1} << 31) & phijit::spatial("y", int64_t{1} << 31)).volume() ==
        int64_t{1} << 62);
  CHECK(phijit::spatial("x", INT64_MAX).volume() == INT64_MAX);
  CHECK_THROWS_AS(phijit::spatial("x", INT64_MAX) & phijit::spatial("y", 2), ShapeError);
}

TEST_CASE("an empty dim makes the volume 0, but the other sizes must still multiply", "[shape][error]") {
  // Strides multiply the non-empty sizes, so they are checked even when the volume is 0.
  CHECK((phijit::spatial("x", 0) & phijit::spatial("y", int64_t{1} << 62)).volume() == 0);
  CHECK_THROWS_WITH(phijit::spatial("x", 0) & phijit::spatial("y", int64_t{1} << 32) &
                        phijit::spatial("z", int64_t{1} << 32),
                    Contains("(xˢ=0, yˢ=4294967296, zˢ=4294967296)"));
}

TEST_CASE("volume_of checks the product of dims that are not a Shape", "[shape][error]") {
  std::vector<Dim> dims{Dim{"x", int64_t{1} << 40, DimType::spatial, {}},
                        Dim{"y", int64_t{1} << 40, DimType::spatial, {}}};
  CHECK_THROWS_WITH(phijit::volume_of(dims), Contains("(xˢ=1099511627776, yˢ=1099511627776)"));
  dims[1].size = 3;
  CHECK(phijit::volume_of(dims) == 3 * (int64_t{1} << 40));
}

TEST_CASE("dim names with ',' or surrounding spaces are ShapeErrors", "[shape][error]") {
  // sum(x, "a,b") reads two dims, so a dim named "a,b" could never be selected.
  CHECK_THROWS_WITH(phijit::spatial("a,b", 3), Contains("'a,b'") && Contains("','"));
  CHECK_THROWS_WITH(phijit::batch("a,b", 3), Contains("'a,b'"));
  CHECK_THROWS_WITH(phijit::instance(",", 3), Contains("','"));
  CHECK_THROWS_WITH(phijit::dual("a,b", 3), Contains("'~a,b'"));
  CHECK_THROWS_WITH(phijit::channel("v,w", 2), Contains("'v,w'"));
  CHECK_THROWS_WITH(phijit::channel("v,w", Names{"x", "y"}), Contains("'v,w'"));
  CHECK_THROWS_WITH(Shape({Dim{"p,q", 1, DimType::spatial, {}}}), Contains("'p,q'"));
  CHECK_THROWS_WITH(phijit::spatial(" x", 3), Contains("' x'") && Contains("space"));
  CHECK_THROWS_WITH(phijit::spatial("x ", 3), Contains("'x '") && Contains("space"));
  CHECK_NOTHROW(phijit::spatial("x y", 3));  // parse_dim_names keeps inner spaces
}
