// Math with sparse matrices: scaling, sums of matrices, sparse·sparse products, reductions,
// comparisons and the errors for what has no sparse meaning. Values are checked against
// hand-computed numbers and against the same op on dense(A).
#include <algorithm>

#include "test_helpers.h"

using namespace phijit;

namespace {

const Extrapolation& kZero = extrapolation::ZERO;
const Shape kX = spatial("x", 4);

// (U u)_i = c u_i − u_{i+1}: c on the diagonal, −1 above it (7 entries on x of size 4).
Tensor upper(const Shape& x = kX, const Tensor& c = 2.0) {
  auto f = [](const Tensor& u, const Tensor& c) { return c * u - shift(u, "x", 1, extrapolation::ZERO); };
  return matrix_from_function(f, zeros(x), c).first;
}

// (L u)_i = c u_i + u_{i−1}: c on the diagonal, 1 below it.
Tensor lower(const Shape& x = kX, const Tensor& c = 3.0) {
  auto f = [](const Tensor& u, const Tensor& c) { return c * u + shift(u, "x", -1, extrapolation::ZERO); };
  return matrix_from_function(f, zeros(x), c).first;
}

// (S u)_i = u_{i+1}: 1 above the diagonal.
Tensor super(const Shape& x = kX) {
  return matrix_from_function([](const Tensor& u) { return shift(u, "x", 1, extrapolation::ZERO); }, zeros(x))
      .first;
}

// A 2-D stencil on a grid; the dim order of `grid` decides the order of the matrix's dims.
Tensor grid_stencil(const Shape& grid, double c) {
  auto f = [c](const Tensor& u) {
    return c * u - shift(u, "x", 1, extrapolation::ZERO) + 0.5 * shift(u, "y", -1, extrapolation::ZERO);
  };
  return matrix_from_function(f, zeros(grid)).first;
}

// One entry of a matrix, by dim name and index (any dim order).
double at(const Tensor& A, const std::vector<std::pair<std::string, int64_t>>& index) {
  Tensor t = dense(A);
  for (const auto& [dim, i] : index) t = t.slice(dim, i);
  return t.item();
}

std::vector<std::string> sorted_names(const Shape& s) {
  std::vector<std::string> n = s.names();
  std::sort(n.begin(), n.end());
  return n;
}

// Same dims (in any order) and the same values to `tol`.
void check_same(const Tensor& got, const Tensor& want, double tol = 1e-12) {
  REQUIRE(sorted_names(got.shape()) == sorted_names(want.shape()));
  CHECK_FALSE(got.is_sparse());
  Tensor diff = abs(got.astype(DType::f64) - want.astype(DType::f64));
  CHECK(max(diff, diff.shape()).item() <= tol);
}

// Each dual dim ~n of T renamed to an instance dim k_n: a dense matrix B that can be the
// vector of a dense matmul (its own duals would clash with the renamed primal dims).
Tensor duals_renamed(const Tensor& T) {
  std::vector<std::pair<std::string, Shape>> renames;
  Shape duals = T.shape().dual();
  for (const Dim& d : duals.dims()) renames.emplace_back(d.name, instance("k_" + d.name.substr(1), d.size));
  return rename_dims(T, renames);
}

// dense(A)·dense(B) through the dense path, and dense(C) in the same form.
void check_product(const Tensor& C, const Tensor& A, const Tensor& B, double tol = 1e-12) {
  REQUIRE(C.is_sparse());
  check_same(duals_renamed(dense(C)), matmul(dense(A), duals_renamed(dense(B))), tol);
}

}  // namespace

TEST_CASE("sparse math: scaling by a scalar keeps the pattern", "[sparse]") {
  Tensor U = upper();
  REQUIRE(U.is_sparse());
  REQUIRE(nnz(U) == 7);
  for (const Tensor& B : {U * 3.0, 3.0 * U}) {
    REQUIRE(B.is_sparse());
    CHECK(nnz(B) == 7);
    CHECK(at(B, {{"x", 0}, {"~x", 0}}) == 6);
    CHECK(at(B, {{"x", 2}, {"~x", 3}}) == -3);
    CHECK(at(B, {{"x", 3}, {"~x", 0}}) == 0);
    check_same(dense(B), dense(U) * 3.0);
  }
  Tensor H = U / 4.0;
  CHECK(at(H, {{"x", 1}, {"~x", 1}}) == 0.5);
  CHECK(at(H, {{"x", 1}, {"~x", 2}}) == -0.25);
  check_same(dense(H), dense(U) / 4.0);
  Tensor N = -U;
  REQUIRE(N.is_sparse());
  CHECK(at(N, {{"x", 3}, {"~x", 3}}) == -2);
  check_same(dense(N), -dense(U));
  check_same(dense(abs(N)), dense(U) * sign(dense(U)));
}

TEST_CASE("sparse math: scaling by a tensor along rows, columns, both and batch dims", "[sparse]") {
  Tensor U = upper();
  Tensor r = tensor({1, 2, 3, 4}, kX);                // per row
  Tensor c = tensor({10, 20, 30, 40}, dual("x", 4));  // per column
  SECTION("rows") {
    Tensor B = U * r;
    REQUIRE(B.is_sparse());
    CHECK(nnz(B) == 7);
    CHECK(at(B, {{"x", 1}, {"~x", 1}}) == 4);   // 2 · r_1
    CHECK(at(B, {{"x", 1}, {"~x", 2}}) == -2);  // −1 · r_1
    check_same(dense(B), dense(U) * r);
    check_same(dense(r * U), dense(U) * r);
  }
  SECTION("columns, multiplied and divided") {
    CHECK(at(U * c, {{"x", 1}, {"~x", 2}}) == -30);  // −1 · c_2
    check_same(dense(U * c), dense(U) * c);
    CHECK(at(U / c, {{"x", 0}, {"~x", 0}}) == 0.2);  // 2 / c_0
    check_same(dense(U / c), dense(U) / c);
  }
  SECTION("rows and columns together") {
    Tensor w = random_normal(kX & dual("x", 4), 3);
    Tensor B = U * w;
    CHECK(nnz(B) == 7);
    CHECK(at(B, {{"x", 2}, {"~x", 3}}) == Approx(-at(w, {{"x", 2}, {"~x", 3}})));
    check_same(dense(B), dense(U) * w);
  }
  SECTION("a batch dim the matrix lacks gives a batch of matrices on one pattern") {
    Tensor s = tensor({1, 10}, batch("b", 2));
    Tensor B = U * s * r;
    REQUIRE(B.is_sparse());
    CHECK(B.shape() == (batch("b", 2) & kX & dual("x", 4)));
    CHECK(nnz(B) == 14);
    CHECK(at(B, {{"b", 1}, {"x", 3}, {"~x", 3}}) == 80);  // 2 · 10 · r_3
    check_same(dense(B), dense(U) * s * r);
  }
}

TEST_CASE("sparse math: scaling follows the dense dtype rules", "[sparse][dtype]") {
  Tensor U = upper();
  Tensor F = U.astype(DType::f32);
  REQUIRE(F.is_sparse());
  CHECK(F.dtype() == DType::f32);
  CHECK((F * 2.0).dtype() == DType::f32);  // a plain double takes the matrix's float type
  CHECK((F * tensor({1, 2, 3, 4}, kX)).dtype() == DType::f64);
  Tensor I = U.astype(DType::i64);
  CHECK((I * tensor({1, 2, 3, 4}, kX, DType::i32)).dtype() == DType::i64);
  Tensor half = I / 4.0;
  CHECK(half.dtype() == DType::f64);
  CHECK(at(half, {{"x", 0}, {"~x", 1}}) == -0.25);
}

TEST_CASE("sparse math: what cannot scale a sparse matrix is an error naming it", "[sparse][errors]") {
  Tensor U = upper();
  CHECK_THROWS_MATCHES(
      U * tensor({1, 2}, spatial("y", 2)), ShapeError,
      message_contains({"mul", "dim 'y'", "(yˢ=2)", "(~xᵈ=4, xˢ=4)", "only the matrix's row"}));
  CHECK_THROWS_MATCHES(U * tensor({1, 2, 3, 4, 5}, spatial("x", 5)), ShapeError,
                       message_contains({"mul", "dim 'x'", "(xˢ=5)", "(~xᵈ=4, xˢ=4)", "with their sizes"}));
  CHECK_THROWS_MATCHES(tensor({1, 2, 3, 4}, batch("x", 4)) * U, ShapeError,
                       message_contains({"mul", "dim 'x'", "(xᵇ=4)"}));
  CHECK_THROWS_MATCHES(1.0 / U, Error, message_contains({"div", "(~xᵈ=4, xˢ=4)", "dense(A)"}));
  CHECK_THROWS_MATCHES(U * U, Error, message_contains({"mul", "sparse matrix (~xᵈ=4, xˢ=4)"}));
  CHECK_THROWS_MATCHES(exp(U), Error, message_contains({"exp", "(~xᵈ=4, xˢ=4)", "support", "dense(A)"}));
  CHECK_THROWS_MATCHES(U.slice("x", 0), Error, message_contains({"slice", "sparse matrix"}));
}

TEST_CASE("sparse math: A + B and A - B on the union of the patterns", "[sparse]") {
  Tensor U = upper(), L = lower();
  SECTION("different patterns") {
    Tensor T = U + L;  // tridiagonal: diagonal 5, 1 below, −1 above
    REQUIRE(T.is_sparse());
    CHECK(nnz(T) == 10);
    CHECK(at(T, {{"x", 2}, {"~x", 2}}) == 5);
    CHECK(at(T, {{"x", 2}, {"~x", 1}}) == 1);
    CHECK(at(T, {{"x", 2}, {"~x", 3}}) == -1);
    CHECK(at(T, {{"x", 3}, {"~x", 0}}) == 0);
    check_same(dense(T), dense(U) + dense(L));
    Tensor D = U - L;
    CHECK(at(D, {{"x", 2}, {"~x", 2}}) == -1);
    CHECK(at(D, {{"x", 2}, {"~x", 1}}) == -1);
    check_same(dense(D), dense(U) - dense(L));
  }
  SECTION("entries that cancel stay stored as zeros") {
    Tensor C = U + super();  // −1 + 1 above the diagonal
    REQUIRE(C.is_sparse());
    CHECK(nnz(C) == 7);
    CHECK(at(C, {{"x", 0}, {"~x", 1}}) == 0);
    CHECK(at(C, {{"x", 0}, {"~x", 0}}) == 2);
    check_same(dense(C), dense(U) + dense(super()));
    check_same(dense(U - U), zeros(U.shape()));
  }
  SECTION("batch dims broadcast") {
    Tensor Ub = upper(kX, tensor({2, 3}, batch("b", 2)));
    Tensor Ln = lower(kX, tensor({3, 5, 7}, batch("n", 3)));
    Tensor S = Ub + Ln;
    REQUIRE(S.is_sparse());
    CHECK(sorted_names(S.shape()) == std::vector<std::string>{"b", "n", "x", "~x"});
    CHECK(nnz(S) == 10 * 6);
    CHECK(at(S, {{"b", 1}, {"n", 2}, {"x", 1}, {"~x", 1}}) == 10);  // 3 + 7
    check_same(dense(S), dense(Ub) + dense(Ln));
    check_same(dense(Ub - L), dense(Ub) - dense(L));
  }
  SECTION("the same dims in another order") {
    Tensor A = grid_stencil(spatial("x", 3) & spatial("y", 2), 4.0);
    Tensor B =
        grid_stencil(spatial("y", 2) & spatial("x", 3), -1.0) + upper(spatial("x", 3) & spatial("y", 2));
    REQUIRE(A.shape().names() != B.shape().names());
    check_same(dense(A + B), dense(A) + dense(B));
    check_same(dense(B - A), dense(B) - dense(A));
  }
}

TEST_CASE("sparse math: a sparse plus a dense tensor is dense", "[sparse]") {
  Tensor U = upper();
  Tensor v = random_normal(kX & dual("x", 4), 1);
  Tensor S = U + v;
  CHECK_FALSE(S.is_sparse());
  check_same(S, dense(U) + v);
  check_same(v - U, v - dense(U));
  Tensor P = U + 1.0;
  CHECK_FALSE(P.is_sparse());
  CHECK(at(P, {{"x", 3}, {"~x", 0}}) == 1);
  check_same(P, dense(U) + 1.0);
}

TEST_CASE("sparse math: A + B needs the same row and column dims", "[sparse][errors]") {
  Tensor U = upper();
  CHECK_THROWS_MATCHES(U + upper(spatial("x", 5)), ShapeError,
                       message_contains({"add", "(~xᵈ=4, xˢ=4)", "(~xᵈ=5, xˢ=5)"}));
  Tensor R = matrix_from_function(
                 [](const Tensor& u) {
                   return rename_dims(u, {{"x", spatial("y", 4)}});
                 },
                 zeros(kX))
                 .first;
  CHECK_THROWS_MATCHES(U - R, ShapeError, message_contains({"sub", "(~xᵈ=4, xˢ=4)", "(~xᵈ=4, yˢ=4)"}));
  Tensor Ub = upper(kX, tensor({2, 3}, batch("b", 2)));
  CHECK_THROWS_MATCHES(Ub + upper(kX, tensor({2, 3, 4}, batch("b", 3))), ShapeError,
                       message_contains({"add", "batch dim 'b'", "bᵇ=2", "bᵇ=3"}));
}

TEST_CASE("sparse math: matmul of two sparse matrices", "[sparse][matmul]") {
  Tensor U = upper(), L = lower();
  SECTION("by hand: (UL)_ij = 2 L_ij − L_{i+1,j}") {
    Tensor C = matmul(U, L);
    REQUIRE(C.is_sparse());
    CHECK(C.shape() == U.shape());
    CHECK(nnz(C) == 10);
    for (int64_t i = 0; i < 4; ++i) {
      CHECK(at(C, {{"x", i}, {"~x", i}}) == (i < 3 ? 5 : 6));
      if (i > 0) CHECK(at(C, {{"x", i}, {"~x", i - 1}}) == 2);
      if (i < 3) CHECK(at(C, {{"x", i}, {"~x", i + 1}}) == -3);
    }
    check_product(C, U, L);
    Tensor v = random_normal(kX, 2);
    check_same(matmul(C, v), matmul(U, matmul(L, v)));
  }
  SECTION("rectangular, with other dim names") {
    // (R u)_i = u_{i+1} − u_i for i < 3, as a dim y: R is (y=3) × (~x=4).
    Tensor R = matrix_from_function(
                   [](const Tensor& u) {
                     return rename_dims(u.slice("x", 1, 4) - u.slice("x", 0, 3), {{"x", spatial("y", 3)}});
                   },
                   zeros(kX))
                   .first;
    Tensor C = matmul(R, U);
    CHECK(sorted_names(C.shape()) == std::vector<std::string>{"y", "~x"});
    // (RU)_ij = U_{i+1,j} − U_ij: row 0 is (−2, 3, −1, 0).
    CHECK(at(C, {{"y", 0}, {"~x", 0}}) == -2);
    CHECK(at(C, {{"y", 0}, {"~x", 1}}) == 3);
    CHECK(at(C, {{"y", 0}, {"~x", 2}}) == -1);
    CHECK(at(C, {{"y", 0}, {"~x", 3}}) == 0);
    check_product(C, R, U);
    CHECK_THROWS_MATCHES(matmul(U, R), ShapeError,
                         message_contains({"matmul", "(~xᵈ=4, xˢ=4)", "(~xᵈ=4, yˢ=3)"}));
    // The same rows named x: rows x (3) and columns ~x (4) differ in size.
    Tensor Rx = matrix_from_function([](const Tensor& u) { return u.slice("x", 1, 4) - u.slice("x", 0, 3); },
                                     zeros(kX))
                    .first;
    Tensor Cx = matmul(Rx, U);
    CHECK(Cx.shape() == (spatial("x", 3) & dual("x", 4)));
    CHECK(at(Cx, {{"x", 0}, {"~x", 1}}) == 3);
    check_product(Cx, Rx, U);
    CHECK_THROWS_MATCHES(matmul(U, Rx), ShapeError,
                         message_contains({"dual dim '~x' (size 4)", "(~xᵈ=4, xˢ=4)", "(~xᵈ=4, xˢ=3)"}));
  }
  SECTION("batched: the batch dims of both") {
    Tensor Ub = upper(kX, tensor({2, 3}, batch("b", 2)));
    Tensor Ln = lower(kX, tensor({3, 5, 7}, batch("n", 3)));
    Tensor C = matmul(Ub, Ln);
    CHECK(sorted_names(C.shape()) == std::vector<std::string>{"b", "n", "x", "~x"});
    CHECK(nnz(C) == 10 * 6);
    // Diagonal: c_b · l_n − 1 away from the last row.
    CHECK(at(C, {{"b", 1}, {"n", 2}, {"x", 0}, {"~x", 0}}) == 3 * 7 - 1);
    check_product(C, Ub, Ln);
    check_product(matmul(Ub, L), Ub, L);
    check_product(matmul(U, Ln), U, Ln);
    Tensor v = random_normal(batch("b", 2) & kX, 4);
    check_same(matmul(C, v), matmul(Ub, matmul(Ln, v)));
    CHECK_THROWS_MATCHES(matmul(Ub, lower(kX, tensor({3, 5, 7}, batch("b", 3)))), ShapeError,
                         message_contains({"matmul", "batch dim 'b' (size 2)", "bᵇ=3"}));
  }
  SECTION("dims in different orders") {
    Tensor A = grid_stencil(spatial("x", 3) & spatial("y", 4), 4.0);
    Tensor B = grid_stencil(spatial("y", 4) & spatial("x", 3), -1.0);
    Tensor v = random_normal(spatial("x", 3) & spatial("y", 4), 5);
    check_product(matmul(A, B), A, B);
    check_product(matmul(B, A), B, A);
    check_same(matmul(matmul(A, B), v), matmul(A, matmul(B, v)));
  }
  SECTION("large enough to split over the thread pool") {
    Shape grid = spatial("x", 120) & spatial("y", 100);
    Tensor A = grid_stencil(grid, 4.0) * random_uniform(grid, 1, 2, 6);
    Tensor B = grid_stencil(grid, 1.5) * tensor({1, -2, 3}, batch("b", 3));
    Tensor C = matmul(A, B);
    CHECK(nnz(C) == 3 * nnz(matmul(A, grid_stencil(grid, 1.5))));
    Tensor v = random_normal(grid, 7);
    check_same(matmul(C, v), matmul(A, matmul(B, v)), 1e-10);
  }
  SECTION("dtypes") {
    Tensor I = matmul(U.astype(DType::i64), L.astype(DType::i32));
    CHECK(I.dtype() == DType::i64);
    CHECK(at(I, {{"x", 0}, {"~x", 1}}) == -3);
    CHECK(matmul(U.astype(DType::f32), L.astype(DType::f32)).dtype() == DType::f32);
    CHECK(matmul(U.astype(DType::f32), L).dtype() == DType::f64);
  }
  SECTION("a dense matrix times a sparse one is dense") {
    Tensor C = matmul(dense(U), L);
    CHECK_FALSE(C.is_sparse());
    check_same(C, dense(matmul(U, L)));
    check_same(matmul(dense(U), dense(L)), dense(matmul(U, L)));  // and two dense ones
  }
}

TEST_CASE("sparse math: matmul of two sparse matrices rejects traced values", "[sparse][matmul][errors]") {
  Tensor L = lower();
  auto f = [&](const Tensor& c) { return dense(matmul(upper(kX, c), L)); };
  CHECK_THROWS_MATCHES(jit_compile(f)(tensor({2.0}, Shape())), Error,
                       message_contains({"matmul of two sparse matrices", "computed in a traced function"}));
  // Concrete matrices inside a traced function are constants: their product is one too.
  Tensor U = upper();
  auto g = jit_compile([&](const Tensor& v) { return matmul(matmul(U, L), v); });
  Tensor v = random_normal(kX, 8);
  check_same(g(v), matmul(U, matmul(L, v)));
}

TEST_CASE("sparse math: sum and mean over rows, columns, both and batch dims", "[sparse][reduce]") {
  Tensor U = upper();
  CHECK(sum(U).item() == 5);  // 4 · 2 − 3
  CHECK_FALSE(sum(U, "x").is_sparse());
  CHECK(sum(U, "x").shape() == dual("x", 4));
  CHECK_VALUES(sum(U, "x"), {2, 1, 1, 1});   // column sums
  CHECK_VALUES(sum(U, "~x"), {1, 1, 1, 2});  // row sums
  CHECK(mean(U).item() == 5.0 / 16);
  CHECK_VALUES(mean(U, "~x"), {0.25, 0.25, 0.25, 0.5});
  for (const char* dims : {"x", "~x", "x,~x"}) {
    INFO(dims);
    check_same(sum(U, dims), sum(dense(U), dims));
    check_same(mean(U, dims), mean(dense(U), dims));
  }
  SECTION("batched") {
    Tensor Ub = upper(kX, tensor({2, 3}, batch("b", 2)));
    CHECK_VALUES(sum(Ub), {5, 9});
    check_same(sum(Ub, "b,x"), sum(dense(Ub), "b,x"));
    check_same(mean(Ub, Ub.shape()), mean(dense(Ub), Ub.shape()));
    // Over batch dims alone the pattern stays.
    Tensor S = sum(Ub, "b");
    REQUIRE(S.is_sparse());
    CHECK(nnz(S) == 7);
    CHECK(at(S, {{"x", 1}, {"~x", 1}}) == 5);
    CHECK(at(S, {{"x", 1}, {"~x", 2}}) == -2);
    check_same(dense(mean(Ub, "b")), mean(dense(Ub), "b"));
  }
  SECTION("dtypes follow the dense path") {
    Tensor I = U.astype(DType::i32);
    CHECK(sum(I).dtype() == DType::i64);
    CHECK(sum(I).item() == 5);
    CHECK(mean(I, "x").dtype() == DType::f64);
    CHECK(sum(U.astype(DType::f32), "x").dtype() == DType::f32);
  }
}

TEST_CASE("sparse math: max and min count the zeros that are not stored", "[sparse][reduce]") {
  Tensor N = upper(kX, -2.0);  // stored entries −2 and −1; the rest are unstored zeros
  CHECK(max(N).item() == 0);
  CHECK(min(N).item() == -2);
  CHECK(max(-N).item() == 2);
  CHECK(min(-N).item() == 0);
  // On x of size 2, row 0 stores (−2, −1), all of it; row 1 stores only its −2.
  Tensor M = upper(spatial("x", 2), -2.0);
  CHECK_VALUES(max(M, "~x"), {-1, 0});
  CHECK_VALUES(min(M, "~x"), {-2, -2});
  CHECK_VALUES(max(M, "x"), {0, -1});  // column 0 stores −2 and misses row 1
  for (const char* dims : {"x", "~x", "x,~x"}) {
    INFO(dims);
    check_same(max(N, dims), max(dense(N), dims));
    check_same(min(N, dims), min(dense(N), dims));
    check_same(max(M, dims), max(dense(M), dims));
  }
  SECTION("batched, and over batch dims alone") {
    Tensor Nb = upper(kX, tensor({-2, 5}, batch("b", 2)));
    CHECK_VALUES(max(Nb), {0, 5});
    CHECK_VALUES(min(Nb), {-2, -1});
    check_same(max(Nb, "b,~x"), max(dense(Nb), "b,~x"));
    Tensor Mb = max(Nb, "b");
    REQUIRE(Mb.is_sparse());
    check_same(dense(Mb), max(dense(Nb), "b"));
  }
  SECTION("integers") {
    Tensor I = N.astype(DType::i64);
    CHECK(max(I).dtype() == DType::i64);
    CHECK(max(I).item() == 0);
    CHECK(min(I, "~x").to_vector() == std::vector<double>{-2, -2, -2, -2});
  }
}

TEST_CASE("sparse math: comparisons are the comparisons of dense(A)", "[sparse]") {
  Tensor U = upper();
  Tensor eq = U == dense(U);
  CHECK_FALSE(eq.is_sparse());
  CHECK(eq.dtype() == DType::boolean);
  CHECK(eq.to_vector() == std::vector<double>(16, 1.0));
  CHECK((U != dense(U)).to_vector() == std::vector<double>(16, 0.0));
  check_same(U > 0.0, dense(U) > 0.0);
  check_same(U <= 0.0, dense(U) <= 0.0);
  check_same(dense(lower()) < U, dense(lower()) < dense(U));
}

TEST_CASE("sparse math: unary ops that keep 0 at 0, and astype", "[sparse]") {
  Tensor N = -upper() * tensor({1, 4, 9, 16}, dual("x", 4));
  for (auto [name, f] : std::vector<std::pair<const char*, Tensor (*)(const Tensor&)>>{
           {"abs", abs}, {"sign", sign}, {"sin", sin}, {"tan", tan}, {"tanh", tanh}}) {
    INFO(name);
    Tensor R = f(N);
    REQUIRE(R.is_sparse());
    CHECK(nnz(R) == 7);
    check_same(dense(R), f(dense(N)));
  }
  Tensor R = sqrt(abs(N));
  CHECK(at(R, {{"x", 0}, {"~x", 1}}) == 2);  // sqrt(1 · 4)
  check_same(dense(R), sqrt(abs(dense(N))));
  Tensor B = N.astype(DType::boolean);
  REQUIRE(B.is_sparse());
  CHECK(B.dtype() == DType::boolean);
  check_same(dense(B), dense(N) != 0.0);
  CHECK(sum(B).item() == 7);
  Tensor F = N.astype(DType::f32);
  REQUIRE(F.is_sparse());
  CHECK(nnz(F) == 7);
  check_same(dense(F), dense(N));
}

TEST_CASE("sparse math: scaling by a traced scalar inside jit_compile and gradient", "[sparse][jit]") {
  Tensor U = upper();
  Tensor x = random_normal(kX, 9), v = random_normal(kX, 10);
  auto f = jit_compile([&](const Tensor& c) { return matmul(U * c, x) + matmul(-U / c, v); });
  check_same(f(tensor({3.0}, Shape())), matmul(U, x) * 3.0 - matmul(U, v) / 3.0);
  // d/dc Σ v·(c U x) = v·(U x).
  Tensor g = gradient([&](const Tensor& c) { return sum(v * matmul(U * c, x)); }, {0},
                      false)(tensor({3.0}, Shape()))[0];
  CHECK(g.item() == Approx(sum(v * matmul(U, x)).item()).epsilon(1e-12));
  // Traced values plus a matrix of the same pattern stay traced values.
  auto h = jit_compile([&](const Tensor& c) { return matmul(upper(kX, c) + U, x); });
  check_same(h(tensor({3.0}, Shape())), matmul(upper(kX, 3.0) + U, x));
  CHECK_THROWS_MATCHES(
      jit_compile([&](const Tensor& c) { return matmul(upper(kX, c) + lower(), x); })(tensor({3.0}, Shape())),
      Error, message_contains({"add", "computed in a traced function"}));
  CHECK_THROWS_MATCHES(jit_compile([&](const Tensor& r) { return matmul(U * r, x); })(x), Error,
                       message_contains({"mul", "traced tensor (xˢ=4)", "not supported"}));
}
