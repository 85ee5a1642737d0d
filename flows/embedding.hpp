#pragma once
// Where an interaction kernel compares particles: in parameter space (k on theta) or in function space
// (k on the network's outputs at K fixed "kernel inputs"), paper §2.
//
// An embedding maps the N x J particles to N x E features and pulls a gradient in feature space back to
// parameters: gradient_i += J_f(theta_i)^T g_i, with J_f the Jacobian of the feature map at theta_i (the
// chain rule for grad_theta k(f(theta_i), .)).
//   ParameterSpace  f(theta) = theta, E = J, pullback the identity.
//   FunctionSpace   f(theta) = vec(model(theta, X_K)), E = K * outputs (row-major: input-major, then
//                   output), pullback by Model::pullback. With DistanceConvention::mean the squared
//                   distance is averaged over kernel inputs and outputs, as in the reference code (§6).
//                   embed_into records each particle's evaluation (Model::record), so that the
//                   add_pullback at the same particles that follows it in a step runs only the
//                   backward sweeps (the second forward pass was ~15 % of a DRLE step). The paper's
//                   networks (an Mlp of widths {d, H, 1}, models/network_lanes.hpp) run in SIMD lanes
//                   instead, W particles at a time, off the tape; embed_into keeps each group's
//                   evaluation (its hidden values at the K inputs, ~430 KB per group of 16 floats at K =
//                   100) while all of them fit in kept_bytes (8 MB) and the pullback will read each on
//                   the thread that wrote it (keeps_groups); otherwise the pullback evaluates each group
//                   again. Measured on AMD Zen 5, float32 DRLE: keeping saved 8-14 % of the step at
//                   N = 5 and ~4 % at N = 100 (3 MB) on 1 thread, and cost 20-28 % at N = 500 and 1000
//                   (14 and 27 MB, out of the caches).
// Both are evaluated per particle (or per group of W particles) in parallel, each row by one task and
// its bits independent of the group it falls in, so results do not depend on threads or ranks.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <xtensor/xnoalias.hpp>

#include "../core/errors.hpp"
#include "../core/finite.hpp"
#include "../core/parallel.hpp"
#include "../core/precompiled.hpp"
#include "../models/model.hpp"
#include "../models/network_lanes.hpp"

namespace wgflow::flows {

template <class T>
class Embedding {
 public:
  virtual ~Embedding() = default;
  virtual std::string name() const = 0;
  // N x J parameters -> N x E features.
  virtual Tensor<T> embed(const Tensor<T>& thetas) const = 0;
  // embed() into a caller-owned matrix, resized only when its shape changes. The built-in embeddings
  // override it to write in place (parameter space then allocates nothing per step); the default, for
  // embeddings defined elsewhere, copies embed()'s result.
  virtual void embed_into(const Tensor<T>& thetas, Tensor<T>& features) const { features = embed(thetas); }
  // The features to read, valid while `thetas` and `storage` are: embed_into(thetas, storage), or, where
  // the map is the identity (ParameterSpace), `thetas` themselves, not copied.
  virtual const Tensor<T>& features_of(const Tensor<T>& thetas, Tensor<T>& storage) const {
    embed_into(thetas, storage);
    return storage;
  }
  // gradient(i, :) += J_f(theta_i)^T feature_gradient(i, :).
  virtual void add_pullback(const Tensor<T>& thetas, const Tensor<T>& feature_gradient, Tensor<T>& gradient) const = 0;
  // gradient(i, :) = J_f(theta_i)^T feature_gradient(i, :), every entry written whatever it held (the
  // interaction's own buffer, which the flow then need not zero). By default zeroed, then add_pullback.
  virtual void pullback_into(const Tensor<T>& thetas, const Tensor<T>& feature_gradient, Tensor<T>& gradient) const {
    gradient.fill(T(0));
    add_pullback(thetas, feature_gradient, gradient);
  }
};

template <class T>
class ParameterSpace final : public Embedding<T> {
 public:
  std::string name() const override { return "parameter space"; }
  Tensor<T> embed(const Tensor<T>& thetas) const override { return thetas; }
  void embed_into(const Tensor<T>& thetas, Tensor<T>& features) const override {
    if (features.shape() != thetas.shape()) features.resize(thetas.shape());
    std::copy(thetas.begin(), thetas.end(), features.begin());
  }
  // The copy was 1 of the random-batch term's 3 passes over the N x J parameters a step.
  const Tensor<T>& features_of(const Tensor<T>& thetas, Tensor<T>& /*storage*/) const override { return thetas; }
  void add_pullback(const Tensor<T>& /*thetas*/, const Tensor<T>& feature_gradient,
                    Tensor<T>& gradient) const override {
    xt::noalias(gradient) += feature_gradient;  // in place: += alone would evaluate into a new matrix first
  }
  void pullback_into(const Tensor<T>& /*thetas*/, const Tensor<T>& feature_gradient, Tensor<T>& gradient) const override {
    xt::noalias(gradient) = feature_gradient;
  }
};

template <class T>
class FunctionSpace final : public Embedding<T> {
 public:
  // The model must outlive the embedding. kernel_inputs is K x model.num_inputs().
  FunctionSpace(const models::Model<T>& model, Tensor<T> kernel_inputs)
      : model_(model), inputs_(std::move(kernel_inputs)), lanes_(models::NetworkLanes<T>::of(model)) {
    if (inputs_.shape()[0] == 0 || inputs_.shape()[1] != model_.num_inputs())
      throw ShapeError("FunctionSpace: kernel inputs are " + shape_string({inputs_.shape()[0], inputs_.shape()[1]}) +
                       "; the model takes " + std::to_string(model_.num_inputs()) +
                       " inputs per row and at least one row is needed");
    require_finite(inputs_, "FunctionSpace: kernel inputs");  // else every feature, and the repulsion, is NaN
  }

  std::string name() const override {
    return "function space (" + std::to_string(inputs_.shape()[0]) + " kernel inputs x " +
           std::to_string(model_.num_outputs()) + " outputs)";
  }

  const Tensor<T>& kernel_inputs() const { return inputs_; }

  // The features alone, without keeping recordings (e.g. of prior samples, embedded once).
  Tensor<T> embed(const Tensor<T>& thetas) const override {
    check("FunctionSpace::embed", thetas);
    Tensor<T> features = Tensor<T>::from_shape({thetas.shape()[0], feature_dim()});
    if (lanes_) {
      embed_in_lanes(thetas, features, false);
      return features;
    }
    for_each_row(thetas, features, [&](std::size_t, std::span<const T> theta, std::span<T> row) {
      model_.predict_into(theta, inputs_, row);
    });
    return features;
  }

  // The N x E features are written in place, each particle's K x O outputs straight into its row, and
  // each particle's evaluation is kept for add_pullback (one recording per particle: the model's
  // intermediate values at the K kernel inputs, e.g. K x hidden for an MLP; in lanes each group's
  // workspace, while they fit in kept_bytes). Not for concurrent calls on one embedding.
  void embed_into(const Tensor<T>& thetas, Tensor<T>& features) const override {
    check("FunctionSpace::embed_into", thetas);
    const std::size_t n = thetas.shape()[0];
    if (features.shape()[0] != n || features.shape()[1] != feature_dim()) features.resize({n, feature_dim()});
    if (lanes_) {
      const bool keep = keeps_groups(n);
      if (keep)
        remember(thetas);
      else
        recorded_.resize({0, 0});  // nothing kept
      return embed_in_lanes(thetas, features, keep);
    }
    remember(thetas);
    while (recordings_.size() < n) recordings_.push_back(std::make_unique<models::Recording<T>>());
    for_each_row(thetas, features, [&](std::size_t i, std::span<const T> theta, std::span<T> row) {
      model_.record(theta, inputs_, *recordings_[i], row);
    });
  }

  // Through the recordings of the last embed_into when it saw these very particles (bits compared),
  // else through Model::pullback, which evaluates the model again: the same gradient either way.
  void add_pullback(const Tensor<T>& thetas, const Tensor<T>& feature_gradient,
                    Tensor<T>& gradient) const override {
    pull_back("FunctionSpace::add_pullback", thetas, feature_gradient, gradient, false);
  }
  // Written: in lanes each group's gradients go straight into its rows, with no pass adding them there.
  void pullback_into(const Tensor<T>& thetas, const Tensor<T>& feature_gradient, Tensor<T>& gradient) const override {
    pull_back("FunctionSpace::pullback_into", thetas, feature_gradient, gradient, true);
  }

 private:
  std::size_t feature_dim() const { return inputs_.shape()[0] * model_.num_outputs(); }

  // gradient rows += (or, if `write`, =) the pullbacks.
  void pull_back(const char* where, const Tensor<T>& thetas, const Tensor<T>& feature_gradient, Tensor<T>& gradient,
                 bool write) const {
    check(where, thetas);
    const std::size_t n = thetas.shape()[0], J = thetas.shape()[1], E = feature_dim();
    const bool recorded = remembers(thetas);
    if (lanes_) return pull_back_in_lanes(thetas, feature_gradient, gradient, recorded, write);
    const std::size_t K = inputs_.shape()[0], O = model_.num_outputs();
    parallel_for_each_index(n, [&](std::size_t i) {
      // The models take the cotangent as a matrix: one per thread, reused across steps.
      thread_local Tensor<T> cotangent;
      if (cotangent.shape()[0] != K || cotangent.shape()[1] != O) cotangent.resize({K, O});
      std::copy_n(feature_gradient.data() + i * E, E, cotangent.data());
      const std::span<const T> theta(thetas.data() + i * J, J);
      const std::span<T> grad(gradient.data() + i * J, J);
      if (write) std::fill(grad.begin(), grad.end(), T(0));
      if (recorded)
        model_.pullback_recorded(*recordings_[i], theta, inputs_, cotangent, grad);
      else
        model_.pullback(theta, inputs_, cotangent, grad);
    });
  }

  void check(const char* where, const Tensor<T>& thetas) const {
    if (thetas.shape()[1] != model_.num_params())
      throw ShapeError(std::string(where) + ": particles are " + shape_string({thetas.shape()[0], thetas.shape()[1]}) +
                       " but the model has " + std::to_string(model_.num_params()) + " parameters");
  }

  static constexpr std::size_t W = models::NetworkLanes<T>::lanes;

  // What embed_into saw, for add_pullback to recognise: the same bits give the same evaluation. Compared
  // as bytes (libc's vector memcmp), where a value comparison ran one scalar compare an entry: 4.5 % of a
  // DRLE step at N = 100, whose groups are kept.
  void remember(const Tensor<T>& thetas) const {
    if (recorded_.shape() != thetas.shape()) recorded_.resize(thetas.shape());
    std::copy(thetas.begin(), thetas.end(), recorded_.begin());
  }
  bool remembers(const Tensor<T>& thetas) const {
    return recorded_.shape() == thetas.shape() &&
           std::memcmp(thetas.data(), recorded_.data(), thetas.size() * sizeof(T)) == 0;
  }

  // Whether embed_into keeps the evaluations of n particles' groups in lanes for add_pullback: while they
  // fit in kept_bytes, so that they are still in the caches when the pullback reads them, and where the
  // pullback reads each on the thread that wrote it: one group (the embedding and the pullback run on the
  // term's thread) or one thread. Over 2 threads a group's pullback ran on the other core about half the
  // time, and reading its ~430 KB from there cost more than evaluating it again (DRLE N = 100, Zen 5:
  // 293-382 -> 365-460 us float32, 535-626 -> 647-780 us float64).
  static constexpr std::size_t kept_bytes = std::size_t{8} << 20;
  bool keeps_groups(std::size_t n) const {
    const std::size_t groups = models::NetworkLanes<T>::groups(n);
    return groups * lanes_->workspace_bytes(inputs_.shape()[0]) <= kept_bytes && (groups == 1 || thread_count() == 1);
  }

  // Each group of W particles' outputs at the kernel inputs into its rows of features (E = K: one output);
  // with `keep`, each group's evaluation into kept_[group].
  void embed_in_lanes(const Tensor<T>& thetas, Tensor<T>& features, bool keep) const {
    const std::size_t n = thetas.shape()[0], J = thetas.shape()[1], K = inputs_.shape()[0];
    if (keep && kept_.size() < models::NetworkLanes<T>::groups(n)) kept_.resize(models::NetworkLanes<T>::groups(n));
    models::NetworkLanes<T>::for_each_group(n, [&](std::size_t i0, std::size_t count) {
      Lanes& s = lanes_scratch();
      s.out.resize(K * W);
      lanes_->forward(thetas.data() + i0 * J, J, count, inputs_.data(), K, keep ? kept_[i0 / W] : s.work, s.out.data());
      for (std::size_t l = 0; l < count; ++l)
        for (std::size_t k = 0; k < K; ++k) features(i0 + l, k) = s.out[k * W + l];
    });
  }

  // gradient rows += (or, if `write`, =) each group's pullback: from its kept evaluation, or the group
  // evaluated again.
  void pull_back_in_lanes(const Tensor<T>& thetas, const Tensor<T>& feature_gradient, Tensor<T>& gradient,
                          bool kept, bool write) const {
    const std::size_t n = thetas.shape()[0], J = thetas.shape()[1], K = inputs_.shape()[0];
    models::NetworkLanes<T>::for_each_group(n, [&](std::size_t i0, std::size_t count) {
      Lanes& s = lanes_scratch();
      s.out.resize(K * W);
      s.cotangent.assign(K * W, T(0));
      typename models::NetworkLanes<T>::Workspace& work = kept ? kept_[i0 / W] : s.work;
      if (!kept) lanes_->forward(thetas.data() + i0 * J, J, count, inputs_.data(), K, work, s.out.data());
      for (std::size_t l = 0; l < count; ++l)
        for (std::size_t k = 0; k < K; ++k) s.cotangent[k * W + l] = feature_gradient(i0 + l, k);
      if (write) return lanes_->backward(s.cotangent.data(), work, gradient.data() + i0 * J, J);
      s.grads.resize(W * J);
      lanes_->backward(s.cotangent.data(), work, s.grads.data(), J);
      for (std::size_t l = 0; l < count; ++l) {
        T* g = gradient.data() + (i0 + l) * J;
        for (std::size_t j = 0; j < J; ++j) g[j] += s.grads[l * J + j];
      }
    });
  }

  // One per thread, reused: the steady state allocates nothing.
  struct Lanes {
    typename models::NetworkLanes<T>::Workspace work;
    std::vector<T> out, cotangent, grads;
  };
  static Lanes& lanes_scratch() {
    thread_local Lanes scratch;
    return scratch;
  }

  // f(i, theta_i, features row i) for every particle, in parallel.
  template <class F>
  void for_each_row(const Tensor<T>& thetas, Tensor<T>& features, const F& f) const {
    const std::size_t J = thetas.shape()[1], E = feature_dim();
    parallel_for_each_index(thetas.shape()[0], [&](std::size_t i) {
      f(i, std::span<const T>(thetas.data() + i * J, J), std::span<T>(features.data() + i * E, E));
    });
  }

  const models::Model<T>& model_;
  Tensor<T> inputs_;
  // What embed_into kept for add_pullback: the particles it saw, and their evaluations: one recording per
  // particle (created once, reused), or in lanes one workspace per group.
  mutable Tensor<T> recorded_;
  mutable std::vector<std::unique_ptr<models::Recording<T>>> recordings_;
  mutable std::vector<typename models::NetworkLanes<T>::Workspace> kept_;
  std::optional<models::NetworkLanes<T>> lanes_;  // the model in SIMD lanes, when it is such a network
};

WGFLOW_EXTERN_INSTANCES(ParameterSpace)
// FunctionSpace is not precompiled: its pullback through a model records on the tape, whose checks the
// test suites switch on (WGFLOW_TAPE_CHECKS) and the programs off; each compiles it with its own setting.

}  // namespace wgflow::flows
