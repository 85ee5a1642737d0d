#pragma once
// Predictions of an ensemble: the model evaluated at every particle, and the mean and variance over
// particles. The particles stand for the empirical measure Q_N = (1/N) sum_i delta_{theta_i}, so the
// variance is that measure's (divide by N): the epistemic spread the reference code's NLL uses
// (paper.md §4), with no observation-noise term added here.
#include <cstddef>
#include <span>
#include <vector>

#include "core/errors.hpp"
#include "core/parallel.hpp"
#include "models/model.hpp"

namespace wgflow::flows {


template <class T>
struct EnsemblePrediction {
  std::vector<Tensor<T>> members;  // N entries, each B x outputs: f(theta_i, X)
  Tensor<T> mean;                  // B x outputs
  Tensor<T> variance;              // B x outputs, (1/N) sum_i (f_i - mean)^2
};

// particles: N x num_params (e.g. flow.particles() or flow.predictive_samples(...)); X: B x num_inputs.
template <class T>
EnsemblePrediction<T> predict(const models::Model<T>& model, const Tensor<T>& particles, const Tensor<T>& X) {
  const std::size_t n = particles.shape()[0], J = particles.shape()[1];
  if (n == 0 || J != model.num_params())
    throw ShapeError("predict: particles are " + shape_string({n, J}) + "; the model has " +
                     std::to_string(model.num_params()) + " parameters and at least one particle is needed");
  if (X.shape()[1] != model.num_inputs())
    throw ShapeError("predict: inputs are " + shape_string({X.shape()[0], X.shape()[1]}) + "; the model takes " +
                     std::to_string(model.num_inputs()) + " inputs per row");
  EnsemblePrediction<T> out;
  out.members.resize(n);
  parallel_for_each_index(n, [&](std::size_t i) {
    out.members[i] = model.predict(std::span<const T>(particles.data() + i * J, J), X);
  });
  // Two passes in particle order: reproducible, and no cancellation of E[f^2] - E[f]^2.
  out.mean = xt::zeros<T>(out.members[0].shape());
  for (const auto& f : out.members) out.mean += f;
  out.mean /= static_cast<T>(n);
  out.variance = xt::zeros<T>(out.mean.shape());
  for (const auto& f : out.members) out.variance += (f - out.mean) * (f - out.mean);
  out.variance /= static_cast<T>(n);
  return out;
}

}  // namespace wgflow::flows
