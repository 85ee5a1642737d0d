// SVGD (flows/svgd.hpp) on a correlated 2-D Gaussian target (paper.md §5): the particles' mean and
// covariance approach the target's.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <span>

#include "flows/flows.hpp"
#include "models/prior.hpp"
#include "models/toy_potentials.hpp"

using namespace wgflow;
using wgflow::Tensor;

TEST_CASE("SVGD on a correlated 2-D Gaussian: particle mean and covariance match the target") {
  // l(t) = (t - m)^T A (t - m) / 2 with A = Sigma^-1, Sigma = [[1, 0.8], [0.8, 1]]; prior N(0, 100 I); lambda = 1.
  // Target pi ∝ exp(-l) p = N(mu, S) with S = (A + I / 100)^-1, mu = S A m (the broad prior moves the
  // moments by ~1 %).
  const double rho = 0.8, s2 = 100.0;
  const Tensor<double> A{{1 / (1 - rho * rho), -rho / (1 - rho * rho)}, {-rho / (1 - rho * rho), 1 / (1 - rho * rho)}};
  const double m[2] = {1.0, -1.0};
  auto loss = models::quadratic<double>({m[0], m[1]}, A);
  const auto prior = models::GaussianPrior<double>::isotropic(2, s2);
  const double p00 = A(0, 0) + 1 / s2, p01 = A(0, 1), p11 = A(1, 1) + 1 / s2, det = p00 * p11 - p01 * p01;
  const double S[2][2] = {{p11 / det, -p01 / det}, {-p01 / det, p00 / det}};
  const double Am[2] = {A(0, 0) * m[0] + A(0, 1) * m[1], A(1, 0) * m[0] + A(1, 1) * m[1]};
  const double mu[2] = {S[0][0] * Am[0] + S[0][1] * Am[1], S[1][0] * Am[0] + S[1][1] * Am[1]};

  // N(0, I) starts: mean and correlation both wrong at first. Sgd(0.5) for 800 steps: the moments have
  // stopped moving (they change by < 1e-3 between steps 800 and 4000) so what is checked is SVGD's fixed point.
  const std::size_t N = 200;
  auto svgd = flows::svgd(loss, prior, models::GaussianPrior<double>::isotropic(2, 1.0).sample(N, 3),
                          {.optimizer = flows::Sgd<double>{0.5}});
  CHECK(svgd.name() == "SVGD");
  CHECK(svgd.diffusion() == 0);  // deterministic: the repulsion is the only source of spread
  svgd.run(800);
  const Tensor<double>& x = svgd.particles();

  double mean[2] = {0, 0}, cov[2][2] = {{0, 0}, {0, 0}};
  for (std::size_t i = 0; i < N; ++i)
    for (std::size_t a = 0; a < 2; ++a) mean[a] += x(i, a) / N;
  for (std::size_t i = 0; i < N; ++i)
    for (std::size_t a = 0; a < 2; ++a)
      for (std::size_t b = 0; b < 2; ++b) cov[a][b] += (x(i, a) - mean[a]) * (x(i, b) - mean[b]) / N;
  MESSAGE("SVGD: mean (" << mean[0] << ", " << mean[1] << ") vs (" << mu[0] << ", " << mu[1] << "); covariance ["
                         << cov[0][0] << ", " << cov[0][1] << ", " << cov[1][1] << "] vs [" << S[0][0] << ", " << S[0][1]
                         << ", " << S[1][1] << "]");

  // Tolerances. SVGD is deterministic: the error is that of its N-particle fixed point, not Monte Carlo.
  // With the RBF kernel and the median bandwidth that fixed point matches the mean closely (here to 1e-3;
  // the particles are symmetric about it, as a quadrature rule is) and the correlation to 2e-3, but it
  // shrinks the spread: the repulsion balances the kernel-smoothed attraction slightly inside the target
  // (the "variance collapse" of Ba et al., ICLR 2022, which shrinks with N and grows with the dimension).
  // Measured here: -7 % of the variances at N = 100, -4.3 % at N = 200. The bounds are 0.02 target sd for
  // the mean, 0.02 for the correlation and [-10 %, +1 %] for the variances. Collapsed particles (no
  // repulsion: variance 0) or a kernel-gradient sign error (particles pushed out) fail them.
  for (std::size_t a = 0; a < 2; ++a) {
    CAPTURE(a);
    CHECK(std::abs(mean[a] - mu[a]) < 0.02 * std::sqrt(S[a][a]));
    CHECK(cov[a][a] / S[a][a] > 0.90);
    CHECK(cov[a][a] / S[a][a] < 1.01);
  }
  const double correlation = cov[0][1] / std::sqrt(cov[0][0] * cov[1][1]);
  const double target_correlation = S[0][1] / std::sqrt(S[0][0] * S[1][1]);
  CHECK(std::abs(correlation - target_correlation) < 0.02);
  CHECK(dynamic_cast<const flows::SvgdDirection<double>&>(svgd.term(0)).bandwidth() > 0);
  // The term evaluates the potential: the flow's mean loss is the particles' mean of l at the start of the
  // last step, when they had all but stopped moving (the last step changes it by ~4e-6 relative).
  double mean_l = 0;
  for (std::size_t i = 0; i < N; ++i) {
    double g[2];
    mean_l += loss.value_and_gradient(std::span<const double>(&x(i, 0), 2), std::span<double>(g, 2)) / N;
  }
  REQUIRE(svgd.mean_loss());
  CHECK(*svgd.mean_loss() == doctest::Approx(mean_l).epsilon(1e-4));
}
