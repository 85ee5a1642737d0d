#pragma once
// A model is a parametric function f(theta, X): parameter vector -> outputs at a batch of inputs.
// Flows need it twice: for predictions of the ensemble, and for repulsion in function space, where the
// kernel acts on outputs and its gradient is pulled back to the parameters.
#include <algorithm>
#include <cstddef>
#include <span>
#include <string>

#include "autodiff/errors.hpp"
#include "autodiff/tape.hpp"

namespace wgflow::models {

using ad::Tensor;

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
};

}  // namespace wgflow::models
