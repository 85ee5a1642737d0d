#pragma once
// wgflow's particle flows, in one include: Wasserstein gradient flows of free energies over parameter
// measures (Wild et al., NeurIPS 2023), integrated by Euler-Maruyama with interacting particles.
//
//   using namespace wgflow;
//   auto loss = models::double_well<double>();                        // any models::Potential<double>
//   auto prior = models::GaussianPrior<double>::isotropic(1, 1.0);    // any flows::PriorLike type
//   Tensor<double> init = prior.sample(300, /*seed=*/1);          // N x J
//
//   auto de = flows::deep_ensemble(loss, init, 1e-3);                               // F = int l dQ
//   auto dle = flows::deep_langevin_ensemble<double>(loss, prior, 1.0, init, 1e-3, 7); // + lambda KL(Q||P)
//   flows::RepulsiveSettings<double> r{.lambda1 = 1, .lambda2 = 1,                    // + (lambda1/2) MMD^2
//                                      .bandwidth = flows::Bandwidth<double>::fixed(1)};
//   auto drle = flows::deep_repulsive_langevin_ensemble<double>(loss, prior, r, init, 1e-3, 7);
//   drle.run(10000, [](const auto& f) { std::cout << f.steps_taken() << "\n"; return true; }, 1000);
//   auto pred = flows::predict(mlp, drle.particles(), X_test);       // members, mean, variance
//
// The pieces, each swappable:
//   particle_flow.hpp      ParticleFlow: the integrator (terms + optimiser + noise), implements Flow
//   term.hpp               Term: a free-energy summand (drift, diffusion, energy); write your own
//   potential_energy.hpp   int l dQ                kl_divergence.hpp  lambda KL(Q || P)
//   interaction_energy.hpp (lambda1/2) MMD^2        embedding.hpp      parameter / function space
//   kernels.hpp            RBF, IMQ; gradient sums  bandwidth.hpp      fixed, median, rolling median
//   squared_distance.hpp   sum / mean convention    optimizers.hpp     Sgd, Momentum, Adam
//   prior.hpp              what flows need of a prior               predict.hpp  ensemble predictions
//   presets.hpp            DE, DLE, DRLE
#include "flows/bandwidth.hpp"
#include "flows/embedding.hpp"
#include "flows/flow.hpp"
#include "flows/interaction_energy.hpp"
#include "flows/kernels.hpp"
#include "flows/kl_divergence.hpp"
#include "flows/optimizers.hpp"
#include "flows/particle_flow.hpp"
#include "flows/potential_energy.hpp"
#include "flows/predict.hpp"
#include "flows/presets.hpp"
#include "flows/prior.hpp"
#include "flows/squared_distance.hpp"
#include "flows/term.hpp"
