#pragma once
// The interaction energy (lambda1 / 2) MMD_k^2(Q, P) of DRLE (paper §1-§2), with P represented by M
// prior samples phi_1..phi_M drawn once (flows/prior_reference.hpp; the reference code uses M = 200):
//
//   MMD_k^2(Q, P) = int int k dQ dQ - 2 int int k dQ dP + int int k dP dP.
//
// Its first variation is lambda1 (int k(theta, .) dQ - int k(theta, .) dP), so particle i's gradient is
//
//   lambda1 ( (1/N) sum_j grad_1 k(x_i, x_j) - psi (1/M) sum_m grad_1 k(x_i, p_m) ),
//
// pulled back to parameters through x_i = f(theta_i), p_m = f(phi_m): the kernel compares embedded
// particles (flows/embedding.hpp: f the identity in parameter space, the network's outputs at K kernel
// inputs in function space) and is differentiated in its first argument only (paper.md §6). psi, the
// prior-attraction scale, is 1 for the MMD; 0 switches the attraction off as in the reference's "sin"
// experiment (the energy is then (lambda1/2) int int k dQ dQ). For N particles this gradient is N times
// the gradient of (lambda1/2) MMD^2 between the empirical measures (tests/flows/test_interaction_energy.cpp
// checks it against reverse-mode AD).
//
// Per step: embed and centre the particles (N x E), their N x N distances (which also feed the bandwidth
// rule, whose state, the current h, lives here), the kernel slopes, one gradient-sum GEMM; the same
// against the prior samples centred alike (N x M); the pullback to parameters. Beside it, as a
// diagnostic, the V-statistic estimate of the energy from the kernel matrices the step has computed.
//
// Over ranks (reach collective, flows/term.hpp) a rank embeds its own n particles, gathers the N x E
// features (in parameter space the N x J particles; in function space N x K outputs, not parameters),
// and computes only its rows: n x N distances and kernels, n x M against the prior, its pullbacks. The
// median bandwidth, over all N^2 distances, is taken from the ranks' rows without gathering them
// (core/median_over_ranks.hpp), on the steps that estimate it (the first five, under the reference's
// rule). Each row is bit for bit the one process's
// (core/gemm.hpp's gemm_rows), so the particles are too, for any number of ranks.
#include <cstddef>
#include <limits>
#include <memory>
#include <optional>
#include <string>

#include <xtensor/xmath.hpp>

#include "../core/precompiled.hpp"
#include "embedding.hpp"
#include "interaction_term.hpp"
#include "kernels.hpp"
#include "squared_distance.hpp"

namespace wgflow::flows {

template <class T>
class InteractionEnergy final : public InteractionTerm<T> {
 public:
  // prior_samples: M x J parameter vectors phi_m (M may be 0 when the attraction is off).
  InteractionEnergy(InteractionSettings<T> settings, std::unique_ptr<Embedding<T>> space, Tensor<T> prior_samples)
      : InteractionTerm<T>("InteractionEnergy", std::move(settings), std::move(space), std::move(prior_samples)) {}

  std::string name() const override { return this->describe("interaction energy"); }

  // Its pullback writes every row (Embedding::pullback_into): the flow no longer zeroes its buffer, nor
  // does a function-space pullback in lanes add each group's gradients into it. DRLE, 1 thread, Zen 5,
  // medians of 5 alternating runs: N = 1000 float32 5788 -> 5617 us, float64 12081 -> 12123 us (noise);
  // N = 100 float64 676 -> 659 us.
  bool writes_gradient() const override { return true; }

  // Every intermediate matrix is a member, resized only when N changes, so that a step in parameter
  // space allocates nothing once the first step has sized them (tests/flows/test_steady_state_allocation.cpp).
  void add_gradient(const StepContext<T>& context, Tensor<T>& gradient) override {
    const Tensor<T>& theta = context.particles;  // this rank's rows (all N in one process)
    const RowBlock rows = context.rows();
    const bool whole = rows.size() == context.ensemble_size();
    const T lambda1 = s_.lambda1, psi = s_.prior_attraction_scale;
    const Tensor<T>* own = nullptr;
    agree(context, [&] { own = &space_->features_of(theta, own_features_); });
    centre_into(gather_rows(context, *own, all_features_), s_.distance, x_);
    // One process computes the symmetric matrix's upper half and mirrors it; a rank its own rows whole.
    if (whole) pairwise_squared_distances_into(x_, d2_xx_);
    else pairwise_squared_distance_rows_into(x_, rows, d2_xx_);
    const T h = s_.bandwidth.update(context.step, d2_xx_, context.ranks);

    agree(context, [&] {
      // The kernel's values enter only through their row sums (the energy): no N x N matrix of them.
      s_.kernel.evaluate_into(d2_xx_, h, k_xx_, KernelValues::slopes);
      // lambda1 (1/N) sum_j grad_1 k(x_i, x_j), written
      kernel_gradient_sum_rows_into(k_xx_, x_, rows, x_, lambda1 / static_cast<T>(x_.size()), feature_gradient_);

      // - lambda1 psi (1/M) sum_m grad_1 k(x_i, p_m)
      if (attracts()) {
        centre_like_into(prior_.features(), x_, p_);
        squared_distance_rows_into(x_, rows, p_, d2_xp_);
        s_.kernel.evaluate_into(d2_xp_, h, k_xp_, KernelValues::slopes);
        add_kernel_gradient_sum_rows(k_xp_, x_, rows, p_, -lambda1 * psi / static_cast<T>(p_.size()),
                                     feature_gradient_);
      }

      if (context.may_write)
        space_->pullback_into(theta, feature_gradient_, gradient);
      else
        space_->add_pullback(theta, feature_gradient_, gradient);
      energy_ = energy_estimate(h);
    });
  }

  // (lambda1/2) [mean k(x_i, x_j) - 2 psi mean k(x_i, p_m) + psi mean k(p_m, p_m')] at the particles of the
  // last add_gradient: at psi = 1 the V-statistic estimate of (lambda1/2) MMD^2 between the particles and
  // the prior samples. Over ranks the means over i are over this rank's rows (the flow combines them).
  std::optional<T> energy() const override { return energy_; }

 private:
  using InteractionTerm<T>::s_;
  using InteractionTerm<T>::space_;
  using InteractionTerm<T>::prior_;
  using InteractionTerm<T>::attracts;

  // From the kernel matrices of this step; mean k(p_m, p_m') from prior_kernel_mean.
  T energy_estimate(T h) {
    return this->energy_from_means(k_xx_.mean(), k_xp_.mean(), [&] { return prior_kernel_mean(h); });
  }

  // What depends on the prior's features, after they are computed anew (attach, load_state).
  void prior_embedded() override {
    if (prior_.size() > 0) d2_pp_ = pairwise_squared_distances(prior_.features(), s_.distance);
    prior_mean_h_ = std::numeric_limits<T>::quiet_NaN();
  }

  // mean_{m, m'} k(p_m, p_m'), recomputed only when h changes (M^2 kernel evaluations).
  T prior_kernel_mean(T h) {
    if (h != prior_mean_h_) {
      s_.kernel.evaluate_into(d2_pp_, h, k_pp_);
      prior_mean_ = k_pp_.mean();
      prior_mean_h_ = h;
    }
    return prior_mean_;
  }

  Tensor<T> d2_pp_;           // M x M
  KernelMatrices<T> k_pp_;    // M x M, evaluated when h changes
  T prior_mean_ = 0, prior_mean_h_ = 0;
  std::optional<T> energy_;
  // Per-step buffers, resized only when N changes; n is this rank's rows (N in one process).
  Tensor<T> own_features_;             // n x E: f(theta_i), unless f is the identity
  Tensor<T> all_features_;             // N x E, gathered over ranks
  CentredPoints<T> x_, p_;             // the particles' features about their mean, the prior's about the same
  Tensor<T> d2_xx_, d2_xp_;            // n x N, n x M
  KernelMatrices<T> k_xx_, k_xp_;      // n x N, n x M: the slopes and row sums (KernelValues::slopes)
  Tensor<T> feature_gradient_;         // n x E
};

WGFLOW_EXTERN_INSTANCES(InteractionEnergy)

}  // namespace wgflow::flows
