// The Kolmogorov–Smirnov distance of analysis/ks.hpp: exact small cases, agreement with the closed-form
// CDF, and its power: samples from the density pass at the 95 % critical value, shifted ones fail.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "analysis/ks.hpp"
#include "core/random.hpp"

namespace {

using wgflow::analysis::Grid;
using wgflow::analysis::GridDensity;
using wgflow::analysis::ks_critical_value_95;
using wgflow::analysis::ks_distance;

GridDensity<double> standard_normal_on_grid() {
  const Grid<double> grid(-8.0, 8.0, 3201);
  std::vector<double> log_q(grid.size());
  for (std::size_t i = 0; i < grid.size(); ++i) log_q[i] = -grid.point(i) * grid.point(i) / 2;
  return GridDensity<double>::from_log(grid, log_q);
}

std::vector<double> normal_sample(std::size_t n, double shift, std::uint64_t seed) {
  wgflow::Rng rng(seed);
  std::vector<double> x(n);
  for (double& v : x) v = shift + rng.normal();
  return x;
}

}  // namespace

TEST_CASE("ks_distance: exact values against the uniform density") {
  const GridDensity<double> uniform(Grid<double>(0.0, 1.0, 11), std::vector<double>(11, 1.0));
  CHECK(ks_distance<double>(std::vector<double>{0.5}, uniform) == doctest::Approx(0.5));
  CHECK(ks_distance<double>(std::vector<double>{0.75, 0.25}, uniform) == doctest::Approx(0.25));
  // Everything left of the support: F = 0 at every point, F_N jumps to 1.
  CHECK(ks_distance<double>(std::vector<double>{-3.0, -2.0}, uniform) == doctest::Approx(1.0));
  CHECK_THROWS_AS(ks_distance<double>(std::vector<double>{}, uniform), wgflow::Error);
  CHECK_THROWS_AS(ks_distance(wgflow::Tensor<double>::from_shape({4, 2}), uniform), wgflow::ShapeError);
  CHECK(ks_critical_value_95(300) == doctest::Approx(0.0785).epsilon(1e-3));
}

TEST_CASE("ks_distance: the grid CDF reproduces the statistic computed with the exact normal CDF") {
  const auto q = standard_normal_on_grid();
  auto x = normal_sample(500, 0.0, 7);
  std::sort(x.begin(), x.end());
  double exact = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double F = 0.5 * std::erfc(-x[i] / std::sqrt(2.0));
    exact = std::max({exact, (i + 1) / 500.0 - F, F - i / 500.0});
  }
  // Linear interpolation of the cumulative trapezoid: error <= dt^2 max|q'| / 8 = 2.5e-5 * 0.25 / 8 ~ 1e-6.
  CHECK(std::abs(ks_distance<double>(x, q) - exact) < 1e-5);
}

TEST_CASE("ks_distance: samples of the density pass at 95 %, a sample shifted by 0.3 sd fails") {
  const auto q = standard_normal_on_grid();
  const std::size_t n = 1000;
  const double crit = ks_critical_value_95(n);  // 0.043
  // Under the null each of 20 independent samples exceeds the critical value with probability <= 0.05, so
  // P(5 or more exceed) = P(Binomial(20, 0.05) >= 5) = 0.003: the bound fails only for a broken statistic.
  // Shifted by 0.3, D_N -> sup |Phi(x) - Phi(x - 0.3)| = 2 Phi(0.15) - 1 = 0.119, ~ 8 standard errors
  // (sd of D_N ~ 0.27 / sqrt(n) = 0.009) above the critical value: every shifted sample must fail.
  int exceed = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    if (ks_distance<double>(normal_sample(n, 0.0, seed), q) > crit) ++exceed;
    CHECK(ks_distance<double>(normal_sample(n, 0.3, seed), q) > crit);
  }
  CHECK(exceed < 5);
}
