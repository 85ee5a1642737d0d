#pragma once
// What every flow offers (DE, DLE, DRLE, SVGD, mean-field VI): a state advanced by step(), a run loop
// with a logging callback, and the parameter vectors that represent the current measure Q.
#include <cstdint>
#include <functional>
#include <string>

#include "core/errors.hpp"
#include "core/tensor.hpp"

namespace wgflow::flows {


template <class T>
class Flow {
 public:
  // Called after a step; return false to stop the run early.
  using Callback = std::function<bool(const Flow<T>&)>;

  virtual ~Flow() = default;

  virtual std::string name() const = 0;

  // One step of the flow: t -> t + 1.
  virtual void step() = 0;

  virtual std::uint64_t steps_taken() const = 0;

  // N x J: row i is particle i (for mean-field VI, member i's variational mean).
  virtual const Tensor<T>& particles() const = 0;

  // Parameter vectors that stand for Q when predicting: the particles themselves for particle flows;
  // `per_member` draws from each member's Gaussian for mean-field VI (rows grouped by member).
  virtual Tensor<T> predictive_samples(std::size_t /*per_member*/, std::uint64_t /*seed*/) const {
    return particles();
  }

  // Runs n steps, calling `callback` every `every` steps (and after the last).
  void run(std::uint64_t n, const Callback& callback = {}, std::uint64_t every = 1) {
    if (every == 0) throw Error(name() + ": run(): the callback interval `every` must be at least 1");
    for (std::uint64_t i = 1; i <= n; ++i) {
      step();
      if (callback && (i % every == 0 || i == n) && !callback(*this)) return;
    }
  }
};

}  // namespace wgflow::flows
