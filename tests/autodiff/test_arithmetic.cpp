#include <limits>

#include "tests/support/op_check.hpp"

using namespace wgtest;

TEST_CASE("add, subtract, multiply, divide broadcast rows and columns") {
  check_op([](const Vars& v) { return v[0] + v[1]; }, [](const Values& x) -> Tensor<double> { return x[0] + x[1]; },
           broadcast_shapes);
  check_op([](const Vars& v) { return v[0] - v[1]; }, [](const Values& x) -> Tensor<double> { return x[0] - x[1]; },
           broadcast_shapes);
  check_op([](const Vars& v) { return v[0] * v[1]; }, [](const Values& x) -> Tensor<double> { return x[0] * x[1]; },
           broadcast_shapes);
  check_op([](const Vars& v) { return v[0] / v[1]; }, [](const Values& x) -> Tensor<double> { return x[0] / x[1]; },
           broadcast_shapes, {Domain{}, Domain{0.5, 2.0}});
}

TEST_CASE("negation and arithmetic with scalars") {
  check_op([](const Vars& v) { return -v[0]; }, [](const Values& x) -> Tensor<double> { return -x[0]; }, unary_shapes);
  check_op([](const Vars& v) { return 2.5 + v[0] * 3.0 - 1.0; },
           [](const Values& x) -> Tensor<double> { return 2.5 + x[0] * 3.0 - 1.0; }, unary_shapes);
  check_op([](const Vars& v) { return 1.5 - v[0] / 4.0; },
           [](const Values& x) -> Tensor<double> { return 1.5 - x[0] / 4.0; }, unary_shapes);
  check_op([](const Vars& v) { return 2.0 * (3.0 / v[0]); },
           [](const Values& x) -> Tensor<double> { return 2.0 * (3.0 / x[0]); }, unary_shapes, {Domain{0.5, 2.0}});
}

TEST_CASE("a shape mismatch names the op and both shapes") {
  Tape<double> tape;
  auto a = tape.variable(Tensor<double>::from_shape({2, 3}));
  auto b = tape.variable(Tensor<double>::from_shape({3, 2}));
  CHECK_THROWS_WITH_AS(a + b, doctest::Contains("add: shapes 2x3 and 3x2 do not broadcast"), wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(a * b, doctest::Contains("multiply: shapes 2x3 and 3x2"), wgflow::ShapeError);
}

TEST_CASE("float arithmetic, broadcasts included, matches double within float precision") {
  // A broadcast operand here is a sum of 5 or 7 entries: 32 float epsilons (3.8e-6), about 7 times the
  // largest error seen (5.3e-7, Zen 5), and far below the error of order 1 of a wrong kernel.
  const double tol = 32 * std::numeric_limits<float>::epsilon();
  const Domain d{-2, 2};
  check_float_matches_double([](const auto& x) { return x + sum(x, 0); }, d, tol);
  check_float_matches_double([](const auto& x) { return sum(x, 1) - x; }, d, tol);
  check_float_matches_double([](const auto& x) { return x * mean(x, 0); }, d, tol);
  check_float_matches_double([](const auto& x) { return x / (2.5 + square(x)); }, d, tol);
  check_float_matches_double([](const auto& x) { return 1.5 - (-x) * 3.0 / 4.0; }, d, tol);
}
