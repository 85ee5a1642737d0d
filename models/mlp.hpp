#pragma once
// A multilayer perceptron f(theta, X) of any depth and width: the network every experiment of the paper
// trains (UCI: 8-50-1 with ReLU; toy problems: 1-1-1 without biases).
//
//   models::Mlp<double> net({.widths = {8, 50, 1}, .hidden = Activation::relu()});
//   Tensor<double> theta = Initializer::torch_default().sample<double>(net.layout(), 1, seed);
//   Tensor<double> y = net.predict(std::span(theta.data(), net.num_params()), X);   // B x 1
//
// Layer l computes h_{l+1} = act_l(h_l W_l + b_l) with W_l of fan_in x fan_out and b_l of 1 x fan_out, act_l
// the hidden activation for every layer but the last, which uses the output activation (identity for
// regression, so the network returns logits for classification). Parameters are one flat vector in the
// order layer0.weight, layer0.bias, layer1.weight, ... (see ParameterLayout); without biases the bias
// blocks are absent.
//
// Cost per evaluation: one dense node per layer (models/dense.hpp: the affine map with, for the
// piecewise-linear activations, the activation fused in), each a handful of GEMM calls; a scalar
// identity output and the hidden layer before it share one node (models/dense_head.hpp), so the UCI
// network is a single node. Parameters enter the tape as one leaf per block (ParameterLayout::leaves).
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "autodiff/tape.hpp"
#include "models/activation.hpp"
#include "models/dense.hpp"
#include "models/dense_head.hpp"
#include "models/model.hpp"
#include "models/parameter_layout.hpp"

namespace wgflow::models {

struct MlpSpec {
  std::vector<std::size_t> widths;  // {inputs, hidden_1, ..., hidden_L, outputs}: at least two entries
  Activation hidden = Activation::relu();
  Activation output = Activation::identity();
  bool bias = true;
};

template <class T>
class Mlp final : public Model<T> {
 public:
  explicit Mlp(MlpSpec spec) : spec_(std::move(spec)) {
    if (spec_.widths.size() < 2)
      throw Error("Mlp: widths must list at least the inputs and the outputs, got " +
                  std::to_string(spec_.widths.size()) + " entries");
    for (std::size_t l = 0; l < spec_.widths.size(); ++l)
      if (spec_.widths[l] == 0) throw Error("Mlp: width " + std::to_string(l) + " is zero");
    for (std::size_t l = 0; l + 1 < spec_.widths.size(); ++l) {
      const std::size_t in = spec_.widths[l], out = spec_.widths[l + 1];
      const std::string prefix = "layer" + std::to_string(l);
      layout_.add(prefix + ".weight", Shape{in, out}, BlockRole::weight, in);
      if (spec_.bias) layout_.add(prefix + ".bias", Shape{1, out}, BlockRole::bias, in);
    }
  }

  const MlpSpec& spec() const { return spec_; }
  const ParameterLayout& layout() const { return layout_; }
  std::size_t num_layers() const { return spec_.widths.size() - 1; }

  std::size_t num_params() const override { return layout_.size(); }
  std::size_t num_inputs() const override { return spec_.widths.front(); }
  std::size_t num_outputs() const override { return spec_.widths.back(); }

  // The network on a tape: params are the layout's blocks (from ParameterLayout::leaves or ::split, or
  // any Vars of the blocks' shapes), X is B x num_inputs(). Returns the B x num_outputs() output.
  ad::Var<T> forward(std::span<const ad::Var<T>> params, const ad::Var<T>& X) const {
    if (params.size() != layout_.num_blocks())
      throw Error("Mlp::forward: got " + std::to_string(params.size()) + " parameter blocks, the network has " +
                  std::to_string(layout_.num_blocks()));
    check_inputs("Mlp::forward", X.shape());
    const std::size_t per_layer = spec_.bias ? 2 : 1, layers = num_layers();
    for (std::size_t k = 0; k < params.size(); ++k) check_block(k, params[k]);
    auto bias = [&](std::size_t l) { return spec_.bias ? &params[per_layer * l + 1] : nullptr; };
    // A scalar identity output after a piecewise-linear hidden layer: those two layers as one node.
    const bool head = layers >= 2 && num_outputs() == 1 && spec_.output.kind() == Activation::Kind::identity &&
                      dense_detail::fusable(spec_.hidden);
    ad::Var<T> h = X;
    for (std::size_t l = 0; l < layers - (head ? 2 : 0); ++l) {
      const Activation& act = l + 1 < layers ? spec_.hidden : spec_.output;
      h = spec_.bias ? dense(h, params[per_layer * l], *bias(l), act) : dense(h, params[per_layer * l], act);
    }
    if (head)
      h = dense_head(h, params[per_layer * (layers - 2)], bias(layers - 2), spec_.hidden, params[per_layer * (layers - 1)],
                     bias(layers - 1));
    return h;
  }

  // The network as a function of one flat parameter Var (J x 1 or 1 x J): gradients flow into theta.
  ad::Var<T> forward(const ad::Var<T>& theta, const ad::Var<T>& X) const {
    const std::span<ad::Var<T>> blocks = layout_.split(theta);
    return forward(std::span<const ad::Var<T>>(blocks), X);
  }

  // f(theta, X) on the calling thread's tape (Tape<T>::local(), cleared first).
  Tensor<T> predict(std::span<const T> theta, const Tensor<T>& X) const override {
    check_inputs("Mlp::predict", Shape{X.shape()[0], X.shape()[1]});
    return Tensor<T>(outputs_on_tape(theta, X));
  }

  // predict() without the result's allocation: the outputs go from the tape straight into `out`.
  void predict_into(std::span<const T> theta, const Tensor<T>& X, std::span<T> out) const override {
    check_inputs("Mlp::predict_into", Shape{X.shape()[0], X.shape()[1]});
    check_outputs("Mlp::predict_into", X, out.size());
    const auto y = outputs_on_tape(theta, X);
    std::copy(y.begin(), y.end(), out.begin());
  }

  // grad += d <U, f(theta, X)> / d theta, on the calling thread's tape (Tape<T>::local(), cleared first).
  void pullback(std::span<const T> theta, const Tensor<T>& X, const Tensor<T>& U, std::span<T> grad) const override {
    check_inputs("Mlp::pullback", Shape{X.shape()[0], X.shape()[1]});
    check_cotangent("Mlp::pullback", X, U);
    Tape<T>& tape = Tape<T>::local();
    tape.clear();
    const std::span<ad::Var<T>> params = layout_.leaves(tape, theta, /*needs_grad=*/true);
    const ad::Var<T> out = forward(std::span<const ad::Var<T>>(params), inputs_on(tape, X));
    tape.backward(out, U);
    layout_.add_adjoints(std::span<const ad::Var<T>>(params), grad);
  }

  // predict_into() on rec's own tape, with the parameters as variables, so that pullback_recorded() only
  // runs the backward sweep: the values and gradients are those of predict_into() and pullback(), bit
  // for bit. theta is copied onto the tape; X is read in place.
  void record(std::span<const T> theta, const Tensor<T>& X, Recording<T>& rec, std::span<T> out) const override {
    check_inputs("Mlp::record", Shape{X.shape()[0], X.shape()[1]});
    check_outputs("Mlp::record", X, out.size());
    rec.tape.clear();
    rec.params = layout_.leaves(rec.tape, theta, /*needs_grad=*/true);
    rec.output = forward(std::span<const ad::Var<T>>(rec.params), inputs_on(rec.tape, X));
    const auto y = rec.output.val();
    std::copy(y.begin(), y.end(), out.begin());
  }

  void pullback_recorded(Recording<T>& rec, std::span<const T> theta, const Tensor<T>& X, const Tensor<T>& U,
                         std::span<T> grad) const override {
    if (!rec.output.valid() || &rec.output.tape() != &rec.tape || rec.params.size() != layout_.num_blocks() ||
        rec.output.shape() != Shape{X.shape()[0], num_outputs()} || theta.size() != num_params())
      throw Error("Mlp::pullback_recorded: the recording holds no evaluation of this network at these " +
                  std::to_string(X.shape()[0]) + " inputs (record() first)");
    check_cotangent("Mlp::pullback_recorded", X, U);
    rec.tape.backward(rec.output, U);
    layout_.add_adjoints(std::span<const ad::Var<T>>(rec.params), grad);
  }

 private:
  // f(theta, X) recorded on the calling thread's tape (cleared first), without gradients: a view of the
  // output node's values, valid until that tape is next cleared.
  ad::View<T> outputs_on_tape(std::span<const T> theta, const Tensor<T>& X) const {
    Tape<T>& tape = Tape<T>::local();
    tape.clear();
    const std::span<ad::Var<T>> params = layout_.leaves(tape, theta, /*needs_grad=*/false);
    return forward(std::span<const ad::Var<T>>(params), inputs_on(tape, X)).val();
  }

  // X as a constant leaf read in place (it outlives the recording's use): no copy onto the tape.
  static ad::Var<T> inputs_on(Tape<T>& tape, const Tensor<T>& X) {
    return tape.external(Shape{X.shape()[0], X.shape()[1]}, X.data());
  }

  void check_inputs(const char* where, const Shape& x) const {
    if (x[1] != num_inputs())
      throw ShapeError(std::string(where) + ": X is " + shape_string(x) + ", the network expects B x " +
                       std::to_string(num_inputs()) + " inputs");
  }
  void check_cotangent(const char* where, const Tensor<T>& X, const Tensor<T>& U) const {
    if (U.shape()[0] != X.shape()[0] || U.shape()[1] != num_outputs())
      throw ShapeError(std::string(where) + ": cotangent U is " + shape_string(Shape{U.shape()[0], U.shape()[1]}) +
                       ", the outputs are " + shape_string(Shape{X.shape()[0], num_outputs()}));
  }
  void check_outputs(const char* where, const Tensor<T>& X, std::size_t out_size) const {
    if (out_size != X.shape()[0] * num_outputs())
      throw ShapeError(std::string(where) + ": out has " + std::to_string(out_size) + " values, the outputs are " +
                       shape_string(Shape{X.shape()[0], num_outputs()}));
  }
  void check_block(std::size_t k, const ad::Var<T>& v) const {
    if (v.shape() != layout_.block(k).shape)
      throw ShapeError("Mlp::forward: block " + layout_.block(k).name + " is " + shape_string(v.shape()) +
                       ", expected " + shape_string(layout_.block(k).shape));
  }

  MlpSpec spec_;
  ParameterLayout layout_;
};

}  // namespace wgflow::models
