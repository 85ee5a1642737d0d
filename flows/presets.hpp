#pragma once
// DE, DLE and DRLE (paper §1-§2) as named constructors of the one integrator, ParticleFlow: each preset
// only chooses the free energy's terms. All three use plain SGD with step eta, the paper's update; call
// flow.set_optimizer(...) to change it. Weights may be 0 (the term then contributes nothing).
//
//   DE    F = int l dQ                                        theta_i -= eta grad l(theta_i)
//   DLE   F = int l dQ + lambda KL(Q || P)                    ... + eta lambda s grad(-log p) + sqrt(2 lambda eta) xi
//   DRLE  F = int l dQ + (lambda1/2) MMD^2(Q, P) + lambda2 KL(Q || P)
//         (s is the prior-drift scale of paper.md §6: 0 keeps the noise, drops the prior drift)
//
// DRLE's M prior samples are drawn once, from prior.sample(M, prior_samples_seed(seed)): a stream no
// particle's noise uses.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>

#include "flows/embedding.hpp"
#include "flows/interaction_energy.hpp"
#include "flows/kl_divergence.hpp"
#include "flows/optimizers.hpp"
#include "flows/particle_flow.hpp"
#include "flows/potential_energy.hpp"
#include "flows/prior.hpp"
#include "models/model.hpp"
#include "models/potential.hpp"
#include "core/random.hpp"

namespace wgflow::flows {

// The seed of DRLE's prior samples, derived from the flow's seed. Particle noise uses the streams
// (seed, i, t) with t < 2^64 - 1; this one uses t = 2^64 - 1 with a fixed tag.
inline std::uint64_t prior_samples_seed(std::uint64_t flow_seed) {
  constexpr std::uint64_t tag = 0x5052494f52ULL;  // "PRIOR"
  return Rng::stream(flow_seed, tag, UINT64_MAX)();
}

template <class T>
ParticleFlow<T> deep_ensemble(models::Potential<T>& potential, Tensor<T> initial_particles, T eta,
                              std::uint64_t seed = 0) {
  ParticleFlow<T> flow("DE", std::move(initial_particles), Sgd<T>{eta}, seed);
  flow.add(std::make_unique<PotentialEnergy<T>>(potential));
  return flow;
}

template <class T>
ParticleFlow<T> deep_langevin_ensemble(models::Potential<T>& potential, Prior<T> prior, T lambda,
                                       Tensor<T> initial_particles, T eta, std::uint64_t seed,
                                       T prior_drift_scale = T(1)) {
  ParticleFlow<T> flow("DLE", std::move(initial_particles), Sgd<T>{eta}, seed);
  flow.add(std::make_unique<PotentialEnergy<T>>(potential));
  flow.add(std::make_unique<KlDivergence<T>>(std::move(prior), lambda, prior_drift_scale));
  return flow;
}

template <class T>
struct RepulsiveSettings {
  T lambda1 = T(1);                 // interaction weight: (lambda1/2) MMD^2
  T lambda2 = T(1);                 // KL weight: drift lambda2 s grad(-log p), noise sqrt(2 lambda2 eta)
  T prior_drift_scale = T(1);       // s
  T prior_attraction_scale = T(1);  // 0 switches off the attraction to the prior samples
  RadialKernel<T> kernel = RadialKernel<T>::rbf();
  Bandwidth<T> bandwidth = Bandwidth<T>::median();
  DistanceConvention distance = DistanceConvention::mean;
  std::size_t prior_samples = 200;  // M
  // Function-space repulsion: the kernel compares model(theta, kernel_inputs) (K x num_inputs). Parameter
  // space when model is null. The model must outlive the flow.
  const models::Model<T>* model = nullptr;
  Tensor<T> kernel_inputs{};
};

template <class T>
ParticleFlow<T> deep_repulsive_langevin_ensemble(models::Potential<T>& potential, Prior<T> prior,
                                                 RepulsiveSettings<T> settings, Tensor<T> initial_particles, T eta,
                                                 std::uint64_t seed) {
  ParticleFlow<T> flow("DRLE", std::move(initial_particles), Sgd<T>{eta}, seed);
  flow.add(std::make_unique<PotentialEnergy<T>>(potential));

  std::unique_ptr<Embedding<T>> space;
  if (settings.model) space = std::make_unique<FunctionSpace<T>>(*settings.model, std::move(settings.kernel_inputs));
  else space = std::make_unique<ParameterSpace<T>>();
  const std::size_t m = settings.prior_attraction_scale == T(0) ? 0 : settings.prior_samples;
  Tensor<T> samples = prior.sample(m, prior_samples_seed(seed));
  InteractionSettings<T> interaction{settings.lambda1, settings.prior_attraction_scale, settings.kernel,
                                     settings.bandwidth, settings.distance};
  flow.add(std::make_unique<InteractionEnergy<T>>(std::move(interaction), std::move(space), std::move(samples)));

  flow.add(std::make_unique<KlDivergence<T>>(std::move(prior), settings.lambda2, settings.prior_drift_scale));
  return flow;
}

}  // namespace wgflow::flows
