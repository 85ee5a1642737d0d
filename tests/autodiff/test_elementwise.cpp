#include <cmath>
#include <limits>

#include "tests/support/op_check.hpp"

using namespace wgtest;

TEST_CASE("exp, log, log1p, sqrt, square") {
  check_op([](const Vars& v) { return exp(v[0]); },
           [](const Values& x) -> Tensor<double> { return xt::exp(x[0]); }, unary_shapes);
  check_op([](const Vars& v) { return log(v[0]); },
           [](const Values& x) -> Tensor<double> { return xt::log(x[0]); }, unary_shapes, {Domain{0.2, 3}});
  check_op([](const Vars& v) { return log1p(v[0]); },
           [](const Values& x) -> Tensor<double> { return xt::log(1.0 + x[0]); }, unary_shapes,
           {Domain{-0.8, 3}});
  check_op([](const Vars& v) { return sqrt(v[0]); },
           [](const Values& x) -> Tensor<double> { return xt::sqrt(x[0]); }, unary_shapes, {Domain{0.2, 3}});
  check_op([](const Vars& v) { return square(v[0]); },
           [](const Values& x) -> Tensor<double> { return x[0] * x[0]; }, unary_shapes);
}

TEST_CASE("log1p keeps full precision where 1 + a rounds") {
  Tape<double> tape;
  const Tensor<double> x{{1e-20, -3e-17, 2e-10}};
  auto a = tape.variable(x);
  auto y = log1p(a);
  // log1p(a) = a - a^2/2 + a^3/3 - ...; at |a| <= 2e-10 the omitted terms are below 1e-19 relative,
  // while log(1 + a) would have lost every digit of the first two entries.
  CHECK(xt::allclose(y.val(), x - x * x / 2.0 + x * x * x / 3.0, 1e-15, 0.0));
  tape.backward(y, xt::ones<double>(y.shape()));
  CHECK(xt::allclose(a.adj(), Tensor<double>{{1, 1, 1}}, 1e-9, 0.0));
}

TEST_CASE("pow with a scalar exponent") {
  // Non-integer exponents need a > 0.
  for (double p : {2.5, 0.5, -1.5}) {
    CAPTURE(p);
    check_op([p](const Vars& v) { return pow(v[0], p); },
             [p](const Values& x) -> Tensor<double> { return xt::exp(p * xt::log(x[0])); }, unary_shapes,
             {Domain{0.2, 3}});
  }
  // Integer exponents also take negative bases.
  check_op([](const Vars& v) { return pow(v[0], 3.0); },
           [](const Values& x) -> Tensor<double> { return x[0] * x[0] * x[0]; }, unary_shapes);
  check_op([](const Vars& v) { return pow(v[0], -2.0); },
           [](const Values& x) -> Tensor<double> { return 1.0 / (x[0] * x[0]); }, unary_shapes, {off_kink});
}

TEST_CASE("pow with a scalar exponent at a = 0 has the true slope, not NaN") {
  Tape<double> tape;
  auto a = tape.variable(0.0);
  // d/da a^2 = 2a = 0; d/da a^1 = 1; d/da a^0 = 0 (a^0 is constant).
  for (auto [p, slope] : {std::pair{2.0, 0.0}, std::pair{1.0, 1.0}, std::pair{0.0, 0.0}}) {
    CAPTURE(p);
    auto y = pow(a, p);
    CHECK(y.item() == (p == 0 ? 1.0 : 0.0));
    tape.backward(y);
    CHECK(a.adj()(0, 0) == slope);
  }
}

TEST_CASE("pow with a variable exponent broadcasts like multiply") {
  // d/db a^b = a^b log a needs a > 0.
  check_op([](const Vars& v) { return pow(v[0], v[1]); },
           [](const Values& x) -> Tensor<double> { return xt::exp(x[1] * xt::log(x[0])); }, broadcast_shapes,
           {Domain{0.2, 3}, Domain{-2, 2}});
}

TEST_CASE("pow with a variable exponent at a = 0 gives d/db = 0, the limit for b > 0") {
  Tape<double> tape;
  auto a = tape.variable(Tensor<double>{{0.0, 2.0}});
  auto b = tape.variable(Tensor<double>{{1.5}});
  auto y = pow(a, b);
  tape.backward(y, xt::ones<double>(y.shape()));
  // d/da: 1.5 * 0^0.5 = 0 and 1.5 * 2^0.5; d/db: 0 + 2^1.5 log 2.
  CHECK(xt::allclose(a.adj(), Tensor<double>{{0.0, 1.5 * std::sqrt(2.0)}}, 1e-14, 0.0));
  CHECK(b.adj()(0, 0) == doctest::Approx(std::pow(2.0, 1.5) * std::log(2.0)).epsilon(1e-14));
}

TEST_CASE("pow names both shapes when they do not broadcast") {
  Tape<double> tape;
  auto a = tape.variable(Tensor<double>::from_shape({2, 3}));
  auto b = tape.variable(Tensor<double>::from_shape({3, 2}));
  CHECK_THROWS_WITH_AS(pow(a, b), doctest::Contains("pow: shapes 2x3 and 3x2 do not broadcast"),
                       wgflow::ShapeError);
}

TEST_CASE("abs, sin, cos") {
  check_op([](const Vars& v) { return abs(v[0]); },
           [](const Values& x) -> Tensor<double> { return xt::abs(x[0]); }, unary_shapes, {off_kink});
  check_op([](const Vars& v) { return sin(v[0]); },
           [](const Values& x) -> Tensor<double> { return xt::sin(x[0]); }, unary_shapes, {Domain{-4, 4}});
  check_op([](const Vars& v) { return cos(v[0]); },
           [](const Values& x) -> Tensor<double> { return xt::cos(x[0]); }, unary_shapes, {Domain{-4, 4}});
}

TEST_CASE("abs has derivative 0 at its kink, by the documented convention") {
  Tape<double> tape;
  auto a = tape.variable(Tensor<double>{{-1.5, 0.0, -0.0, 2.0}});
  auto y = abs(a);
  tape.backward(y, xt::ones<double>(y.shape()));
  CHECK(a.adj() == Tensor<double>{{-1, 0, 0, 1}});
}

TEST_CASE("float tapes match double tapes within float precision") {
  // Tolerance 16 float epsilons (1.9e-6): each checked value passes through at most three roundings
  // or SIMD kernels (accurate to ~2 ulp) before the comparison, and the measure is absolute below 1,
  // which absorbs the cancellation in derivatives such as sqrt's 0.5 / out. A wrong formula or a
  // double-only code path shows up as an error of order 1, far above this.
  const double tol = 16 * std::numeric_limits<float>::epsilon();
  check_float_matches_double([](const auto& x) { return exp(x); }, Domain{-2, 2}, tol);
  check_float_matches_double([](const auto& x) { return log(x); }, Domain{0.5, 3}, tol);
  check_float_matches_double([](const auto& x) { return log1p(x); }, Domain{-0.5, 3}, tol);
  check_float_matches_double([](const auto& x) { return sqrt(x); }, Domain{0.5, 3}, tol);
  check_float_matches_double([](const auto& x) { return square(x); }, Domain{-2, 2}, tol);
  check_float_matches_double([](const auto& x) { return pow(x, 2.5); }, Domain{0.5, 2}, tol);
  check_float_matches_double([](const auto& x) { return pow(x, x); }, Domain{0.5, 2}, tol);
  check_float_matches_double([](const auto& x) { return abs(x); }, off_kink, tol);
  check_float_matches_double([](const auto& x) { return sin(x); }, Domain{-3, 3}, tol);
  check_float_matches_double([](const auto& x) { return cos(x); }, Domain{-3, 3}, tol);
}
