#pragma once
// The training loss of a network on a data set, minibatched: l(theta) = loss(f(theta, X_b), Y_b) on the
// minibatch b of the current step. What the UCI and regression experiments hand to a flow.
//
//   Mlp<double> net({.widths = {8, 50, 1}});
//   NetworkPotential<double> potential(net, Loss::squared_error(), train.X(), train.Y(),
//                                      {.batch_size = 100, .seed = 7});
//   potential.begin_step(t);                        // once per flow step, one thread
//   double l = potential.value_and_gradient(theta, grad);   // per particle, any thread
//
// Parameters: theta = (the network's parameters, then the loss's own: "noise.log_sigma" for
// Loss::gaussian_nll_learned_noise()); layout() names them all.
//
// Minibatches (data/minibatch.hpp's data::MinibatchSchedule): step t uses batch t mod batches_per_epoch of
// epoch t / batches_per_epoch's permutation, drawn from Rng::stream(seed, epoch). By default the last,
// smaller batch of an epoch is kept, so every row is used exactly once per epoch (data::LastBatch::drop leaves
// the n mod B remainder out instead, as a DataLoader with drop_last does).
//
// Cost: begin_step gathers the batch once into member buffers shared by all particles; each
// value_and_gradient copies theta's blocks and the batch into the calling thread's tape (Tape<T>::local(),
// cleared first), records one affine and one activation node per layer plus the loss, runs backward and
// copies the blocks' adjoints into grad. After the first call on a thread nothing on this path touches the
// heap: the tape's arena and node list are reused, and block handles live in tape memory.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <xtensor/xfixed.hpp>

#include "autodiff/tape.hpp"
#include "data/dataset.hpp"
#include "models/loss.hpp"
#include "data/minibatch.hpp"
#include "models/mlp.hpp"
#include "models/parameter_layout.hpp"
#include "models/potential.hpp"

namespace wgflow::models {

struct MinibatchOptions {
  std::size_t batch_size = 100;
  std::uint64_t seed = 0;
  data::LastBatch last_batch = data::LastBatch::keep;
};

template <class T>
class NetworkPotential final : public Potential<T> {
 public:
  // X is n x num_inputs, Y is n x (num_outputs, or 1 class index per row for the cross-entropy).
  NetworkPotential(Mlp<T> model, Loss loss, Tensor<T> X, Tensor<T> Y, MinibatchOptions options = {})
      : model_(std::move(model)),
        loss_(loss),
        X_(std::move(X)),
        Y_(std::move(Y)),
        schedule_(X_.shape()[0], options.batch_size, options.seed, options.last_batch) {
    const std::size_t n = X_.shape()[0];
    if (X_.shape()[1] != model_.num_inputs() || Y_.shape()[0] != n ||
        Y_.shape()[1] != loss_.target_cols(model_.num_outputs()))
      throw ShapeError("NetworkPotential: inputs are " + shape_string({n, X_.shape()[1]}) + " and targets " +
                       shape_string({Y_.shape()[0], Y_.shape()[1]}) + "; the network maps " +
                       std::to_string(model_.num_inputs()) + " inputs to " + std::to_string(model_.num_outputs()) +
                       " outputs and the loss " + loss_.name() + " expects " +
                       std::to_string(loss_.target_cols(model_.num_outputs())) + " target columns");
    layout_ = model_.layout();
    if (loss_.extra_params() == 1) layout_.add("noise.log_sigma", Shape{1, 1}, BlockRole::other, 1);
    const std::size_t B = std::min(options.batch_size, n);
    batch_X_.resize(B * X_.shape()[1]);
    batch_Y_.resize(B * Y_.shape()[1]);
    batch_rows_.resize(B);
    begin_step(0);
  }

  std::size_t dim() const override { return layout_.size(); }
  const ParameterLayout& layout() const { return layout_; }
  const Mlp<T>& model() const { return model_; }
  const Loss& loss() const { return loss_; }
  const data::MinibatchSchedule& schedule() const { return schedule_; }
  std::size_t batches_per_epoch() const { return schedule_.batches_per_epoch(); }

  // The rows of the current minibatch, in the order used.
  std::span<const std::size_t> batch_rows() const { return {batch_rows_.data(), batch_size_}; }

  // Selects step `step`'s minibatch. Not concurrent with value_and_gradient.
  void begin_step(std::uint64_t step) override {
    const std::span<const std::size_t> rows = schedule_.rows(step);
    const std::size_t d = X_.shape()[1], k = Y_.shape()[1];
    batch_size_ = rows.size();
    std::copy(rows.begin(), rows.end(), batch_rows_.begin());
    data::gather_rows(X_.data(), d, rows, batch_X_.data());
    data::gather_rows(Y_.data(), k, rows, batch_Y_.data());
  }

  // l(theta) on the current minibatch; grad = d l / d theta. Safe to call concurrently.
  T value_and_gradient(std::span<const T> theta, std::span<T> grad) const override {
    check("NetworkPotential::value_and_gradient", theta.size());
    check("NetworkPotential::value_and_gradient (gradient)", grad.size());
    Tape<T>& tape = Tape<T>::local();
    tape.clear();
    const std::span<ad::Var<T>> params = layout_.leaves(tape, theta, grad);  // backward writes grad
    const ad::Var<T> L = record(tape, params, batch_X_.data(), batch_Y_.data(), batch_size_);
    // A cotangent on the stack: tape.backward(L) would build its 1x1 "1" as a heap-allocated xtensor.
    const xt::xtensor_fixed<T, xt::xshape<1, 1>> one = {{T(1)}};
    tape.backward(L, one);
    return L.item();
  }

  // The loss of theta on any data (e.g. the full training set, or a test set); no gradient.
  T loss_on(std::span<const T> theta, const Tensor<T>& X, const Tensor<T>& Y) const {
    check("NetworkPotential::loss_on", theta.size());
    if (X.shape()[1] != model_.num_inputs() || Y.shape()[0] != X.shape()[0] ||
        Y.shape()[1] != loss_.target_cols(model_.num_outputs()))
      throw ShapeError("NetworkPotential::loss_on: inputs " + shape_string({X.shape()[0], X.shape()[1]}) +
                       " and targets " + shape_string({Y.shape()[0], Y.shape()[1]}) + " do not fit the network");
    Tape<T>& tape = Tape<T>::local();
    tape.clear();
    const std::span<ad::Var<T>> params = layout_.leaves(tape, theta, /*needs_grad=*/false);
    return record(tape, params, X.data(), Y.data(), X.shape()[0]).item();
  }

 private:
  // Records loss(f(theta, X), Y) for the first `rows` rows of the row-major buffers X and Y, which the
  // tape reads in place (they outlive the recording's use).
  ad::Var<T> record(Tape<T>& tape, std::span<ad::Var<T>> params, const T* X, const T* Y, std::size_t rows) const {
    const std::size_t d = X_.shape()[1], k = Y_.shape()[1];
    const ad::Var<T> x = tape.external(Shape{rows, d}, X);
    const ad::Var<T> y = tape.external(Shape{rows, k}, Y);
    const std::size_t net_blocks = model_.layout().num_blocks();
    const std::span<const ad::Var<T>> all(params);
    const ad::Var<T> F = model_.forward(all.first(net_blocks), x);
    return loss_(F, y, all.subspan(net_blocks));
  }

  void check(const char* where, std::size_t n) const {
    if (n != layout_.size())
      throw ShapeError(std::string(where) + ": vector has " + std::to_string(n) + " entries, the potential has " +
                       std::to_string(layout_.size()) + " parameters");
  }

  Mlp<T> model_;
  Loss loss_;
  Tensor<T> X_, Y_;
  data::MinibatchSchedule schedule_;
  ParameterLayout layout_;
  std::vector<T> batch_X_, batch_Y_;  // the current batch, row-major, sized for a full batch
  std::vector<std::size_t> batch_rows_;
  std::size_t batch_size_ = 0;  // rows of the current batch (the last batch of an epoch may be smaller)
};

}  // namespace wgflow::models
