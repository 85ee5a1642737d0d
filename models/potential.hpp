#pragma once
// A potential is the training loss l(theta) of one particle: the function whose gradient drives every
// flow. Networks with data and analytic toy losses implement the same interface, so any flow runs on
// either.
#include <cstddef>
#include <cstdint>
#include <span>

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
};

}  // namespace wgflow::models
