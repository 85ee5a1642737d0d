#pragma once
// A model is a parametric function f(theta, X): a parameter vector theta, laid out in named blocks, maps a
// batch of inputs X (B x num_inputs) to outputs (B x num_outputs).
//
// A new architecture writes two things, and everything else follows from them:
//   layout()            theta's blocks: names, shapes, and roles for the initialisers (ParameterLayout);
//   forward(params, X)  f on the tape, from one Var per block: the outputs as a Var, differentiable in
//                       the parameters and the inputs.
// Then a NetworkPotential trains it against a likelihood on data (models/network_potential.hpp), the
// ensemble predictions evaluate it (predict, flows/predict.hpp), and function-space repulsion pulls
// cotangents back through it (pullback, record, pullback_recorded). Those are derived here on the calling
// thread's tape and may be overridden with a faster path off the tape (a closed form, say); they must then
// agree with forward(), which still defines the model for training.
//
// Function-space repulsion needs the outputs of every particle before any particle's cotangent exists, so
// an evaluation can be recorded (record) and a cotangent pulled back through it later (pullback_recorded)
// without a second forward pass.
#include <algorithm>
#include <cstddef>
#include <span>
#include <string>

#include "../autodiff/tape.hpp"
#include "../core/errors.hpp"
#include "../core/tensor.hpp"
#include "parameter_layout.hpp"

namespace wgflow::models {

// One evaluation of a model kept for a later pullback (Model::record, Model::pullback_recorded), like the
// function that JAX's vjp returns. The caller owns one per evaluation it keeps (function-space repulsion:
// one per particle) and reuses it, so that after the first step recording allocates nothing.
template <class T>
struct Recording {
  ad::Tape<T> tape{std::size_t{1} << 12};  // grows to one evaluation's size at the first use
  ad::Var<T> output;                        // empty until a record()
  std::span<ad::Var<T>> params;             // the parameter leaves, in tape memory
};

template <class T>
class Model {
 public:
  virtual ~Model() = default;

  virtual std::size_t num_inputs() const = 0;
  virtual std::size_t num_outputs() const = 0;
  // theta's blocks, in the order forward() takes them.
  virtual const ParameterLayout& layout() const = 0;
  std::size_t num_params() const { return layout().size(); }

  // f(theta, X) recorded on X's tape: params holds one Var per block of layout() (from
  // ParameterLayout::leaves or ::split, or any Vars of the blocks' shapes), X is B x num_inputs(); returns
  // the B x num_outputs() outputs. Safe to call concurrently on different tapes.
  virtual ad::Var<T> forward(std::span<const ad::Var<T>> params, const ad::Var<T>& X) const = 0;

  // The same as a function of one flat parameter Var (J x 1 or 1 x J): gradients flow into theta (a
  // gradient check of the whole model, say). Models that override forward bring it in with
  // `using Model<T>::forward;`.
  ad::Var<T> forward(const ad::Var<T>& theta, const ad::Var<T>& X) const {
    const std::span<ad::Var<T>> blocks = layout().split(theta);
    return forward(std::span<const ad::Var<T>>(blocks), X);
  }

  // f(theta, X) for X of B x num_inputs(), on the calling thread's tape (Tape<T>::local(), cleared first).
  virtual Tensor<T> predict(std::span<const T> theta, const Tensor<T>& X) const {
    check_inputs("predict", X);
    return Tensor<T>(outputs_on_tape(theta, X));
  }

  // predict() written row-major into `out` (B x num_outputs() values), without the result's allocation:
  // function-space repulsion calls it for every particle at every step.
  virtual void predict_into(std::span<const T> theta, const Tensor<T>& X, std::span<T> out) const {
    check_inputs("predict_into", X);
    check_outputs("predict_into", X, out.size());
    const auto y = outputs_on_tape(theta, X);
    std::copy(y.begin(), y.end(), out.begin());
  }

  // The vector-Jacobian product: grad += d <U, f(theta, X)> / d theta, U of the outputs' shape.
  // On the calling thread's tape (cleared first): thread-safe for concurrent calls.
  virtual void pullback(std::span<const T> theta, const Tensor<T>& X, const Tensor<T>& U, std::span<T> grad) const {
    check_inputs("pullback", X);
    check_cotangent("pullback", X, U);
    ad::Tape<T>& tape = ad::Tape<T>::local();
    tape.clear();
    const std::span<ad::Var<T>> params = layout().leaves(tape, theta, /*needs_grad=*/true);
    const ad::Var<T> out = forward(std::span<const ad::Var<T>>(params), inputs_on(tape, X));
    tape.backward(out, U);
    layout().add_adjoints(std::span<const ad::Var<T>>(params), grad);
  }

  // predict_into(theta, X, out) on rec's own tape, with the parameters as variables, so that
  // pullback_recorded() only runs the backward sweep: the values and gradients are those of predict_into()
  // and pullback(), bit for bit. theta is copied onto the tape; X is read in place and must stay alive and
  // unchanged until the pullback.
  virtual void record(std::span<const T> theta, const Tensor<T>& X, Recording<T>& rec, std::span<T> out) const {
    check_inputs("record", X);
    check_outputs("record", X, out.size());
    rec.tape.clear();
    rec.params = layout().leaves(rec.tape, theta, /*needs_grad=*/true);
    rec.output = forward(std::span<const ad::Var<T>>(rec.params), inputs_on(rec.tape, X));
    const auto y = rec.output.val();
    std::copy(y.begin(), y.end(), out.begin());
  }

  // pullback(theta, X, U, grad) for the theta and X that `rec` recorded (the caller passes them again).
  // Thread-safe for concurrent calls on different recordings.
  virtual void pullback_recorded(Recording<T>& rec, std::span<const T> theta, const Tensor<T>& X,
                                 const Tensor<T>& U, std::span<T> grad) const {
    if (!rec.output.valid() || &rec.output.tape() != &rec.tape || rec.params.size() != layout().num_blocks() ||
        rec.output.shape() != Shape{X.shape()[0], num_outputs()} || theta.size() != num_params())
      throw Error("pullback_recorded: the recording holds no evaluation of this model at these " +
                  std::to_string(X.shape()[0]) + " inputs (record() first)");
    check_cotangent("pullback_recorded", X, U);
    rec.tape.backward(rec.output, U);
    layout().add_adjoints(std::span<const ad::Var<T>>(rec.params), grad);
  }

 protected:
  // The shape checks of the derived functions, for overrides to share: each throws a ShapeError naming
  // `where` and both shapes.
  void check_inputs(const char* where, const Tensor<T>& X) const {
    if (X.shape()[1] != num_inputs())
      throw ShapeError(std::string(where) + ": X is " + shape_string(Shape{X.shape()[0], X.shape()[1]}) +
                       ", the model expects B x " + std::to_string(num_inputs()) + " inputs");
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

 private:
  // f(theta, X) recorded on the calling thread's tape (cleared first), without gradients: a view of the
  // output node's values, valid until that tape is next cleared.
  ad::View<T> outputs_on_tape(std::span<const T> theta, const Tensor<T>& X) const {
    ad::Tape<T>& tape = ad::Tape<T>::local();
    tape.clear();
    const std::span<ad::Var<T>> params = layout().leaves(tape, theta, /*needs_grad=*/false);
    return forward(std::span<const ad::Var<T>>(params), inputs_on(tape, X)).val();
  }

  // X as a constant leaf read in place (it outlives the recording's use): no copy onto the tape.
  static ad::Var<T> inputs_on(ad::Tape<T>& tape, const Tensor<T>& X) {
    return tape.external(Shape{X.shape()[0], X.shape()[1]}, X.data());
  }
};

}  // namespace wgflow::models
