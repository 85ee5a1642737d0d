#pragma once
// Stein variational gradient descent (Liu & Wang 2016, "Stein variational gradient descent: a general
// purpose Bayesian inference algorithm", Algorithm 1): the kernelised neighbour of the particle flows
// (paper §1). Particles move deterministically along the direction in the unit ball of the kernel's
// RKHS that decreases KL(Q || pi) fastest,
//   phi*(x_i) = (1/N) sum_j [ k(x_j, x_i) grad log pi(x_j) + grad_{x_j} k(x_j, x_i) ],
// the first term a kernel-smoothed gradient ascent on log pi, the second a repulsion that keeps the
// particles apart (and, unlike DRLE's, is the only source of spread: there is no noise).
//
// Target. pi ∝ exp(-l / lambda) p, the Gibbs measure that DLE samples (paper §1), so that SVGD, DLE and
// the VI neighbours aim at the same Q* for the same lambda and prior:
//   grad log pi(x) = -grad l(x) / lambda + grad log p(x).
// lambda = 1 is the Bayesian posterior when l is the negative log-likelihood.
//
// Kernel. RBF k = exp(-d^2 / (2h)) on d^2 = ||x - y||^2 (the textbook sum convention), with h from the
// median heuristic re-estimated every step, h = med(d^2) / (2 log N): exactly Liu & Wang's
// h_svgd = med^2 / log N for their kernel exp(-||x - y||^2 / h_svgd). Every piece is swappable through
// SvgdConfig (flows/kernels.hpp, flows/bandwidth.hpp, flows/squared_distance.hpp). The N x N kernel
// matrices are computed once per step.
//
// One step: the potential's gradients in parallel (TBB, one row per task), then the drift
//   drift = -phi* = (1/N) [ K (grad l / lambda - grad log p) + S ],  S_i = sum_j grad_1 k(x_i, x_j)
// (grad_{x_j} k(x_j, x_i) = -grad_1 k(x_i, x_j) for a radial kernel), and the plugged-in optimiser maps
// the drift to the displacement: Sgd(eps) is x <- x + eps phi*; Liu & Wang used AdaGrad, for which Adam
// is the nearest offered. All sums over particles are GEMMs in a fixed order: bit-identical for any
// thread count.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <xtensor/xnoalias.hpp>

#include "core/errors.hpp"
#include "core/gemm.hpp"
#include "flows/bandwidth.hpp"
#include "flows/finite_rows.hpp"
#include "flows/flow.hpp"
#include "flows/kernels.hpp"
#include "flows/optimizers.hpp"
#include "flows/potential_energy.hpp"
#include "flows/prior.hpp"
#include "flows/squared_distance.hpp"
#include "flows/term.hpp"
#include "models/potential.hpp"

namespace wgflow::flows {

template <class T>
struct SvgdConfig {
  T lambda = 1;  // temperature of the target pi ∝ exp(-l / lambda) p
  RadialKernel<T> kernel = RadialKernel<T>::rbf();
  Bandwidth<T> bandwidth = Bandwidth<T>::rolling_median(T(0));  // h = med(d^2) / (2 log N), every step
  DistanceConvention distance = DistanceConvention::sum;
};

template <class T>
class Svgd final : public Flow<T> {
 public:
  // initial_particles: N x J (N >= 2: the median heuristic needs log N > 0). The potential must outlive
  // the flow.
  Svgd(models::Potential<T>& potential, Prior<T> prior, Tensor<T> initial_particles, Optimizer<T> optimizer,
       SvgdConfig<T> config = {})
      : potential_(potential, "svgd: potential"),
        prior_(std::move(prior)),
        particles_(std::move(initial_particles)),
        optimizer_(std::move(optimizer)),
        config_(std::move(config)) {
    const std::size_t n = particles_.shape()[0], J = particles_.shape()[1];
    if (n < 2 || J != potential.dim() || J != prior_.dim())
      throw ShapeError("Svgd: particles are " + shape_string({n, J}) + " but the potential has " +
                       std::to_string(potential.dim()) + " parameters and the prior " + std::to_string(prior_.dim()) +
                       " (need N >= 2 rows of J columns)");
    if (!(config_.lambda > 0) || !std::isfinite(config_.lambda))
      throw Error("Svgd: lambda must be positive and finite, got " + std::to_string(config_.lambda));
    potential_.attach(particles_);
    optimizer_.init(particles_);
  }

  std::string name() const override { return "svgd(" + config_.kernel.name() + ", " + optimizer_.name() + ")"; }
  std::uint64_t steps_taken() const override { return step_; }
  const Tensor<T>& particles() const override { return particles_; }

  // The bandwidth h used by the last step (NaN before the first step under a median rule).
  T bandwidth() const { return config_.bandwidth.value(); }

  // -phi*(x_i) of the last step, N x J.
  const Tensor<T>& drift() const { return drift_; }

  // The mean loss over the particles at the last step.
  std::optional<T> mean_loss() const { return potential_.energy(); }

  void step() override {
    const std::size_t n = particles_.shape()[0], J = particles_.shape()[1];
    const T inv_n = T(1) / static_cast<T>(n);

    // G = -grad log pi at every particle: grad l / lambda - grad log p.
    detail::ensure_shape(G_, n, J);
    G_.fill(T(0));
    potential_.add_drift(StepContext<T>{step_, particles_}, G_);
    G_ /= config_.lambda;
    grad_log_prior_.resize(n * J);
    parallel_for_each_index(n, [&](std::size_t i) {
      T* g = G_.data() + i * J;
      T* gp = grad_log_prior_.data() + i * J;
      prior_.grad_log_density(std::span<const T>(particles_.data() + i * J, J), std::span<T>(gp, J));
      for (std::size_t j = 0; j < J; ++j) g[j] -= gp[j];
    });
    require_finite_rows(G_, step_, "particle", [&] {
      return std::pair{name(), "the gradient of term '" + potential_.name() + "' and of the prior"};
    });

    pairwise_squared_distances_into(particles_, config_.distance, D2_, workspace_);
    const T h = config_.bandwidth.update(step_, D2_);
    config_.kernel.evaluate_into(D2_, h, km_);

    // drift = (1/N) K G + (1/N) S.
    detail::ensure_shape(drift_, n, J);
    wgflow::gemm<T>(false, false, n, J, n, inv_n, km_.k.data(), n, G_.data(), J, T(0), drift_.data(), J);
    add_centred_gradient_sum(km_.slope, workspace_.Xc, workspace_.Xc, distance_scale<T>(config_.distance, J), inv_n,
                             drift_);
    require_finite_rows(drift_, step_, "particle", [&] {
      return std::pair{name(), std::string("the SVGD drift (kernel-weighted gradients and repulsion)")};
    });

    optimizer_.update(drift_, delta_);
    xt::noalias(particles_) += delta_;  // in place: particles_ += e would evaluate into a new matrix first
    require_finite_rows(particles_, step_, "particle", [&] {
      return std::pair{name(), "the particle after the update (optimiser " + optimizer_.name() + ")"};
    });
    ++step_;
  }

 private:
  friend struct CheckpointAccess;  // saves and restores the state (flows/checkpoint.hpp)
  PotentialEnergy<T> potential_;
  Prior<T> prior_;
  Tensor<T> particles_;
  Optimizer<T> optimizer_;
  SvgdConfig<T> config_;
  std::uint64_t step_ = 0;
  // Per-step buffers, resized only when N changes: steady-state steps allocate nothing here.
  Tensor<T> G_, drift_, delta_;
  std::vector<T> grad_log_prior_;
  Tensor<T> D2_;
  KernelMatrices<T> km_;
  DistanceWorkspace<T> workspace_;
};

}  // namespace wgflow::flows
