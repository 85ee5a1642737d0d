// DLE on a quadratic loss with a Gaussian prior (paper.md §5): the Gibbs measure q* ∝ exp(-l / lambda) p is
// Gaussian with known mean and covariance, and the particles' moments must match it up to the Euler-Maruyama
// bias O(eta) and the Monte-Carlo error of N particles.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>

#include "flows/flows.hpp"
#include "models/prior.hpp"
#include "models/toy_potentials.hpp"

using namespace wgflow;
using wgflow::Tensor;

// In float too: a float32 flow draws its noise by Rng's float Box-Muller, not the double one rounded.
TEST_CASE_TEMPLATE("DLE on a quadratic with a Gaussian prior: particle mean and variance match the Gibbs measure", T,
                   double, float) {
  // l(t) = sum_j a_j (t_j - m_j)^2 / 2, prior N(0, s2 I), KL weight lambda. Per coordinate the DLE gradient is
  // a_j (t - m_j) + lambda t / s2 = c_j (t - mu_j) with c_j = a_j + lambda / s2 and mu_j = a_j m_j / c_j, so
  // q* = N(mu, diag(lambda / c_j)).
  const double a[3] = {1.0, 2.0, 4.0}, m[3] = {1.0, -2.0, 0.5};
  const double s2 = 2.0, lambda = 0.5, eta = 0.01;
  Tensor<T> A = xt::zeros<T>({3, 3});
  for (std::size_t j = 0; j < 3; ++j) A(j, j) = static_cast<T>(a[j]);
  auto loss = models::quadratic<T>({T(m[0]), T(m[1]), T(m[2])}, A);
  const auto prior = models::GaussianPrior<T>::isotropic(3, T(s2));

  // The particles never interact, so at any step they are N independent draws of the Euler-Maruyama law.
  // Per coordinate that law is an AR(1) chain t <- (1 - eta c) t + eta c mu + sqrt(2 lambda eta) xi, whose
  // mean relaxes to mu exactly (no bias) by the factor (1 - eta c)^steps <= (1 - 0.0125)^1000 ~ 4e-6 from the
  // prior start, and whose variance tends to lambda / (c (1 - eta c / 2)): the O(eta) bias, relative size
  // eta c / 2 <= 2.2 % here.
  const std::size_t N = 2000, steps = 1000;
  auto dle = flows::deep_langevin_ensemble(loss, prior, prior.sample(N, 11), {.lambda = T(lambda), .eta = T(eta), .seed = 3});
  dle.run(steps);
  const Tensor<T>& theta = dle.particles();

  for (std::size_t j = 0; j < 3; ++j) {
    CAPTURE(j);
    const double c = a[j] + lambda / s2, mu = a[j] * m[j] / c;
    const double variance = lambda / c, em_variance = variance / (1 - eta * c / 2);
    double mean = 0;
    for (std::size_t i = 0; i < N; ++i) mean += theta(i, j);
    mean /= N;
    double var = 0;
    for (std::size_t i = 0; i < N; ++i) var += (theta(i, j) - mean) * (theta(i, j) - mean);
    var /= N - 1;
    // Monte-Carlo: the sample mean has sd sqrt(v / N) (2 % of sd(q*) at N = 2000) and the sample variance a
    // relative sd of sqrt(2 / (N - 1)) = 3.2 %. Tolerances are 4 sd (plus the O(eta) bias for the
    // variance), so a correct flow fails with probability ~1e-4. Errors the check catches: noise
    // sqrt(lambda eta) halves the variance; a missing prior gradient moves mu_0 from 0.8 to 1 (14 sd of the mean).
    CHECK(std::abs(mean - mu) < 4 * std::sqrt(variance / N));
    CHECK(std::abs(var / variance - 1) < eta * c / 2 + 4 * std::sqrt(2.0 / (N - 1)));
    // Against the Euler-Maruyama variance itself only the Monte-Carlo error remains.
    CHECK(std::abs(var / em_variance - 1) < 4 * std::sqrt(2.0 / (N - 1)));
    // q* has independent coordinates: the sample correlations are ~N(0, 1/N), |r| < 4 / sqrt(N) = 0.09.
    for (std::size_t k = j + 1; k < 3; ++k) {
      double mean_k = 0, cov = 0, var_k = 0;
      for (std::size_t i = 0; i < N; ++i) mean_k += theta(i, k);
      mean_k /= N;
      for (std::size_t i = 0; i < N; ++i) {
        cov += (theta(i, j) - mean) * (theta(i, k) - mean_k);
        var_k += (theta(i, k) - mean_k) * (theta(i, k) - mean_k);
      }
      CHECK(std::abs(cov / std::sqrt(var * (N - 1) * var_k)) < 4 / std::sqrt(double(N)));
    }
  }
}
