#pragma once
// The prior P of DRLE's interaction energy as its two estimators hold it (InteractionTerm,
// flows/interaction_term.hpp, the base of InteractionEnergy and RandomBatchInteraction): M reference
// samples phi_1..phi_M drawn once, and their features p_m = f(phi_m) under the term's embedding
// (flows/embedding.hpp), computed when the term attaches and again when a checkpoint replaces the samples.
//
// The samples are part of both terms' checkpoint state (flows/checkpoint.hpp), under the key
// "prior_samples": a resumed flow attracts towards the samples it was saved with, not the ones it was built
// with. M may be 0 (the prior attraction off); the features are then 0 x 0.
#include <cstddef>
#include <map>
#include <string>
#include <utility>

#include "../core/errors.hpp"
#include "../core/precompiled.hpp"
#include "../core/tensor.hpp"
#include "embedding.hpp"

namespace wgflow::flows {

template <class T>
class PriorReference {
 public:
  // samples: M x J parameter vectors phi_m.
  explicit PriorReference(Tensor<T> samples) : samples_(std::move(samples)) {}

  // M, the number of samples.
  std::size_t size() const { return samples_.shape()[0]; }
  const Tensor<T>& samples() const { return samples_; }
  // M x E: p_m = f(phi_m), as of the last attach or load_state.
  const Tensor<T>& features() const { return features_; }

  // At the term's attach: the particles must have the samples' J columns (any J when M = 0); embeds the
  // samples. term names the term in the error.
  void attach(const Tensor<T>& particles, const Embedding<T>& space, const std::string& term) {
    if (size() > 0 && samples_.shape()[1] != particles.shape()[1])
      throw ShapeError(term + ": particles are " + shape_string({particles.shape()[0], particles.shape()[1]}) +
                       " but the prior samples are " + shape_string({samples_.shape()[0], samples_.shape()[1]}));
    embed(space);
  }

  void save_state(std::map<std::string, Tensor<T>>& state) const { state["prior_samples"] = samples_; }
  // The saved samples replace these, and are embedded.
  void load_state(const std::map<std::string, Tensor<T>>& state, const Embedding<T>& space) {
    samples_ = state.at("prior_samples");
    embed(space);
  }

 private:
  void embed(const Embedding<T>& space) {
    features_ = size() == 0 ? Tensor<T>::from_shape({0, 0}) : space.embed(samples_);
  }

  Tensor<T> samples_;
  Tensor<T> features_;  // M x E
};

WGFLOW_EXTERN_INSTANCES(PriorReference)

}  // namespace wgflow::flows
