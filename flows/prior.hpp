#pragma once
// What a flow needs of a prior P, behind one type: grad log p (the KL term's gradient), log p (free-energy
// estimates), and reproducible draws (DRLE's prior samples phi_m). Any type with these members plugs in:
//
//   std::size_t dim() const;
//   void grad_log_density(std::span<const T> theta, std::span<T> out) const;   // out = grad log p
//   T log_density(std::span<const T> theta) const;
//   void sample_into(std::uint64_t seed, std::uint64_t row, std::span<T> out) const;  // row `row` of draws
//
// and, optionally, where P is a zero-mean Gaussian of diagonal covariance (grad log p = -theta * a):
//
//   std::span<const T> precisions() const;   // a_j = 1 / s_j^2, dim() of them
//
// with which the KL term adds its gradient in the pass that sums the particle's (flows/kl_divergence.hpp).
// models::GaussianPrior (isotropic, per-parameter, from an initialiser: the priors of paper.md §6) is one;
// a Laplace or Student-t prior written by a researcher is another. Priors are immutable, so copies of a
// Prior share the wrapped object.
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

#include "../core/precompiled.hpp"
#include "../core/tensor.hpp"

namespace wgflow::flows {


template <class P, class T>
concept PriorLike = requires(const P& p, std::span<const T> theta, std::span<T> out, std::uint64_t n) {
  { p.dim() } -> std::convertible_to<std::size_t>;
  p.grad_log_density(theta, out);
  { p.log_density(theta) } -> std::convertible_to<T>;
  p.sample_into(n, n, out);
};

template <class T>
class Prior {
 public:
  template <class P>
    requires(PriorLike<P, T> && !std::same_as<std::decay_t<P>, Prior>)
  Prior(P prior) : impl_(std::make_shared<const Model<P>>(std::move(prior))) {}  // NOLINT: implicit by design

  std::size_t dim() const { return impl_->dim(); }
  void grad_log_density(std::span<const T> theta, std::span<T> out) const { impl_->grad_log_density(theta, out); }
  T log_density(std::span<const T> theta) const { return impl_->log_density(theta); }
  void sample_into(std::uint64_t seed, std::uint64_t row, std::span<T> out) const { impl_->sample_into(seed, row, out); }
  // The optional member above; empty where the prior has none.
  std::span<const T> precisions() const { return impl_->precisions(); }

  // n x dim() draws; row i is sample_into(seed, i, .), so it does not depend on n.
  Tensor<T> sample(std::size_t n, std::uint64_t seed) const {
    Tensor<T> out = Tensor<T>::from_shape({n, dim()});
    for (std::size_t i = 0; i < n; ++i) sample_into(seed, i, std::span<T>(out.data() + i * dim(), dim()));
    return out;
  }

 private:
  struct Concept {
    virtual ~Concept() = default;
    virtual std::size_t dim() const = 0;
    virtual void grad_log_density(std::span<const T> theta, std::span<T> out) const = 0;
    virtual T log_density(std::span<const T> theta) const = 0;
    virtual void sample_into(std::uint64_t seed, std::uint64_t row, std::span<T> out) const = 0;
    virtual std::span<const T> precisions() const = 0;
  };
  template <class P>
  struct Model final : Concept {
    explicit Model(P p) : prior(std::move(p)) {}
    std::size_t dim() const override { return prior.dim(); }
    void grad_log_density(std::span<const T> theta, std::span<T> out) const override { prior.grad_log_density(theta, out); }
    T log_density(std::span<const T> theta) const override { return prior.log_density(theta); }
    void sample_into(std::uint64_t seed, std::uint64_t row, std::span<T> out) const override {
      prior.sample_into(seed, row, out);
    }
    std::span<const T> precisions() const override {
      if constexpr (requires { { prior.precisions() } -> std::convertible_to<std::span<const T>>; })
        return prior.precisions();
      else
        return {};
    }
    P prior;
  };

  std::shared_ptr<const Concept> impl_;
};

WGFLOW_EXTERN_INSTANCES(Prior)

}  // namespace wgflow::flows
