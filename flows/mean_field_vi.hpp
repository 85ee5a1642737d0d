#pragma once
// Mean-field Gaussian variational inference, "Bayes by Backprop" (Blundell et al. 2015, "Weight
// uncertainty in neural networks", §3.2): the parameterised neighbour of the particle flows (paper §1),
// as a flow of the integrator over the members' variational parameters.
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
// In the integrator the "particles" are the members' rows [mu | rho] (N x 2J) and MeanFieldGaussian is
// the one term, its gradient dL/d[mu | rho]; there is no noise (D = 0) and the optimiser (Adam by
// default, flows/presets.hpp's mean_field_vi) acts elementwise. Member i draws eps from
// Rng::stream(seed, i, t) and writes only its own row: bit-identical for any thread count. A potential
// that prefers batches (Potential::prefers_batches) gets all N x S draws of a step in one call: they are
// drawn first, from the same streams in the same order, so the result is bit-identical too. The flow's
// predictive samples are draws from each member's Gaussian (mean_field_samples); means and standard
// deviations are read off the rows by mean_field_means / mean_field_standard_deviations.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <xtensor/xmath.hpp>

#include "../core/errors.hpp"
#include "../core/parallel.hpp"
#include "../core/precompiled.hpp"
#include "../core/random.hpp"
#include "../core/tensor.hpp"
#include "term.hpp"
#include "../models/potential.hpp"
#include "../models/prior.hpp"

namespace wgflow::flows {

namespace mean_field {

// softplus(x) = log(1 + e^x), evaluated without overflow for large x and without losing e^x for very
// negative x; sigmoid is its derivative.
template <class T>
T softplus(T x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
template <class T>
T sigmoid(T x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }
// softplus^{-1}(y) = log(e^y - 1) = y + log(1 - e^{-y}), y > 0.
template <class T>
T inverse_softplus(T y) { return y + std::log(-std::expm1(-y)); }

// theta = mu + sigma eps for the next J normals of rng. One function for the per-draw and the batched
// paths, so that their arithmetic (and the compiler's fusing of it) is the same bit for bit.
template <class T>
void draw(Rng& rng, const T* mu, const T* sigma, T* eps, T* theta, std::size_t J) {
  rng.for_each_normal<T>(J, [&](std::size_t j, T z) {
    eps[j] = z;
    theta[j] = mu[j] + sigma[j] * eps[j];
  });
}

// Adds a draw's g_s and g_s * eps_s to the sums over draws.
template <class T>
void accumulate(const T* grad, const T* eps, T* sum_g, T* sum_g_eps, std::size_t J) {
  for (std::size_t j = 0; j < J; ++j) {
    sum_g[j] += grad[j];
    sum_g_eps[j] += grad[j] * eps[j];
  }
}

}  // namespace mean_field

// The members' starting rows [mu | rho] for N x J means and a common initial sigma.
template <class T>
Tensor<T> mean_field_initial_state(const Tensor<T>& means, T initial_sd) {
  if (!(initial_sd > 0) || !std::isfinite(initial_sd))
    throw Error("mean-field VI: initial_sd must be positive and finite, got " + std::to_string(initial_sd));
  const std::size_t n = means.shape()[0], J = means.shape()[1];
  Tensor<T> state = Tensor<T>::from_shape({n, 2 * J});
  const T rho = mean_field::inverse_softplus(initial_sd);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < J; ++j) state(i, j) = means(i, j), state(i, J + j) = rho;
  return state;
}

// N x J: the members' means mu, the left half of the state.
template <class T>
Tensor<T> mean_field_means(const Tensor<T>& state) {
  const std::size_t n = state.shape()[0], J = state.shape()[1] / 2;
  Tensor<T> mu = Tensor<T>::from_shape({n, J});
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < J; ++j) mu(i, j) = state(i, j);
  return mu;
}

// N x J: sigma = softplus(rho) of every member and coordinate.
template <class T>
Tensor<T> mean_field_standard_deviations(const Tensor<T>& state) {
  const std::size_t n = state.shape()[0], J = state.shape()[1] / 2;
  Tensor<T> sd = Tensor<T>::from_shape({n, J});
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < J; ++j) sd(i, j) = mean_field::softplus(state(i, J + j));
  return sd;
}

// Rows i * per_member + k, k < per_member: theta = mu_i + sigma_i * eps, eps from Rng::stream(seed, i, k).
template <class T>
Tensor<T> mean_field_samples(const Tensor<T>& state, std::size_t per_member, std::uint64_t seed) {
  const std::size_t n = state.shape()[0], J = state.shape()[1] / 2;
  const Tensor<T> sd = mean_field_standard_deviations(state);
  Tensor<T> out = Tensor<T>::from_shape({n * per_member, J});
  parallel_for_each_index(n, [&](std::size_t i) {
    for (std::size_t k = 0; k < per_member; ++k)
      Rng::stream(seed, i, k).for_each_normal<T>(J, [&](std::size_t j, T z) {
        out(i * per_member + k, j) = state(i, j) + sd(i, j) * z;
      });
  });
  return out;
}

// The objective L(mu, rho) of every member, as a term over the rows [mu | rho].
template <class T>
class MeanFieldGaussian final : public Term<T> {
 public:
  // The potential must outlive the term. samples: S, the Monte-Carlo draws per member and step.
  MeanFieldGaussian(models::Potential<T>& potential, models::GaussianPrior<T> prior, T lambda, std::size_t samples)
      : potential_(&potential), prior_(std::move(prior)), lambda_(lambda), samples_(samples) {
    if (!(lambda_ >= 0) || !std::isfinite(lambda_) || samples_ == 0)
      throw Error("mean-field VI: need a finite lambda >= 0 and samples >= 1, got lambda = " +
                  std::to_string(lambda_) + ", samples = " + std::to_string(samples_));
  }

  std::string name() const override {
    return "mean-field Gaussian objective (lambda = " + std::to_string(lambda_) + ", " + std::to_string(samples_) +
           " draws)";
  }

  void attach(const Tensor<T>& state) override {
    const std::size_t n = state.shape()[0], P = state.shape()[1], J = potential_->dim();
    if (P != 2 * J || J != prior_.dim())
      throw ShapeError("mean-field VI: the members' rows are " + shape_string({n, P}) + " but the potential has " +
                       std::to_string(J) + " parameters and the prior " + std::to_string(prior_.dim()) +
                       " (need rows [mu | rho] of 2 J columns: see mean_field_initial_state)");
  }

  void prepare(std::uint64_t step) override { potential_->begin_step(step); }
  // Each member's objective is its own: over ranks, each evaluates its rows (with the global row's stream).
  Reach reach() const override { return Reach::own_rows; }

  void add_gradient(const StepContext<T>& context, Tensor<T>& gradient) override {
    const Tensor<T>& state = context.particles;
    const std::size_t n = state.shape()[0], J = state.shape()[1] / 2, S = samples_;
    // Each member's sigma, eps, theta, gradient and the sums over draws of grad and grad * eps: a row of
    // 6J per member, kept between steps so that a steady-state step allocates nothing
    // (tests/flows/test_steady_state_allocation.cpp). The sums are kept here, not in `gradient`, which
    // the term adds to (Term's contract).
    if (work_.shape()[0] != n || work_.shape()[1] != 6 * J) work_ = Tensor<T>::from_shape({n, 6 * J});
    if (objective_.shape()[0] != n) objective_ = Tensor<T>::from_shape({n, std::size_t{1}});
    if (potential_->prefers_batches()) return add_gradient_batched(context, gradient);
    parallel_for_each_index(n, [&](std::size_t i) {
      Rng rng = Rng::stream(context.seed, context.first_row + i, context.step);
      T* sigma = begin_member(state, i);
      T* eps = sigma + J;
      T* theta = eps + J;
      T* grad = theta + J;
      T loss = 0;
      for (std::size_t s = 0; s < S; ++s) {
        mean_field::draw(rng, &state(i, 0), sigma, eps, theta, J);
        loss += potential_->value_and_gradient(std::span<const T>(theta, J), std::span<T>(grad, J));
        mean_field::accumulate(grad, eps, grad + J, grad + 2 * J, J);
      }
      end_member(state, i, loss, gradient);
    });
  }

  // The members' mean objective at the start of the last step: the variational free energy's estimate.
  std::optional<T> energy() const override {
    if (objective_.size() == 0) return std::nullopt;
    return xt::mean(objective_)();
  }

  std::span<const T> particle_values() const override { return {objective_.data(), objective_.size()}; }

  // N x 1: member i's Monte-Carlo estimate of L(mu, rho) at the start of the last step.
  const Tensor<T>& objective() const { return objective_; }

 private:
  // The members' draws for a potential that prefers batches: all N x S points first (row i S + s: member
  // i's draw s, from member i's stream in the per-draw path's order), one call, then each member's sums in
  // draw order as the per-draw path adds them.
  void add_gradient_batched(const StepContext<T>& context, Tensor<T>& gradient) {
    const Tensor<T>& state = context.particles;
    const std::size_t n = state.shape()[0], J = state.shape()[1] / 2, S = samples_;
    if (thetas_.shape()[0] != n * S || thetas_.shape()[1] != J) {
      thetas_ = Tensor<T>::from_shape({n * S, J});
      eps_ = Tensor<T>::from_shape({n * S, J});
      grads_ = Tensor<T>::from_shape({n * S, J});
      values_.resize(n * S);
    }
    parallel_for_each_index(n, [&](std::size_t i) {
      Rng rng = Rng::stream(context.seed, context.first_row + i, context.step);
      const T* sigma = begin_member(state, i);
      for (std::size_t s = 0; s < S; ++s)
        mean_field::draw(rng, &state(i, 0), sigma, &eps_(i * S + s, 0), &thetas_(i * S + s, 0), J);
    });
    potential_->values_and_gradients(thetas_, values_, grads_);
    parallel_for_each_index(n, [&](std::size_t i) {
      T* sum_g = &work_(i, 4 * J);
      T loss = 0;
      for (std::size_t s = 0; s < S; ++s) {
        loss += values_[i * S + s];
        mean_field::accumulate(&grads_(i * S + s, 0), &eps_(i * S + s, 0), sum_g, sum_g + J, J);
      }
      end_member(state, i, loss, gradient);
    });
  }

  // Member i's sigma into its work row, its sums zeroed; returns sigma.
  T* begin_member(const Tensor<T>& state, std::size_t i) {
    const std::size_t J = state.shape()[1] / 2;
    T* sigma = &work_(i, 0);
    T* sum_g = sigma + 4 * J;  // sum_s g_s, then sum_s g_s * eps_s
    for (std::size_t j = 0; j < J; ++j)
      sigma[j] = mean_field::softplus(state(i, J + j)), sum_g[j] = 0, sum_g[J + j] = 0;
    return sigma;
  }

  // Member i's objective and its gradient (added to its row of `gradient`) from the summed draws.
  void end_member(const Tensor<T>& state, std::size_t i, T loss, Tensor<T>& gradient) {
    const std::size_t J = state.shape()[1] / 2;
    const std::vector<T>& s2 = prior_.variances();
    const T* sigma = &work_(i, 0);
    const T* sum_g = sigma + 4 * J;
    const T* sum_g_eps = sum_g + J;
    const T* mu = &state(i, 0);
    const T* rho = &state(i, J);
    T* d_mu = &gradient(i, 0);
    T* d_rho = &gradient(i, J);
    const T inv_S = T(1) / static_cast<T>(samples_);
    T kl = 0;
    for (std::size_t j = 0; j < J; ++j) {
      kl += std::log(std::sqrt(s2[j]) / sigma[j]) + (sigma[j] * sigma[j] + mu[j] * mu[j]) / (2 * s2[j]) - T(0.5);
      const T dL_dmu = sum_g[j] * inv_S + lambda_ * mu[j] / s2[j];
      const T dL_dsigma = sum_g_eps[j] * inv_S + lambda_ * (sigma[j] / s2[j] - 1 / sigma[j]);
      d_mu[j] += dL_dmu;
      d_rho[j] += dL_dsigma * mean_field::sigmoid(rho[j]);
    }
    objective_(i, 0) = loss * inv_S + lambda_ * kl;
  }

  models::Potential<T>* potential_;
  models::GaussianPrior<T> prior_;
  T lambda_;
  std::size_t samples_;
  Tensor<T> work_;  // N x 6J, each member's [sigma | eps | theta | grad | sum_g | sum_g_eps] during a step
  Tensor<T> objective_;
  Tensor<T> thetas_, eps_, grads_;  // N S x J: the draws of a step, for a potential that prefers batches
  std::vector<T> values_;
};

WGFLOW_EXTERN_INSTANCES(MeanFieldGaussian)

}  // namespace wgflow::flows
