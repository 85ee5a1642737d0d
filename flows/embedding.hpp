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
//                   backward sweeps (the second forward pass was ~15 % of a DRLE step).
// Both are evaluated per particle in parallel (one task per row), so results do not depend on threads.
#include <algorithm>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <xtensor/xnoalias.hpp>

#include "../core/errors.hpp"
#include "../core/parallel.hpp"
#include "../models/model.hpp"

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
  // gradient(i, :) += J_f(theta_i)^T feature_gradient(i, :).
  virtual void add_pullback(const Tensor<T>& thetas, const Tensor<T>& feature_gradient, Tensor<T>& gradient) const = 0;
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
  void add_pullback(const Tensor<T>& /*thetas*/, const Tensor<T>& feature_gradient,
                    Tensor<T>& gradient) const override {
    xt::noalias(gradient) += feature_gradient;  // in place: += alone would evaluate into a new matrix first
  }
};

template <class T>
class FunctionSpace final : public Embedding<T> {
 public:
  // The model must outlive the embedding. kernel_inputs is K x model.num_inputs().
  FunctionSpace(const models::Model<T>& model, Tensor<T> kernel_inputs)
      : model_(model), inputs_(std::move(kernel_inputs)) {
    if (inputs_.shape()[0] == 0 || inputs_.shape()[1] != model_.num_inputs())
      throw ShapeError("FunctionSpace: kernel inputs are " + shape_string({inputs_.shape()[0], inputs_.shape()[1]}) +
                       "; the model takes " + std::to_string(model_.num_inputs()) +
                       " inputs per row and at least one row is needed");
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
    for_each_row(thetas, features, [&](std::size_t, std::span<const T> theta, std::span<T> row) {
      model_.predict_into(theta, inputs_, row);
    });
    return features;
  }

  // The N x E features are written in place, each particle's K x O outputs straight into its row, and
  // each particle's evaluation is kept for add_pullback (one recording per particle: the model's
  // intermediate values at the K kernel inputs, e.g. K x hidden for an MLP). Not for concurrent calls on
  // one embedding.
  void embed_into(const Tensor<T>& thetas, Tensor<T>& features) const override {
    check("FunctionSpace::embed_into", thetas);
    const std::size_t n = thetas.shape()[0];
    if (features.shape()[0] != n || features.shape()[1] != feature_dim()) features.resize({n, feature_dim()});
    while (recordings_.size() < n) recordings_.push_back(std::make_unique<models::Recording<T>>());
    if (recorded_.shape() != thetas.shape()) recorded_.resize(thetas.shape());
    std::copy(thetas.begin(), thetas.end(), recorded_.begin());
    for_each_row(thetas, features, [&](std::size_t i, std::span<const T> theta, std::span<T> row) {
      model_.record(theta, inputs_, *recordings_[i], row);
    });
  }

  // Through the recordings of the last embed_into when it saw these very particles (values compared),
  // else through Model::pullback, which evaluates the model again: the same gradient either way.
  void add_pullback(const Tensor<T>& thetas, const Tensor<T>& feature_gradient,
                    Tensor<T>& gradient) const override {
    check("FunctionSpace::add_pullback", thetas);
    const std::size_t n = thetas.shape()[0], J = thetas.shape()[1], E = feature_dim();
    const std::size_t K = inputs_.shape()[0], O = model_.num_outputs();
    const bool recorded = recorded_.shape() == thetas.shape() && std::equal(thetas.begin(), thetas.end(), recorded_.begin());
    parallel_for_each_index(n, [&](std::size_t i) {
      // The models take the cotangent as a matrix: one per thread, reused across steps.
      thread_local Tensor<T> cotangent;
      if (cotangent.shape()[0] != K || cotangent.shape()[1] != O) cotangent.resize({K, O});
      std::copy_n(feature_gradient.data() + i * E, E, cotangent.data());
      const std::span<const T> theta(thetas.data() + i * J, J);
      const std::span<T> grad(gradient.data() + i * J, J);
      if (recorded)
        model_.pullback_recorded(*recordings_[i], theta, inputs_, cotangent, grad);
      else
        model_.pullback(theta, inputs_, cotangent, grad);
    });
  }

 private:
  std::size_t feature_dim() const { return inputs_.shape()[0] * model_.num_outputs(); }

  void check(const char* where, const Tensor<T>& thetas) const {
    if (thetas.shape()[1] != model_.num_params())
      throw ShapeError(std::string(where) + ": particles are " + shape_string({thetas.shape()[0], thetas.shape()[1]}) +
                       " but the model has " + std::to_string(model_.num_params()) + " parameters");
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
  // What embed_into kept for add_pullback: one recording per particle (created once, reused) and the
  // particles they were made at.
  mutable std::vector<std::unique_ptr<models::Recording<T>>> recordings_;
  mutable Tensor<T> recorded_;
};

}  // namespace wgflow::flows
