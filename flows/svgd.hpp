#pragma once
// Stein variational gradient descent (Liu & Wang 2016, "Stein variational gradient descent: a general
// purpose Bayesian inference algorithm", Algorithm 1), the kernelised neighbour of the particle flows
// (paper §1), as one term of the integrator. Particles move deterministically along the direction in the
// unit ball of the kernel's RKHS that decreases KL(Q || pi) fastest,
//   phi*(x_i) = (1/N) sum_j [ k(x_j, x_i) grad log pi(x_j) + grad_{x_j} k(x_j, x_i) ],
// the first part a kernel-smoothed gradient ascent on log pi, the second a repulsion that keeps the
// particles apart (and, unlike DRLE's, the only source of spread: there is no noise). The term's
// gradient is -phi*: the flow moves the particles along phi*.
//
// Target. pi ∝ exp(-l / lambda) p, the Gibbs measure that DLE samples (paper §1), so that SVGD, DLE and
// the VI neighbours aim at the same Q* for the same lambda and prior:
//   grad log pi(x) = -grad l(x) / lambda + grad log p(x).
// lambda = 1 is the Bayesian posterior when l is the negative log-likelihood.
//
// Kernel. RBF k = exp(-d^2 / (2h)) on d^2 = ||x - y||^2 (the textbook sum convention), with h from the
// median heuristic re-estimated every step, h = med(d^2) / (2 log N): exactly Liu & Wang's
// h_svgd = med^2 / log N for their kernel exp(-||x - y||^2 / h_svgd). Every piece is swappable through
// SvgdSettings (flows/kernels.hpp, flows/bandwidth.hpp, flows/squared_distance.hpp).
//
// With G = grad l / lambda - grad log p at every particle (N x J), K the kernel matrix and
// S_i = sum_j grad_1 k(x_i, x_j) (grad_{x_j} k(x_j, x_i) = -grad_1 k(x_i, x_j) for a radial kernel):
//   -phi* = (1/N) (K G + S),
// two GEMMs in a fixed order: bit-identical for any thread count. Over ranks (reach collective,
// flows/term.hpp) a rank evaluates G at its own particles, gathers the N particles and the N rows of G,
// and computes its rows of K, K G and S (core/gemm.hpp's gemm_rows: the one process's bits); the
// median bandwidth, re-estimated every step, is taken over the ranks' distance rows without gathering
// them (core/median_over_ranks.hpp: four histograms a step). The preset flows::svgd
// (flows/presets.hpp) pairs it with the optimiser: Sgd(eps) is x <- x + eps phi*; Liu & Wang used AdaGrad,
// for which Adam is the nearest offered.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../core/errors.hpp"
#include "../core/gemm.hpp"
#include "../core/parallel.hpp"
#include "../core/precompiled.hpp"
#include "bandwidth.hpp"
#include "finite_rows.hpp"
#include "kernels.hpp"
#include "potential_energy.hpp"
#include "prior.hpp"
#include "squared_distance.hpp"
#include "term.hpp"
#include "../models/potential.hpp"

namespace wgflow::flows {

template <class T>
struct SvgdKernel {
  RadialKernel<T> kernel = RadialKernel<T>::rbf();
  Bandwidth<T> bandwidth = Bandwidth<T>::rolling_median(T(0));  // h = med(d^2) / (2 log N), every step
  DistanceConvention distance = DistanceConvention::sum;
};

template <class T>
class SvgdDirection final : public Term<T> {
 public:
  // The potential must outlive the term. lambda: the temperature of pi ∝ exp(-l / lambda) p.
  SvgdDirection(models::Potential<T>& potential, Prior<T> prior, T lambda, SvgdKernel<T> kernel = {})
      : potential_(potential, "svgd: potential"), prior_(std::move(prior)), lambda_(lambda), k_(std::move(kernel)) {
    if (!(lambda_ > 0) || !std::isfinite(lambda_))
      throw Error("SVGD: lambda must be positive and finite, got " + std::to_string(lambda_));
  }

  std::string name() const override {
    return "svgd direction (lambda = " + std::to_string(lambda_) + ", " + k_.kernel.name() + ", " +
           k_.bandwidth.describe() + ")";
  }

  void attach(const Tensor<T>& particles) override {
    const std::size_t n = particles.shape()[0], J = particles.shape()[1];
    if (n < 2 || J != prior_.dim())
      throw ShapeError("SVGD: particles are " + shape_string({n, J}) + " but the prior has " +
                       std::to_string(prior_.dim()) + " parameters (need N >= 2 rows of J columns: the median " +
                       "heuristic needs log N > 0)");
    potential_.attach(particles);
  }

  void prepare(std::uint64_t step) override { potential_.prepare(step); }

  Reach reach() const override { return Reach::collective; }

  void add_gradient(const StepContext<T>& context, Tensor<T>& gradient) override {
    const RowBlock rows = context.rows();
    const std::size_t N = context.ensemble_size(), n = rows.size(), J = context.particles.shape()[1];
    const T inv_n = T(1) / static_cast<T>(N);
    agree(context, [&] { log_target_gradients(context); });
    const Tensor<T>& G = gather_rows(context, G_, all_G_);
    centre_into(gather_rows(context, context.particles, all_x_), k_.distance, centred_);
    if (n == N) pairwise_squared_distances_into(centred_, D2_);
    else pairwise_squared_distance_rows_into(centred_, rows, D2_);
    const T h = k_.bandwidth.update(context.step, D2_, context.ranks);
    agree(context, [&] {
      k_.kernel.evaluate_into(D2_, h, km_);
      // gradient += (1/N) K G, then += (1/N) S.
      gemm_rows<T>(false, false, N, J, N, rows.begin, n, inv_n, km_.k.data(), N, G.data(), J, T(1), gradient.data(), J);
      add_kernel_gradient_sum_rows(km_, centred_, rows, centred_, inv_n, gradient);
    });
  }

  // The mean loss over the particles at the last step.
  std::optional<T> mean_loss() const override { return potential_.energy(); }
  std::span<const T> particle_values() const override { return potential_.particle_values(); }

  // The bandwidth h used by the last step (NaN before the first step under a median rule).
  T bandwidth() const { return k_.bandwidth.value(); }

  void save_state(std::map<std::string, Tensor<T>>& state) const override {
    state["bandwidth"] = Tensor<T>{{k_.bandwidth.value()}};
  }
  void load_state(const std::map<std::string, Tensor<T>>& state) override {
    k_.bandwidth.restore(state.at("bandwidth")(0, 0));
  }

 private:
  // G = -grad log pi = grad l / lambda - grad log p at every particle, checked: a non-finite row would
  // spread to every particle through K G, so it is named here, where the particle at fault is known.
  void log_target_gradients(const StepContext<T>& context) {
    const Tensor<T>& x = context.particles;
    const std::size_t n = x.shape()[0], J = x.shape()[1];
    detail::ensure_shape(G_, n, J);
    G_.fill(T(0));
    potential_.add_gradient(context, G_);
    G_ /= lambda_;
    grad_log_prior_.resize(n * J);
    parallel_for_each_index(n, [&](std::size_t i) {
      T* g = G_.data() + i * J;
      T* gp = grad_log_prior_.data() + i * J;
      prior_.grad_log_density(std::span<const T>(x.data() + i * J, J), std::span<T>(gp, J));
      for (std::size_t j = 0; j < J; ++j) g[j] -= gp[j];
    });
    require_finite_rows(G_, context.step, "particle", [&] {
      return std::pair{name(), "the gradient of the potential and of the prior"};
    }, context.first_row);
  }

  PotentialEnergy<T> potential_;  // evaluates l and grad l at every particle, in parallel
  Prior<T> prior_;
  T lambda_;
  SvgdKernel<T> k_;
  // Per-step buffers, resized only when N changes: steady-state steps allocate nothing here. n is this
  // rank's rows (N in one process).
  Tensor<T> G_;                       // n x J
  std::vector<T> grad_log_prior_;
  Tensor<T> all_G_, all_x_;  // N x J each: gathered over ranks
  Tensor<T> D2_;                      // n x N
  KernelMatrices<T> km_;              // n x N
  CentredPoints<T> centred_;          // the N particles about their mean row (flows/squared_distance.hpp)
};

WGFLOW_EXTERN_INSTANCES(SvgdDirection)

}  // namespace wgflow::flows
