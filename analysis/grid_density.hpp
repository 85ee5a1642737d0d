#pragma once
// A 1-D probability density tabulated on a uniform grid: the form in which wgflow holds the analytic
// optimal measures of one-parameter experiments (paper §3.1), with trapezoid quadrature for their
// integrals and a piecewise-linear CDF for goodness-of-fit statistics (analysis/ks.hpp).
//
//   Grid<double> grid(-4.0, 4.0, 1601);
//   auto q = GridDensity<double>::from_log(grid, log_q);   // normalised: integrates to 1 on the grid
//   double F = q.cdf(0.3);
//
// Accuracy: the composite trapezoid rule on spacing dt has error -(b - a) dt^2 f''(xi) / 12 for a C^2
// integrand, so a grid of a few thousand points resolves the smooth densities of the toy experiments
// to ~1e-6. Mass outside [a, b] is dropped: choose the interval so that the density is negligible at its
// ends (the density's values at a and b are available to check that).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../core/errors.hpp"

namespace wgflow::analysis {

// n >= 2 equally spaced points a = t_0 < t_1 < ... < t_{n-1} = b, with composite trapezoid weights.
template <class T>
class Grid {
 public:
  Grid(T a, T b, std::size_t n) : a_(a), b_(b), n_(n) {
    if (!(a < b) || n < 2)
      throw Error("Grid: need a < b and at least 2 points, got [" + std::to_string(a) + ", " + std::to_string(b) +
                  "] with " + std::to_string(n) + " points");
    dt_ = (b - a) / static_cast<T>(n - 1);
  }

  T lower() const { return a_; }
  T upper() const { return b_; }
  T spacing() const { return dt_; }
  std::size_t size() const { return n_; }

  // t_i = a + i dt; the last point is exactly b (no accumulated rounding).
  T point(std::size_t i) const { return i + 1 == n_ ? b_ : a_ + static_cast<T>(i) * dt_; }

  std::vector<T> points() const {
    std::vector<T> t(n_);
    for (std::size_t i = 0; i < n_; ++i) t[i] = point(i);
    return t;
  }

  // w_0 = w_{n-1} = dt / 2, w_i = dt otherwise: sum_i w_i f(t_i) is the composite trapezoid rule.
  T weight(std::size_t i) const { return (i == 0 || i + 1 == n_) ? dt_ / 2 : dt_; }

  // int_a^b f by the trapezoid rule; f holds f(t_i).
  T integrate(std::span<const T> f) const {
    check_size("Grid::integrate", f.size());
    T s = 0;
    for (std::size_t i = 0; i < n_; ++i) s += weight(i) * f[i];
    return s;
  }

  // F_i = int_a^{t_i} f by the cumulative trapezoid rule: F_0 = 0, F_i = F_{i-1} + dt (f_{i-1} + f_i) / 2.
  std::vector<T> cumulative(std::span<const T> f) const {
    check_size("Grid::cumulative", f.size());
    std::vector<T> F(n_);
    F[0] = 0;
    for (std::size_t i = 1; i < n_; ++i) F[i] = F[i - 1] + dt_ * (f[i - 1] + f[i]) / 2;
    return F;
  }

  // The cell [t_k, t_{k+1}] holding x in [a, b] and the fraction of the way across it.
  std::pair<std::size_t, T> locate(T x) const {
    const T u = (x - a_) / dt_;
    const std::size_t k = std::min(static_cast<std::size_t>(std::max(u, T(0))), n_ - 2);
    return {k, u - static_cast<T>(k)};
  }

  void check_size(const char* where, std::size_t m) const {
    if (m != n_)
      throw ShapeError(std::string(where) + ": " + std::to_string(m) + " values for a grid of " +
                       std::to_string(n_) + " points");
  }

 private:
  T a_, b_;
  std::size_t n_;
  T dt_;
};

// A probability density q tabulated at the points of a grid and normalised by trapezoid quadrature.
template <class T>
class GridDensity {
 public:
  // Normalises non-negative values with a positive, finite integral.
  GridDensity(Grid<T> grid, std::vector<T> unnormalised) : grid_(std::move(grid)), q_(std::move(unnormalised)) {
    grid_.check_size("GridDensity", q_.size());
    for (std::size_t i = 0; i < q_.size(); ++i)
      if (!(q_[i] >= 0) || !std::isfinite(q_[i]))
        throw Error("GridDensity: value " + std::to_string(q_[i]) + " at t = " + std::to_string(grid_.point(i)) +
                    " is negative or not finite");
    const T z = grid_.integrate(q_);
    if (!(z > 0) || !std::isfinite(z)) throw Error("GridDensity: integral " + std::to_string(z) + " is not positive");
    for (T& v : q_) v /= z;
    cdf_ = grid_.cumulative(q_);
    // The cumulative and the full trapezoid sums agree up to rounding; pin the last value to exactly 1.
    for (T& F : cdf_) F /= cdf_.back();
  }

  // From an unnormalised log-density: the maximum is subtracted before exponentiating, so that
  // log-densities of any magnitude (exp(-l / lambda) with small lambda) neither overflow nor vanish.
  static GridDensity from_log(Grid<T> grid, std::span<const T> log_density) {
    grid.check_size("GridDensity::from_log", log_density.size());
    const T top = *std::max_element(log_density.begin(), log_density.end());
    if (!std::isfinite(top)) throw Error("GridDensity::from_log: maximum log-density " + std::to_string(top) + " is not finite");
    std::vector<T> q(log_density.size());
    for (std::size_t i = 0; i < q.size(); ++i) q[i] = std::exp(log_density[i] - top);
    return GridDensity(std::move(grid), std::move(q));
  }

  const Grid<T>& grid() const { return grid_; }
  std::size_t size() const { return q_.size(); }

  // q(t_i), and the tabulated CDF F(t_i) (cumulative trapezoid, F(a) = 0, F(b) = 1).
  const std::vector<T>& values() const { return q_; }
  const std::vector<T>& cdf_values() const { return cdf_; }

  // q(x) by linear interpolation; zero outside [a, b].
  T pdf(T x) const {
    if (x < grid_.lower() || x > grid_.upper()) return 0;
    const auto [k, s] = grid_.locate(x);
    return (1 - s) * q_[k] + s * q_[k + 1];
  }

  // F(x) by linear interpolation of the cumulative trapezoid sums; 0 below a and 1 above b.
  T cdf(T x) const {
    if (x <= grid_.lower()) return 0;
    if (x >= grid_.upper()) return 1;
    const auto [k, s] = grid_.locate(x);
    return (1 - s) * cdf_[k] + s * cdf_[k + 1];
  }

  // int f(t) q(t) dt by the trapezoid rule.
  template <class F>
  T expectation(const F& f) const {
    T s = 0;
    for (std::size_t i = 0; i < q_.size(); ++i) s += grid_.weight(i) * f(grid_.point(i)) * q_[i];
    return s;
  }

  T mean() const {
    return expectation([](T t) { return t; });
  }
  T variance() const {
    const T m = mean();
    return expectation([m](T t) { return (t - m) * (t - m); });
  }

 private:
  Grid<T> grid_;
  std::vector<T> q_;
  std::vector<T> cdf_;
};

}  // namespace wgflow::analysis
