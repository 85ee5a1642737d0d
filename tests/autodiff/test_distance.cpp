#include <limits>

#include <xtensor/xmanipulation.hpp>

#include "tests/support/op_check.hpp"

using namespace wgtest;
using wgflow::ad::sq_dist;

namespace {
// The definition, pair by pair: the forward reference.
Tensor<double> naive_sq_dist(const Tensor<double>& x, const Tensor<double>& y) {
  Tensor<double> d = xt::zeros<double>({x.shape()[0], y.shape()[0]});
  for (std::size_t i = 0; i < x.shape()[0]; ++i)
    for (std::size_t j = 0; j < y.shape()[0]; ++j)
      for (std::size_t k = 0; k < x.shape()[1]; ++k) d(i, j) += (x(i, k) - y(j, k)) * (x(i, k) - y(j, k));
  return d;
}
}  // namespace

TEST_CASE("sq_dist matches the pairwise definition, value and gradient") {
  const std::vector<std::vector<Shape>> shapes = {
      {{1, 1}, {1, 1}}, {{4, 3}, {5, 3}}, {{1, 2}, {6, 2}}, {{5, 1}, {3, 1}}, {{40, 7}, {30, 7}}};
  check_op([](const Vars& v) { return sq_dist(v[0], v[1]); },
           [](const Values& x) { return naive_sq_dist(x[0], x[1]); }, shapes);
}

TEST_CASE("sq_dist of a point set with itself: symmetric, zero diagonal, both gradient terms accumulate") {
  check_op([](const Vars& v) { return sq_dist(v[0], v[0]); },
           [](const Values& x) { return naive_sq_dist(x[0], x[0]); }, {{{1, 1}}, {{6, 3}}, {{12, 2}}});
  // Far from the origin the expansion |x|^2 + |y|^2 - 2 x.y cancels catastrophically (|x|^2 ~ 1e10
  // carries an absolute rounding error ~1e-6); the clamp keeps every distance non-negative.
  Tensor<double> far = random_tensor({50, 3}, 11) + 1e5;
  Tape<double> tape;
  auto x = tape.variable(far);
  auto d = sq_dist(x, x);
  CHECK(xt::all(d.val() >= 0.0));
  CHECK(xt::allclose(d.val(), xt::transpose(d.val()), 0.0, 0.0));
  // Absolute error of the expansion: a few ulps of |x|^2 = 3e10, i.e. ~1e-5; distances are O(1).
  CHECK(xt::allclose(d.val(), naive_sq_dist(far, far), 0.0, 1e-4));
}

TEST_CASE("sq_dist passes gradients to variable operands only") {
  Tape<double> tape;
  auto x = tape.constant(Tensor<double>{{0, 0}, {1, 0}});
  auto y = tape.variable(Tensor<double>{{0, 2}});
  tape.backward(sum(sq_dist(x, y)));
  // d/dy sum_i ||x_i - y||^2 = 2 sum_i (y - x_i) = 2 ((0, 2) + (-1, 2)).
  CHECK(xt::allclose(y.adj(), Tensor<double>{{-2, 8}}));
}

TEST_CASE("sq_dist names both shapes when the dimensions differ") {
  Tape<double> tape;
  auto x = tape.variable(Tensor<double>::from_shape({3, 2}));
  auto y = tape.variable(Tensor<double>::from_shape({4, 3}));
  CHECK_THROWS_WITH_AS(sq_dist(x, y), doctest::Contains("sq_dist: x is 3x2 and y is 4x3"), wgflow::ShapeError);
}

TEST_CASE("float sq_dist matches double within float precision") {
  // Computed as |x|^2 + |y|^2 - 2 x.y: the cancellation costs up to the points' squared norms (D = 7
  // entries of [-1, 1]) in float epsilons. 32 x 7 of them (2.7e-5): the largest error seen was 4.1e-6 (a
  // gradient, Zen 5), an error of a wrong kernel is of order 1.
  const double tol = 32 * 7 * std::numeric_limits<float>::epsilon();
  const Domain d{-1, 1};
  check_float_matches_double([](const auto& x) { return sq_dist(x, x); }, d, tol,
                             {Shape{1, 1}, Shape{5, 7}, Shape{40, 7}});
  check_float_matches_double([](const auto& x) { return sq_dist(rows(x, 0, 3), x); }, d, tol,
                             {Shape{5, 7}, Shape{40, 7}});
}
