#pragma once
// A free-energy term: one summand of F(Q) = sum_k F_k(Q), and what it does to the particles.
//
// The Wasserstein gradient flow of F moves each particle with velocity -grad_theta (dF/dQ)(theta): the
// gradient of the first variation. A term contributes its part of that gradient, the *drift*, at every
// particle; a term with an entropy part (the KL divergence, weight lambda) also contributes a diffusion
// coefficient, and the flow adds Brownian motion sqrt(2 D eta) xi with D the sum over terms. Terms (paper
// §1-§2):
//   PotentialEnergy     F = int l dQ                       drift l'(theta_i)
//   KlDivergence        F = lambda KL(Q || P)              drift -lambda grad log p(theta_i), D = lambda
//   InteractionEnergy   F = (lambda1 / 2) MMD_k^2(Q, P)    drift lambda1 ((1/N) sum_j grad_1 k(theta_i, theta_j)
//                                                                      - (1/M) sum_m grad_1 k(theta_i, phi_m))
//
// Writing a new term takes one class (see experiments/example_custom_term.cpp):
//
//   class Confinement final : public Term<double> {       // F = (c/2) int |theta|^2 dQ
//    public:
//     explicit Confinement(double c) : c_(c) {}
//     std::string name() const override { return "confinement"; }
//     void add_drift(const StepContext<double>& ctx, Tensor<double>& drift) override { drift += c_ * ctx.particles; }
//    private:
//     double c_;
//   };
//   flow.add(std::make_unique<Confinement>(0.1));
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "core/tensor.hpp"

namespace wgflow::flows {


// What a term sees at one step.
template <class T>
struct StepContext {
  std::uint64_t step;          // t, counted from 0
  const Tensor<T>& particles;  // N x J, the particles at time t (row i = theta_i)
};

template <class T>
class Term {
 public:
  virtual ~Term() = default;

  virtual std::string name() const = 0;

  // Called once when the term joins a flow, with the flow's current particles: check dimensions, embed
  // fixed reference points. Throw wgflow::ShapeError on a mismatch.
  virtual void attach(const Tensor<T>& /*particles*/) {}

  // drift(i, :) += grad_theta (dF_k/dQ)(theta_i) for every particle i. `drift` is N x J, the term's own
  // buffer. Called once per step, concurrently with the flow's other terms (ParticleFlow overlaps them):
  // write only this term's state and `drift`. Parallelise inside, writing each particle's row from one
  // task only, so that results do not depend on the thread count.
  virtual void add_drift(const StepContext<T>& context, Tensor<T>& drift) = 0;

  // This term's diffusion coefficient D_k (its KL weight); 0 for deterministic terms.
  virtual T diffusion() const { return T(0); }

  // F_k at the particles of the last add_drift (an estimate from the empirical measure), if the term
  // can estimate one.
  virtual std::optional<T> energy() const { return std::nullopt; }

  // Checkpointing (flows/checkpoint.hpp): a term whose drift depends on more than its configuration,
  // the particles and the step (a bandwidth frozen after its first steps, reference samples drawn once)
  // saves that state as named arrays ([a-z0-9_] names) and restores it from them. The checkpoint has
  // already checked that each array has the shape save_state gave it.
  virtual void save_state(std::map<std::string, Tensor<T>>& /*state*/) const {}
  virtual void load_state(const std::map<std::string, Tensor<T>>& /*state*/) {}
};

}  // namespace wgflow::flows
