#pragma once
// A potential given in closed form: a value function and its gradient. The toy losses of the paper
// (models/toy_potentials.hpp) and any user-written test function plug into every flow through it.
//
//   AnalyticPotential<double> bowl(2, [](auto t) { return t[0] * t[0] + t[1] * t[1]; },
//                                  [](auto t, auto g) { g[0] = 2 * t[0]; g[1] = 2 * t[1]; }, "bowl");
//
// Both functions are called concurrently from several threads (Potential's contract): they must not
// mutate shared state.
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <utility>

#include "../core/errors.hpp"
#include "potential.hpp"

namespace wgflow::models {

template <class T>
class AnalyticPotential final : public Potential<T> {
 public:
  using ValueFn = std::function<T(std::span<const T> theta)>;
  using GradientFn = std::function<void(std::span<const T> theta, std::span<T> grad)>;

  AnalyticPotential(std::size_t dim, ValueFn value, GradientFn gradient, std::string name = "analytic")
      : dim_(dim), value_(std::move(value)), gradient_(std::move(gradient)), name_(std::move(name)) {
    if (dim_ == 0) throw Error("AnalyticPotential \"" + name_ + "\": dimension must be positive");
    if (!value_ || !gradient_) throw Error("AnalyticPotential \"" + name_ + "\": value and gradient functions are required");
  }

  std::size_t dim() const override { return dim_; }
  const std::string& name() const { return name_; }

  T value(std::span<const T> theta) const {
    check("value", theta.size());
    return value_(theta);
  }

  // Writes grad = d l / d theta (overwriting it).
  void gradient(std::span<const T> theta, std::span<T> grad) const {
    check("gradient", theta.size());
    check("gradient (output)", grad.size());
    gradient_(theta, grad);
  }

  T value_and_gradient(std::span<const T> theta, std::span<T> grad) const override {
    gradient(theta, grad);
    return value_(theta);
  }

 private:
  void check(const char* where, std::size_t n) const {
    if (n != dim_)
      throw ShapeError("AnalyticPotential \"" + name_ + "\"::" + where + ": vector has " + std::to_string(n) +
                       " entries, the potential is on R^" + std::to_string(dim_));
  }

  std::size_t dim_;
  ValueFn value_;
  GradientFn gradient_;
  std::string name_;
};

}  // namespace wgflow::models
