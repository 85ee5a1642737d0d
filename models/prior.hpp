#pragma once
// Zero-mean Gaussian priors P = N(0, diag(s_1^2, ..., s_J^2)) on the parameter vector: the priors of the
// paper (paper.md §2, §6). Flows need three things of a prior: grad log p (the KL term's gradient), log p
// (free-energy estimates), and samples (DRLE's prior samples phi_m, initial particles).
//
//   log p(theta)      = -(1/2) sum_j [theta_j^2 / s_j^2 + log(2 pi s_j^2)]
//   d/dtheta_j log p  = -theta_j / s_j^2
//
// Variances are per parameter; isotropic(), per_block() and from_initializer() fill them. Sampling row i of
// an n x J matrix uses Rng::stream(seed, i), so each row is a pure function of (seed, i), the same for any
// n and any thread count.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <span>
#include <string>
#include <vector>

#include "../core/tensor.hpp"
#include "initializer.hpp"
#include "parameter_layout.hpp"
#include "../core/random.hpp"

namespace wgflow::models {


template <class T>
class GaussianPrior {
 public:
  // N(0, variance I) on R^dim.
  static GaussianPrior isotropic(std::size_t dim, double variance) {
    return GaussianPrior(std::vector<T>(dim, static_cast<T>(variance)), "isotropic");
  }

  // One variance per parameter.
  static GaussianPrior per_parameter(std::vector<T> variances) {
    return GaussianPrior(std::move(variances), "per_parameter");
  }

  // One variance per block of the layout (e.g. per layer's weights and biases), in block order.
  static GaussianPrior per_block(const ParameterLayout& layout, std::span<const double> block_variances) {
    if (block_variances.size() != layout.num_blocks())
      throw Error("GaussianPrior::per_block: " + std::to_string(block_variances.size()) + " variances for " +
                  std::to_string(layout.num_blocks()) + " blocks");
    std::vector<T> v(layout.size());
    for (std::size_t k = 0; k < layout.num_blocks(); ++k) {
      const ParameterBlock& b = layout.block(k);
      std::fill_n(v.begin() + static_cast<std::ptrdiff_t>(b.offset), b.size(), static_cast<T>(block_variances[k]));
    }
    return GaussianPrior(std::move(v), "per_block");
  }

  // The Gaussian with the initialiser's per-parameter variances (paper.md §6: "the prior is the
  // initialisation distribution"). For uniform initialisers this matches the variance, not the shape, and
  // for uniform(a, b) with a != -b not the mean either: the prior stays centred at 0.
  static GaussianPrior from_initializer(const Initializer& init, const ParameterLayout& layout) {
    return GaussianPrior(init.template variances<T>(layout), init.name());
  }

  std::size_t dim() const { return variance_.size(); }
  const std::vector<T>& variances() const { return variance_; }
  // 1 / s_j^2: grad log p = -theta * precisions(), entrywise (flows/prior.hpp's optional member).
  std::span<const T> precisions() const { return inv_variance_; }
  const std::string& description() const { return description_; }

  T log_density(std::span<const T> theta) const {
    check("GaussianPrior::log_density", theta.size());
    T quadratic = 0;
    for (std::size_t j = 0; j < theta.size(); ++j) quadratic += theta[j] * theta[j] * inv_variance_[j];
    return T(-0.5) * (quadratic + log_normaliser_);
  }

  // out = grad log p(theta) = -theta / s^2, entrywise.
  void grad_log_density(std::span<const T> theta, std::span<T> out) const {
    check("GaussianPrior::grad_log_density", theta.size());
    check("GaussianPrior::grad_log_density (output)", out.size());
    for (std::size_t j = 0; j < theta.size(); ++j) out[j] = -theta[j] * inv_variance_[j];
  }

  // One draw, row `row` of the matrix sample(n, seed) for any n > row.
  void sample_into(std::uint64_t seed, std::uint64_t row, std::span<T> out) const {
    check("GaussianPrior::sample_into", out.size());
    Rng::stream(seed, row).for_each_normal(out.size(), [&](std::size_t j, double z) {
      out[j] = static_cast<T>(std_dev_[j] * z);
    });
  }

  // n x J independent draws.
  Tensor<T> sample(std::size_t n, std::uint64_t seed) const {
    Tensor<T> out = Tensor<T>::from_shape({n, dim()});
    for (std::size_t i = 0; i < n; ++i) sample_into(seed, i, std::span<T>(out.data() + i * dim(), dim()));
    return out;
  }

 private:
  GaussianPrior(std::vector<T> variances, std::string description)
      : variance_(std::move(variances)), description_(std::move(description)) {
    if (variance_.empty()) throw Error("GaussianPrior: dimension must be positive");
    inv_variance_.resize(variance_.size());
    std_dev_.resize(variance_.size());
    double log_normaliser = 0;  // sum_j log(2 pi s_j^2), accumulated in double for large J
    for (std::size_t j = 0; j < variance_.size(); ++j) {
      const double v = static_cast<double>(variance_[j]);
      if (!(v > 0) || !std::isfinite(v))
        throw Error("GaussianPrior (" + description_ + "): variance of parameter " + std::to_string(j) +
                    " must be positive and finite, got " + std::to_string(v));
      inv_variance_[j] = static_cast<T>(1.0 / v);
      std_dev_[j] = std::sqrt(v);
      log_normaliser += std::log(2 * std::numbers::pi * v);
    }
    log_normaliser_ = static_cast<T>(log_normaliser);
  }

  void check(const char* where, std::size_t n) const {
    if (n != dim())
      throw ShapeError(std::string(where) + ": vector has " + std::to_string(n) + " entries, the prior is on R^" +
                       std::to_string(dim()));
  }

  std::vector<T> variance_;
  std::vector<T> inv_variance_;
  std::vector<double> std_dev_;
  T log_normaliser_ = 0;
  std::string description_;
};

}  // namespace wgflow::models
