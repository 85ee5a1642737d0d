#pragma once
// Mean-field Gaussian variational inference, "Bayes by Backprop" (Blundell et al. 2015, "Weight
// uncertainty in neural networks", §3.2): the parameterised neighbour of the particle flows (paper §1).
//
// Each of N independent members holds q(theta) = N(mu, diag(sigma^2)), sigma = softplus(rho) =
// log(1 + e^rho) (rho is unconstrained, so the optimiser needs no projection), and minimises the
// generalised-VI objective of DLE restricted to that family,
//   L(mu, rho) = E_q[l(theta)] + lambda KL(N(mu, sigma^2) || P),    P = N(0, diag(s^2)),
// with the closed-form Gaussian KL
//   KL = sum_j [ log(s_j / sigma_j) + (sigma_j^2 + mu_j^2) / (2 s_j^2) - 1/2 ].
// The expectation is estimated with S reparameterised draws theta_s = mu + sigma * eps_s,
// eps_s ~ N(0, I), so that (Kingma & Welling 2014; Blundell et al. eq. 3-5)
//   dL/dmu    = (1/S) sum_s g_s                       + lambda mu / s^2,
//   dL/dsigma = (1/S) sum_s g_s * eps_s               + lambda (sigma / s^2 - 1 / sigma),
//   dL/drho   = dL/dsigma * sigmoid(rho),             g_s = grad l(theta_s) (Potential::value_and_gradient).
// For a Gaussian posterior the optimum is exact in the means and has sigma_j^2 = lambda / (Hessian +
// lambda / s^2)_jj: mean-field VI underestimates marginal variances (Bishop 2006, §10.1.2).
//
// The members run in parallel (TBB), each drawing eps from Rng::stream(seed, member, step) and writing
// only its own rows, and the optimiser acts elementwise on the stacked parameters [mu | rho] (N x 2J):
// the run is bit-identical for any thread count. N > 1 members form a "VI ensemble"; particles() are
// their means, predictive_samples() draws from each member's Gaussian.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <xtensor/xnoalias.hpp>
#include <xtensor/xview.hpp>

#include "core/errors.hpp"
#include "flows/finite_rows.hpp"
#include "flows/flow.hpp"
#include "flows/optimizers.hpp"
#include "core/parallel.hpp"
#include "models/potential.hpp"
#include "models/prior.hpp"
#include "core/random.hpp"

namespace wgflow::flows {

template <class T>
struct MeanFieldVIConfig {
  T lambda = 1;              // weight of the KL term (1: Bayesian VI)
  std::size_t samples = 1;   // S, Monte-Carlo draws per member and step
  T initial_sd = T(0.05);    // sigma of every coordinate at the start (rho_0 = softplus^{-1} = -2.97),
                             // small so that early steps act like training the mean network
  std::uint64_t seed = 0;    // eps of member i at step t comes from Rng::stream(seed, i, t)
};

template <class T>
class MeanFieldVI final : public Flow<T> {
 public:
  // initial_means: N x J, row i member i's starting mean (e.g. a draw from the prior). The potential must
  // outlive the flow.
  MeanFieldVI(models::Potential<T>& potential, models::GaussianPrior<T> prior, Tensor<T> initial_means,
              MeanFieldVIConfig<T> config = {}, Optimizer<T> optimizer = Adam<T>{})
      : potential_(&potential),
        prior_(std::move(prior)),
        config_(config),
        optimizer_(std::move(optimizer)),
        means_(std::move(initial_means)) {
    const std::size_t n = means_.shape()[0], J = means_.shape()[1];
    if (n == 0 || J != potential.dim() || J != prior_.dim())
      throw ShapeError("MeanFieldVI: initial means are " + shape_string({n, J}) + " but the potential has " +
                       std::to_string(potential.dim()) + " parameters and the prior " +
                       std::to_string(prior_.dim()) + " (need N >= 1 rows of J columns)");
    if (!(config_.lambda >= 0) || config_.samples == 0 || !(config_.initial_sd > 0))
      throw Error("MeanFieldVI: need lambda >= 0, samples >= 1 and initial_sd > 0, got lambda = " +
                  std::to_string(config_.lambda) + ", samples = " + std::to_string(config_.samples) +
                  ", initial_sd = " + std::to_string(config_.initial_sd));
    params_ = Tensor<T>::from_shape({n, 2 * J});
    xt::view(params_, xt::all(), xt::range(0, J)) = means_;
    xt::view(params_, xt::all(), xt::range(J, 2 * J)) = inverse_softplus(config_.initial_sd);
    drift_ = xt::zeros<T>(params_.shape());
    objective_ = xt::zeros<T>({n, std::size_t{1}});
    optimizer_.init(params_);
  }

  std::string name() const override { return "mean_field_vi(" + optimizer_.name() + ")"; }
  std::uint64_t steps_taken() const override { return step_; }

  // N x J: the members' variational means.
  const Tensor<T>& particles() const override { return means_; }

  // N x J: sigma = softplus(rho) of every member and coordinate.
  Tensor<T> standard_deviations() const {
    const std::size_t n = means_.shape()[0], J = means_.shape()[1];
    Tensor<T> sd = Tensor<T>::from_shape({n, J});
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < J; ++j) sd(i, j) = softplus(params_(i, J + j));
    return sd;
  }

  // N x 1: member i's Monte-Carlo estimate of L(mu, rho) at the start of the last step.
  const Tensor<T>& objective() const { return objective_; }

  // N x 2J: [mu | rho], the parameters the optimiser moves.
  const Tensor<T>& variational_parameters() const { return params_; }

  void step() override {
    const std::size_t n = means_.shape()[0], J = means_.shape()[1], S = config_.samples;
    const std::vector<T>& s2 = prior_.variances();
    const T lambda = config_.lambda;
    potential_->begin_step(step_);
    // Each member's sigma, eps, theta and gradient: a row of 4J per member, kept between steps so that a
    // steady-state step allocates nothing (tests/flows/test_steady_state_allocation.cpp).
    if (work_.shape()[0] != n || work_.shape()[1] != 4 * J) work_ = Tensor<T>::from_shape({n, 4 * J});
    parallel_for_each_index(n, [&](std::size_t i) {
      Rng rng = Rng::stream(config_.seed, i, step_);
      T* sigma = &work_(i, 0);
      T* eps = sigma + J;
      T* theta = eps + J;
      T* grad = theta + J;
      const T* mu = &params_(i, 0);
      const T* rho = &params_(i, J);
      T* d_mu = &drift_(i, 0);
      T* d_sigma = &drift_(i, J);  // holds dL/dsigma until the final chain rule through softplus
      for (std::size_t j = 0; j < J; ++j) {
        sigma[j] = softplus(rho[j]);
        d_mu[j] = d_sigma[j] = 0;
      }
      T loss = 0;
      for (std::size_t s = 0; s < S; ++s) {
        rng.for_each_normal<T>(J, [&](std::size_t j, T z) {
          eps[j] = z;
          theta[j] = mu[j] + sigma[j] * eps[j];
        });
        loss += potential_->value_and_gradient(std::span<const T>(theta, J), std::span<T>(grad, J));
        for (std::size_t j = 0; j < J; ++j) {
          d_mu[j] += grad[j];
          d_sigma[j] += grad[j] * eps[j];
        }
      }
      const T inv_S = T(1) / static_cast<T>(S);
      T kl = 0;
      for (std::size_t j = 0; j < J; ++j) {
        kl += std::log(std::sqrt(s2[j]) / sigma[j]) + (sigma[j] * sigma[j] + mu[j] * mu[j]) / (2 * s2[j]) - T(0.5);
        d_mu[j] = d_mu[j] * inv_S + lambda * mu[j] / s2[j];
        d_sigma[j] = (d_sigma[j] * inv_S + lambda * (sigma[j] / s2[j] - 1 / sigma[j])) * sigmoid(rho[j]);
      }
      objective_(i, 0) = loss * inv_S + lambda * kl;
    });
    require_finite_rows(drift_, step_, "member", [&] {
      return std::pair{name(), std::string("the gradient of [mu | rho] (expected loss and KL to the prior)")};
    });
    optimizer_.update(drift_, delta_);
    xt::noalias(params_) += delta_;  // in place: `+=` and `=` on a container evaluate into a temporary
    require_finite_rows(params_, step_, "member", [&] {
      return std::pair{name(), "[mu | rho] after the update (optimiser " + optimizer_.name() + ")"};
    });
    xt::noalias(means_) = xt::view(params_, xt::all(), xt::range(0, J));
    ++step_;
  }

  // Rows i * per_member + k, k < per_member: theta = mu_i + sigma_i * eps, eps from Rng::stream(seed, i, k).
  Tensor<T> predictive_samples(std::size_t per_member, std::uint64_t seed) const override {
    const std::size_t n = means_.shape()[0], J = means_.shape()[1];
    const Tensor<T> sd = standard_deviations();
    Tensor<T> out = Tensor<T>::from_shape({n * per_member, J});
    parallel_for_each_index(n, [&](std::size_t i) {
      for (std::size_t k = 0; k < per_member; ++k) {
        Rng::stream(seed, i, k).for_each_normal<T>(J, [&](std::size_t j, T z) {
          out(i * per_member + k, j) = means_(i, j) + sd(i, j) * z;
        });
      }
    });
    return out;
  }

  // softplus(x) = log(1 + e^x), evaluated without overflow for large x and without losing e^x for very
  // negative x; sigmoid is its derivative.
  static T softplus(T x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
  static T sigmoid(T x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }
  // softplus^{-1}(y) = log(e^y - 1) = y + log(1 - e^{-y}), y > 0.
  static T inverse_softplus(T y) { return y + std::log(-std::expm1(-y)); }

 private:
  friend struct CheckpointAccess;  // saves and restores the state (flows/checkpoint.hpp)
  models::Potential<T>* potential_;
  models::GaussianPrior<T> prior_;
  MeanFieldVIConfig<T> config_;
  Optimizer<T> optimizer_;
  Tensor<T> means_;   // N x J, a copy of params_' left half for particles()
  Tensor<T> params_;  // N x 2J, [mu | rho]
  Tensor<T> drift_;   // N x 2J, dL/d[mu | rho]
  Tensor<T> work_;    // N x 4J, each member's [sigma | eps | theta | grad] during a step
  Tensor<T> delta_;
  Tensor<T> objective_;
  std::uint64_t step_ = 0;
};

}  // namespace wgflow::flows
