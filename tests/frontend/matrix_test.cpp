// End-to-end tests of dense matrices: matmul through dual dims, dense and nnz (API §5).
#include <phijit/phijit.h>

#include <catch2/catch.hpp>

#include "test_helpers.h"

using namespace phijit;

TEST_CASE("matrix: a dual dim is named with a tilde and sorts after batch dims", "[matrix]") {
  Shape s = channel("b_vec", 2) & dual("x_vec", 2) & batch("n", 3);
  CHECK(s.names() == std::vector<std::string>{"n", "~x_vec", "b_vec"});
  CHECK(s.type("~x_vec") == DimType::dual);
  CHECK(s.dual() == dual("x_vec", 2));
}

TEST_CASE("matrix: matmul of the swap matrix", "[matrix][matmul]") {
  Tensor A = tensor({0, 1, 1, 0}, channel("b_vec", 2) & dual("x_vec", 2));
  Tensor x = tensor({2, 3}, channel("x_vec", 2));
  Tensor y = matmul(A, x);
  CHECK(y.shape() == channel("b_vec", 2));
  CHECK_VALUES(y, {3, 2});
}

TEST_CASE("matrix: matmul pairs ~n with n (non-symmetric matrix)", "[matrix][matmul]") {
  // Canonical order puts ~col (dual) before row (channel): values are A[~col, row], so
  // the matrix M[row][col] is ((1, 3), (2, 4)).
  Tensor A = tensor({1, 2, 3, 4}, channel("row", 2) & dual("col", 2));
  CHECK(A.shape().names() == std::vector<std::string>{"~col", "row"});
  Tensor x = tensor({5, 6}, channel("col", 2));
  Tensor y = matmul(A, x);
  CHECK(y.shape() == channel("row", 2));
  CHECK_VALUES(y, {1 * 5 + 3 * 6, 2 * 5 + 4 * 6});
  // Unit vectors pick the columns.
  CHECK_VALUES(matmul(A, tensor({1, 0}, channel("col", 2))), {1, 2});
  CHECK_VALUES(matmul(A, tensor({0, 1}, channel("col", 2))), {3, 4});
}

TEST_CASE("matrix: a square matrix maps a grid vector to itself", "[matrix][matmul]") {
  // M[x][~x] = ((2, -1, 0), (-1, 2, -1), (0, -1, 2)); symmetric, so the value order does not matter.
  Tensor A = tensor({2, -1, 0, -1, 2, -1, 0, -1, 2}, spatial("x", 3) & dual("x", 3));
  Tensor v = tensor({1, 2, 4}, spatial("x", 3));
  Tensor y = matmul(A, v);
  CHECK(y.shape() == spatial("x", 3));
  CHECK_VALUES(y, {0, -1, 6});
  // Applying it twice.
  CHECK_VALUES(matmul(A, y), {1, -8, 13});
}

TEST_CASE("matrix: a rectangular matrix changes the dim", "[matrix][matmul]") {
  // M[out][~in] with out (2) and in (3): rows (1, 0, 2) and (0, 1, -1). Values are in order (~in, out).
  Tensor A = tensor({1, 0, 0, 1, 2, -1}, instance("out", 2) & dual("in", 3));
  Tensor x = tensor({1, 2, 3}, instance("in", 3));
  Tensor y = matmul(A, x);
  CHECK(y.shape() == instance("out", 2));
  CHECK_VALUES(y, {1 + 6, 2 - 3});
}

TEST_CASE("matrix: matmul with batched vectors", "[matrix][matmul]") {
  Tensor A = tensor({1, 2, 3, 4}, channel("row", 2) & dual("col", 2));
  Tensor x = tensor({5, 6, 1, 0, 0, -1}, batch("n", 3) & channel("col", 2));
  Tensor y = matmul(A, x);
  CHECK(y.shape() == (batch("n", 3) & channel("row", 2)));
  CHECK_VALUES(y, {23, 34, 1, 2, -3, -4});
}

TEST_CASE("matrix: matmul with a batched matrix", "[matrix][matmul]") {
  // Batch entry 0 is the identity, entry 1 doubles.
  Tensor A = tensor({1, 0, 0, 1, 2, 0, 0, 2}, batch("n", 2) & channel("row", 2) & dual("col", 2));
  Tensor x = tensor({3, 4}, channel("col", 2));
  Tensor y = matmul(A, x);
  CHECK(y.shape() == (batch("n", 2) & channel("row", 2)));
  CHECK_VALUES(y, {3, 4, 6, 8});
}

TEST_CASE("matrix: matmul over two dual dims", "[matrix][matmul]") {
  // A[~x, ~y] contracts a 2x2 grid to a scalar: a weighted sum.
  Tensor A = tensor({1, 10, 100, 1000}, dual("x", 2) & dual("y", 2));
  Tensor g = tensor({1, 2, 3, 4}, spatial("x", 2) & spatial("y", 2));
  Tensor y = matmul(A, g);
  CHECK(y.shape().rank() == 0);
  CHECK(y.item() == 1 + 20 + 300 + 4000);
}

TEST_CASE("matrix: dense and nnz of a dense matrix", "[matrix]") {
  Tensor A = tensor({1, 0, 0, 2, 3, 0}, channel("row", 2) & dual("col", 3));
  CHECK_FALSE(A.is_sparse());
  Tensor D = dense(A);
  CHECK_FALSE(D.is_sparse());
  CHECK(D.shape() == A.shape());
  CHECK(D.to_vector() == A.to_vector());
  CHECK(nnz(A) == 6);  // a dense matrix stores every entry, zeros included
  CHECK(nnz(tensor({1, 2, 3, 4}, spatial("x", 2) & dual("x", 2))) == 4);
}

TEST_CASE("matrix: matmul promotes dtypes", "[matrix][matmul][dtype]") {
  Tensor A = tensor({1, 0, 0, 1}, channel("row", 2) & dual("col", 2), DType::f32);
  CHECK(matmul(A, tensor({1.5, 2.5}, channel("col", 2), DType::f32)).dtype() == DType::f32);
  CHECK(matmul(A, tensor({1.5, 2.5}, channel("col", 2))).dtype() == DType::f64);
  Tensor I = tensor({1, 2, 3, 4}, channel("row", 2) & dual("col", 2), DType::i64);
  Tensor y = matmul(I, tensor({1, 1}, channel("col", 2), DType::i64));
  CHECK(y.dtype() == DType::i64);
  CHECK(y.to_vector() == std::vector<double>{4, 6});
}
