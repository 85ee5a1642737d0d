#pragma once
// A pointwise term: one whose gradient at particle i depends on theta_i alone. These are the linear
// functionals F(Q) = int V dQ, whose first variation is V itself, so each particle moves down grad V at
// its own position and never looks at the others: the KL divergence's cross-entropy part (V = -lambda
// log p), a confinement, a penalty on the weights' size.
//
// Such a term writes one particle's gradient at a time (row_gradient). A flow (flows/particle_flow.hpp)
// then computes it inside the pass that sums the terms and moves each particle, while that particle's row
// is in cache, instead of through an N x J buffer of its own (DLE N = 1000 float64, 1 thread, Zen 4:
// 7.07 -> 6.59 ms, medians of 5 alternating runs; the buffer was written, read and zeroed). add_gradient, for
// callers that want the whole matrix, runs row_gradient over the rows; the two give the same bits. As a
// flow never calls add_gradient, energy() must not depend on it.
//
//   class Confinement final : public PointwiseTerm<double> {   // F = (c/2) int |theta|^2 dQ
//    public:
//     explicit Confinement(double c) : c_(c) {}
//     std::string name() const override { return "confinement"; }
//     void row_gradient(std::uint64_t, std::size_t, std::span<const double> theta,
//                       std::span<double> out) const override {
//       for (std::size_t j = 0; j < theta.size(); ++j) out[j] = c_ * theta[j];
//     }
//    private:
//     double c_;
//   };
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "../core/parallel.hpp"
#include "../core/precompiled.hpp"
#include "term.hpp"

namespace wgflow::flows {

template <class T>
class PointwiseTerm : public Term<T> {
 public:
  // out = this term's gradient at theta, the row of the particle with global index `row` at step `step`
  // (written, not added; out has theta's length). Called concurrently for different rows: const, and
  // thread-safe. A term that draws uses Rng::stream(seed, row, step) of its own seed.
  virtual void row_gradient(std::uint64_t step, std::size_t row, std::span<const T> theta,
                            std::span<T> out) const = 0;

  // Optional, for a term that can do it in one pass: g += row_gradient(step, row, theta), the same bits,
  // returning the largest |entry| added (infinite or NaN where an entry was not finite: RowFaults<T>::widest
  // finds it vectorised); std::nullopt, g untouched, where the term has no such pass (the default). The
  // flow's summing pass then calls row_gradient and adds the row: two more passes over it.
  virtual std::optional<T> add_row_gradient(std::uint64_t /*step*/, std::size_t /*row*/,
                                            std::span<const T> /*theta*/, std::span<T> /*g*/) const {
    return std::nullopt;
  }

  // Each particle's gradient is its own: over ranks, each evaluates its rows.
  Reach reach() const final { return Reach::own_rows; }

  // gradient(i, :) += row_gradient at row i, for every row, in parallel.
  void add_gradient(const StepContext<T>& context, Tensor<T>& gradient) final {
    const Tensor<T>& theta = context.particles;
    const std::size_t J = theta.shape()[1];
    parallel_for_each_index(theta.shape()[0], [&](std::size_t i) {
      const std::span<const T> theta_i(theta.data() + i * J, J);
      T* g = gradient.data() + i * J;
      if (context.may_write) return row_gradient(context.step, context.first_row + i, theta_i, std::span<T>(g, J));
      thread_local std::vector<T> row;  // one per thread, reused
      row.resize(J);
      row_gradient(context.step, context.first_row + i, theta_i, std::span<T>(row));
      for (std::size_t j = 0; j < J; ++j) g[j] += row[j];
    }, 8);
  }
};

WGFLOW_EXTERN_INSTANCES(PointwiseTerm)

}  // namespace wgflow::flows
