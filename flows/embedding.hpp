#pragma once
// Where an interaction kernel compares particles: in parameter space (k on theta) or in function space
// (k on the network's outputs at K fixed "kernel inputs"), paper §2.
//
// An embedding maps the N x J particles to N x E features and pulls a feature-space drift back to
// parameters: drift_i += J_f(theta_i)^T g_i, with J_f the Jacobian of the feature map at theta_i (the
// chain rule for grad_theta k(f(theta_i), .)).
//   ParameterSpace  f(theta) = theta, E = J, pullback the identity.
//   FunctionSpace   f(theta) = vec(model(theta, X_K)), E = K * outputs (row-major: input-major, then
//                   output), pullback by Model::pullback. With DistanceConvention::mean the squared
//                   distance is averaged over kernel inputs and outputs, as in the reference code (§6).
// Both are evaluated per particle in parallel (one task per row), so results do not depend on threads.
#include <algorithm>
#include <cstddef>
#include <span>
#include <string>

#include <xtensor/xnoalias.hpp>

#include "autodiff/errors.hpp"
#include "flows/parallel.hpp"
#include "models/model.hpp"

namespace wgflow::flows {

using ad::Tensor;

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
  // drift(i, :) += J_f(theta_i)^T feature_drift(i, :).
  virtual void add_pullback(const Tensor<T>& thetas, const Tensor<T>& feature_drift, Tensor<T>& drift) const = 0;
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
  void add_pullback(const Tensor<T>& /*thetas*/, const Tensor<T>& feature_drift, Tensor<T>& drift) const override {
    xt::noalias(drift) += feature_drift;  // in place: drift += e would evaluate into a new matrix first
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

  Tensor<T> embed(const Tensor<T>& thetas) const override {
    Tensor<T> features;
    embed_into(thetas, features);
    return features;
  }

  // The N x E features are written in place, each particle's K x O outputs straight into its row.
  void embed_into(const Tensor<T>& thetas, Tensor<T>& features) const override {
    check("FunctionSpace::embed", thetas);
    const std::size_t n = thetas.shape()[0], J = thetas.shape()[1], E = feature_dim();
    if (features.shape()[0] != n || features.shape()[1] != E) features.resize({n, E});
    parallel_for_each_index(n, [&](std::size_t i) {
      model_.predict_into(std::span<const T>(thetas.data() + i * J, J), inputs_,
                          std::span<T>(features.data() + i * E, E));
    });
  }

  void add_pullback(const Tensor<T>& thetas, const Tensor<T>& feature_drift, Tensor<T>& drift) const override {
    check("FunctionSpace::add_pullback", thetas);
    const std::size_t n = thetas.shape()[0], J = thetas.shape()[1], E = feature_dim();
    const std::size_t K = inputs_.shape()[0], O = model_.num_outputs();
    parallel_for_each_index(n, [&](std::size_t i) {
      // Model::pullback takes the cotangent as a matrix: one per thread, reused across steps.
      thread_local Tensor<T> cotangent;
      if (cotangent.shape()[0] != K || cotangent.shape()[1] != O) cotangent.resize({K, O});
      std::copy_n(feature_drift.data() + i * E, E, cotangent.data());
      model_.pullback(std::span<const T>(thetas.data() + i * J, J), inputs_, cotangent,
                      std::span<T>(drift.data() + i * J, J));
    });
  }

 private:
  std::size_t feature_dim() const { return inputs_.shape()[0] * model_.num_outputs(); }

  void check(const char* where, const Tensor<T>& thetas) const {
    if (thetas.shape()[1] != model_.num_params())
      throw ShapeError(std::string(where) + ": particles are " + shape_string({thetas.shape()[0], thetas.shape()[1]}) +
                       " but the model has " + std::to_string(model_.num_params()) + " parameters");
  }

  const models::Model<T>& model_;
  Tensor<T> inputs_;
};

}  // namespace wgflow::flows
