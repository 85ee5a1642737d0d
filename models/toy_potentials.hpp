#pragma once
// The toy losses of paper.md §3 as named potentials, each with its closed-form gradient. In the paper each
// acts directly on theta (a one-weight linear model, or a 1-1-1 network without biases, has theta as its
// output up to a product, and the authors' code applies the loss to theta itself).
//
//   double_well(d)       l(t) = sum_j (3/2)(t_j^4/4 + t_j^3/3 - t_j^2) - 3/8       (§3.1; d = 1 in the paper)
//                        l'(t) = (3/2) t (t + 2)(t - 1): minima at -2 (global, l = -35/8) and 1 (l = -1),
//                        a maximum at 0 (l = -3/8).
//   gaussian_mixture(M)  l(t) = -log sum_k (1/K) N(t; mu_k, I), the rows of M the means mu_k (§3.2)
//   four_gaussian_mixture()  the paper's target: means (+-3, +-3) in R^2
//   neg_abs_sin(d)       l(t) = -sum_j |sin t_j|: minima at every pi/2 + k pi (§3.3)
//   quadratic(m, A)      l(t) = (1/2)(t - m)^T A (t - m), gradient (1/2)(A + A^T)(t - m): the analytic
//                        case of paper.md §5 (for symmetric positive definite A the Gibbs measure of DLE
//                        with a Gaussian prior is Gaussian).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../core/finite.hpp"
#include "../core/tensor.hpp"
#include "analytic_potential.hpp"

namespace wgflow::models {


template <class T>
AnalyticPotential<T> double_well(std::size_t dim = 1) {
  auto value = [](std::span<const T> t) {
    T total = 0;
    for (const T x : t) total += T(1.5) * (x * x * x * x / 4 + x * x * x / 3 - x * x) - T(0.375);
    return total;
  };
  auto gradient = [](std::span<const T> t, std::span<T> g) {
    for (std::size_t j = 0; j < t.size(); ++j) g[j] = T(1.5) * t[j] * (t[j] + 2) * (t[j] - 1);
  };
  return AnalyticPotential<T>(dim, value, gradient, "double_well");
}

// Stable log-sum-exp: with a_k = -|t - mu_k|^2 / 2 and a* = max_k a_k,
//   l(t) = -a* - log sum_k exp(a_k - a*) + log K + (d/2) log(2 pi),
//   grad l(t) = sum_k w_k (t - mu_k),  w_k = exp(a_k - a*) / sum_k' exp(a_k' - a*) (the responsibilities).
template <class T>
AnalyticPotential<T> gaussian_mixture(const Tensor<T>& means) {
  const std::size_t K = means.shape()[0], d = means.shape()[1];
  if (K == 0 || d == 0) throw ShapeError("gaussian_mixture: means must be K x d with K, d > 0, got " +
                                         shape_string({K, d}));
  require_finite(means, "gaussian_mixture: means");
  const std::vector<T> mu(means.begin(), means.end());
  // Shared by value and gradient: the exponents a_k - a* and their sum. K is small (4 in the paper), so a
  // fixed-size stack buffer would do; a thread-local vector keeps any K allocation-free after first use.
  auto responsibilities = [mu, K, d](std::span<const T> t, std::vector<T>& a) {
    a.resize(K);
    for (std::size_t k = 0; k < K; ++k) {
      T sq = 0;
      for (std::size_t j = 0; j < d; ++j) sq += (t[j] - mu[k * d + j]) * (t[j] - mu[k * d + j]);
      a[k] = -sq / 2;
    }
    const T a_max = *std::max_element(a.begin(), a.end());
    T total = 0;
    for (T& x : a) total += (x = std::exp(x - a_max));
    return std::pair<T, T>{a_max, total};
  };
  const T constant = std::log(static_cast<T>(K)) + static_cast<T>(d) / 2 * std::log(2 * std::numbers::pi_v<T>);
  auto value = [responsibilities, constant](std::span<const T> t) {
    thread_local std::vector<T> a;
    const auto [a_max, total] = responsibilities(t, a);
    return -a_max - std::log(total) + constant;
  };
  auto gradient = [responsibilities, mu, K, d](std::span<const T> t, std::span<T> g) {
    thread_local std::vector<T> a;
    const auto [a_max, total] = responsibilities(t, a);
    std::fill(g.begin(), g.end(), T(0));
    for (std::size_t k = 0; k < K; ++k)
      for (std::size_t j = 0; j < d; ++j) g[j] += a[k] / total * (t[j] - mu[k * d + j]);
  };
  return AnalyticPotential<T>(d, value, gradient, "gaussian_mixture");
}

template <class T>
AnalyticPotential<T> four_gaussian_mixture() {
  const Tensor<T> means{{-3, -3}, {-3, 3}, {3, -3}, {3, 3}};
  return gaussian_mixture<T>(means);
}

// d/dt (-|sin t|) = -sign(sin t) cos t, taken as 0 where sin t = 0 (the kinks at k pi, the maxima).
template <class T>
AnalyticPotential<T> neg_abs_sin(std::size_t dim = 1) {
  auto value = [](std::span<const T> t) {
    T total = 0;
    for (const T x : t) total -= std::abs(std::sin(x));
    return total;
  };
  auto gradient = [](std::span<const T> t, std::span<T> g) {
    for (std::size_t j = 0; j < t.size(); ++j) {
      const T s = std::sin(t[j]);
      g[j] = s > 0 ? -std::cos(t[j]) : s < 0 ? std::cos(t[j]) : T(0);
    }
  };
  return AnalyticPotential<T>(dim, value, gradient, "neg_abs_sin");
}

template <class T>
AnalyticPotential<T> quadratic(std::vector<T> m, const Tensor<T>& A) {
  const std::size_t d = m.size();
  if (d == 0 || A.shape()[0] != d || A.shape()[1] != d)
    throw ShapeError("quadratic: A is " + shape_string({A.shape()[0], A.shape()[1]}) + " but m has " +
                     std::to_string(d) + " entries; A must be d x d");
  require_finite(m.data(), Shape{1, d}, "quadratic: m");
  require_finite(A, "quadratic: A");
  const std::vector<T> a(A.begin(), A.end());
  auto value = [m, a, d](std::span<const T> t) {
    T total = 0;
    for (std::size_t i = 0; i < d; ++i)
      for (std::size_t j = 0; j < d; ++j) total += (t[i] - m[i]) * a[i * d + j] * (t[j] - m[j]);
    return total / 2;
  };
  auto gradient = [m, a, d](std::span<const T> t, std::span<T> g) {
    for (std::size_t i = 0; i < d; ++i) {
      T gi = 0;
      for (std::size_t j = 0; j < d; ++j) gi += (a[i * d + j] + a[j * d + i]) * (t[j] - m[j]);
      g[i] = gi / 2;
    }
  };
  return AnalyticPotential<T>(d, value, gradient, "quadratic");
}

}  // namespace wgflow::models
