#pragma once
// A layer's nonlinearity, chosen at run time (from code or a config string) and applied on the tape with
// the AD core's ops (autodiff/ops/activations.hpp), so its derivative is the one tested there.
#include <string>
#include <string_view>

#include "../autodiff/ops/activations.hpp"
#include "../autodiff/tape.hpp"

namespace wgflow::models {

class Activation {
 public:
  enum class Kind { identity, tanh, relu, sigmoid, softplus, leaky_relu };

  constexpr Activation() = default;
  static constexpr Activation identity() { return Activation(Kind::identity); }
  static constexpr Activation tanh() { return Activation(Kind::tanh); }
  static constexpr Activation relu() { return Activation(Kind::relu); }
  static constexpr Activation sigmoid() { return Activation(Kind::sigmoid); }
  static constexpr Activation softplus() { return Activation(Kind::softplus); }
  // max(a, slope a) for 0 < slope < 1; PyTorch's default slope.
  static constexpr Activation leaky_relu(double slope = 0.01) { return Activation(Kind::leaky_relu, slope); }

  // "identity" (or "linear", "none"), "tanh", "relu", "sigmoid", "softplus", "leaky_relu".
  static Activation parse(std::string_view name) {
    if (name == "identity" || name == "linear" || name == "none") return identity();
    if (name == "tanh") return tanh();
    if (name == "relu") return relu();
    if (name == "sigmoid") return sigmoid();
    if (name == "softplus") return softplus();
    if (name == "leaky_relu") return leaky_relu();
    throw Error("Activation::parse: unknown activation \"" + std::string(name) +
                "\" (expected identity, tanh, relu, sigmoid, softplus or leaky_relu)");
  }

  constexpr Kind kind() const { return kind_; }
  constexpr double slope() const { return slope_; }

  std::string name() const {
    switch (kind_) {
      case Kind::identity: return "identity";
      case Kind::tanh: return "tanh";
      case Kind::relu: return "relu";
      case Kind::sigmoid: return "sigmoid";
      case Kind::softplus: return "softplus";
      case Kind::leaky_relu: return "leaky_relu(" + std::to_string(slope_) + ")";
    }
    return "?";
  }

  // The identity adds no node to the tape.
  template <class T>
  ad::Var<T> operator()(const ad::Var<T>& a) const {
    switch (kind_) {
      case Kind::identity: return a;
      case Kind::tanh: return ad::tanh(a);
      case Kind::relu: return ad::relu(a);
      case Kind::sigmoid: return ad::sigmoid(a);
      case Kind::softplus: return ad::softplus(a);
      case Kind::leaky_relu: return ad::leaky_relu(a, static_cast<T>(slope_));
    }
    return a;
  }

  constexpr bool operator==(const Activation&) const = default;

 private:
  constexpr explicit Activation(Kind kind, double slope = 0) : kind_(kind), slope_(slope) {}

  Kind kind_ = Kind::identity;
  double slope_ = 0;
};

}  // namespace wgflow::models
