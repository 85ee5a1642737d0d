#pragma once
// The training loss of a model on a data set, minibatched: l(theta) = likelihood.loss(f(theta, X_b), Y_b) on
// the minibatch b of the current step. What the UCI, regression and classification experiments hand to a
// flow. Any models::Model (an on-tape forward, models/model.hpp) with any models::Likelihood
// (models/likelihood.hpp; the library's four in models/likelihoods.hpp):
//
//   Mlp<double> net({.widths = {8, 50, 1}});
//   NetworkPotential<double> potential(net, SquaredError<double>(), train.X(), train.Y(),
//                                      {.batch_size = 100, .seed = 7});
//   potential.begin_step(t);                        // once per flow step, one thread
//   double l = potential.value_and_gradient(theta, grad);   // per particle, any thread
//
// The model and the likelihood are copied in (or shared: pass a std::shared_ptr<const Model<T>> or
// <const Likelihood<T>>, e.g. one chosen at run time); both are only read, from any thread.
//
// Parameters: theta = (the model's blocks, then the likelihood's own: "noise.log_sigma" for
// GaussianNllLearnedNoise); layout() names them all.
//
// Minibatches (data/minibatch.hpp's MinibatchSchedule): step t uses batch t mod batches_per_epoch of
// epoch t / batches_per_epoch's permutation, drawn from Rng::stream(seed, epoch). By default the last,
// smaller batch of an epoch is kept, so every row is used exactly once per epoch (LastBatch::drop leaves
// the n mod B remainder out instead, as a DataLoader with drop_last does).
//
// Cost: begin_step gathers the batch once into member buffers shared by all particles; each
// value_and_gradient puts theta's blocks on the calling thread's tape (Tape<T>::local(), cleared first) as
// leaves over theta whose adjoints are grad's blocks, reads the batch in place, records the model's forward
// (for an Mlp, one dense node per layer) and the likelihood's loss, and runs backward. After the first call
// on a thread nothing on this path touches the heap: the tape's arena and node list are reused, and block
// handles live in tape memory (the model's and the likelihood's nodes must keep their scratch there too).
//
// All particles at once (values_and_gradients, which the flows call when prefers_batches() says so): the
// paper's networks, an Mlp of widths {d, H, 1} with a piecewise-linear hidden activation, run W at a time
// in SIMD lanes off the tape (models/network_lanes.hpp), the likelihood on their outputs side by side
// (Likelihood::loss_and_gradient_in_lanes). Values and gradients equal the per-particle path's up to
// rounding, and do not depend on how the particles are grouped (threads, ranks). Other models take the
// per-particle path in parallel.
#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xfixed.hpp>

#include "../autodiff/tape.hpp"
#include "../core/finite.hpp"
#include "../data/dataset.hpp"
#include "../data/minibatch.hpp"
#include "likelihood.hpp"
#include "likelihoods.hpp"
#include "model.hpp"
#include "network_lanes.hpp"
#include "parameter_layout.hpp"
#include "potential.hpp"

namespace wgflow::models {

struct MinibatchOptions {
  std::size_t batch_size = 100;
  std::uint64_t seed = 0;
  data::LastBatch last_batch = data::LastBatch::keep;
};

// A Base handed in by value (any class derived from it: copied) or shared (a shared_ptr to a const Base).
template <class A, class Base>
concept ValueOrShared = std::derived_from<std::remove_cvref_t<A>, Base> ||
                        std::convertible_to<A, std::shared_ptr<const Base>>;

template <class T>
class NetworkPotential final : public Potential<T> {
 public:
  // X is n x model.num_inputs(), Y is n x likelihood.target_cols(model.num_outputs()).
  template <ValueOrShared<Model<T>> M, ValueOrShared<Likelihood<T>> L>
  NetworkPotential(M&& model, L&& likelihood, Tensor<T> X, Tensor<T> Y, MinibatchOptions options = {})
      : model_(share<Model<T>>(std::forward<M>(model))),
        likelihood_(share<Likelihood<T>>(std::forward<L>(likelihood))),
        X_(std::move(X)),
        Y_(std::move(Y)),
        schedule_(X_.shape()[0], options.batch_size, options.seed, options.last_batch),
        lanes_(NetworkLanes<T>::of(*model_)) {
    check_data("NetworkPotential", X_, Y_);
    layout_ = model_->layout();
    model_blocks_ = layout_.num_blocks();
    for (const ParameterBlock& b : likelihood_->parameters().blocks()) layout_.add(b.name, b.shape, b.role, b.fan_in);
    const std::size_t B = std::min(options.batch_size, X_.shape()[0]);
    batch_X_.resize(B * X_.shape()[1]);
    batch_Y_.resize(B * Y_.shape()[1]);
    batch_rows_.resize(B);
    begin_step(0);
  }

  std::size_t dim() const override { return layout_.size(); }
  const ParameterLayout& layout() const { return layout_; }
  ParameterLayout parameter_layout() const override { return layout_; }
  const Model<T>& model() const { return *model_; }
  const Likelihood<T>& likelihood() const { return *likelihood_; }
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
    ad::Tape<T>& tape = ad::Tape<T>::local();
    tape.clear();
    const std::span<ad::Var<T>> params = layout_.leaves(tape, theta, grad);  // backward writes grad
    const ad::Var<T> L = record(tape, params, batch_X_.data(), batch_Y_.data(), batch_size_);
    // A cotangent on the stack: tape.backward(L) would build its 1x1 "1" as a heap-allocated xtensor.
    const xt::xtensor_fixed<T, xt::xshape<1, 1>> one = {{T(1)}};
    tape.backward(L, one);
    return L.item();
  }

  // Every row of thetas at once: in SIMD lanes for the networks NetworkLanes runs, else row by row.
  void values_and_gradients(const Tensor<T>& thetas, std::span<T> values, Tensor<T>& gradients) const override {
    values_and_gradients_in_pieces(thetas, values, gradients, RowsDone::none());
  }
  // The same, each group of networks in lanes handed over as soon as it is done.
  void values_and_gradients_in_pieces(const Tensor<T>& thetas, std::span<T> values, Tensor<T>& gradients,
                                      RowsDone rows_done) const override {
    if (!lanes_) {
      Potential<T>::values_and_gradients(thetas, values, gradients);
      return rows_done(0, thetas.shape()[0]);
    }
    this->check_batch(thetas, values, gradients);
    check("NetworkPotential::values_and_gradients", thetas.shape()[1]);
    constexpr std::size_t W = NetworkLanes<T>::lanes;
    const std::size_t n = thetas.shape()[0], J = thetas.shape()[1], B = batch_size_, m = lanes_->num_params();
    NetworkLanes<T>::for_each_group(n, [&](std::size_t i0, std::size_t count) {
      thread_local Scratch s;  // one per thread, reused: the steady state allocates nothing
      s.out.resize(B * W);
      s.cotangent.resize(B * W);
      lanes_->forward(thetas.data() + i0 * J, J, count, batch_X_.data(), B, s.lanes, s.out.data());
      if (count < W) std::fill(s.cotangent.begin(), s.cotangent.end(), T(0));  // the lanes no network holds
      const std::span<const T> Y(batch_Y_.data(), B * Y_.shape()[1]);
      likelihood_->loss_and_gradient_in_lanes(s.out.data(), s.cotangent.data(), W, count, Y, B,
                                              thetas.data() + i0 * J + m, gradients.data() + i0 * J + m, J,
                                              values.data() + i0);
      lanes_->backward(s.cotangent.data(), s.lanes, gradients.data() + i0 * J, J);
      rows_done(i0, i0 + count);
    });
  }
  bool prefers_batches() const override { return lanes_.has_value(); }

  // The loss of theta on any data (e.g. the full training set, or a test set); no gradient.
  T loss_on(std::span<const T> theta, const Tensor<T>& X, const Tensor<T>& Y) const {
    check("NetworkPotential::loss_on", theta.size());
    check_data("NetworkPotential::loss_on", X, Y);
    ad::Tape<T>& tape = ad::Tape<T>::local();
    tape.clear();
    const std::span<ad::Var<T>> params = layout_.leaves(tape, theta, /*needs_grad=*/false);
    return record(tape, params, X.data(), Y.data(), X.shape()[0]).item();
  }

 private:
  template <class Base, class A>
  static std::shared_ptr<const Base> share(A&& a) {
    if constexpr (std::convertible_to<A, std::shared_ptr<const Base>>) {
      std::shared_ptr<const Base> p = std::forward<A>(a);
      if (!p) throw Error("NetworkPotential: a null model or likelihood");
      return p;
    } else {
      return std::make_shared<const std::remove_cvref_t<A>>(std::forward<A>(a));
    }
  }

  // Records likelihood.loss(f(theta, X), Y) for the first `rows` rows of the row-major buffers X and Y,
  // which the tape reads in place (they outlive the recording's use).
  ad::Var<T> record(ad::Tape<T>& tape, std::span<ad::Var<T>> params, const T* X, const T* Y, std::size_t rows) const {
    const std::size_t d = X_.shape()[1], k = Y_.shape()[1];
    const ad::Var<T> x = tape.external(Shape{rows, d}, X);
    const ad::Var<T> y = tape.external(Shape{rows, k}, Y);
    const std::span<const ad::Var<T>> all(params);
    const ad::Var<T> F = model_->forward(all.first(model_blocks_), x);
    return likelihood_->loss(F, y, all.subspan(model_blocks_));
  }

  struct Scratch {
    typename NetworkLanes<T>::Workspace lanes;
    std::vector<T> out, cotangent;  // B x W outputs and their cotangents
  };

  // Shapes, then values: a non-finite input or target is refused here, naming its row and column, rather
  // than turning a step's loss into NaN, which the flow would report as its own divergence.
  void check_data(const char* where, const Tensor<T>& X, const Tensor<T>& Y) const {
    const std::size_t inputs = model_->num_inputs(), outputs = model_->num_outputs();
    const std::size_t targets = likelihood_->target_cols(outputs);
    if (X.shape()[1] != inputs || Y.shape()[0] != X.shape()[0] || Y.shape()[1] != targets)
      throw ShapeError(std::string(where) + ": inputs are " + shape_string({X.shape()[0], X.shape()[1]}) +
                       " and targets " + shape_string({Y.shape()[0], Y.shape()[1]}) + "; the model maps " +
                       std::to_string(inputs) + " inputs to " + std::to_string(outputs) +
                       " outputs and the likelihood " + likelihood_->name() + " expects " + std::to_string(targets) +
                       " target columns");
    require_finite(X, std::string(where) + ": inputs X");
    require_finite(Y, std::string(where) + ": targets Y");
  }

  void check(const char* where, std::size_t n) const {
    if (n != layout_.size())
      throw ShapeError(std::string(where) + ": vector has " + std::to_string(n) + " entries, the potential has " +
                       std::to_string(layout_.size()) + " parameters");
  }

  std::shared_ptr<const Model<T>> model_;
  std::shared_ptr<const Likelihood<T>> likelihood_;
  Tensor<T> X_, Y_;
  data::MinibatchSchedule schedule_;
  ParameterLayout layout_;          // the model's blocks, then the likelihood's
  std::size_t model_blocks_ = 0;    // how many of them are the model's
  std::vector<T> batch_X_, batch_Y_;  // the current batch, row-major, sized for a full batch
  std::vector<std::size_t> batch_rows_;
  std::size_t batch_size_ = 0;  // rows of the current batch (the last batch of an epoch may be smaller)
  std::optional<NetworkLanes<T>> lanes_;  // the model in SIMD lanes, when it is such a network
};

}  // namespace wgflow::models
