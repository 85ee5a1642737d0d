#pragma once
// A likelihood p(y | x, theta): what a model's outputs mean. It is the one place that knows it, so it
// serves both training and prediction:
//
//   - training: loss(F, Y, own) records on the tape the per-minibatch loss of the model's outputs F (a B x k
//     Var) against the targets Y, as the mean over the B rows of -log p(y_i | x_i, theta) (up to a constant
//     for the squared error). A NetworkPotential (models/network_potential.hpp) differentiates it.
//   - prediction: predictive_mean(F, own) turns one member's outputs into the mean of its predictive
//     distribution: E[y | x, theta] for regression, the class probabilities for classification (the mean
//     of the one-hot y). Averaged over the members of an ensemble it is the mean of their mixture, so a
//     classifier's ensemble averages probabilities, not logits (flows/predict.hpp). noise_variance(F, own)
//     is a regression likelihood's Var[y | x, theta].
//
// A likelihood may own parameters (a learned noise scale): parameters() names their blocks, which a
// NetworkPotential appends to the model's in theta, and `own` hands them in (one Var per block on the tape;
// their values off it). The library's four are in models/likelihoods.hpp; a new one is a class of the same
// form in the researcher's own file (experiments/classification/robust_softmax.hpp is one).
// Its gradient is checked like any op's: ad::check_gradient (autodiff/gradient_check.hpp).
//
// loss() runs for every particle at every step, on whatever thread evaluates the particle: it must be const
// and keep its scratch on the tape (tape.allocate), so that a potential's steady state touches no heap.
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include <xtensor/xbuilder.hpp>
#include <xtensor/xfixed.hpp>

#include "../autodiff/tape.hpp"
#include "../core/errors.hpp"
#include "../core/tensor.hpp"
#include "parameter_layout.hpp"

namespace wgflow::models {

// What a prediction is, and so which metrics apply: a regression predicts E[y] (and Var[y]), a
// classification class probabilities (accuracy, NLL, calibration: analysis/classification_metrics.hpp).
enum class Task { regression, classification };

template <class T>
class Likelihood {
 public:
  virtual ~Likelihood() = default;

  // For messages and tables, e.g. "gaussian_nll(sigma=0.5)".
  virtual std::string name() const = 0;
  virtual Task task() const = 0;

  // The columns of Y for a model with `outputs` outputs: `outputs` for a regression, 1 (the class index)
  // for a classification.
  virtual std::size_t target_cols(std::size_t outputs) const = 0;

  // The likelihood's own parameter blocks, appended after the model's in theta (none by default).
  virtual const ParameterLayout& parameters() const {
    static const ParameterLayout none;
    return none;
  }
  std::size_t num_params() const { return parameters().size(); }

  // The per-minibatch loss (1x1) of outputs F (B x k) against targets Y (B x target_cols(k)); `own` holds
  // one Var per block of parameters(). Gradients flow into F, Y and own, as far as they carry them.
  virtual ad::Var<T> loss(const ad::Var<T>& F, const ad::Var<T>& Y, std::span<const ad::Var<T>> own) const = 0;

  // loss() for one member, off the caller's tape: its outputs F and the targets Y as `rows` row-major rows,
  // `own` the values of parameters(). Writes dF = dl/dF (F's size) and own_grad = dl/d own, returns l.
  // NetworkPotential's batched path reaches it through loss_and_gradient_in_lanes. By default it records
  // loss() on the calling thread's tape (Tape<T>::local(), cleared first) and runs backward; a likelihood
  // with a closed form may override it with the same numbers, bit for bit.
  virtual T loss_and_gradient(std::span<const T> F, std::span<const T> Y, std::size_t rows, std::span<const T> own,
                              std::span<T> dF, std::span<T> own_grad) const {
    ad::Tape<T>& tape = ad::Tape<T>::local();
    tape.clear();
    const ad::Var<T> f = tape.external(Shape{rows, F.size() / rows}, F.data(), dF.data());
    const ad::Var<T> y = tape.external(Shape{rows, Y.size() / rows}, Y.data());
    const std::span<ad::Var<T>> params = parameters().leaves(tape, own, own_grad);
    const ad::Var<T> l = loss(f, y, std::span<const ad::Var<T>>(params));
    const xt::xtensor_fixed<T, xt::xshape<1, 1>> one = {{T(1)}};  // on the stack: no allocation
    tape.backward(l, one);
    return l.item();
  }

  // loss_and_gradient for `count` members of one output each, side by side as NetworkPotential's batched
  // path holds them (networks in SIMD lanes, models/network_lanes.hpp): member l's outputs are F[b ld + l]
  // for the rows b < rows, its dF goes to dF[b ld + l] (the other columns are left alone), its values of
  // parameters() are own[l own_stride ..] and their gradient own_grad[l own_stride ..], its loss values[l].
  // By default one member at a time through loss_and_gradient; a likelihood may override it with the same
  // numbers, bit for bit, a vector of members at a time (SquaredError does).
  virtual void loss_and_gradient_in_lanes(const T* F, T* dF, std::size_t ld, std::size_t count,
                                          std::span<const T> Y, std::size_t rows, const T* own, T* own_grad,
                                          std::size_t own_stride, T* values) const {
    thread_local std::vector<T> f, df;  // one member's column; per thread, reused: no allocation once grown
    f.resize(rows);
    df.resize(rows);
    const std::size_t p = num_params();
    for (std::size_t l = 0; l < count; ++l) {
      for (std::size_t b = 0; b < rows; ++b) f[b] = F[b * ld + l];
      values[l] = loss_and_gradient(f, Y, rows, std::span<const T>(own + l * own_stride, p), df,
                                    std::span<T>(own_grad + l * own_stride, p));
      for (std::size_t b = 0; b < rows; ++b) dF[b * ld + l] = df[b];
    }
  }

  // The mean of p(y | x, theta) at one member's outputs F (B x k), with `own` its values of parameters():
  // B x target columns (regression: E[y]) or B x classes (classification: probabilities, rows summing to 1).
  virtual Tensor<T> predictive_mean(const Tensor<T>& F, std::span<const T> own) const = 0;

  // Regression: Var[y | x, theta], the observation noise, the shape of predictive_mean. By default 0 (a
  // likelihood without a noise model, such as the squared error). Not used for a classification.
  virtual Tensor<T> noise_variance(const Tensor<T>& F, std::span<const T> own) const {
    (void)own;
    return xt::zeros<T>(F.shape());
  }

 protected:
  // Throw unless `own` holds one Var per block of parameters(), or one value per parameter.
  void check_own(std::span<const ad::Var<T>> own, const char* where) const {
    if (own.size() != parameters().num_blocks())
      throw Error(name() + " " + where + ": expected " + std::to_string(parameters().num_blocks()) +
                  " own parameter block(s), got " + std::to_string(own.size()));
  }
  void check_own(std::span<const T> own, const char* where) const {
    if (own.size() != parameters().size())
      throw Error(name() + " " + where + ": expected " + std::to_string(parameters().size()) +
                  " own parameter value(s), got " + std::to_string(own.size()));
  }
};

}  // namespace wgflow::models
