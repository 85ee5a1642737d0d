#pragma once
// A model is a parametric function f(theta, X): parameter vector -> outputs at a batch of inputs.
// Flows need it twice: for predictions of the ensemble, and for repulsion in function space, where the
// kernel acts on outputs and its gradient is pulled back to the parameters. There the outputs of every
// particle are needed before any particle's cotangent exists, so the model can record an evaluation
// (record) and pull a cotangent back through it later (pullback_recorded) without a second forward pass.
#include <algorithm>
#include <cstddef>
#include <span>
#include <string>

#include "core/errors.hpp"
#include "autodiff/tape.hpp"

namespace wgflow::models {


// One evaluation of a model kept for a later pullback (Model::record, Model::pullback_recorded), like the
// function that JAX's vjp returns. The caller owns one per evaluation it keeps (function-space repulsion:
// one per particle) and reuses it, so that after the first step recording allocates nothing.
template <class T>
struct Recording {
  ad::Tape<T> tape{std::size_t{1} << 12};  // grows to one evaluation's size at the first use
  ad::Var<T> output;                        // empty when the model recorded nothing (the defaults)
  std::span<ad::Var<T>> params;             // the parameter leaves, in tape memory
};

template <class T>
class Model {
 public:
  virtual ~Model() = default;

  virtual std::size_t num_params() const = 0;
  virtual std::size_t num_inputs() const = 0;
  virtual std::size_t num_outputs() const = 0;

  // f(theta, X): X is B x num_inputs(), the result B x num_outputs().
  virtual Tensor<T> predict(std::span<const T> theta, const Tensor<T>& X) const = 0;

  // The same, written row-major into `out` (B x num_outputs() values). Function-space repulsion calls it
  // for every particle at every step; the default goes through predict(), and a model whose steps must
  // not allocate overrides it (Mlp does).
  virtual void predict_into(std::span<const T> theta, const Tensor<T>& X, std::span<T> out) const {
    const Tensor<T> y = predict(theta, X);
    if (y.size() != out.size())
      throw ShapeError("Model::predict_into: the outputs have " + std::to_string(y.size()) + " values, out " +
                       std::to_string(out.size()));
    std::copy(y.begin(), y.end(), out.begin());
  }

  // The vector-Jacobian product: grad += d <U, f(theta, X)> / d theta, U of the outputs' shape.
  // Thread-safe for concurrent calls (a thread-local tape).
  virtual void pullback(std::span<const T> theta, const Tensor<T>& X, const Tensor<T>& U,
                        std::span<T> grad) const = 0;

  // predict_into(theta, X, out), keeping in `rec` what pullback_recorded needs; X must stay alive and
  // unchanged until then. The default keeps nothing: its pullback_recorded is pullback(), which
  // evaluates f again; a model on the tape overrides both (Mlp does).
  virtual void record(std::span<const T> theta, const Tensor<T>& X, Recording<T>& rec, std::span<T> out) const {
    rec.tape.clear();
    rec.output = {};
    rec.params = {};
    predict_into(theta, X, out);
  }
  // pullback(theta, X, U, grad) for the theta and X that `rec` recorded (the caller passes them again).
  // Thread-safe for concurrent calls on different recordings.
  virtual void pullback_recorded(Recording<T>& rec, std::span<const T> theta, const Tensor<T>& X,
                                 const Tensor<T>& U, std::span<T> grad) const {
    (void)rec;
    pullback(theta, X, U, grad);
  }
};

}  // namespace wgflow::models
