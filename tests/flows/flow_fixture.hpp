#pragma once
// Particles and potentials that several flows tests start from.
#include <cmath>
#include <cstddef>
#include <cstdint>

#include <xtensor/xbuilder.hpp>

#include "core/random.hpp"
#include "flows/flows.hpp"
#include "models/initializer.hpp"
#include "models/mlp.hpp"
#include "models/network_potential.hpp"
#include "models/prior.hpp"
#include "models/toy_potentials.hpp"

namespace wgtest {

// n particles in R^d drawn from N(0, scale^2 I).
inline wgflow::Tensor<double> normal_particles(std::size_t n, std::size_t d, std::uint64_t seed,
                                                      double scale = 1) {
  return wgflow::models::GaussianPrior<double>::isotropic(d, scale * scale).sample(n, seed);
}

// l(t) = sum_j a_j (t_j - m_j)^2 / 2 with a = (1, 2, 4), m = (1, -2, 0.5).
inline wgflow::models::AnalyticPotential<double> diagonal_quadratic() {
  wgflow::Tensor<double> A = xt::zeros<double>({3, 3});
  A(0, 0) = 1, A(1, 1) = 2, A(2, 2) = 4;
  return wgflow::models::quadratic<double>({1.0, -2.0, 0.5}, A);
}

// y = sin(x) + 0.1 noise on `rows` inputs in [-3, 3], fitted by a 1-`hidden`-1 tanh network with squared
// error on minibatches of `batch` rows (J = 3 hidden + 1): a data potential whose minibatch changes with
// the step, so that a flow that skipped Potential::begin_step, or called it from the wrong place, would
// train on other data.
struct SinRegression {
  wgflow::Tensor<double> X, Y;
  wgflow::models::Mlp<double> net;
  wgflow::models::NetworkPotential<double> potential;
  wgflow::models::Initializer init = wgflow::models::Initializer::normal(0.5);
  wgflow::models::GaussianPrior<double> prior;

  explicit SinRegression(std::size_t hidden = 64, std::size_t rows = 40, std::size_t batch = 20)
      : X(data(rows, true)),
        Y(data(rows, false)),
        net({.widths = {1, hidden, 1}, .hidden = wgflow::models::Activation::tanh()}),
        potential(net, wgflow::models::SquaredError<double>(), X, Y, {.batch_size = batch, .seed = 7}),
        prior(wgflow::models::GaussianPrior<double>::from_initializer(init, potential.layout())) {}

  std::size_t dim() const { return potential.dim(); }
  // n parameter vectors drawn from the initialiser.
  wgflow::Tensor<double> particles(std::size_t n, std::uint64_t seed) const {
    return init.sample<double>(potential.layout(), n, seed);
  }

 private:
  static wgflow::Tensor<double> data(std::size_t rows, bool inputs) {
    wgflow::Tensor<double> X = wgflow::Tensor<double>::from_shape({rows, 1}), Y = X;
    wgflow::Rng rng(99);
    for (std::size_t i = 0; i < rows; ++i) {
      X(i, 0) = rng.uniform(-3, 3);
      Y(i, 0) = std::sin(X(i, 0)) + 0.1 * rng.normal();
    }
    return inputs ? X : Y;
  }
};

}  // namespace wgtest
