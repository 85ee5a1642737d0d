#pragma once
// The potential energy F(Q) = int l dQ: its first variation is l itself, so each particle's gradient is
// the gradient of the training loss at that particle, grad l(theta_i) (paper §2, the DE update).
//
// Every step calls potential.begin_step(t) once, in prepare() (a data potential picks the step's
// minibatch there, the same for all particles; terms sharing the potential then all see it), then
// evaluates the N particles in parallel with TBB, each on its thread's tape (Potential's contract:
// value_and_gradient is const and thread-safe). Each particle's row is written by one task, so the
// gradient is bit-identical for any thread count. A potential that prefers batches
// (Potential::prefers_batches: one written in Python, say) gets all N particles in one
// values_and_gradients call instead.
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "../core/errors.hpp"
#include "../core/parallel.hpp"
#include "../core/precompiled.hpp"
#include "term.hpp"
#include "../models/potential.hpp"

namespace wgflow::flows {

template <class T>
class PotentialEnergy final : public Term<T> {
 public:
  // The potential must outlive the term.
  explicit PotentialEnergy(models::Potential<T>& potential, std::string label = "potential energy")
      : potential_(potential), label_(std::move(label)) {}

  std::string name() const override { return label_; }

  void attach(const Tensor<T>& particles) override {
    if (particles.shape()[1] != potential_.dim())
      throw ShapeError(label_ + ": particles are " + shape_string({particles.shape()[0], particles.shape()[1]}) +
                       " but the potential has " + std::to_string(potential_.dim()) + " parameters");
  }

  void prepare(std::uint64_t step) override { potential_.begin_step(step); }
  // l(theta_i) is the particle's own: over ranks, each evaluates its rows.
  Reach reach() const override { return Reach::own_rows; }

  void add_gradient(const StepContext<T>& context, Tensor<T>& gradient) override {
    add_gradient_by_rows(context, gradient, RowsDone::none());
  }

  // A potential's gradients are written (Potential's contract), so the flow's buffer is never zeroed.
  bool writes_gradient() const override { return true; }

  // Into the flow's own buffer (context.may_write) the gradients go straight in, each group of networks in
  // lanes or each particle handed over as it is done; otherwise through gradients_.
  void add_gradient_by_rows(const StepContext<T>& context, Tensor<T>& gradient, RowsDone rows_done) override {
    const Tensor<T>& theta = context.particles;
    const std::size_t n = theta.shape()[0], J = theta.shape()[1];
    values_.resize(n);
    if (potential_.prefers_batches()) {
      if (context.may_write) return potential_.values_and_gradients_in_pieces(theta, values_, gradient, rows_done);
      gradients_.resize({n, J});
      potential_.values_and_gradients(theta, values_, gradients_);
      for_each_piece(n, n * J, [&](std::size_t i0, std::size_t i1) {
        const T* g = gradients_.data();
        T* out = gradient.data();
        for (std::size_t k = i0 * J; k < i1 * J; ++k) out[k] += g[k];
      });
      return rows_done(0, n);
    }
    if (!context.may_write) gradients_.resize({n, J});
    parallel_for_each_index(n, [&](std::size_t i) {
      const std::span<const T> theta_i(theta.data() + i * J, J);
      T* out = gradient.data() + i * J;
      if (context.may_write) {
        values_[i] = potential_.value_and_gradient(theta_i, std::span<T>(out, J));
      } else {
        T* g = gradients_.data() + i * J;
        values_[i] = potential_.value_and_gradient(theta_i, std::span<T>(g, J));
        // Added by the same task: a serial pass over all N J entries afterwards would cost scaling.
        for (std::size_t j = 0; j < J; ++j) out[j] += g[j];
      }
      rows_done(i, i + 1);
    });
  }

  // The mean loss over the particles at the last step (in particle order, so reproducible).
  std::optional<T> energy() const override {
    if (values_.empty()) return std::nullopt;
    T sum = 0;
    for (T v : values_) sum += v;
    return sum / static_cast<T>(values_.size());
  }
  std::optional<T> mean_loss() const override { return energy(); }
  // l(theta_i) at the last step, one per particle.
  std::span<const T> particle_values() const override { return values_; }

 private:
  models::Potential<T>& potential_;
  std::string label_;
  Tensor<T> gradients_;
  std::vector<T> values_;
};

WGFLOW_EXTERN_INSTANCES(PotentialEnergy)

}  // namespace wgflow::flows
