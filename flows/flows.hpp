#pragma once
// wgflow's particle flows, in one include: Wasserstein gradient flows of free energies over parameter
// measures (Wild et al., NeurIPS 2023), integrated by Euler-Maruyama with interacting particles. Every
// method is the one integrator, ParticleFlow, with different terms.
//
//   using namespace wgflow;
//   auto loss = models::double_well<double>();                      // any models::Potential<double>
//   auto prior = models::GaussianPrior<double>::isotropic(1, 1.0);  // any flows::PriorLike type
//   Tensor<double> init = prior.sample(300, /*seed=*/1);            // N x J
//
//   auto de = flows::deep_ensemble(loss, init, {.eta = 1e-3});                          // F = int l dQ
//   auto dle = flows::deep_langevin_ensemble(loss, prior, init, {.lambda = 1, .eta = 1e-3, .seed = 7});
//   auto drle = flows::deep_repulsive_langevin_ensemble(loss, prior, init,             // + (l1/2) MMD^2
//       {.lambda1 = 1, .lambda2 = 1, .bandwidth = flows::Bandwidth<double>::fixed(1), .eta = 1e-3, .seed = 7});
//   auto sv = flows::svgd(loss, prior, init, {.lambda = 1});                             // Stein direction
//   auto vi = flows::mean_field_vi(loss, prior, init, {.lambda = 1, .seed = 7});         // N Gaussians
//
//   drle.run(10000, [](const auto& f) { std::cout << f.steps_taken() << "\n"; return true; }, 1000);
//   flows::save_checkpoint(drle, "run/checkpoint");                // and load_checkpoint(drle, ...)
//   auto pred = flows::predict(mlp, drle.predictive_samples(), X_test);  // members, mean, variance
//
// The pieces, each swappable:
//   particle_flow.hpp      ParticleFlow: the integrator (terms + optimiser + noise); step(), run()
//   free_energy.hpp        its terms, their gradients each step and their sum
//   term.hpp               Term: a free-energy summand (gradient, diffusion, energy); write your own
//   potential_energy.hpp   int l dQ                kl_divergence.hpp  lambda KL(Q || P)
//   interaction_energy.hpp (lambda1/2) MMD^2        embedding.hpp      parameter / function space
//   random_batch_interaction.hpp  the same in random batches, O(N B)   (both: interaction_term.hpp)
//   svgd.hpp               SVGD's Stein direction   mean_field_vi.hpp  mean-field Gaussians' objective
//   kernels.hpp            RBF, IMQ; gradient sums  bandwidth.hpp      fixed, median, rolling median
//   squared_distance.hpp   sum / mean convention    optimizers.hpp     Sgd, Momentum, Adam
//   prior.hpp              what flows need of a prior               predict.hpp  ensemble predictions
//   presets.hpp            DE, DLE, DRLE, SVGD, MFVI with named settings
//   checkpoint.hpp         save_checkpoint / load_checkpoint: crash-safe, bit-exact resume
//   term_check.hpp         check_term_gradient: a term's gradient against its own energy
#include "bandwidth.hpp"
#include "checkpoint.hpp"
#include "embedding.hpp"
#include "free_energy.hpp"
#include "interaction_energy.hpp"
#include "kernels.hpp"
#include "kl_divergence.hpp"
#include "mean_field_vi.hpp"
#include "optimizers.hpp"
#include "particle_flow.hpp"
#include "potential_energy.hpp"
#include "predict.hpp"
#include "presets.hpp"
#include "prior.hpp"
#include "squared_distance.hpp"
#include "svgd.hpp"
#include "term.hpp"
#include "term_check.hpp"
