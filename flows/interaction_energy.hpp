#pragma once
// The interaction energy (lambda1 / 2) MMD_k^2(Q, P) of DRLE (paper §1-§2), with P represented by M
// prior samples phi_1..phi_M drawn once (the reference code uses M = 200):
//
//   MMD_k^2(Q, P) = int int k dQ dQ - 2 int int k dQ dP + int int k dP dP.
//
// Its first variation is lambda1 (int k(theta, .) dQ - int k(theta, .) dP), so particle i's drift is
//
//   lambda1 ( (1/N) sum_j grad_1 k(theta_i, theta_j) - psi (1/M) sum_m grad_1 k(theta_i, phi_m) ),
//
// the kernel differentiated in its first argument only (paper.md §6). psi, the prior-attraction scale,
// is 1 for the MMD; 0 switches the attraction off as in the reference's "sin" experiment (the energy is
// then (lambda1/2) int int k dQ dQ). For N particles this drift is N times the gradient of
// (lambda1/2) MMD^2 between the empirical measures (tests/flows/test_interaction_energy.cpp checks it
// against reverse-mode AD).
//
// The kernel acts in an Embedding (flows/embedding.hpp): parameter space or function space. Per step:
// embed the particles (N x E), one N x N and one N x M squared-distance GEMM, the kernel slopes, two
// gradient-sum GEMMs, and the pullback to parameters. The bandwidth rule sees the particles' own N x N
// distances; its state (the current h) lives here.
#include <cmath>
#include <cstddef>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <xtensor/xmath.hpp>

#include "core/errors.hpp"
#include "flows/embedding.hpp"
#include "flows/kernels.hpp"
#include "flows/term.hpp"

namespace wgflow::flows {

template <class T>
struct InteractionSettings {
  T lambda1 = T(1);                            // weight of (1/2) MMD^2
  T prior_attraction_scale = T(1);             // psi above
  RadialKernel<T> kernel = RadialKernel<T>::rbf();
  Bandwidth<T> bandwidth = Bandwidth<T>::median();
  DistanceConvention distance = DistanceConvention::mean;
};

template <class T>
class InteractionEnergy final : public Term<T> {
 public:
  // prior_samples: M x J parameter vectors phi_m (M may be 0 when the attraction is off).
  InteractionEnergy(InteractionSettings<T> settings, std::unique_ptr<Embedding<T>> space, Tensor<T> prior_samples)
      : s_(std::move(settings)), space_(std::move(space)), prior_samples_(std::move(prior_samples)) {
    if (!space_) throw Error("InteractionEnergy: no embedding given");
    if (!(s_.lambda1 >= 0) || !std::isfinite(s_.lambda1))
      throw Error("InteractionEnergy: lambda1 must be finite and >= 0, got " + std::to_string(s_.lambda1));
    if (s_.prior_attraction_scale != T(0) && prior_samples_.shape()[0] == 0)
      throw Error("InteractionEnergy: the prior attraction is on (scale " + std::to_string(s_.prior_attraction_scale) +
                  ") but no prior samples were given");
  }

  std::string name() const override {
    return "interaction energy (lambda1 = " + std::to_string(s_.lambda1) + ", " + s_.kernel.name() + ", " +
           s_.bandwidth.describe() + ", " + space_->name() + ")";
  }

  void attach(const Tensor<T>& particles) override {
    if (prior_samples_.shape()[0] > 0 && prior_samples_.shape()[1] != particles.shape()[1])
      throw ShapeError("InteractionEnergy: particles are " + shape_string({particles.shape()[0], particles.shape()[1]}) +
                       " but the prior samples are " + shape_string({prior_samples_.shape()[0], prior_samples_.shape()[1]}));
    embed_prior_samples();
  }

  // Every intermediate matrix is a member, resized only when N changes, so that a step in parameter
  // space allocates nothing once the first step has sized them (tests/flows/test_steady_state_allocation.cpp).
  void add_drift(const StepContext<T>& context, Tensor<T>& drift) override {
    const Tensor<T>& theta = context.particles;
    const std::size_t n = theta.shape()[0], m = prior_features_.shape()[0];
    space_->embed_into(theta, features_);
    const Tensor<T>& features = features_;
    const T c = distance_scale<T>(s_.distance, features.shape()[1]);
    const T psi = s_.prior_attraction_scale;

    pairwise_squared_distances_into(features, s_.distance, d2_, workspace_);
    const T h = s_.bandwidth.update(context.step, d2_);
    s_.kernel.evaluate_into(d2_, h, kernel_);
    detail::ensure_shape(feature_drift_, features.shape()[0], features.shape()[1]);
    feature_drift_.fill(T(0));
    add_centred_gradient_sum(kernel_.slope, workspace_.Xc, workspace_.Xc, c, s_.lambda1 / static_cast<T>(n),
                             feature_drift_);
    T energy = s_.lambda1 / 2 * xt::mean(kernel_.k)();

    if (psi != T(0) && m > 0) {
      squared_distances_into(features, prior_features_, s_.distance, cross_d2_, cross_workspace_);
      s_.kernel.evaluate_into(cross_d2_, h, cross_kernel_);
      add_centred_gradient_sum(cross_kernel_.slope, cross_workspace_.Xc, cross_workspace_.Yc, c,
                               -s_.lambda1 * psi / static_cast<T>(m), feature_drift_);
      energy += s_.lambda1 / 2 * psi * (prior_kernel_mean(h) - 2 * xt::mean(cross_kernel_.k)());
    }
    energy_ = energy;
    space_->add_pullback(theta, feature_drift_, drift);
  }

  // (lambda1/2) [mean k(theta_i, theta_j) - 2 psi mean k(theta_i, phi_m) + psi mean k(phi_m, phi_m')]: at
  // psi = 1 the V-statistic estimate of (lambda1/2) MMD^2 between the particles and the prior samples.
  std::optional<T> energy() const override { return energy_; }

  // The state beyond the settings: the bandwidth (frozen after the median rule's first steps) and the
  // prior samples (flows/checkpoint.hpp).
  void save_state(std::map<std::string, Tensor<T>>& state) const override {
    state["bandwidth"] = Tensor<T>{{s_.bandwidth.value()}};
    state["prior_samples"] = prior_samples_;
  }
  void load_state(const std::map<std::string, Tensor<T>>& state) override {
    s_.bandwidth.restore(state.at("bandwidth")(0, 0));
    prior_samples_ = state.at("prior_samples");
    embed_prior_samples();
  }

  // The bandwidth in use (its rule's state).
  T bandwidth() const { return s_.bandwidth.value(); }
  const InteractionSettings<T>& settings() const { return s_; }
  const Tensor<T>& prior_samples() const { return prior_samples_; }

 private:
  void embed_prior_samples() {
    if (prior_samples_.shape()[0] == 0) return;
    prior_features_ = space_->embed(prior_samples_);
    prior_distances_ = pairwise_squared_distances(prior_features_, s_.distance);
    prior_mean_h_ = std::numeric_limits<T>::quiet_NaN();
  }

  // mean_{m, m'} k(phi_m, phi_m'), recomputed only when h changes (M^2 kernel evaluations).
  T prior_kernel_mean(T h) {
    if (h != prior_mean_h_) {
      s_.kernel.evaluate_into(prior_distances_, h, prior_kernel_);
      prior_mean_ = xt::mean(prior_kernel_.k)();
      prior_mean_h_ = h;
    }
    return prior_mean_;
  }

  InteractionSettings<T> s_;
  std::unique_ptr<Embedding<T>> space_;
  Tensor<T> prior_samples_;
  Tensor<T> prior_features_;   // M x E, embedded once
  Tensor<T> prior_distances_;  // M x M
  T prior_mean_ = 0, prior_mean_h_ = 0;
  std::optional<T> energy_;
  // Per-step buffers, resized only when N changes. The particle-particle and particle-prior stages
  // each keep their own, since their shapes differ whenever M != N.
  Tensor<T> features_;       // N x E
  Tensor<T> feature_drift_;  // N x E
  Tensor<T> d2_, cross_d2_;  // N x N, N x M
  KernelMatrices<T> kernel_, cross_kernel_;
  DistanceWorkspace<T> workspace_, cross_workspace_;
  KernelMatrices<T> prior_kernel_;  // M x M, evaluated when h changes
};

}  // namespace wgflow::flows
