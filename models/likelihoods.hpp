#pragma once
// The likelihoods of the paper's experiments (models/likelihood.hpp says what a likelihood is), each a thin
// class over a fused loss node of models/loss.hpp, so that training records exactly the nodes it always did:
//
//   SquaredError<T>()              (1/B) sum_ic (F_ic - Y_ic)^2          regression, no noise model
//   GaussianNll<T>(sigma)          y ~ N(f, sigma^2), sigma fixed        regression
//   GaussianNllLearnedNoise<T>()   y ~ N(f, exp(2s)), s = theta's "noise.log_sigma"
//   SoftmaxCrossEntropy<T>()       y ~ Categorical(softmax(f))           classification, y a class index
//
//   NetworkPotential<double> potential(net, SoftmaxCrossEntropy<double>(), X, labels);
//   auto pred = flows::predict(net, SoftmaxCrossEntropy<double>(), flow.particles(), X_test);  // probabilities
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>

#include <xtensor/xbuilder.hpp>

#include "../core/errors.hpp"
#include "../core/tensor.hpp"
#include "likelihood.hpp"
#include "loss.hpp"
#include "parameter_layout.hpp"

namespace wgflow::models {

// softmax of each row of the logits Z (B x K), stably: exp(z - max_row z) / sum. Rows sum to 1.
template <class T>
Tensor<T> class_probabilities(const Tensor<T>& Z) {
  const std::size_t B = Z.shape()[0], K = Z.shape()[1];
  if (K == 0) throw ShapeError("class_probabilities: logits are " + shape_string(Shape{B, K}) + ", no classes");
  Tensor<T> P = Tensor<T>::from_shape({B, K});
  for (std::size_t i = 0; i < B; ++i) {
    const T* z = Z.data() + i * K;
    T* p = P.data() + i * K;
    const T m = *std::max_element(z, z + K);
    T total = 0;
    for (std::size_t c = 0; c < K; ++c) total += p[c] = std::exp(z[c] - m);
    for (std::size_t c = 0; c < K; ++c) p[c] /= total;
  }
  return P;
}

namespace detail {
// The closed forms' shapes: as many targets and gradient entries as outputs, whole rows of them.
inline void check_closed_form_sizes(const std::string& who, std::size_t outputs, std::size_t targets,
                                    std::size_t gradients, std::size_t rows) {
  if (targets != outputs || gradients != outputs || rows == 0 || outputs % rows != 0)
    throw ShapeError(who + " loss_and_gradient: " + std::to_string(outputs) + " outputs, " + std::to_string(targets) +
                     " targets and " + std::to_string(gradients) + " gradient entries in " + std::to_string(rows) +
                     " rows; they must match, whole rows of each");
}
}  // namespace detail

template <class T>
class SquaredError final : public Likelihood<T> {
 public:
  std::string name() const override { return "squared_error"; }
  Task task() const override { return Task::regression; }
  std::size_t target_cols(std::size_t outputs) const override { return outputs; }
  ad::Var<T> loss(const ad::Var<T>& F, const ad::Var<T>& Y, std::span<const ad::Var<T>> own) const override {
    this->check_own(own, "loss");
    return squared_error(F, Y);
  }
  // squared_error's node without the tape, the same arithmetic: (1/B) sum (f - y)^2, dF = 0 + (2/B) (f - y).
  T loss_and_gradient(std::span<const T> F, std::span<const T> Y, std::size_t rows, std::span<const T> own,
                      std::span<T> dF, std::span<T> /*own_grad*/) const override {
    this->check_own(own, "loss_and_gradient");
    detail::check_closed_form_sizes(name(), F.size(), Y.size(), dF.size(), rows);
    const T scale = T(1) / static_cast<T>(rows);
    const T c = T(2) * scale * T(1);  // the node's backward with a unit cotangent
    detail::residual_adjoints(F.data(), Y.data(), F.size(), c, dF.data());
    return detail::residual_sum(F.data(), Y.data(), F.size()) * scale;
  }
  // The same for `count` members in lanes (their outputs side by side), a vector of members at a time.
  void loss_and_gradient_in_lanes(const T* F, T* dF, std::size_t ld, std::size_t count, std::span<const T> Y,
                                  std::size_t rows, const T* /*own*/, T* /*own_grad*/, std::size_t /*own_stride*/,
                                  T* values) const override {
    detail::check_closed_form_sizes(name(), rows, Y.size(), rows, rows);
    const T scale = T(1) / static_cast<T>(rows);
    detail::residual_sums_in_lanes(F, dF, ld, count, Y.data(), rows, T(2) * scale * T(1), values);
    for (std::size_t l = 0; l < count; ++l) values[l] *= scale;
  }
  // exp(-l) is a Gaussian of fixed variance in f, but the loss does not say which: no noise is reported.
  Tensor<T> predictive_mean(const Tensor<T>& F, std::span<const T> own) const override {
    this->check_own(own, "predictive_mean");
    return F;
  }
};

template <class T>
class GaussianNll final : public Likelihood<T> {
 public:
  explicit GaussianNll(T sigma) : sigma_(sigma) {
    if (!(sigma > 0) || !std::isfinite(sigma))
      throw Error("GaussianNll: noise scale sigma must be positive and finite, got " + std::to_string(sigma));
  }
  T sigma() const { return sigma_; }

  std::string name() const override { return "gaussian_nll(sigma=" + std::to_string(sigma_) + ")"; }
  Task task() const override { return Task::regression; }
  std::size_t target_cols(std::size_t outputs) const override { return outputs; }
  ad::Var<T> loss(const ad::Var<T>& F, const ad::Var<T>& Y, std::span<const ad::Var<T>> own) const override {
    this->check_own(own, "loss");
    return gaussian_nll(F, Y, sigma_);
  }
  // gaussian_nll's node without the tape, the same arithmetic: (1/2) R / (B sigma^2) + constant, R the
  // residual sum, dF = 0 + (f - y) / (B sigma^2). Through the tape it cost 0.13-0.15 us a network
  // (float32, 100 rows), 2.1-2.4 us a group of 16 where their kernels take about 20 (Intel Xeon).
  T loss_and_gradient(std::span<const T> F, std::span<const T> Y, std::size_t rows, std::span<const T> own,
                      std::span<T> dF, std::span<T> /*own_grad*/) const override {
    this->check_own(own, "loss_and_gradient");
    detail::check_closed_form_sizes(name(), F.size(), Y.size(), dF.size(), rows);
    const T scale = detail::gaussian_scale(static_cast<T>(rows), sigma_);
    const T c = scale * T(1);  // the node's backward with a unit cotangent
    detail::residual_adjoints(F.data(), Y.data(), F.size(), c, dF.data());
    const T k = static_cast<T>(F.size() / rows);
    return detail::gaussian_value(detail::residual_sum(F.data(), Y.data(), F.size()), scale,
                                  detail::gaussian_constant(k, sigma_));
  }
  // The same for `count` members in lanes (their outputs side by side), a vector of members at a time.
  void loss_and_gradient_in_lanes(const T* F, T* dF, std::size_t ld, std::size_t count, std::span<const T> Y,
                                  std::size_t rows, const T* /*own*/, T* /*own_grad*/, std::size_t /*own_stride*/,
                                  T* values) const override {
    detail::check_closed_form_sizes(name(), rows, Y.size(), rows, rows);
    const T scale = detail::gaussian_scale(static_cast<T>(rows), sigma_);
    const T constant = detail::gaussian_constant(T(1), sigma_);
    detail::residual_sums_in_lanes(F, dF, ld, count, Y.data(), rows, scale * T(1), values);
    for (std::size_t l = 0; l < count; ++l) values[l] = detail::gaussian_value(values[l], scale, constant);
  }
  Tensor<T> predictive_mean(const Tensor<T>& F, std::span<const T> own) const override {
    this->check_own(own, "predictive_mean");
    return F;
  }
  Tensor<T> noise_variance(const Tensor<T>& F, std::span<const T> own) const override {
    this->check_own(own, "noise_variance");
    return xt::full_like(F, sigma_ * sigma_);
  }

 private:
  T sigma_;
};

// The noise scale is a parameter: log sigma, the 1x1 block "noise.log_sigma" after the model's in theta
// (an initialiser treats it as a block outside any layer).
template <class T>
class GaussianNllLearnedNoise final : public Likelihood<T> {
 public:
  GaussianNllLearnedNoise() { own_.add("noise.log_sigma", Shape{1, 1}, BlockRole::other, 1); }

  std::string name() const override { return "gaussian_nll(learned sigma)"; }
  Task task() const override { return Task::regression; }
  std::size_t target_cols(std::size_t outputs) const override { return outputs; }
  const ParameterLayout& parameters() const override { return own_; }
  ad::Var<T> loss(const ad::Var<T>& F, const ad::Var<T>& Y, std::span<const ad::Var<T>> own) const override {
    this->check_own(own, "loss");
    return gaussian_nll(F, Y, own[0]);
  }
  // gaussian_nll's node (learned sigma) without the tape, the same arithmetic.
  T loss_and_gradient(std::span<const T> F, std::span<const T> Y, std::size_t rows, std::span<const T> own,
                      std::span<T> dF, std::span<T> own_grad) const override {
    this->check_own(own, "loss_and_gradient");
    detail::check_closed_form_sizes(name(), F.size(), Y.size(), dF.size(), rows);
    const T s = own[0], k = static_cast<T>(F.size() / rows);
    const T precision = std::exp(T(-2) * s), inv_B = T(1) / static_cast<T>(rows);
    const T R = detail::residual_sum(F.data(), Y.data(), F.size()) * inv_B;
    const T c = T(1) * precision * inv_B;  // the node's backward with a unit cotangent
    detail::residual_adjoints(F.data(), Y.data(), F.size(), c, dF.data());
    own_grad[0] = T(0) + T(1) * detail::gaussian_log_sigma_gradient(R, precision, k);
    return detail::gaussian_value(R, precision, k, s, detail::gaussian_constant(k));
  }
  // The same for `count` members in lanes, each with its own sigma: a vector of members at a time (member by
  // member, through the default, a group of 16 float networks took 1.6 us, the lanes 0.20; Intel Xeon).
  void loss_and_gradient_in_lanes(const T* F, T* dF, std::size_t ld, std::size_t count, std::span<const T> Y,
                                  std::size_t rows, const T* own, T* own_grad, std::size_t own_stride,
                                  T* values) const override {
    detail::check_closed_form_sizes(name(), rows, Y.size(), rows, rows);
    constexpr std::size_t chunk = 64;  // members a pass: their factors on the stack
    const T inv_B = T(1) / static_cast<T>(rows), constant = detail::gaussian_constant(T(1));
    for (std::size_t l0 = 0; l0 < count; l0 += chunk) {
      const std::size_t m = std::min(chunk, count - l0);
      T precision[chunk], c[chunk];
      for (std::size_t l = 0; l < m; ++l) {
        precision[l] = std::exp(T(-2) * own[(l0 + l) * own_stride]);
        c[l] = T(1) * precision[l] * inv_B;
      }
      detail::residual_sums_in_lanes(F + l0, dF + l0, ld, m, Y.data(), rows, static_cast<const T*>(c), values + l0);
      for (std::size_t l = 0; l < m; ++l) {
        const T R = values[l0 + l] * inv_B, s = own[(l0 + l) * own_stride];
        own_grad[(l0 + l) * own_stride] = T(0) + T(1) * detail::gaussian_log_sigma_gradient(R, precision[l], T(1));
        values[l0 + l] = detail::gaussian_value(R, precision[l], T(1), s, constant);
      }
    }
  }
  Tensor<T> predictive_mean(const Tensor<T>& F, std::span<const T> own) const override {
    this->check_own(own, "predictive_mean");
    return F;
  }
  Tensor<T> noise_variance(const Tensor<T>& F, std::span<const T> own) const override {
    this->check_own(own, "noise_variance");
    return xt::full_like(F, std::exp(T(2) * own[0]));
  }

 private:
  ParameterLayout own_;
};

// Targets hold one integer class index per row, stored as T; the outputs are the K logits.
template <class T>
class SoftmaxCrossEntropy final : public Likelihood<T> {
 public:
  std::string name() const override { return "softmax_cross_entropy"; }
  Task task() const override { return Task::classification; }
  std::size_t target_cols(std::size_t) const override { return 1; }
  ad::Var<T> loss(const ad::Var<T>& F, const ad::Var<T>& Y, std::span<const ad::Var<T>> own) const override {
    this->check_own(own, "loss");
    return softmax_cross_entropy(F, Y);
  }
  Tensor<T> predictive_mean(const Tensor<T>& F, std::span<const T> own) const override {
    this->check_own(own, "predictive_mean");
    return class_probabilities(F);
  }
};

}  // namespace wgflow::models
