#include <cmath>
#include <numbers>
#include <span>
#include <vector>

#include "models/initializer.hpp"
#include "models/mlp.hpp"
#include "models/prior.hpp"
#include "tests/support/op_check.hpp"

using namespace wgtest;
using wgflow::models::GaussianPrior;
using wgflow::models::Initializer;
using wgflow::models::Mlp;

TEST_CASE("Gaussian prior: log-density and its gradient equal the closed forms") {
  const std::vector<double> var{0.5, 2.0, 1.0, 0.1};
  const auto prior = GaussianPrior<double>::per_parameter(var);
  const std::vector<double> theta{0.3, -1.2, 2.0, 0.05};
  double want = 0;
  for (std::size_t j = 0; j < var.size(); ++j)
    want += -0.5 * theta[j] * theta[j] / var[j] - 0.5 * std::log(2 * std::numbers::pi * var[j]);
  CHECK(prior.log_density(theta) == doctest::Approx(want).epsilon(1e-15));

  std::vector<double> grad(4);
  prior.grad_log_density(theta, grad);
  for (std::size_t j = 0; j < var.size(); ++j) CHECK(grad[j] == doctest::Approx(-theta[j] / var[j]).epsilon(1e-15));

  // The gradient is the gradient of log_density: fourth-order central differences, error ~ h^4 f^(5) = 0
  // for a quadratic, so only rounding (~1e-16 / h) remains.
  const double h = 1e-3;
  for (std::size_t j = 0; j < var.size(); ++j) {
    auto at = [&](double dx) {
      std::vector<double> t = theta;
      t[j] += dx;
      return prior.log_density(t);
    };
    CHECK(grad[j] == doctest::Approx((at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h)).epsilon(1e-9));
  }

  // Isotropic N(0, s^2 I): log p = -|theta|^2 / (2 s^2) - (J / 2) log(2 pi s^2).
  const auto iso = GaussianPrior<double>::isotropic(4, 3.0);
  double sq = 0;
  for (double t : theta) sq += t * t;
  CHECK(iso.log_density(theta) == doctest::Approx(-sq / 6 - 2 * std::log(2 * std::numbers::pi * 3)).epsilon(1e-15));
}

TEST_CASE("Gaussian prior: per block and from an initialiser") {
  const Mlp<double> net({{3, 4, 1}});
  const auto& L = net.layout();
  const std::vector<double> block_var{1.0, 0.5, 0.25, 2.0};
  const auto per_block = GaussianPrior<double>::per_block(L, block_var);
  for (std::size_t k = 0; k < L.num_blocks(); ++k)
    for (std::size_t j = 0; j < L.block(k).size(); ++j)
      CHECK(per_block.variances()[L.block(k).offset + j] == block_var[k]);

  // paper.md §6: the prior is the initialisation distribution.
  const Initializer init = Initializer::kaiming(2.0, 0.5);
  const auto from_init = GaussianPrior<double>::from_initializer(init, L);
  CHECK(from_init.variances() == init.variances<double>(L));
  CHECK(from_init.dim() == net.num_params());

  CHECK_THROWS_WITH_AS(GaussianPrior<double>::per_block(L, std::vector<double>{1.0}),
                       doctest::Contains("1 variances for 4 blocks"), wgflow::Error);
  CHECK_THROWS_WITH_AS(GaussianPrior<double>::per_parameter({1.0, 0.0}),
                       doctest::Contains("variance of parameter 1 must be positive"), wgflow::Error);
  std::vector<double> wrong(3);
  CHECK_THROWS_WITH_AS(from_init.log_density(wrong), doctest::Contains("3 entries, the prior is on R^21"),
                       wgflow::ShapeError);
}

TEST_CASE("Gaussian prior samples: per-coordinate moments, determinism by (seed, row)") {
  const std::vector<double> var{0.01, 1.0, 4.0, 0.3, 9.0};
  const auto prior = GaussianPrior<double>::per_parameter(var);
  const std::size_t N = 20000;
  const Tensor<double> draws = prior.sample(N, 11);
  REQUIRE(draws.shape() == std::array<std::size_t, 2>{N, 5});
  for (std::size_t j = 0; j < var.size(); ++j) {
    CAPTURE(j);
    double sum = 0, sum_sq = 0;
    for (std::size_t i = 0; i < N; ++i) {
      sum += draws(i, j);
      sum_sq += draws(i, j) * draws(i, j);
    }
    const double mean = sum / N, v = sum_sq / N - mean * mean;
    // Standard errors for N Gaussian draws: mean sqrt(v / N), variance v sqrt(2 / N); five of them.
    CHECK(std::abs(mean) < 5 * std::sqrt(var[j] / N));
    CHECK(std::abs(v - var[j]) < 5 * var[j] * std::sqrt(2.0 / N));
  }
  // Pairwise uncorrelated coordinates: the sample correlation of independent draws has sd 1/sqrt(N).
  double cross = 0;
  for (std::size_t i = 0; i < N; ++i) cross += draws(i, 1) * draws(i, 2);
  CHECK(std::abs(cross / N / std::sqrt(var[1] * var[2])) < 5 / std::sqrt(double(N)));

  CHECK(prior.sample(N, 11) == draws);
  CHECK(prior.sample(3, 11) == xt::view(draws, xt::range(0, 3), xt::all()));
  CHECK(prior.sample(3, 12) != xt::view(draws, xt::range(0, 3), xt::all()));
  std::vector<double> row(5);
  prior.sample_into(11, 17, row);
  for (std::size_t j = 0; j < 5; ++j) CHECK(row[j] == draws(17, j));
}
