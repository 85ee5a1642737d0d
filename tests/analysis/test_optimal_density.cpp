// The analytic optimal densities of analysis/optimal_density.hpp: normalisation, the closed-form Gaussian
// case, and the DRLE fixed point checked against its own equation computed independently.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "analysis/optimal_density.hpp"

namespace {

using wgflow::analysis::DrleObjective;
using wgflow::analysis::FixedPointOptions;
using wgflow::analysis::Grid;
using wgflow::analysis::GridDensity;

// The paper §3.1 double well: minima at -2 (global) and 1, maximum at 0.
double double_well(double t) { return 1.5 * (t * t * t * t / 4 + t * t * t / 3 - t * t) - 3.0 / 8.0; }

// Composite Simpson on [a, b] with n (even) intervals: an integrator independent of the trapezoid rule
// under test, with error O(dt^4).
template <class F>
double simpson(const F& f, double a, double b, int n) {
  const double dt = (b - a) / n;
  double s = f(a) + f(b);
  for (int i = 1; i < n; ++i) s += (i % 2 ? 4 : 2) * f(a + i * dt);
  return s * dt / 3;
}

}  // namespace

TEST_CASE("Grid: trapezoid weights integrate polynomials up to the rule's order") {
  const Grid<double> grid(-1.0, 2.0, 301);
  CHECK(grid.point(0) == -1.0);
  CHECK(grid.point(300) == 2.0);
  std::vector<double> one(301, 1.0), line(301), cube(301);
  for (std::size_t i = 0; i < 301; ++i) {
    line[i] = grid.point(i);
    cube[i] = std::pow(grid.point(i), 3);
  }
  // Exact for degree <= 1; for t^3 the error is (b - a) dt^2 |f''| / 12 <= 3 * 1e-4 * 12 / 12 = 3e-4.
  CHECK(grid.integrate(one) == doctest::Approx(3.0).epsilon(1e-13));
  CHECK(grid.integrate(line) == doctest::Approx(1.5).epsilon(1e-13));
  CHECK(std::abs(grid.integrate(cube) - 15.0 / 4.0) < 3e-4);
  CHECK(grid.cumulative(line).back() == doctest::Approx(grid.integrate(line)).epsilon(1e-13));
  CHECK_THROWS_AS(Grid<double>(1.0, 1.0, 10), wgflow::Error);
  CHECK_THROWS_WITH_AS(grid.integrate(std::vector<double>(3)), doctest::Contains("3 values for a grid of 301"),
                       wgflow::ShapeError);
}

TEST_CASE("gibbs_density: the double-well DLE optimum is normalised with the right constant") {
  const Grid<double> grid(-4.0, 4.0, 1601);
  const GridDensity<double> q = wgflow::analysis::gibbs_density(grid, double_well, 1.0);
  auto unnormalised = [](double t) { return std::exp(-double_well(t) - t * t / 2); };
  // Z by Simpson on a 4x finer grid: error ~ dt^4 ~ 1e-11 relative; the trapezoid normalisation in the
  // code has error (b - a) dt^2 max|f''| / (12 Z) ~ 8 * 2.5e-5 * 1e3 / (12 * 5) ~ 3e-5 at most, and in
  // practice far less (the integrand is smooth and negligible at the ends: spectral accuracy).
  const double Z = simpson(unnormalised, -4.0, 4.0, 6400);
  for (double t : {-2.7, -2.0, -1.1, 0.0, 0.6, 1.0, 1.9})
    CHECK(q.pdf(t) == doctest::Approx(unnormalised(t) / Z).epsilon(1e-3));  // 1e-3: linear interpolation
  for (std::size_t i = 0; i < grid.size(); i += 100)
    CHECK(q.values()[i] == doctest::Approx(unnormalised(grid.point(i)) / Z).epsilon(1e-6));
  CHECK(grid.integrate(q.values()) == doctest::Approx(1.0).epsilon(1e-12));
  CHECK(q.cdf(-4.0) == 0.0);
  CHECK(q.cdf(4.0) == 1.0);
  // Most mass sits in the global well at -2: l(-2) = -35/8, l(1) = -1, so
  // q*(-2) / q*(1) = exp(l(1) - l(-2) + 1/2 - 2) = exp(15/8).
  CHECK(q.pdf(-2.0) / q.pdf(1.0) == doctest::Approx(std::exp(1.875)).epsilon(1e-9));
  CHECK(q.cdf(0.0) > 0.7);
}

TEST_CASE("gibbs_density: a quadratic loss with a Gaussian prior gives the Gaussian posterior") {
  // l(t) = a (t - c)^2 / 2, prior N(0, s2), weight lambda: q* = N(m, v) with 1/v = a / lambda + 1/s2 and
  // m = v a c / lambda.
  const double a = 3.0, c = 1.2, s2 = 2.0, lambda = 0.5;
  const double v = 1.0 / (a / lambda + 1.0 / s2), m = v * a * c / lambda;
  const Grid<double> grid(-6.0, 6.0, 2401);
  const auto q =
      wgflow::analysis::gibbs_density(grid, [&](double t) { return a * (t - c) * (t - c) / 2; }, lambda, s2);
  // The trapezoid rule is spectrally accurate for a Gaussian whose tails vanish at the ends, so the
  // moments agree to rounding; the CDF interpolates linearly, error <= dt^2 max|q'| / 8 ~ 3e-6 * 0.6.
  CHECK(q.mean() == doctest::Approx(m).epsilon(1e-10));
  CHECK(q.variance() == doctest::Approx(v).epsilon(1e-10));
  for (double t : {m - 0.5, m - 0.1, m, m + 0.2, m + 0.7}) {
    const double pdf = std::exp(-(t - m) * (t - m) / (2 * v)) / std::sqrt(2 * std::numbers::pi * v);
    const double cdf = 0.5 * std::erfc(-(t - m) / std::sqrt(2 * v));
    CHECK(q.pdf(t) == doctest::Approx(pdf).epsilon(1e-4));
    CHECK(std::abs(q.cdf(t) - cdf) < 1e-5);
  }
  CHECK_THROWS_WITH_AS(wgflow::analysis::gibbs_density(grid, double_well, 0.0), doctest::Contains("lambda = 0"),
                       wgflow::Error);
}

TEST_CASE("rbf_prior_kernel_mean matches quadrature against the prior") {
  for (double h : {0.1, 1.0, 3.0})
    for (double s2 : {0.5, 1.0, 4.0})
      for (double t : {-2.0, 0.0, 0.7}) {
        auto integrand = [&](double u) {
          return std::exp(-(t - u) * (t - u) / (2 * h)) * std::exp(-u * u / (2 * s2)) / std::sqrt(2 * std::numbers::pi * s2);
        };
        // Simpson on +-12 prior sd with 24000 intervals: truncation < 1e-30, discretisation ~ 1e-12.
        const double ref = simpson(integrand, -12 * std::sqrt(s2), 12 * std::sqrt(s2), 24000);
        CHECK(wgflow::analysis::rbf_prior_kernel_mean(t, h, s2) == doctest::Approx(ref).epsilon(1e-9));
      }
}

TEST_CASE("drle_fixed_point: the double-well DRLE optimum satisfies its equation and is wider than DLE's") {
  const Grid<double> grid(-4.0, 4.0, 801);
  const DrleObjective<double> objective{1.0, 1.0, 1.0, 1.0};  // paper §3.1: lambda1 = lambda2 = h = 1, N(0, 1)
  const auto fp = wgflow::analysis::drle_fixed_point(grid, double_well, objective);
  CHECK(fp.residual <= 1e-10);
  CHECK(fp.iterations > 1);

  // The right-hand side of q = p exp(-[l + int k q - int k dP]) rebuilt here, with the prior kernel mean
  // by quadrature instead of its closed form and the kernel integral by Simpson on the grid (801 points:
  // an even number of intervals). Both discretisations differ from the solver's by O(dt^2) ~ 1e-4 relative
  // to q ~ 1, so the equation must hold to ~1e-4; an unconverged or mis-signed solve is off by > 1e-2.
  const auto& q = fp.density.values();
  const double dt = grid.spacing();
  std::vector<double> rhs(grid.size());
  for (std::size_t i = 0; i < grid.size(); ++i) {
    const double t = grid.point(i);
    double kq = 0;
    for (std::size_t j = 0; j < grid.size(); ++j) {
      const double d = t - grid.point(j);
      const double w = (j == 0 || j + 1 == grid.size()) ? 1 : (j % 2 ? 4 : 2);
      kq += w * std::exp(-d * d / 2) * q[j];
    }
    kq *= dt / 3;
    const double kp = simpson(
        [&](double u) { return std::exp(-(t - u) * (t - u) / 2 - u * u / 2) / std::sqrt(2 * std::numbers::pi); },
        -12.0, 12.0, 24000);
    rhs[i] = std::exp(-t * t / 2 - double_well(t) - kq + kp);
  }
  const GridDensity<double> m(grid, rhs);
  for (std::size_t i = 0; i < grid.size(); ++i) CHECK(std::abs(m.values()[i] - q[i]) < 1e-4);

  // Paper §3.1: the repulsion from its own mass and the attraction to the prior spread DRLE's optimum.
  const auto dle = wgflow::analysis::gibbs_density(grid, double_well, 1.0);
  const auto& drle = fp.density;
  MESSAGE("DLE var " << dle.variance() << ", DRLE var " << drle.variance() << ", mass in the minor well "
                     << 1 - dle.cdf(0.0) << " vs " << 1 - drle.cdf(0.0));
  CHECK(drle.variance() > 1.1 * dle.variance());
  CHECK(1 - drle.cdf(0.0) > 1 - dle.cdf(0.0));  // more mass in the minor well at 1
  CHECK(drle.pdf(-2.0) < dle.pdf(-2.0));        // a lower peak at the global minimum

  // Without the MMD term the fixed point is the Gibbs density of the KL weight.
  const auto plain = wgflow::analysis::drle_fixed_point(grid, double_well, DrleObjective<double>{0.0, 1.0, 1.0, 1.0});
  for (std::size_t i = 0; i < grid.size(); i += 40)
    CHECK(plain.density.values()[i] == doctest::Approx(dle.values()[i]).epsilon(1e-12));
}

TEST_CASE("drle_fixed_point: failure to converge is an error, not a silent answer") {
  const Grid<double> grid(-4.0, 4.0, 201);
  CHECK_THROWS_WITH_AS(wgflow::analysis::drle_fixed_point(grid, double_well, DrleObjective<double>{},
                                                       FixedPointOptions<double>{0.5, 1e-10, 3}),
                       doctest::Contains("no convergence in 3 iterations"), wgflow::Error);
  CHECK_THROWS_AS(wgflow::analysis::drle_fixed_point(grid, double_well, DrleObjective<double>{},
                                                  FixedPointOptions<double>{1.5, 1e-10, 100}),
                  wgflow::Error);
}
