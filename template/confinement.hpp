#pragma once
// A free-energy term of your own (the form of flows/term.hpp): a confinement
//
//   F_c(Q) = (c/2) int |theta|^2 dQ,
//
// whose first variation is c |theta|^2 / 2, so each particle's gradient is c theta: a pull towards 0 that
// acts in the free energy, beside the loss and the KL term. energy() reports F_c at the particles, which
// lets flows::check_term_gradient compare the gradient with finite differences of the energy.
#include <optional>
#include <string>

#include <xtensor/xmath.hpp>
#include <xtensor/xreducer.hpp>

#include <wgflow/flows/term.hpp>

template <class T>
class Confinement final : public wgflow::flows::Term<T> {
 public:
  explicit Confinement(T c) : c_(c) {}
  std::string name() const override { return "confinement"; }

  // add_gradient runs concurrently with the other terms: it writes only its own state (energy_).
  void add_gradient(const wgflow::flows::StepContext<T>& ctx, wgflow::Tensor<T>& gradient) override {
    gradient += c_ * ctx.particles;
    energy_ = c_ / 2 * xt::mean(xt::sum(xt::square(ctx.particles), {1}))();
  }
  std::optional<T> energy() const override { return energy_; }

 private:
  T c_;
  T energy_ = 0;
};
