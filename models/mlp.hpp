#pragma once
// A multilayer perceptron f(theta, X) of any depth and width: the network every experiment of the paper
// trains (UCI: 8-50-1 with ReLU; toy problems: 1-1-1 without biases).
//
//   models::Mlp<double> net({.widths = {8, 50, 1}, .hidden = Activation::relu()});
//   Tensor<double> theta = Initializer::torch_default().sample<double>(net.layout(), 1, seed);
//   Tensor<double> y = net.predict(std::span(theta.data(), net.num_params()), X);   // B x 1
//
// It is a models::Model (models/model.hpp) through its layout and its forward on the tape: prediction,
// pullbacks and recordings for function-space repulsion are the Model's, derived from forward().
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

#include "../autodiff/tape.hpp"
#include "activation.hpp"
#include "dense.hpp"
#include "dense_head.hpp"
#include "model.hpp"
#include "parameter_layout.hpp"

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
  const ParameterLayout& layout() const override { return layout_; }
  std::size_t num_layers() const { return spec_.widths.size() - 1; }

  std::size_t num_inputs() const override { return spec_.widths.front(); }
  std::size_t num_outputs() const override { return spec_.widths.back(); }

  // The network on a tape: params are the layout's blocks (from ParameterLayout::leaves or ::split, or
  // any Vars of the blocks' shapes), X is B x num_inputs(). Returns the B x num_outputs() output.
  ad::Var<T> forward(std::span<const ad::Var<T>> params, const ad::Var<T>& X) const override {
    if (params.size() != layout_.num_blocks())
      throw Error("Mlp::forward: got " + std::to_string(params.size()) + " parameter blocks, the network has " +
                  std::to_string(layout_.num_blocks()));
    check_input_shape("Mlp::forward", X.shape());
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

  // forward(theta, X) for one flat parameter Var: Model's.
  using Model<T>::forward;

 private:
  void check_input_shape(const char* where, const Shape& x) const {
    if (x[1] != num_inputs())
      throw ShapeError(std::string(where) + ": X is " + shape_string(x) + ", the network expects B x " +
                       std::to_string(num_inputs()) + " inputs");
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
