#pragma once
// Every method of the paper and its neighbours as a named constructor of the one integrator,
// ParticleFlow: a preset only chooses the free energy's terms and the optimiser. Settings are named, as
// the paper writes them (fields in the order declared: weights, kernel, step, seed):
//
//   auto de   = flows::deep_ensemble(loss, init, {.eta = 1e-3});
//   auto dle  = flows::deep_langevin_ensemble(loss, prior, init, {.lambda = 1, .eta = 1e-3, .seed = 7});
//   auto drle = flows::deep_repulsive_langevin_ensemble(loss, prior, init, {.lambda1 = 1, .lambda2 = 1,
//                   .bandwidth = flows::Bandwidth<double>::fixed(1), .eta = 1e-3, .seed = 7});
//   auto sv   = flows::svgd(loss, prior, init, {.lambda = 1, .optimizer = flows::Adam<double>{.eta = 1e-2}});
//   auto vi   = flows::mean_field_vi(loss, gaussian_prior, init, {.lambda = 1, .seed = 7});
//
//   DE    F = int l dQ                                  theta_i -= eta grad l(theta_i)
//   DLE   F = int l dQ + lambda KL(Q || P)              ... + eta lambda s grad(-log p) + sqrt(2 lambda eta) xi
//   DRLE  F = int l dQ + (lambda1/2) MMD^2(Q, P) + lambda2 KL(Q || P)
//   SVGD  KL(Q || pi), pi ∝ exp(-l / lambda) p, in the Stein geometry (flows/svgd.hpp)
//   MFVI  E_q l + lambda KL(q || P) over N mean-field Gaussians (flows/mean_field_vi.hpp)
// (s is the prior-gradient scale of paper.md §6: 0 keeps the noise, drops the prior's gradient.) DE, DLE
// and DRLE use plain SGD with step eta, the paper's update; SVGD and mean-field VI Adam. Call
// flow.set_optimizer(...) to change it. Weights may be 0 (the term then contributes nothing).
//
// Every preset names the rows of its particles after the potential's parameter blocks
// (Potential::parameter_layout, flows/particle_layout.hpp), so that checkpoints and saved particles carry
// the layout.
//
// DRLE's M prior samples are drawn once, from prior.sample(M, prior_samples_seed(seed)): a stream no
// particle's noise uses. Its interaction is the exact O(N^2) term unless interaction_batch = B > 0 asks for
// the random-batch estimate (flows/random_batch_interaction.hpp), for N where N^2 is out of reach.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

#include "../core/random.hpp"
#include "embedding.hpp"
#include "interaction_energy.hpp"
#include "kl_divergence.hpp"
#include "mean_field_vi.hpp"
#include "optimizers.hpp"
#include "particle_flow.hpp"
#include "particle_layout.hpp"
#include "potential_energy.hpp"
#include "prior.hpp"
#include "random_batch_interaction.hpp"
#include "svgd.hpp"
#include "../models/model.hpp"
#include "../models/potential.hpp"
#include "../models/prior.hpp"

namespace wgflow::flows {

template <class T>
struct DeSettings {
  T eta = T(1e-3);         // SGD step
  std::uint64_t seed = 0;  // unused by DE's deterministic update; kept for checkpoints and symmetry
};

template <class T>
struct DleSettings {
  T lambda = T(1);                // KL weight: noise sqrt(2 lambda eta)
  T prior_gradient_scale = T(1);  // s
  T eta = T(1e-3);
  std::uint64_t seed = 0;         // the noise streams Rng::stream(seed, i, t)
};

template <class T>
struct DrleSettings {
  T lambda1 = T(1);                 // interaction weight: (lambda1/2) MMD^2
  T lambda2 = T(1);                 // KL weight: gradient lambda2 s grad(-log p), noise sqrt(2 lambda2 eta)
  T prior_gradient_scale = T(1);    // s
  T prior_attraction_scale = T(1);  // 0 switches off the attraction to the prior samples
  RadialKernel<T> kernel = RadialKernel<T>::rbf();
  Bandwidth<T> bandwidth = Bandwidth<T>::median();
  DistanceConvention distance = DistanceConvention::mean;
  std::size_t prior_samples = 200;  // M
  // Function-space repulsion: the kernel compares model(theta, kernel_inputs) (K x num_inputs). Parameter
  // space when model is null. The model must outlive the flow.
  const models::Model<T>* model = nullptr;
  Tensor<T> kernel_inputs{};
  T eta = T(1e-3);
  std::uint64_t seed = 0;
  // Beyond O(N^2) (flows/random_batch_interaction.hpp): 0 keeps the exact interaction; B >= 2 estimates
  // it each step within random batches of B particles, each batch against B_p of the M prior samples
  // (0: B_p = B), O(N (B + B_p)) per step. Last, so that positional initialisers up to seed still fit.
  std::size_t interaction_batch = 0;
  std::size_t interaction_prior_batch = 0;
};

template <class T>
struct SvgdSettings {
  T lambda = T(1);  // temperature of the target pi ∝ exp(-l / lambda) p
  RadialKernel<T> kernel = RadialKernel<T>::rbf();
  Bandwidth<T> bandwidth = Bandwidth<T>::rolling_median(T(0));  // h = med(d^2) / (2 log N), every step
  DistanceConvention distance = DistanceConvention::sum;
  Optimizer<T> optimizer = Adam<T>{.eta = T(1e-2)};
  std::uint64_t seed = 0;
};

template <class T>
struct MeanFieldVISettings {
  T lambda = T(1);           // weight of the KL term (1: Bayesian VI)
  std::size_t samples = 1;   // S, Monte-Carlo draws per member and step
  T initial_sd = T(0.05);    // sigma of every coordinate at the start (rho_0 = softplus^{-1} = -2.97),
                             // small so that early steps act like training the mean network
  Optimizer<T> optimizer = Adam<T>{};
  std::uint64_t seed = 0;    // eps of member i at step t comes from Rng::stream(seed, i, t)
};

// The seed of DRLE's prior samples, derived from the flow's seed. Particle noise uses the streams
// (seed, i, t) with t < 2^64 - 1; this one uses t = 2^64 - 1 with a fixed tag.
inline std::uint64_t prior_samples_seed(std::uint64_t flow_seed) {
  constexpr std::uint64_t tag = 0x5052494f52ULL;  // "PRIOR"
  return Rng::stream(flow_seed, tag, UINT64_MAX)();
}

// T is deduced from the potential and the particles; the prior and the settings take their type from it
// (std::type_identity_t), so that a models::GaussianPrior<double> or a braced list converts.
template <class T>
ParticleFlow<T> deep_ensemble(models::Potential<T>& potential, Tensor<T> initial_particles,
                              std::type_identity_t<DeSettings<T>> s = {}) {
  ParticleFlow<T> flow("DE", std::move(initial_particles), Sgd<T>{s.eta}, s.seed);
  flow.add(std::make_unique<PotentialEnergy<T>>(potential));
  flow.set_layout(ParticleLayout::of(potential.parameter_layout()));
  return flow;
}

template <class T>
ParticleFlow<T> deep_langevin_ensemble(models::Potential<T>& potential, std::type_identity_t<Prior<T>> prior,
                                       Tensor<T> initial_particles, std::type_identity_t<DleSettings<T>> s = {}) {
  ParticleFlow<T> flow("DLE", std::move(initial_particles), Sgd<T>{s.eta}, s.seed);
  flow.add(std::make_unique<PotentialEnergy<T>>(potential));
  flow.add(std::make_unique<KlDivergence<T>>(std::move(prior), s.lambda, s.prior_gradient_scale));
  flow.set_layout(ParticleLayout::of(potential.parameter_layout()));
  return flow;
}

template <class T>
ParticleFlow<T> deep_repulsive_langevin_ensemble(models::Potential<T>& potential, std::type_identity_t<Prior<T>> prior,
                                                 Tensor<T> initial_particles,
                                                 std::type_identity_t<DrleSettings<T>> s = {}) {
  ParticleFlow<T> flow("DRLE", std::move(initial_particles), Sgd<T>{s.eta}, s.seed);
  flow.add(std::make_unique<PotentialEnergy<T>>(potential));

  std::unique_ptr<Embedding<T>> space;
  if (s.model) space = std::make_unique<FunctionSpace<T>>(*s.model, std::move(s.kernel_inputs));
  else space = std::make_unique<ParameterSpace<T>>();
  const std::size_t m = s.prior_attraction_scale == T(0) ? 0 : s.prior_samples;
  Tensor<T> samples = prior.sample(m, prior_samples_seed(s.seed));
  InteractionSettings<T> interaction{s.lambda1, s.prior_attraction_scale, s.kernel, s.bandwidth, s.distance};
  if (s.interaction_batch == 0)
    flow.add(std::make_unique<InteractionEnergy<T>>(std::move(interaction), std::move(space), std::move(samples)));
  else
    flow.add(std::make_unique<RandomBatchInteraction<T>>(
        std::move(interaction), RandomBatchSettings{.batch = s.interaction_batch, .prior_batch = s.interaction_prior_batch},
        std::move(space), std::move(samples)));

  flow.add(std::make_unique<KlDivergence<T>>(std::move(prior), s.lambda2, s.prior_gradient_scale));
  flow.set_layout(ParticleLayout::of(potential.parameter_layout()));
  return flow;
}

// initial_particles: N x J, N >= 2 (the median heuristic needs log N > 0).
template <class T>
ParticleFlow<T> svgd(models::Potential<T>& potential, std::type_identity_t<Prior<T>> prior, Tensor<T> initial_particles,
                     std::type_identity_t<SvgdSettings<T>> s = {}) {
  ParticleFlow<T> flow("SVGD", std::move(initial_particles), std::move(s.optimizer), s.seed);
  flow.add(std::make_unique<SvgdDirection<T>>(potential, std::move(prior), s.lambda,
                                              SvgdKernel<T>{s.kernel, s.bandwidth, s.distance}));
  flow.set_layout(ParticleLayout::of(potential.parameter_layout()));
  return flow;
}

// initial_means: N x J, row i member i's starting mean (e.g. a draw from the prior). The flow's particles
// are the members' rows [mu | rho] (N x 2J); mean_field_means / mean_field_standard_deviations read them,
// and predictive_samples(per_member, seed) draws from the Gaussians.
template <class T>
ParticleFlow<T> mean_field_vi(models::Potential<T>& potential, std::type_identity_t<models::GaussianPrior<T>> prior,
                              const Tensor<T>& initial_means, std::type_identity_t<MeanFieldVISettings<T>> s = {}) {
  ParticleFlow<T> flow("MFVI", mean_field_initial_state(initial_means, s.initial_sd), std::move(s.optimizer), s.seed);
  flow.add(std::make_unique<MeanFieldGaussian<T>>(potential, std::move(prior), s.lambda, s.samples));
  flow.set_predictive_sampler(&mean_field_samples<T>);
  flow.set_layout(ParticleLayout::mean_field(potential.parameter_layout()));  // rows [mu | rho]
  return flow;
}

}  // namespace wgflow::flows
