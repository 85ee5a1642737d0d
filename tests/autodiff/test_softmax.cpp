// The softmax family (autodiff/ops/softmax.hpp): logsumexp over every entry and along an axis, softmax and
// log_softmax along an axis. Each against loop references in long double that share nothing with the ops'
// stable shifts (at these inputs exp cannot overflow, so the textbook formulas are exact enough), and
// against finite differences; then what the shift is for: inputs of +-1000, infinite entries, and the
// refusals of an empty input or a bad axis.
#include <limits>

#include "tests/support/op_check.hpp"

using namespace wgtest;

namespace {

// log sum exp of x's entries in rows [r0, r1) and columns [c0, c1), by the textbook formula in long double.
double textbook_logsumexp(const Tensor<double>& x, std::size_t r0, std::size_t r1, std::size_t c0, std::size_t c1) {
  long double s = 0;
  for (std::size_t i = r0; i < r1; ++i)
    for (std::size_t j = c0; j < c1; ++j) s += std::exp(static_cast<long double>(x(i, j)));
  return static_cast<double>(std::log(s));
}

// L along `axis`, keep-dims: 1 x cols for axis 0, rows x 1 for axis 1.
Tensor<double> softmax_test_lse(const Tensor<double>& x, int axis) {
  const std::size_t r = x.shape()[0], c = x.shape()[1];
  Tensor<double> out = Tensor<double>::from_shape(axis == 0 ? Shape{1, c} : Shape{r, 1});
  if (axis == 0) {
    for (std::size_t j = 0; j < c; ++j) out(0, j) = textbook_logsumexp(x, 0, r, j, j + 1);
  } else {
    for (std::size_t i = 0; i < r; ++i) out(i, 0) = textbook_logsumexp(x, i, i + 1, 0, c);
  }
  return out;
}

// x_ij - L_slice(ij) (log_softmax) or exp of it (softmax), entry by entry.
Tensor<double> softmax_test_ref(const Tensor<double>& x, int axis, bool log) {
  const Tensor<double> lse = softmax_test_lse(x, axis);
  Tensor<double> out = Tensor<double>::from_shape(x.shape());
  for (std::size_t i = 0; i < x.shape()[0]; ++i)
    for (std::size_t j = 0; j < x.shape()[1]; ++j) {
      const double z = x(i, j) - (axis == 0 ? lse(0, j) : lse(i, 0));
      out(i, j) = log ? z : std::exp(z);
    }
  return out;
}

// Every row (axis 1) and column (axis 0) case: 1x1, a row, a column, a general matrix, a tall one.
const std::vector<std::vector<Shape>> softmax_shapes = {{{1, 1}}, {{1, 6}}, {{5, 1}}, {{3, 4}}, {{7, 3}}};

}  // namespace

TEST_CASE("logsumexp over every entry: value and gradient (softmax of all entries)") {
  check_op([](const Vars& v) { return logsumexp(v[0]); },
           [](const Values& x) -> Tensor<double> {
             return Tensor<double>{{textbook_logsumexp(x[0], 0, x[0].shape()[0], 0, x[0].shape()[1])}};
           },
           softmax_shapes);
}

TEST_CASE("logsumexp, softmax and log_softmax along each axis: values and gradients") {
  for (int axis : {0, 1}) {
    CAPTURE(axis);
    check_op([axis](const Vars& v) { return logsumexp(v[0], axis); },
             [axis](const Values& x) { return softmax_test_lse(x[0], axis); }, softmax_shapes);
    check_op([axis](const Vars& v) { return softmax(v[0], axis); },
             [axis](const Values& x) { return softmax_test_ref(x[0], axis, false); }, softmax_shapes);
    check_op([axis](const Vars& v) { return log_softmax(v[0], axis); },
             [axis](const Values& x) { return softmax_test_ref(x[0], axis, true); }, softmax_shapes);
    // Weighted outputs, so that the backward pass sees a cotangent that differs between entries (the all-ones
    // cotangent of a softmax slice has a zero gradient).
    check_op([axis](const Vars& v) { return sum(softmax(v[0], axis) * v[1]); },
             [axis](const Values& x) -> Tensor<double> {
               return Tensor<double>{{xt::sum(softmax_test_ref(x[0], axis, false) * x[1])()}};
             },
             {{{3, 4}, {3, 4}}, {{1, 5}, {1, 5}}, {{4, 1}, {4, 1}}});
  }
}

TEST_CASE("inputs of +-1000 give the shifted values, without overflow or log(0)") {
  Tape<double> tape;
  // Row 0 around +1000, row 1 around -1000: exp overflows at 710 and underflows to 0 below -745.
  auto a = tape.variable(Tensor<double>{{1000.0, 999.0, 998.0}, {-1000.0, -1001.0, -1002.0}});
  const double l3 = std::log(1 + std::exp(-1.0) + std::exp(-2.0));  // log sum exp of (0, -1, -2)
  const Tensor<double> lse = logsumexp(a, 1).val();
  CHECK(lse(0, 0) == doctest::Approx(1000.0 + l3).epsilon(1e-15));
  CHECK(lse(1, 0) == doctest::Approx(-1000.0 + l3).epsilon(1e-15));
  const Tensor<double> p = softmax(a, 1).val();
  const Tensor<double> lp = log_softmax(a, 1).val();
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j) {
      CAPTURE(i);
      CAPTURE(j);
      const double z = -static_cast<double>(j) - l3;  // the same for both rows: softmax ignores a shift
      // 1e-12: L = 1000 + 0.41 is rounded to a multiple of 1.1e-13 before the subtraction.
      CHECK(lp(i, j) == doctest::Approx(z).epsilon(1e-12));
      CHECK(p(i, j) == doctest::Approx(std::exp(z)).epsilon(1e-12));
    }
  // Along axis 0 the columns mix +1000 and -1000: the second row's share is exp(-2000), 0 in double.
  const Tensor<double> lse0 = logsumexp(a, 0).val();
  const Tensor<double> p0 = softmax(a, 0).val();
  for (std::size_t j = 0; j < 3; ++j) {
    CHECK(lse0(0, j) == 1000.0 - static_cast<double>(j));
    CHECK(p0(0, j) == 1.0);
    CHECK(p0(1, j) == 0.0);
  }
  CHECK(logsumexp(a).val()(0, 0) == doctest::Approx(1000.0 + l3).epsilon(1e-15));
  // The gradient of the total logsumexp is the softmax of all entries, finite too.
  auto total = logsumexp(a);
  tape.backward(total);
  for (std::size_t j = 0; j < 3; ++j) {
    CHECK(a.adj()(0, j) == doctest::Approx(std::exp(-static_cast<double>(j) - l3)).epsilon(1e-12));
    CHECK(a.adj()(1, j) == 0.0);
  }
}

TEST_CASE("logsumexp of a slice of -inf is -inf, of a slice holding +inf is +inf; -inf entries get softmax 0") {
  constexpr double inf = std::numeric_limits<double>::infinity();
  Tape<double> tape;
  auto a = tape.variable(Tensor<double>{{-inf, -inf}, {0.0, inf}, {0.0, -inf}});
  const Tensor<double> lse = logsumexp(a, 1).val();
  CHECK(lse(0, 0) == -inf);
  CHECK(lse(1, 0) == inf);
  CHECK(lse(2, 0) == 0.0);
  // A masked entry: softmax gives it exactly 0 and the rest of its slice the softmax without it.
  const Tensor<double> p = softmax(a, 1).val();
  CHECK(p(2, 0) == 1.0);
  CHECK(p(2, 1) == 0.0);
  const Tensor<double> lp = log_softmax(a, 1).val();
  CHECK(lp(2, 0) == 0.0);
  CHECK(lp(2, 1) == -inf);
}

TEST_CASE("an empty input and an axis other than 0 and 1 are refused, naming the op and the shape") {
  Tape<double> tape;
  auto empty = tape.variable(Tensor<double>::from_shape({0, 3}));
  CHECK_THROWS_WITH_AS(softmax(empty, 1), doctest::Contains("softmax: the input is empty (0x3)"), wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(log_softmax(empty, 0), doctest::Contains("log_softmax: the input is empty (0x3)"),
                       wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(logsumexp(empty), doctest::Contains("empty"), wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(logsumexp(empty, 1), doctest::Contains("empty"), wgflow::ShapeError);
  auto a = tape.variable(Tensor<double>::from_shape({2, 3}));
  CHECK_THROWS_WITH_AS(softmax(a, 2), doctest::Contains("softmax: axis 2 is invalid for a 2x3 input"),
                       wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(logsumexp(a, -1), doctest::Contains("axis -1 is invalid"), wgflow::ShapeError);
}

TEST_CASE("float kernels of the softmax family agree with double") {
  const double tol = 16 * std::numeric_limits<float>::epsilon();  // as the elementwise ops'
  check_float_matches_double([](const auto& x) { return logsumexp(x, 1); }, Domain{-5, 5}, tol);
  check_float_matches_double([](const auto& x) { return logsumexp(x, 0); }, Domain{-5, 5}, tol);
  check_float_matches_double([](const auto& x) { return softmax(x, 1) * x; }, Domain{-5, 5}, tol);
  check_float_matches_double([](const auto& x) { return softmax(x, 0) * x; }, Domain{-5, 5}, tol);
  check_float_matches_double([](const auto& x) { return log_softmax(x, 1) * x; }, Domain{-5, 5}, tol);
  check_float_matches_double([](const auto& x) { return log_softmax(x, 0) * x; }, Domain{-5, 5}, tol);
}
