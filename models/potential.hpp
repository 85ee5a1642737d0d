#pragma once
// A potential is the training loss l(theta) of one particle: the function whose gradient drives every
// flow. Networks with data and analytic toy losses implement the same interface, so any flow runs on
// either.
//
// Flows ask for l one particle at a time by default (value_and_gradient, from many threads at once). A
// potential that is cheaper for all particles at once -- one written in Python, which should cross into
// the interpreter once per step, or a network evaluated on a GPU as one batch -- overrides
// values_and_gradients and returns true from prefers_batches; the flows then hand it every point of a
// step in one call (PotentialEnergy: the N particles; mean-field VI: the N x S draws). Each point's value and
// gradient are its own, whatever the batch holds; a batched path may round differently from the point by
// point one (a network potential's does: models/network_lanes.hpp), never by the batch's make-up.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "../core/errors.hpp"
#include "../core/parallel.hpp"
#include "../core/rows_done.hpp"
#include "../core/tensor.hpp"
#include "parameter_layout.hpp"

namespace wgflow::models {

template <class T>
class Potential {
 public:
  virtual ~Potential() = default;

  // Number of parameters J of one particle.
  virtual std::size_t dim() const = 0;

  // theta's named blocks, which saved particles and checkpoints carry so that a reader can rebuild a
  // network's weights by name (flows/particle_layout.hpp). By default one block "theta" of 1 x dim(); a
  // network's potential names its model's blocks, then its likelihood's.
  virtual ParameterLayout parameter_layout() const {
    ParameterLayout layout;
    layout.add("theta", Shape{1, dim()});
    return layout;
  }

  // Called once per flow step, before any particle is evaluated, from one thread. A data potential
  // selects the step's minibatch here, as a pure function of (its seed, step), so that every particle
  // sees the same minibatch and a resumed run sees the same sequence.
  virtual void begin_step(std::uint64_t /*step*/) {}

  // Writes grad = d l / d theta at theta and returns l(theta) on the current minibatch.
  // Must be safe to call concurrently for different particles (use Tape<T>::local()).
  virtual T value_and_gradient(std::span<const T> theta, std::span<T> grad) const = 0;

  // values[i] = l(theta_i) and row i of gradients = grad l(theta_i) for every row theta_i of the n x J
  // thetas; values has n entries and gradients is n x J (the caller sizes both). By default the rows
  // are evaluated in parallel through value_and_gradient, each by one task, so the result does not
  // depend on the thread count. Thread-safety as value_and_gradient.
  virtual void values_and_gradients(const Tensor<T>& thetas, std::span<T> values, Tensor<T>& gradients) const {
    check_batch(thetas, values, gradients);
    const std::size_t n = thetas.shape()[0], J = thetas.shape()[1];
    parallel_for_each_index(n, [&](std::size_t i) {
      values[i] = value_and_gradient(std::span<const T>(thetas.data() + i * J, J),
                                     std::span<T>(gradients.data() + i * J, J));
    });
  }

  // values_and_gradients, calling rows_done(i0, i1) (from any thread, once for each row) as soon as rows
  // [i0, i1) of values and gradients are final, so that the caller can use them while the rest are
  // computed (a flow moves those particles while their rows are in cache). By default
  // values_and_gradients, then rows_done over all rows.
  virtual void values_and_gradients_in_pieces(const Tensor<T>& thetas, std::span<T> values, Tensor<T>& gradients,
                                              RowsDone rows_done) const {
    values_and_gradients(thetas, values, gradients);
    rows_done(0, thetas.shape()[0]);
  }

  // Whether the flows should call values_and_gradients once for all of a step's points rather than
  // value_and_gradient per point. False keeps the per-point path, which fuses each particle's evaluation
  // with the use of its gradient in one task (no n x J pass afterwards).
  virtual bool prefers_batches() const { return false; }

 protected:
  // values_and_gradients' shape checks, for overrides to share: a ShapeError naming all three shapes.
  static void check_batch(const Tensor<T>& thetas, std::span<T> values, const Tensor<T>& gradients) {
    const std::size_t n = thetas.shape()[0], J = thetas.shape()[1];
    if (values.size() != n || gradients.shape()[0] != n || gradients.shape()[1] != J)
      throw ShapeError("values_and_gradients: thetas are " + shape_string({n, J}) + " but values have " +
                       std::to_string(values.size()) + " entries and gradients are " +
                       shape_string({gradients.shape()[0], gradients.shape()[1]}));
  }
};

}  // namespace wgflow::models
