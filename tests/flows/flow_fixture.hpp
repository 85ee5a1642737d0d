#pragma once
// Particles and potentials that several flows tests start from.
#include <cstddef>
#include <cstdint>

#include <xtensor/xbuilder.hpp>

#include "flows/flow.hpp"
#include "models/toy_potentials.hpp"
#include "models/prior.hpp"

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

}  // namespace wgtest
