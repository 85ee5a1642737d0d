#pragma once
// Predictions of an ensemble. The particles stand for the empirical measure Q_N = (1/N) sum_i
// delta_{theta_i}, so the ensemble predicts with the mixture (1/N) sum_i p(y | x, theta_i), and a likelihood
// (models/likelihood.hpp) says what each member's p(y | x, theta_i) is:
//
//   auto pred = flows::predict(net, SoftmaxCrossEntropy<double>(), flow.particles(), X_test);
//   pred.mean          // classification: the mixture's class probabilities, B x K (members' probabilities
//                      // averaged, never their logits); regression: the mixture's E[y], B x k
//   pred.variance      // the spread of the members' predictions around it, (1/N) sum_i (m_i - mean)^2: the
//                      // epistemic part, which the reference code's NLL uses (paper.md §4)
//   pred.noise         // regression: (1/N) sum_i Var[y | x, theta_i], the observation noise (zeros for a
//                      // likelihood without one); the mixture's variance is variance + noise
//
// Classification metrics of pred.mean (accuracy, NLL, calibration error, entropy) are in
// analysis/classification_metrics.hpp.
//
// predict(model, particles, X), without a likelihood, averages the raw outputs f(theta_i, X): a regression
// without a noise model, the same numbers as with models::SquaredError.
//
// Members are evaluated in parallel (one task per particle; the model and the likelihood must be safe to
// call concurrently, as Model::predict and the const Likelihood functions are); sums run in particle order,
// so the result is the same for any thread count.
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include <xtensor/xbuilder.hpp>

#include "../core/errors.hpp"
#include "../core/finite.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "../models/likelihood.hpp"
#include "../models/model.hpp"

namespace wgflow::flows {

template <class T>
struct EnsemblePrediction {
  models::Task task = models::Task::regression;
  std::vector<Tensor<T>> members;  // N entries: member i's predictive mean m_i (B x outputs, or B x classes)
  Tensor<T> mean;                  // (1/N) sum_i m_i
  Tensor<T> variance;              // (1/N) sum_i (m_i - mean)^2
  Tensor<T> noise;                 // regression: (1/N) sum_i Var[y | x, theta_i]; empty for a classification
};

namespace detail {

// particles: N x (model parameters + own), N >= 1; X: B x num_inputs.
template <class T>
void check_ensemble(const models::Model<T>& model, std::size_t own, const Tensor<T>& particles, const Tensor<T>& X) {
  const std::size_t n = particles.shape()[0], J = particles.shape()[1];
  if (n == 0 || J != model.num_params() + own)
    throw ShapeError("predict: particles are " + shape_string({n, J}) + "; the model has " +
                     std::to_string(model.num_params()) + " parameters" +
                     (own ? " and the likelihood " + std::to_string(own) : std::string()) +
                     ", and at least one particle is needed");
  if (X.shape()[1] != model.num_inputs())
    throw ShapeError("predict: inputs are " + shape_string({X.shape()[0], X.shape()[1]}) + "; the model takes " +
                     std::to_string(model.num_inputs()) + " inputs per row");
  // A non-finite input or parameter would come back as a NaN prediction, with no error.
  require_finite(X, "predict: inputs X");
  require_finite_particles(particles, "predict");
}

// (1/N) sum_i A_i in particle order.
template <class T>
Tensor<T> mean_over_members(const std::vector<Tensor<T>>& A) {
  Tensor<T> mean = xt::zeros<T>(A[0].shape());
  for (const auto& a : A) mean += a;
  mean /= static_cast<T>(A.size());
  return mean;
}

// mean and variance of the members, in two passes in particle order: reproducible, and no cancellation of
// E[m^2] - E[m]^2.
template <class T>
void summarise(EnsemblePrediction<T>& out) {
  out.mean = mean_over_members(out.members);
  out.variance = xt::zeros<T>(out.mean.shape());
  for (const auto& m : out.members) out.variance += (m - out.mean) * (m - out.mean);
  out.variance /= static_cast<T>(out.members.size());
}

}  // namespace detail

// The raw outputs f(theta_i, X) of every particle (N x num_params), averaged.
template <class T>
EnsemblePrediction<T> predict(const models::Model<T>& model, const Tensor<T>& particles, const Tensor<T>& X) {
  detail::check_ensemble(model, 0, particles, X);
  const std::size_t n = particles.shape()[0], J = particles.shape()[1];
  EnsemblePrediction<T> out;
  out.members.resize(n);
  parallel_for_each_index(n, [&](std::size_t i) {
    out.members[i] = model.predict(std::span<const T>(particles.data() + i * J, J), X);
  });
  detail::summarise(out);
  out.noise = xt::zeros<T>(out.mean.shape());
  return out;
}

// Through the likelihood: particles are N x (model.num_params() + likelihood.num_params()), each row the
// model's parameters, then the likelihood's own (as a NetworkPotential lays them out).
template <class T>
EnsemblePrediction<T> predict(const models::Model<T>& model, const models::Likelihood<T>& likelihood,
                              const Tensor<T>& particles, const Tensor<T>& X) {
  const std::size_t own = likelihood.num_params(), J0 = model.num_params();
  detail::check_ensemble(model, own, particles, X);
  const std::size_t n = particles.shape()[0], J = particles.shape()[1];
  EnsemblePrediction<T> out;
  out.task = likelihood.task();
  const bool regression = out.task == models::Task::regression;
  out.members.resize(n);
  std::vector<Tensor<T>> noise(regression ? n : 0);
  parallel_for_each_index(n, [&](std::size_t i) {
    const T* row = particles.data() + i * J;
    const std::span<const T> theta(row, J0), theta_own(row + J0, own);
    const Tensor<T> F = model.predict(theta, X);
    out.members[i] = likelihood.predictive_mean(F, theta_own);
    if (regression) noise[i] = likelihood.noise_variance(F, theta_own);
  });
  // A likelihood written elsewhere may get the shapes wrong: say so here, not as a broadcast error below.
  const Shape first = out.members[0].shape();
  for (std::size_t i = 0; i < n; ++i)
    if (first[0] != X.shape()[0] || out.members[i].shape() != first || (regression && noise[i].shape() != first))
      throw ShapeError("predict: the likelihood " + likelihood.name() + " gave member " + std::to_string(i) +
                       " a prediction of " + shape_string(out.members[i].shape()) + " for " +
                       std::to_string(X.shape()[0]) + " inputs (expected B x m, the same for every member, with a "
                       "noise variance of the same shape)");
  detail::summarise(out);
  if (regression) out.noise = detail::mean_over_members(noise);
  return out;
}

}  // namespace wgflow::flows
