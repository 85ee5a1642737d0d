#include <cmath>
#include <span>
#include <vector>

#include "models/initializer.hpp"
#include "models/mlp.hpp"
#include "models/prior.hpp"
#include "tests/support/op_check.hpp"

using namespace wgtest;
using wgflow::models::Activation;
using wgflow::models::BlockRole;
using wgflow::models::Initializer;
using wgflow::models::Mlp;
using wgflow::models::ParameterBlock;
using wgflow::models::ParameterLayout;

namespace {

struct Moments {
  double mean = 0, variance = 0, min = INFINITY, max = -INFINITY;
  std::size_t n = 0;
};

// Sample mean and (unbiased) variance of block b over all rows of draws.
Moments block_moments(const Tensor<double>& draws, const ParameterBlock& b) {
  Moments m;
  double sum = 0, sum_sq = 0;
  for (std::size_t i = 0; i < draws.shape()[0]; ++i)
    for (std::size_t j = b.offset; j < b.offset + b.size(); ++j) {
      const double x = draws(i, j);
      sum += x;
      sum_sq += x * x;
      m.min = std::min(m.min, x);
      m.max = std::max(m.max, x);
      ++m.n;
    }
  m.mean = sum / static_cast<double>(m.n);
  m.variance = (sum_sq - static_cast<double>(m.n) * m.mean * m.mean) / static_cast<double>(m.n - 1);
  return m;
}

// Draws N rows and checks every block's mean and variance against the initialiser's stated distribution
// (mean 0, except (lo + hi) / 2 for a uniform on [lo, hi): uniform(-0.5, 1.5) below is centred at 0.5).
// Monte-Carlo tolerance: with n draws of a law of variance v, the sample mean has standard error
// sqrt(v / n) and the sample variance sqrt((mu4 - v^2) / n), mu4 the fourth central moment: 3 v^2 for a
// Gaussian (so v sqrt(2 / n)) and 9/5 v^2 for a uniform (v sqrt(0.8 / n)). Five standard errors: a false
// failure has probability ~6e-7 per check. The smallest block below has 2 entries, so n >= 2 N = 8000.
void check_moments(const Initializer& init, const ParameterLayout& layout) {
  const std::size_t N = 4000;
  const Tensor<double> draws = init.sample<double>(layout, N, 42);
  for (const ParameterBlock& b : layout.blocks()) {
    CAPTURE(init.name());
    CAPTURE(b.name);
    const auto d = init.distribution(b);
    const Moments m = block_moments(draws, b);
    const double n = static_cast<double>(m.n), v = d.variance;
    CHECK(std::abs(m.mean - d.mean()) < 5 * std::sqrt(v / n));
    CHECK(std::abs(m.variance - v) < 5 * v * std::sqrt((d.uniform ? 0.8 : 2.0) / n));
    if (d.uniform) {
      CHECK(m.min >= d.lo);
      CHECK(m.max < d.hi);
    }
  }
}

}  // namespace

TEST_CASE("initialisers: stated variances per block, fans from the layout") {
  const Mlp<double> net({{4, 8, 2}, Activation::relu()});
  const ParameterLayout& L = net.layout();
  const auto& w0 = L.block("layer0.weight");  // fan_in 4, fan_out 8
  const auto& b0 = L.block("layer0.bias");
  const auto& w1 = L.block("layer1.weight");  // fan_in 8, fan_out 2

  CHECK(Initializer::normal(0.3, 0.1).distribution(w0).variance == doctest::Approx(0.3));
  CHECK(Initializer::normal(0.3, 0.1).distribution(b0).variance == doctest::Approx(0.1));
  CHECK(Initializer::kaiming(2.0).distribution(w0).variance == doctest::Approx(2.0 / 4));
  CHECK(Initializer::kaiming(2.0).distribution(w1).variance == doctest::Approx(2.0 / 8));
  CHECK(Initializer::kaiming(2.0, 1.0).distribution(b0).variance == doctest::Approx(1.0 / 4));
  const auto out = Initializer::Fan::out;
  CHECK(Initializer::kaiming(2.0, 1.0, out).distribution(w0).variance == doctest::Approx(2.0 / 8));
  CHECK(Initializer::kaiming(2.0, 1.0, out).distribution(w1).variance == doctest::Approx(2.0 / 2));
  CHECK(Initializer::uniform(-1, 3).distribution(w1).variance == doctest::Approx(16.0 / 12));
  CHECK(Initializer::uniform(-1, 3).distribution(w1).mean() == 1);
  CHECK(Initializer::kaiming(2.0).distribution(w1).mean() == 0);
  const auto torch_b0 = Initializer::torch_default().distribution(b0);
  CHECK(torch_b0.uniform);
  CHECK(torch_b0.hi == doctest::Approx(0.5));  // 1 / sqrt(fan_in = 4)
  CHECK(torch_b0.lo == doctest::Approx(-0.5));
  CHECK(torch_b0.variance == doctest::Approx(1.0 / 12));

  // variances(): the per-parameter vector, block by block.
  const std::vector<double> v = Initializer::kaiming(2.0, 1.0).variances<double>(L);
  REQUIRE(v.size() == L.size());
  CHECK(v[w0.offset] == doctest::Approx(0.5));
  CHECK(v[b0.offset + 7] == doctest::Approx(0.25));
  CHECK(v[w1.offset + w1.size() - 1] == doctest::Approx(0.25));

  CHECK_THROWS_AS(Initializer::normal(0.0), wgflow::Error);
  CHECK_THROWS_AS(Initializer::uniform(1, 1), wgflow::Error);
}

TEST_CASE("initialisers draw with the stated mean and variance (Monte Carlo)") {
  const Mlp<double> net({{4, 8, 2}, Activation::relu()});
  check_moments(Initializer::normal(0.7, 0.2), net.layout());
  check_moments(Initializer::kaiming(2.0, 0.5), net.layout());
  check_moments(Initializer::kaiming(2.0, 0.5, Initializer::Fan::out), net.layout());
  check_moments(Initializer::uniform(-0.5, 1.5), net.layout());
  check_moments(Initializer::torch_default(), net.layout());
}

TEST_CASE("initialisers are deterministic by seed, row and block") {
  const Mlp<double> net({{3, 5, 2}});
  const ParameterLayout& L = net.layout();
  const Initializer init = Initializer::kaiming(2.0);
  const Tensor<double> a = init.sample<double>(L, 10, 7);
  CHECK(a == init.sample<double>(L, 10, 7));
  CHECK(a != init.sample<double>(L, 10, 8));
  // Row i does not depend on how many rows are drawn.
  const Tensor<double> first3 = init.sample<double>(L, 3, 7);
  CHECK(first3 == xt::view(a, xt::range(0, 3), xt::all()));
  // Rows differ from each other.
  CHECK(xt::row(a, 0) != xt::row(a, 1));
  // A block's draws do not depend on the blocks after it.
  ParameterLayout longer = L;
  longer.add("noise.log_sigma", Shape{1, 1});
  const Tensor<double> b = init.sample<double>(longer, 10, 7);
  CHECK(xt::view(b, xt::all(), xt::range(0, L.size())) == a);
  // float draws are the double draws rounded.
  const Tensor<float> f = init.sample<float>(L, 10, 7);
  CHECK(f == xt::cast<float>(a));
  // A prior with the same seed draws from different streams (key 0 vs block keys >= 1).
  const auto prior = wgflow::models::GaussianPrior<double>::from_initializer(init, L);
  CHECK(xt::row(prior.sample(1, 7), 0) != xt::row(a, 0));
}
