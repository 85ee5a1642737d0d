#include <limits>

#include "tests/support/op_check.hpp"

using namespace wgtest;

namespace {
// Loop references, independent of the xtensor reducers the ops use.
Tensor<double> loop_sum(const Tensor<double>& x, int axis) {
  const std::size_t r = x.shape()[0], c = x.shape()[1];
  Tensor<double> s = xt::zeros<double>(axis == 0 ? Shape{1, c} : Shape{r, 1});
  for (std::size_t i = 0; i < r; ++i)
    for (std::size_t j = 0; j < c; ++j) (axis == 0 ? s(0, j) : s(i, 0)) += x(i, j);
  return s;
}
Tensor<double> loop_total(const Tensor<double>& x) {
  double s = 0;
  for (double v : x) s += v;
  return Tensor<double>{{s}};
}
}  // namespace

TEST_CASE("sum and mean over every entry give a 1x1 value") {
  check_op([](const Vars& v) { return sum(v[0]); }, [](const Values& x) { return loop_total(x[0]); }, unary_shapes);
  check_op([](const Vars& v) { return mean(v[0]); },
           [](const Values& x) -> Tensor<double> { return loop_total(x[0]) / static_cast<double>(x[0].size()); },
           unary_shapes);
}

TEST_CASE("sum and mean along an axis keep the reduced dimension") {
  for (int axis : {0, 1}) {
    CAPTURE(axis);
    check_op([axis](const Vars& v) { return sum(v[0], axis); },
             [axis](const Values& x) { return loop_sum(x[0], axis); }, unary_shapes);
    check_op([axis](const Vars& v) { return mean(v[0], axis); },
             [axis](const Values& x) -> Tensor<double> {
               return loop_sum(x[0], axis) / static_cast<double>(x[0].shape()[axis == 0 ? 0 : 1]);
             },
             unary_shapes);
  }
}

TEST_CASE("a keep-dims reduction broadcasts back against its input") {
  // x - mean(x, axis) centres each column (axis 0) or row (axis 1): its own mean is zero, and the
  // gradient flows through both the direct and the broadcast path.
  for (int axis : {0, 1}) {
    CAPTURE(axis);
    check_op([axis](const Vars& v) { return v[0] - mean(v[0], axis); },
             [axis](const Values& x) -> Tensor<double> {
               return x[0] - loop_sum(x[0], axis) / static_cast<double>(x[0].shape()[axis == 0 ? 0 : 1]);
             },
             unary_shapes);
    Tape<double> tape;
    auto x = tape.variable(random_tensor({4, 3}, 7));
    CHECK(xt::allclose(mean(x - mean(x, axis), axis).val(), 0.0, 0.0, 1e-15));
  }
}

TEST_CASE("reductions reject a bad axis and an empty mean, naming the op and the shape") {
  Tape<double> tape;
  auto a = tape.variable(Tensor<double>::from_shape({3, 4}));
  CHECK_THROWS_WITH_AS(sum(a, 2), doctest::Contains("sum: axis 2 is invalid for a 3x4 input"), wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(mean(a, -1), doctest::Contains("mean: axis -1 is invalid for a 3x4 input"), wgflow::ShapeError);
  auto empty = tape.variable(Tensor<double>::from_shape({0, 4}));
  CHECK_THROWS_WITH_AS(mean(empty), doctest::Contains("mean: the input is empty (0x4)"), wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(mean(empty, 0), doctest::Contains("mean: the input is empty (0x4)"), wgflow::ShapeError);
  // The sum of no entries is well defined.
  CHECK(sum(empty).item() == 0.0);
  CHECK(sum(empty, 0).val() == Tensor<double>(xt::zeros<double>({1, 4})));
}

TEST_CASE("float sums and means match double within float precision") {
  // Sums of up to 70 entries of [-2, 2]: 32 float epsilons (3.8e-6), about 7 times the largest error seen
  // (5.3e-7, Zen 5); the lanes' order of summation differs between instruction sets.
  const double tol = 32 * std::numeric_limits<float>::epsilon();
  const std::vector<Shape> shapes = {{1, 1}, {5, 7}, {33, 70}};
  const Domain d{-2, 2};
  check_float_matches_double([](const auto& x) { return sum(x); }, d, tol, shapes);
  check_float_matches_double([](const auto& x) { return mean(x); }, d, tol, shapes);
  for (int axis : {0, 1}) {
    CAPTURE(axis);
    check_float_matches_double([axis](const auto& x) { return sum(x, axis) * 0.5; }, d, tol, shapes);
    check_float_matches_double([axis](const auto& x) { return mean(x, axis); }, d, tol, shapes);
  }
}
