#pragma once
// Shared by the models tests: a direct (tape-free) MLP forward pass to compare against, random parameters
// and data, and the library's likelihoods.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

#include "models/likelihoods.hpp"
#include "models/mlp.hpp"
#include "tests/support/op_check.hpp"

namespace wgtest {

// A float's or double's bits, for checks that two results agree to the last bit (and at signed zeros
// and NaN, where == says otherwise).
template <class T>
auto bits_of(T v) {
  return std::bit_cast<std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>(v);
}

using wgflow::models::Activation;
using wgflow::models::Mlp;
using wgflow::models::MlpSpec;

inline double activate(const Activation& act, double a) {
  using K = Activation::Kind;
  switch (act.kind()) {
    case K::identity: return a;
    case K::tanh: return std::tanh(a);
    case K::relu: return a > 0 ? a : 0;
    case K::sigmoid: return 1 / (1 + std::exp(-a));
    case K::softplus: return std::log1p(std::exp(a));
    case K::leaky_relu: return a > 0 ? a : act.slope() * a;
  }
  return a;
}

// Whether the activation has a kink (a point where it is not differentiable): 0, for relu and leaky_relu.
inline bool kinked(const Activation& act) {
  return act.kind() == Activation::Kind::relu || act.kind() == Activation::Kind::leaky_relu;
}

// The network written out with loops over the flat theta, in the documented layout (W_l in x out row-major,
// then b_l), independently of ParameterLayout and the tape.
// With `pattern`, also appends the sign of every pre-activation of a kinked activation, layer by layer:
// which linear piece of the network (theta, X) lies on.
inline Tensor<double> reference_forward(const MlpSpec& spec, std::span<const double> theta, const Tensor<double>& X,
                                        std::vector<bool>* pattern = nullptr) {
  Tensor<double> h = X;
  std::size_t offset = 0;
  const std::size_t layers = spec.widths.size() - 1;
  for (std::size_t l = 0; l < layers; ++l) {
    const std::size_t in = spec.widths[l], out = spec.widths[l + 1];
    const Activation& act = l + 1 < layers ? spec.hidden : spec.output;
    const double* W = theta.data() + offset;
    offset += in * out;
    const double* b = spec.bias ? theta.data() + offset : nullptr;
    if (spec.bias) offset += out;
    Tensor<double> next = Tensor<double>::from_shape({h.shape()[0], out});
    for (std::size_t i = 0; i < h.shape()[0]; ++i)
      for (std::size_t j = 0; j < out; ++j) {
        double a = b ? b[j] : 0.0;
        for (std::size_t p = 0; p < in; ++p) a += h(i, p) * W[p * out + j];
        if (pattern && kinked(act)) pattern->push_back(a > 0);
        next(i, j) = activate(act, a);
      }
    h = next;
  }
  return h;
}

inline std::vector<bool> kink_pattern(const MlpSpec& spec, std::span<const double> theta, const Tensor<double>& X) {
  std::vector<bool> pattern;
  reference_forward(spec, theta, X, &pattern);
  return pattern;
}

// Whether the finite differences of a gradient check at (theta, X) stay on one linear piece of the
// network: for each entry x_k of theta (and of X when `inputs_too`), the stencil x_k +- h/2, +- h, +- 2h
// with h = step max(1, |x_k|) (as in wgflow::ad::check_gradient) must not cross a kink, where a difference
// quotient is wrong by O(slope jump / h) whatever the gradient code does. Checking the two ends x_k +- 2h
// suffices when the kinked activations are piecewise linear (relu, leaky_relu) and the others come after
// them: along the segment, layer 0's pre-activations are affine in x_k, so equal signs at both ends mean
// no crossing between them; then layer 1's are affine too, and so on up the layers. Entries of theta past
// the network's parameters (a loss's own, such as log sigma) move no kink and are not perturbed.
inline bool stencil_avoids_kinks(const MlpSpec& spec, std::span<const double> theta, const Tensor<double>& X,
                                 double step, bool inputs_too = false) {
  if (!kinked(spec.hidden) && !kinked(spec.output)) return true;
  std::size_t params = 0;
  for (std::size_t l = 0; l + 1 < spec.widths.size(); ++l)
    params += spec.widths[l] * spec.widths[l + 1] + (spec.bias ? spec.widths[l + 1] : 0);
  std::vector<double> t(theta.begin(), theta.begin() + static_cast<std::ptrdiff_t>(params));
  Tensor<double> x = X;
  const std::vector<bool> here = kink_pattern(spec, t, x);
  const auto same_piece = [&](double& entry) {
    const double x0 = entry, h = step * std::max(1.0, std::abs(x0));
    for (const double offset : {-2 * h, 2 * h}) {
      entry = x0 + offset;
      const bool same = kink_pattern(spec, t, x) == here;
      entry = x0;
      if (!same) return false;
    }
    return true;
  };
  for (double& entry : t)
    if (!same_piece(entry)) return false;
  if (inputs_too)
    for (double& entry : x)
      if (!same_piece(entry)) return false;
  return true;
}

// Parameters N(0, 0.5^2)-ish (uniform on [-1, 1]) keep every activation in its interesting range.
inline std::vector<double> random_theta(std::size_t n, std::uint64_t seed) {
  const Tensor<double> t = random_tensor(Shape{n, 1}, seed, Domain{-1, 1});
  return std::vector<double>(t.begin(), t.end());
}

// The library's four likelihoods (models/likelihoods.hpp), GaussianNll with noise scale sigma.
inline std::vector<std::shared_ptr<const wgflow::models::Likelihood<double>>> all_likelihoods(double sigma) {
  namespace m = wgflow::models;
  return {std::make_shared<m::SquaredError<double>>(), std::make_shared<m::GaussianNll<double>>(sigma),
          std::make_shared<m::GaussianNllLearnedNoise<double>>(), std::make_shared<m::SoftmaxCrossEntropy<double>>()};
}

}  // namespace wgtest
