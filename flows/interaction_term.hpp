#pragma once
// What DRLE's two estimators of the interaction energy (lambda1 / 2) MMD_k^2(Q, P) share: the energy itself
// rather than its estimation. InteractionEnergy (flows/interaction_energy.hpp) sums over all N^2 pairs,
// RandomBatchInteraction (flows/random_batch_interaction.hpp) within random batches; both hold
//   - the settings: lambda1, the prior-attraction scale psi, the kernel and its bandwidth rule, whose state
//     (the current h) is part of the term's checkpoint;
//   - the embedding x = f(theta) in which the kernel compares particles (flows/embedding.hpp);
//   - the prior P as M samples and their features (flows/prior_reference.hpp), also checkpointed;
// and the energy's value from its three kernel means,
//   (lambda1/2) [mean k(x, x) - 2 psi mean k(x, p) + psi mean k(p, p)].
// An estimator implements add_gradient and energy(), and prior_embedded(): what it derives from the
// prior's features, recomputed whenever they are (attach, load_state).
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "../core/errors.hpp"
#include "../core/precompiled.hpp"
#include "bandwidth.hpp"
#include "embedding.hpp"
#include "kernels.hpp"
#include "prior_reference.hpp"
#include "squared_distance.hpp"
#include "term.hpp"

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
class InteractionTerm : public Term<T> {
 public:
  void attach(const Tensor<T>& particles) final {
    prior_.attach(particles, *space_, term_);
    prior_embedded();
  }

  Reach reach() const final { return Reach::collective; }

  // The state beyond the settings: the bandwidth (frozen after the median rule's first steps) and the
  // prior samples (flows/checkpoint.hpp).
  void save_state(std::map<std::string, Tensor<T>>& state) const final {
    state["bandwidth"] = Tensor<T>{{s_.bandwidth.value()}};
    prior_.save_state(state);
  }
  void load_state(const std::map<std::string, Tensor<T>>& state) final {
    s_.bandwidth.restore(state.at("bandwidth")(0, 0));
    prior_.load_state(state, *space_);
    prior_embedded();
  }

  // The bandwidth in use (its rule's state).
  T bandwidth() const { return s_.bandwidth.value(); }
  const InteractionSettings<T>& settings() const { return s_; }
  const Tensor<T>& prior_samples() const { return prior_.samples(); }

 protected:
  // term: the estimator's class name, for its errors. prior_samples: M x J parameter vectors phi_m (M may
  // be 0 when the attraction is off).
  InteractionTerm(std::string term, InteractionSettings<T> settings, std::unique_ptr<Embedding<T>> space,
                  Tensor<T> prior_samples)
      : term_(std::move(term)), s_(std::move(settings)), space_(std::move(space)), prior_(std::move(prior_samples)) {
    if (!space_) throw Error(term_ + ": no embedding given");
    if (!(s_.lambda1 >= 0) || !std::isfinite(s_.lambda1))
      throw Error(term_ + ": lambda1 must be finite and >= 0, got " + std::to_string(s_.lambda1));
    if (s_.prior_attraction_scale != T(0) && prior_.size() == 0)
      throw Error(term_ + ": the prior attraction is on (scale " + std::to_string(s_.prior_attraction_scale) +
                  ") but no prior samples were given");
  }

  // The estimator's name(): "<what> (lambda1 = ..., <more><kernel>, <bandwidth rule>, <embedding>)"; more is
  // its own settings, each followed by ", ". Checkpoints record it (a resumed flow must have the same terms).
  std::string describe(const std::string& what, const std::string& more = "") const {
    return what + " (lambda1 = " + std::to_string(s_.lambda1) + ", " + more + s_.kernel.name() + ", " +
           s_.bandwidth.describe() + ", " + space_->name() + ")";
  }

  bool attracts() const { return s_.prior_attraction_scale != T(0) && prior_.features().shape()[0] > 0; }

  // The energy from its kernel means: mean k(x, x), mean k(x, p), and prior_mean() giving mean k(p, p)
  // (called only when the attraction is on).
  template <class PriorMean>
  T energy_from_means(T self, T cross, PriorMean&& prior_mean) const {
    const T lambda1 = s_.lambda1, psi = s_.prior_attraction_scale;
    T energy = lambda1 / 2 * self;
    if (attracts()) energy += lambda1 / 2 * psi * (prior_mean() - 2 * cross);
    return energy;
  }

  virtual void prior_embedded() = 0;

  std::string term_;
  InteractionSettings<T> s_;
  std::unique_ptr<Embedding<T>> space_;
  PriorReference<T> prior_;  // phi_m and their features p_m = f(phi_m)
};

WGFLOW_EXTERN_INSTANCES(InteractionTerm)

}  // namespace wgflow::flows
