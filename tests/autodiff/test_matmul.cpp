#include <limits>

#include <xtensor/xmanipulation.hpp>

#include "tests/support/op_check.hpp"

using namespace wgtest;
using wgflow::ad::Trans;

namespace {
// The textbook triple loop: the forward reference.
Tensor<double> naive_matmul(const Tensor<double>& a, const Tensor<double>& b) {
  Tensor<double> c = xt::zeros<double>({a.shape()[0], b.shape()[1]});
  for (std::size_t i = 0; i < a.shape()[0]; ++i)
    for (std::size_t j = 0; j < b.shape()[1]; ++j)
      for (std::size_t p = 0; p < a.shape()[1]; ++p) c(i, j) += a(i, p) * b(p, j);
  return c;
}
Tensor<double> t(const Tensor<double>& x) { return xt::transpose(x); }
}  // namespace

TEST_CASE("matmul, with each operand transposed in place") {
  const std::vector<std::vector<Shape>> shapes = {{{1, 1}, {1, 1}}, {{3, 4}, {4, 2}}, {{1, 5}, {5, 1}},
                                                  {{5, 1}, {1, 3}}, {{7, 9}, {9, 6}}};
  check_op([](const Vars& v) { return matmul(v[0], v[1]); },
           [](const Values& x) { return naive_matmul(x[0], x[1]); }, shapes);
  // Same products, with the stored operands transposed and the op told so.
  std::vector<std::vector<Shape>> ta, tb, tt;
  for (const auto& s : shapes) {
    const Shape a_t{s[0][1], s[0][0]}, b_t{s[1][1], s[1][0]};
    ta.push_back({a_t, s[1]});
    tb.push_back({s[0], b_t});
    tt.push_back({a_t, b_t});
  }
  check_op([](const Vars& v) { return matmul(v[0], v[1], Trans::yes, Trans::no); },
           [](const Values& x) { return naive_matmul(t(x[0]), x[1]); }, ta);
  check_op([](const Vars& v) { return matmul(v[0], v[1], Trans::no, Trans::yes); },
           [](const Values& x) { return naive_matmul(x[0], t(x[1])); }, tb);
  check_op([](const Vars& v) { return matmul(v[0], v[1], Trans::yes, Trans::yes); },
           [](const Values& x) { return naive_matmul(t(x[0]), t(x[1])); }, tt);
}

TEST_CASE("matmul names both shapes when inner dimensions differ") {
  Tape<double> tape;
  auto a = tape.variable(Tensor<double>::from_shape({2, 3}));
  auto b = tape.variable(Tensor<double>::from_shape({4, 5}));
  CHECK_THROWS_WITH_AS(matmul(a, b), doctest::Contains("matmul: inner dimensions differ: op(a) is 2x3"),
                       wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(matmul(a, b), doctest::Contains("op(b) is 4x5"), wgflow::ShapeError);
}

TEST_CASE("float matmul, each operand transposed or not, matches double within float precision") {
  // A 37-deep product's rounding grows with its depth: 16 float epsilons per term (4.4e-6 here, against
  // errors of order 1 from a wrong tile or transpose). 40 x 37 spans several of the GEMM's register tiles.
  const std::vector<Shape> shapes = {{1, 1}, {5, 7}, {40, 37}};
  const double tol = 16 * 37 * std::numeric_limits<float>::epsilon();
  const Domain d{-1, 1};
  check_float_matches_double([](const auto& x) { return matmul(x, x, Trans::no, Trans::yes); }, d, tol, shapes);
  check_float_matches_double([](const auto& x) { return matmul(x, x, Trans::yes, Trans::no); }, d, tol, shapes);
  check_float_matches_double([](const auto& x) { return matmul(transpose(x), x); }, d, tol, shapes);
  check_float_matches_double([](const auto& x) { return matmul(x, transpose(x), Trans::no, Trans::no); }, d, tol,
                             shapes);
  check_float_matches_double([](const auto& x) { return matmul(x, x, Trans::yes, Trans::yes); },
                             d, tol, {Shape{1, 1}, Shape{6, 6}, Shape{37, 37}});
}
