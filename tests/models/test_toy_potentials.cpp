#include <cmath>
#include <numbers>
#include <span>
#include <vector>

#include "models/analytic_potential.hpp"
#include "models/toy_potentials.hpp"
#include "tests/support/op_check.hpp"

using namespace wgtest;
using wgflow::models::AnalyticPotential;

namespace {

double value_of(const AnalyticPotential<double>& p, std::vector<double> t) { return p.value(t); }

std::vector<double> gradient_of(const AnalyticPotential<double>& p, const std::vector<double>& t) {
  std::vector<double> g(t.size());
  p.value_and_gradient(t, g);
  return g;
}

// grad vs fourth-order central differences of value at t. With h = 1e-3 the truncation error is
// ~ h^4 |l^(5)| / 30; for these smooth potentials (|l^(5)| <= O(10) near the points used) that is < 1e-11,
// and rounding adds ~ 1e-16 |l| / h: 1e-7 leaves a wide margin yet catches any wrong formula.
void check_against_differences(const AnalyticPotential<double>& p, const std::vector<double>& t) {
  const std::vector<double> g = gradient_of(p, t);
  const double h = 1e-3;
  for (std::size_t j = 0; j < t.size(); ++j) {
    auto at = [&](double dx) {
      std::vector<double> s = t;
      s[j] += dx;
      return p.value(s);
    };
    const double numeric = (at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h);
    CHECK_MESSAGE(std::abs(g[j] - numeric) <= 1e-7 * std::max(1.0, std::abs(numeric)),
                  p.name() << " at coordinate " << j << " of point " << t[0] << ": gradient " << g[j] << " vs " << numeric);
  }
}

}  // namespace

TEST_CASE("toy potentials' gradients equal finite differences") {
  const auto well = wgflow::models::double_well<double>();
  for (double t : {-2.7, -1.3, -0.4, 0.2, 0.8, 1.9}) check_against_differences(well, {t});
  const auto well3 = wgflow::models::double_well<double>(3);
  check_against_differences(well3, {-1.5, 0.3, 1.2});

  const auto gmm = wgflow::models::four_gaussian_mixture<double>();
  for (auto t : std::vector<std::vector<double>>{{0, 0}, {2.5, -3.5}, {-1, 4}, {0.3, 0.1}, {6, 6}})
    check_against_differences(gmm, t);

  const auto sin = wgflow::models::neg_abs_sin<double>(2);
  check_against_differences(sin, {0.7, -2.0});  // away from the kinks at k pi
  check_against_differences(sin, {4.0, 100.5});

  const Tensor<double> A{{2.0, 0.5, 0.0}, {-0.3, 1.0, 0.2}, {0.1, 0.0, 3.0}};  // not symmetric on purpose
  const auto quad = wgflow::models::quadratic<double>({1.0, -2.0, 0.5}, A);
  check_against_differences(quad, {0.3, 0.4, -1.0});
  // l(t) = (1/2) d^T A d, d = t - m.
  const std::vector<double> d{0.3 - 1.0, 0.4 + 2.0, -1.0 - 0.5};
  double want = 0;
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 3; ++j) want += 0.5 * d[i] * A(i, j) * d[j];
  CHECK(quad.value(std::vector<double>{0.3, 0.4, -1.0}) == doctest::Approx(want).epsilon(1e-15));
}

TEST_CASE("double well: minima at -2 (global) and 1, maximum at 0, as stated in paper.md §3.1") {
  const auto well = wgflow::models::double_well<double>();
  for (double t : {-2.0, 0.0, 1.0}) CHECK(gradient_of(well, {t})[0] == 0.0);  // l'(t) = 1.5 t (t + 2)(t - 1)
  CHECK(value_of(well, {-2.0}) == doctest::Approx(-35.0 / 8).epsilon(1e-15));
  CHECK(value_of(well, {1.0}) == doctest::Approx(-1.0).epsilon(1e-15));
  CHECK(value_of(well, {0.0}) == doctest::Approx(-3.0 / 8).epsilon(1e-15));
  // Curvature from differences of the gradient: l''(t) = 1.5 (3 t^2 + 2 t - 2) = 9, 4.5, -3.
  auto curvature = [&](double t) { return (gradient_of(well, {t + 1e-5})[0] - gradient_of(well, {t - 1e-5})[0]) / 2e-5; };
  CHECK(curvature(-2.0) == doctest::Approx(9.0).epsilon(1e-8));
  CHECK(curvature(1.0) == doctest::Approx(4.5).epsilon(1e-8));
  CHECK(curvature(0.0) == doctest::Approx(-3.0).epsilon(1e-8));
  // -2 is the global minimum: below every point of a fine grid on [-5, 5].
  double best = INFINITY, arg = 0;
  for (int i = -50000; i <= 50000; ++i) {
    const double t = i * 1e-4, v = value_of(well, {t});
    if (v < best) best = v, arg = t;
  }
  CHECK(arg == doctest::Approx(-2.0));
  // Gradient descent from either side of the maximum ends in the minimum on that side.
  for (auto [start, end] : {std::pair{-0.1, -2.0}, std::pair{0.1, 1.0}, std::pair{3.0, 1.0}}) {
    double t = start;
    for (int i = 0; i < 2000; ++i) t -= 0.01 * gradient_of(well, {t})[0];
    CHECK(t == doctest::Approx(end).epsilon(1e-9));
  }
}

TEST_CASE("four-Gaussian mixture: closed form at the modes and stable far away") {
  const auto gmm = wgflow::models::four_gaussian_mixture<double>();
  // At a mode the own component dominates: l = log 4 + log(2 pi) - log(1 + O(e^-18)).
  const double at_mode = std::log(4.0) + std::log(2 * std::numbers::pi);
  for (auto t : std::vector<std::vector<double>>{{3, 3}, {-3, 3}, {3, -3}, {-3, -3}}) {
    CHECK(value_of(gmm, t) == doctest::Approx(at_mode).epsilon(1e-7));
    for (double g : gradient_of(gmm, t)) CHECK(std::abs(g) < 1e-6);
  }
  // At the origin (a local maximum) all four responsibilities are 1/4: gradient 0, value 9 + log(2 pi).
  CHECK(value_of(gmm, {0, 0}) == doctest::Approx(9 + std::log(2 * std::numbers::pi)).epsilon(1e-14));
  // Far away a naive sum of exp(-|t - mu|^2 / 2) underflows to 0 and log gives inf; the stable form gives
  // l = |t - mu*|^2 / 2 + log 4 + log(2 pi) to double precision, grad = t - mu*.
  const std::vector<double> far{1000, 1000};
  const double want = (997.0 * 997.0 * 2) / 2 + at_mode;
  CHECK(value_of(gmm, far) == doctest::Approx(want).epsilon(1e-14));
  const auto g = gradient_of(gmm, far);
  CHECK(g[0] == doctest::Approx(997.0));
  CHECK(g[1] == doctest::Approx(997.0));
}

TEST_CASE("-|sin t|: every pi/2 + k pi is a minimiser with value -1") {
  const auto sin = wgflow::models::neg_abs_sin<double>();
  for (int k : {-1000, -3, 0, 1, 7, 1000}) {
    const double t = std::numbers::pi / 2 + k * std::numbers::pi;
    CHECK(value_of(sin, {t}) == doctest::Approx(-1.0).epsilon(1e-12));
    CHECK(std::abs(gradient_of(sin, {t})[0]) < 1e-9);
  }
  // The kinks k pi are maxima; the documented gradient there is 0.
  CHECK(gradient_of(sin, {0.0})[0] == 0.0);
}

TEST_CASE("AnalyticPotential checks dimensions and can be built from lambdas") {
  AnalyticPotential<double> bowl(
      2, [](std::span<const double> t) { return t[0] * t[0] + 3 * t[1] * t[1]; },
      [](std::span<const double> t, std::span<double> g) { g[0] = 2 * t[0], g[1] = 6 * t[1]; }, "bowl");
  std::vector<double> g(2);
  CHECK(bowl.value_and_gradient(std::vector<double>{1, 2}, g) == 13);
  CHECK(g == std::vector<double>{2, 12});
  std::vector<double> g3(3);
  CHECK_THROWS_WITH_AS(bowl.value_and_gradient(std::vector<double>{1, 2, 3}, g3),
                       doctest::Contains("\"bowl\"::gradient: vector has 3 entries, the potential is on R^2"),
                       wgflow::ShapeError);
  CHECK_THROWS_AS(wgflow::models::quadratic<double>({1.0, 2.0}, Tensor<double>::from_shape({3, 3})), wgflow::ShapeError);
}

TEST_CASE("the toy potentials refuse non-finite parameters, naming the entry, instead of a flow's NaN at step 0") {
  using wgflow::models::gaussian_mixture;
  using wgflow::models::quadratic;
  const Tensor<double> eye{{1.0, 0.0}, {0.0, 1.0}};
  CHECK_NOTHROW(quadratic<double>({1.0, 2.0}, eye));
  CHECK_THROWS_WITH_AS(quadratic<double>({1.0, NAN}, eye),
                       "quadratic: m (1x2) has a non-finite entry at row 0, column 1 (nan)", wgflow::DataError);
  CHECK_THROWS_WITH_AS(quadratic<double>({1.0, 2.0}, Tensor<double>{{1.0, INFINITY}, {0.0, 1.0}}),
                       "quadratic: A (2x2) has a non-finite entry at row 0, column 1 (inf)", wgflow::DataError);
  CHECK_THROWS_WITH_AS(gaussian_mixture(Tensor<double>{{0.0, 1.0}, {2.0, 3.0}, {-INFINITY, 0.0}}),
                       "gaussian_mixture: means (3x2) has a non-finite entry at row 2, column 0 (-inf)",
                       wgflow::DataError);
}
