#pragma once
// Seeded parameter initialisers, and the per-parameter variance each one implies.
//
// The variance matters beyond initialisation: the paper's prior (paper.md §6) is "the initialisation
// distribution", a per-parameter Gaussian with the initialiser's variance, so GaussianPrior can be built
// from any initialiser (models/prior.hpp).
//
// Each initialiser assigns every block of a ParameterLayout a distribution from the block's role and fan,
// zero-mean except for uniform(a, b) with a != -b (mean (a + b) / 2):
//   normal(v_w, v_b)        weights N(0, v_w), biases and other blocks N(0, v_b)
//   kaiming(v_w, v_b, fan)  weights N(0, v_w / fan), biases and other blocks N(0, v_b / fan) (He et al.
//                           2015; v_w = 2 suits ReLU). fan = the layer's inputs by default. The authors'
//                           code ("kaiming" in GVI-WGF's torch_models.py) divides by PyTorch's fan_out,
//                           i.e. the layer's outputs: Fan::out reproduces it.
//   uniform(a, b)           every parameter U(a, b), variance (b - a)^2 / 12
//   torch_default()         PyTorch's nn.Linear: weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
//                           variance 1 / (3 fan_in)
// where a block's fan_in is its layer's number of inputs and its fan_out the layer's outputs (the
// block's columns); blocks outside a layer (role `other`, e.g. a noise scale) have both fans 1.
//
// Reproducibility: row i (particle i), block k is drawn from Rng::stream(seed, i, k + 1), a pure function
// of (seed, i, k): the draws of one block do not depend on the layout's other blocks or on how many rows
// are drawn. Key 0 of the last argument is left to whole-row draws (GaussianPrior::sample uses
// Rng::stream(seed, i)), so an initialiser and a prior called with the same seed are independent.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "../core/tensor.hpp"
#include "parameter_layout.hpp"
#include "../core/random.hpp"

namespace wgflow::models {


class Initializer {
 public:
  enum class Fan { in, out };

  // The distribution of one block's entries: N(0, variance) or U(lo, hi).
  struct Distribution {
    bool uniform = false;
    double variance = 0;  // for both kinds
    double lo = 0, hi = 0;

    double mean() const { return uniform ? 0.5 * (lo + hi) : 0.0; }

    double draw(Rng& rng) const { return uniform ? rng.uniform(lo, hi) : std::sqrt(variance) * rng.normal(); }
  };

  static Initializer normal(double weight_variance, double bias_variance) {
    check_variance("normal", weight_variance);
    check_variance("normal", bias_variance);
    return Initializer(Kind::normal, weight_variance, bias_variance);
  }
  static Initializer normal(double variance) { return normal(variance, variance); }

  static Initializer kaiming(double weight_variance, double bias_variance, Fan fan = Fan::in) {
    check_variance("kaiming", weight_variance);
    check_variance("kaiming", bias_variance);
    Initializer init(Kind::kaiming, weight_variance, bias_variance);
    init.fan_ = fan;
    return init;
  }
  static Initializer kaiming(double variance = 2.0) { return kaiming(variance, variance); }

  static Initializer uniform(double lo, double hi) {
    if (!(lo < hi) || !std::isfinite(lo) || !std::isfinite(hi))
      throw Error("Initializer::uniform: need finite lo < hi, got [" + std::to_string(lo) + ", " +
                  std::to_string(hi) + ")");
    return Initializer(Kind::uniform, lo, hi);
  }

  static Initializer torch_default() { return Initializer(Kind::torch_default, 0, 0); }

  std::string name() const {
    switch (kind_) {
      case Kind::normal: return "normal(" + std::to_string(a_) + ", " + std::to_string(b_) + ")";
      case Kind::kaiming:
        return "kaiming(" + std::to_string(a_) + ", " + std::to_string(b_) + (fan_ == Fan::in ? ", fan_in)" : ", fan_out)");
      case Kind::uniform: return "uniform(" + std::to_string(a_) + ", " + std::to_string(b_) + ")";
      case Kind::torch_default: return "torch_default";
    }
    return "?";
  }

  Distribution distribution(const ParameterBlock& block) const {
    const bool weight = block.role == BlockRole::weight;
    const bool in_layer = block.role != BlockRole::other;
    const double fan_in = in_layer ? static_cast<double>(block.fan_in) : 1.0;
    const double fan_out = in_layer ? static_cast<double>(block.shape[1]) : 1.0;
    Distribution d;
    switch (kind_) {
      case Kind::normal: d.variance = weight ? a_ : b_; break;
      case Kind::kaiming: d.variance = (weight ? a_ : b_) / (fan_ == Fan::in ? fan_in : fan_out); break;
      case Kind::uniform: d = uniform_on(a_, b_); break;
      case Kind::torch_default: {
        const double bound = 1.0 / std::sqrt(fan_in);
        d = uniform_on(-bound, bound);
        break;
      }
    }
    return d;
  }

  // The variance of every parameter, in theta's order: the diagonal of the matching Gaussian prior.
  template <class T>
  std::vector<T> variances(const ParameterLayout& layout) const {
    std::vector<T> v(layout.size());
    for (const ParameterBlock& b : layout.blocks())
      std::fill_n(v.begin() + static_cast<std::ptrdiff_t>(b.offset), b.size(), static_cast<T>(distribution(b).variance));
    return v;
  }

  // Draws row `row` (e.g. particle `row`) into theta.
  template <class T>
  void sample_into(const ParameterLayout& layout, std::uint64_t seed, std::uint64_t row, std::span<T> theta) const {
    if (theta.size() != layout.size())
      throw ShapeError("Initializer::sample_into: theta has " + std::to_string(theta.size()) +
                       " entries, the layout " + std::to_string(layout.size()));
    for (std::size_t k = 0; k < layout.num_blocks(); ++k) {
      const ParameterBlock& b = layout.block(k);
      const Distribution d = distribution(b);
      Rng rng = Rng::stream(seed, row, k + 1);
      for (std::size_t i = 0; i < b.size(); ++i) theta[b.offset + i] = static_cast<T>(d.draw(rng));
    }
  }

  // n x J: row i drawn as sample_into(layout, seed, i, row i).
  template <class T>
  Tensor<T> sample(const ParameterLayout& layout, std::size_t n, std::uint64_t seed) const {
    Tensor<T> out = Tensor<T>::from_shape({n, layout.size()});
    for (std::size_t i = 0; i < n; ++i)
      sample_into(layout, seed, i, std::span<T>(out.data() + i * layout.size(), layout.size()));
    return out;
  }

 private:
  enum class Kind { normal, kaiming, uniform, torch_default };

  Initializer(Kind kind, double a, double b) : kind_(kind), a_(a), b_(b) {}

  static Distribution uniform_on(double lo, double hi) {
    return Distribution{true, (hi - lo) * (hi - lo) / 12.0, lo, hi};
  }
  static void check_variance(const char* which, double v) {
    if (!(v > 0) || !std::isfinite(v))
      throw Error(std::string("Initializer::") + which + ": variance must be positive and finite, got " +
                  std::to_string(v));
  }

  Kind kind_;
  double a_, b_;  // normal/kaiming: weight and bias variances; uniform: lo and hi
  Fan fan_ = Fan::in;
};

}  // namespace wgflow::models
