#pragma once
// The analytic optimal measures of the 1-D experiments (paper §1 and §3.1), computed on a grid, against
// which the final particles of DLE and DRLE are compared.
//
// - DLE: the minimiser of F_DLE(Q) = int l dQ + lambda KL(Q || P) is the Gibbs measure
//       q*(t) ∝ exp(-l(t) / lambda) p(t),
//   tabulated and normalised by trapezoid quadrature (gibbs_density).
// - DRLE: the minimiser of F_DRLE(Q) = int l dQ + (lambda1 / 2) MMD_k^2(Q, P) + lambda2 KL(Q || P) solves
//       q*(t) ∝ p(t) exp(-[l(t) + lambda1 (int k(t, t') q*(t') dt' - int k(t, t') dP(t'))] / lambda2),
//   found by damped fixed-point iteration on the grid (drle_fixed_point).
//
// The prior is P = N(0, s^2) and the kernel the RBF k(t, t') = exp(-(t - t')^2 / (2 h)), the 1-D case
// of the mean-over-coordinates convention of paper §6. Its prior kernel mean has a closed form
// (rbf_prior_kernel_mean), used instead of the reference code's 200-sample estimate so that the grid
// solution carries no Monte-Carlo error.
//
// The loss is any callable T -> T; loss_of() adapts a one-parameter models::Potential.
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/errors.hpp"
#include "grid_density.hpp"
#include "../models/potential.hpp"

namespace wgflow::analysis {

template <class F, class T>
concept ScalarLoss = std::regular_invocable<const F&, T> && std::convertible_to<std::invoke_result_t<const F&, T>, T>;

// l(t) of a potential with one parameter, as a callable for the functions below. The potential must
// outlive the returned callable.
template <class T>
auto loss_of(const models::Potential<T>& potential) {
  if (potential.dim() != 1)
    throw Error("loss_of: the optimal densities are 1-D, but the potential has " + std::to_string(potential.dim()) +
                " parameters");
  return [&potential](T t) {
    T grad = 0;
    return potential.value_and_gradient(std::span<const T>(&t, 1), std::span<T>(&grad, 1));
  };
}

// q*(t) ∝ exp(-l(t) / lambda) p(t) with p = N(0, prior_variance): the DLE optimum (paper §1). With
// lambda = 1 and prior N(0, 1) this is the paper §3.1 density exp(-l(t) - t^2 / 2).
template <class T, ScalarLoss<T> Loss>
GridDensity<T> gibbs_density(const Grid<T>& grid, const Loss& loss, T lambda, T prior_variance = 1) {
  if (!(lambda > 0) || !(prior_variance > 0))
    throw Error("gibbs_density: need lambda > 0 and prior_variance > 0, got lambda = " + std::to_string(lambda) +
                ", prior_variance = " + std::to_string(prior_variance));
  std::vector<T> log_q(grid.size());
  for (std::size_t i = 0; i < grid.size(); ++i) {
    const T t = grid.point(i);
    log_q[i] = -static_cast<T>(loss(t)) / lambda - t * t / (2 * prior_variance);
  }
  return GridDensity<T>::from_log(grid, log_q);
}

// int k(t, t') dP(t') for k(t, t') = exp(-(t - t')^2 / (2 h)) and P = N(0, s^2):
//   sqrt(h / (h + s^2)) exp(-t^2 / (2 (h + s^2)))
// (the convolution of two Gaussians: k is sqrt(2 pi h) times the N(t, h) density).
template <class T>
T rbf_prior_kernel_mean(T t, T bandwidth, T prior_variance) {
  const T v = bandwidth + prior_variance;
  return std::sqrt(bandwidth / v) * std::exp(-t * t / (2 * v));
}

// The constants of F_DRLE; the paper §3.1 experiment uses all four equal to 1.
template <class T>
struct DrleObjective {
  T lambda1 = 1;         // MMD weight
  T lambda2 = 1;         // KL weight
  T bandwidth = 1;       // h of the RBF kernel exp(-(t - t')^2 / (2 h))
  T prior_variance = 1;  // s^2 of the prior N(0, s^2)
};

// Damped iteration q <- q + damping (M(q) - q), where M is the right-hand side of the fixed-point
// equation. It stops once the residual ||M(q) - q||_inf (in units of density) is at most `tolerance`.
// Convergence: log M(q) moves by at most (lambda1 / lambda2) ||q - q'||_1 when q does (k <= 1), so M is a
// contraction for lambda1 / lambda2 small enough; damping < 1 widens the range that converges.
template <class T>
struct FixedPointOptions {
  T damping = T(0.5);
  T tolerance = T(1e-10);
  std::size_t max_iterations = 10000;
};

template <class T>
struct DrleFixedPoint {
  GridDensity<T> density;
  std::size_t iterations;
  T residual;  // ||M(q) - q||_inf at the returned q
};

// The DRLE optimum on the grid (paper §1, §3.1). The kernel integral int k(t_i, t') q(t') dt' is the
// trapezoid sum over the grid, so mass of q* outside [a, b] must be negligible. Throws wgflow::Error if
// the iteration has not reached the tolerance within max_iterations.
template <class T, ScalarLoss<T> Loss>
DrleFixedPoint<T> drle_fixed_point(const Grid<T>& grid, const Loss& loss, const DrleObjective<T>& objective,
                                   const FixedPointOptions<T>& options = {}) {
  const auto& [lambda1, lambda2, h, s2] = objective;
  if (!(lambda1 >= 0) || !(lambda2 > 0) || !(h > 0) || !(s2 > 0))
    throw Error("drle_fixed_point: need lambda1 >= 0 and lambda2, bandwidth, prior_variance > 0, got " +
                std::to_string(lambda1) + ", " + std::to_string(lambda2) + ", " + std::to_string(h) + ", " +
                std::to_string(s2));
  if (!(options.damping > 0 && options.damping <= 1))
    throw Error("drle_fixed_point: damping must lie in (0, 1], got " + std::to_string(options.damping));

  const std::size_t n = grid.size();
  // The parts of the exponent that do not depend on q: -l(t) / lambda2 + log p(t) + lambda1 m_P(t) / lambda2.
  std::vector<T> base(n);
  for (std::size_t i = 0; i < n; ++i) {
    const T t = grid.point(i);
    base[i] = (-static_cast<T>(loss(t)) + lambda1 * rbf_prior_kernel_mean(t, h, s2)) / lambda2 - t * t / (2 * s2);
  }
  // Kw[i, j] = k(t_i, t_j) w_j, so that (Kw q)_i is the trapezoid rule for int k(t_i, t') q(t') dt'.
  std::vector<T> Kw(n * n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      const T d = grid.point(i) - grid.point(j);
      Kw[i * n + j] = std::exp(-d * d / (2 * h)) * grid.weight(j);
    }

  std::vector<T> log_m(n);
  auto apply_map = [&](const std::vector<T>& q) {
    for (std::size_t i = 0; i < n; ++i) {
      T kq = 0;
      for (std::size_t j = 0; j < n; ++j) kq += Kw[i * n + j] * q[j];
      log_m[i] = base[i] - lambda1 * kq / lambda2;
    }
    return GridDensity<T>::from_log(grid, log_m).values();
  };

  // Start from the Gibbs density of the same loss and KL weight, the lambda1 = 0 solution.
  std::vector<T> q = gibbs_density(grid, loss, lambda2, s2).values();
  for (std::size_t it = 0;; ++it) {
    const std::vector<T> m = apply_map(q);
    T residual = 0;
    for (std::size_t i = 0; i < n; ++i) residual = std::max(residual, std::abs(m[i] - q[i]));
    if (residual <= options.tolerance) return {GridDensity<T>(grid, q), it, residual};
    if (it == options.max_iterations)
      throw Error("drle_fixed_point: no convergence in " + std::to_string(options.max_iterations) +
                  " iterations (residual " + std::to_string(residual) + " > tolerance " +
                  std::to_string(options.tolerance) + ", damping " + std::to_string(options.damping) +
                  "); lower the damping or lambda1 / lambda2");
    for (std::size_t i = 0; i < n; ++i) q[i] += options.damping * (m[i] - q[i]);
  }
}

}  // namespace wgflow::analysis
