#pragma once
// A likelihood written outside the library, as a researcher would write one: a categorical likelihood
// that expects some labels to be wrong. With probability eps a label is drawn uniformly from the K
// classes, whatever the input, so
//
//   p(y | x, theta) = (1 - eps) softmax(f(theta, x))_y + eps / K,
//
// and the loss is the mean of -log p(y_i | x_i, theta) over the minibatch. A label the network finds
// implausible costs at most -log(eps / K) instead of growing without bound, so a few flipped labels pull
// the boundary less than under the plain cross-entropy (models::SoftmaxCrossEntropy, eps = 0).
//
// It is composed from the AD core's ops (no hand-written backward: the tape differentiates it, and
// tests/experiments/test_classification.cpp checks its gradient with ad::check_gradient). Its scratch, the
// one-hot labels, lives on the tape, so a NetworkPotential's steady state still allocates nothing.
#include <cmath>
#include <cstddef>
#include <span>
#include <string>

#include "autodiff/ops/arithmetic.hpp"
#include "autodiff/ops/elementwise.hpp"
#include "autodiff/ops/reduce.hpp"
#include "autodiff/ops/softmax.hpp"
#include "autodiff/tape.hpp"
#include "core/errors.hpp"
#include "models/likelihood.hpp"
#include "models/likelihoods.hpp"

namespace wgflow::experiments::classification {

template <class T>
class RobustSoftmax final : public models::Likelihood<T> {
 public:
  explicit RobustSoftmax(T eps) : eps_(eps) {
    if (!(eps >= 0 && eps < 1))
      throw Error("RobustSoftmax: the label-noise rate eps must be in [0, 1), got " + std::to_string(eps));
  }
  T eps() const { return eps_; }

  std::string name() const override { return "robust_softmax(eps=" + std::to_string(eps_) + ")"; }
  models::Task task() const override { return models::Task::classification; }
  std::size_t target_cols(std::size_t) const override { return 1; }

  // -(1/B) sum_i log((1 - eps) softmax(F_i)_{y_i} + eps / K), labels y (B x 1) class indices stored as T.
  ad::Var<T> loss(const ad::Var<T>& F, const ad::Var<T>& y, std::span<const ad::Var<T>> own) const override {
    this->check_own(own, "loss");
    const std::size_t B = F.rows(), K = F.cols();
    if (y.shape() != Shape{B, 1})
      throw ShapeError(name() + ": labels are " + shape_string(y.shape()) + ", expected " + shape_string(Shape{B, 1}) +
                       " for the " + shape_string(F.shape()) + " logits");
    T* onehot = F.tape().template allocate<T>(B * K);
    for (std::size_t i = 0; i < B * K; ++i) onehot[i] = 0;
    for (std::size_t i = 0; i < B; ++i) {
      const T label = y.data()[i];
      if (!(label >= 0) || label >= static_cast<T>(K) || label != std::floor(label))
        throw Error(name() + ": label in row " + std::to_string(i) + " is " + std::to_string(label) +
                    "; expected an integer class index in [0, " + std::to_string(K) + ")");
      onehot[i * K + static_cast<std::size_t>(label)] = 1;
    }
    const ad::Var<T> Y = F.tape().external(Shape{B, K}, onehot);
    const ad::Var<T> p_label = ad::sum(ad::softmax(F, 1) * Y, 1);  // B x 1: softmax(F_i)_{y_i}
    return -ad::mean(ad::log(p_label * (T(1) - eps_) + eps_ / static_cast<T>(K)));
  }

  // The class probabilities p(y | x, theta) themselves: each at least eps / K.
  Tensor<T> predictive_mean(const Tensor<T>& F, std::span<const T> own) const override {
    this->check_own(own, "predictive_mean");
    const T floor = eps_ / static_cast<T>(F.shape()[1]);
    Tensor<T> P = models::class_probabilities(F);
    for (T& p : P) p = (T(1) - eps_) * p + floor;
    return P;
  }

 private:
  T eps_;
};

}  // namespace wgflow::experiments::classification
