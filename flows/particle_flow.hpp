#pragma once
// The one integrator of wgflow's particle flows: Euler-Maruyama for the Wasserstein gradient flow of a
// free energy F = sum_k F_k (paper §2). DE, DLE and DRLE are this class with different terms
// (flows/presets.hpp).
//
// State: the particles theta (N x J), the step count t, the optimiser's state, the terms' states (e.g. a
// kernel bandwidth) and the seed. One step, t -> t + 1:
//   1. drift_i = sum_k grad_theta (dF_k/dQ)(theta_i), the terms evaluated concurrently (with the step's
//      noise draws) and summed in the order added; every term's drift must be finite;
//   2. delta = optimiser(drift)  (Sgd: delta = -eta drift);
//   3. theta_i <- theta_i + delta_i + sqrt(2 D eta) xi_i,  D = sum_k D_k (the KL weight), eta the
//      optimiser's learning rate, xi_i ~ N(0, I) drawn from Rng::stream(seed, i, t);
//   4. every new particle must be finite.
// A non-finite drift or particle throws wgflow::Error naming the step, the particle and the term; the
// particles and the step count are then left as they were before the step, but the optimiser's state
// (Momentum, Adam) and the terms' states (a bandwidth estimate) may have advanced: to go on, e.g. with a
// smaller step, rebuild the flow or load a checkpoint rather than call step() again. Undoing those too
// would copy the optimiser's O(N J) state on every step for the sake of the rare failing one.
//
// Reproducibility: every per-particle computation writes its own row and draws from its own random
// stream, and all sums over particles run in a fixed order, so a run is bit-identical for any number of
// threads.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xnoalias.hpp>

#include "core/errors.hpp"
#include "flows/flow.hpp"
#include "flows/optimizers.hpp"
#include "core/parallel.hpp"
#include "flows/term.hpp"
#include "core/random.hpp"

namespace wgflow::flows {

template <class T>
class ParticleFlow final : public Flow<T> {
 public:
  ParticleFlow(std::string name, Tensor<T> initial_particles, Optimizer<T> optimizer, std::uint64_t seed)
      : name_(std::move(name)), particles_(std::move(initial_particles)), optimizer_(std::move(optimizer)), seed_(seed) {
    const std::size_t n = particles_.shape()[0], J = particles_.shape()[1];
    if (n == 0 || J == 0)
      throw ShapeError(name_ + ": need at least one particle of positive dimension, got " + shape_string({n, J}));
    for (std::size_t i = 0; i < n; ++i)
      if (const auto bad = first_non_finite(particles_, i))
        throw Error(name_ + ": initial particle " + std::to_string(i) + " is not finite (coordinate " +
                    std::to_string(*bad) + " = " + std::to_string(particles_(i, *bad)) + ")");
    optimizer_.init(particles_);
  }

  // Adds a term of the free energy; returns it for inspection. Terms act in the order added.
  template <class TermT>
  TermT& add(std::unique_ptr<TermT> term) {
    if (!term) throw Error(name_ + ": add(): null term");
    term->attach(particles_);
    TermT& ref = *term;
    terms_.push_back(std::move(term));
    return ref;
  }

  // Replaces the optimiser and restarts its state at the current particles.
  void set_optimizer(Optimizer<T> optimizer) {
    optimizer.init(particles_);
    optimizer_ = std::move(optimizer);
  }

  std::string name() const override { return name_; }
  std::uint64_t steps_taken() const override { return steps_; }
  const Tensor<T>& particles() const override { return particles_; }

  std::size_t num_particles() const { return particles_.shape()[0]; }
  std::size_t dim() const { return particles_.shape()[1]; }
  std::uint64_t seed() const { return seed_; }
  const Optimizer<T>& optimizer() const { return optimizer_; }
  std::size_t num_terms() const { return terms_.size(); }
  const Term<T>& term(std::size_t k) const { return *terms_.at(k); }

  // D = sum of the terms' diffusion coefficients.
  T diffusion() const {
    T d = 0;
    for (const auto& t : terms_) d += t->diffusion();
    return d;
  }

  // The total drift of the last step (N x J).
  const Tensor<T>& drift() const { return drift_; }

  // sum_k F_k at the particles of the last step, when every term can estimate its own (the KL divergence
  // with lambda > 0 cannot); empty before the first step.
  std::optional<T> free_energy() const {
    if (steps_ == 0) return std::nullopt;
    T total = 0;
    for (const auto& t : terms_) {
      const std::optional<T> e = t->energy();
      if (!e) return std::nullopt;
      total += *e;
    }
    return total;
  }

  void step() override {
    const std::size_t n = num_particles(), J = dim(), K = terms_.size();
    const std::uint64_t t = steps_;
    const StepContext<T> context{t, particles_};
    const T noise = std::sqrt(2 * diffusion() * optimizer_.learning_rate());
    resize(drift_, n, J);
    // Each term adds into its own buffer, which the per-particle pass below leaves zero again; a term
    // that threw halfway may have left some of its buffer behind.
    term_drifts_.resize(K);
    for (Tensor<T>& e : term_drifts_)
      if (resize(e, n, J) || !term_drifts_zero_) e.fill(T(0));
    if (noise > 0) resize(xi_, n, J);
    term_drifts_zero_ = false;
    const std::size_t jobs = K + (noise > 0 ? 1 : 0);
    errors_.assign(jobs, nullptr);

    // 1. The terms' drifts and the noise xi, all at once: they depend only on the particles, the step and
    //    the seed, and one term's serial stretches (an interaction's N x N kernel) then overlap another's
    //    parallel loops. Each writes its own buffer; the sums below run in term order.
    run_concurrently(jobs, [&](std::size_t k) {
      try {
        if (k < K)
          terms_[k]->add_drift(context, term_drifts_[k]);
        else
          // A normal (Rng::fill_normal, ~5 ns in double, ~2 ns in float on AMD Zen 3) is about 32 or 12
          // entry-passes of work, as for_each_index counts it.
          for_each_index(n, n * J * (std::is_same_v<T, float> ? 12 : 32),
                         [&](std::size_t i) { Rng::stream(seed_, i, t).fill_normal(xi_.data() + i * J, J); });
      } catch (...) {
        errors_[k] = std::current_exception();
      }
    });
    for (const std::exception_ptr& e : errors_)  // the first term's error, whatever the threads did
      if (e) std::rethrow_exception(e);

    // 2. Per particle, in parallel unless the pass is too small to repay the threads: check each term's
    //    drift in order, note which term pushes the particle hardest (to name it if the update
    //    overflows), add the drifts up in term order, and zero the terms' rows for the next step. About
    //    4 entry-passes of work per term.
    largest_.assign(n, T(0));
    largest_term_.assign(n, 0);
    bad_.assign(n, no_fault);
    bad_term_.assign(n, 0);
    bad_value_.resize(n);
    for_each_index(n, 4 * n * J * std::max<std::size_t>(K, 1), [&](std::size_t i) {
      T* d = drift_.data() + i * J;
      if (K == 0) std::fill(d, d + J, T(0));
      for (std::size_t k = 0; k < K; ++k) {
        T* e = term_drifts_[k].data() + i * J;
        const Bits top = k == 0 ? accumulate<true>(d, e, J) : accumulate<false>(d, e, J);
        if (top >= infinity_bits && bad_[i] == no_fault) {
          const std::size_t j = *first_non_finite(term_drifts_[k], i);
          bad_[i] = j, bad_term_[i] = k, bad_value_[i] = e[j];
        } else if (const T size = std::bit_cast<T>(top); size > largest_[i]) {
          largest_[i] = size, largest_term_[i] = k;
        }
        std::fill(e, e + J, T(0));
      }
    }, 4);
    term_drifts_zero_ = true;
    // The first faulty term, then the first faulty particle, whatever the thread count.
    for (std::size_t k = 0; k < K; ++k)
      for (std::size_t i = 0; i < n; ++i)
        if (bad_[i] != no_fault && bad_term_[i] == k)
          throw Error(where(t, i) + "the drift of term '" + terms_[k]->name() + "' is not finite (coordinate " +
                      std::to_string(bad_[i]) + " = " + std::to_string(bad_value_[i]) + ")");

    // 3. The optimiser's step, then 4. theta + delta + sqrt(2 D eta) xi, checked.
    optimizer_.update(drift_, delta_);
    resize(next_, n, J);
    bad_.assign(n, no_fault);
    for_each_index(n, 3 * n * J, [&](std::size_t i) {
      const T* theta = particles_.data() + i * J;
      const T* step = delta_.data() + i * J;
      T* row = next_.data() + i * J;
      if (noise > 0) {
        const T* z = xi_.data() + i * J;
        for (std::size_t j = 0; j < J; ++j) row[j] = (theta[j] + step[j]) + noise * z[j];
      } else {
        for (std::size_t j = 0; j < J; ++j) row[j] = theta[j] + step[j];
      }
      Bits top = 0;
      for (std::size_t j = 0; j < J; ++j) top = std::max(top, magnitude_bits(row[j]));
      if (top >= infinity_bits) {
        const std::size_t j = *first_non_finite(next_, i);
        bad_[i] = j, bad_value_[i] = row[j];
      }
    }, 4);
    for (std::size_t i = 0; i < n; ++i)
      if (bad_[i] != no_fault) {
        std::ostringstream msg;
        msg << where(t, i) << "the particle is not finite after the update (coordinate " << bad_[i] << " = "
            << bad_value_[i] << "; drift finite, largest contribution " << largest_[i] << " from term '"
            << (terms_.empty() ? std::string("none") : terms_[largest_term_[i]]->name()) << "', optimiser "
            << optimizer_.name() << ")";
        throw Error(msg.str());
      }
    std::swap(particles_, next_);
    ++steps_;
  }

 private:
  friend struct CheckpointAccess;  // saves and restores the state (flows/checkpoint.hpp)
  static constexpr std::size_t no_fault = static_cast<std::size_t>(-1);

  // |x| as an unsigned integer of T's width: ordered like |x| for finite x, and at least infinity_bits
  // exactly when x is infinite or NaN. Integer maxima vectorise where floating-point ones (NaN-aware, not
  // associative) do not, so one pass checks a row and finds its largest entry.
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  static constexpr Bits infinity_bits = std::bit_cast<Bits>(std::numeric_limits<T>::infinity());
  static Bits magnitude_bits(T x) { return std::bit_cast<Bits>(x) & (~Bits(0) >> 1); }

  // d += e (d = 0 + e for the first term), returning the largest magnitude_bits of e.
  template <bool first>
  static Bits accumulate(T* d, const T* e, std::size_t J) {
    Bits top = 0;
    for (std::size_t j = 0; j < J; ++j) {
      top = std::max(top, magnitude_bits(e[j]));
      d[j] = (first ? T(0) : d[j]) + e[j];
    }
    return top;
  }

  // Gives x the shape n x J, reallocating only when the shape changes; true if it did.
  static bool resize(Tensor<T>& x, std::size_t n, std::size_t J) {
    if (x.shape()[0] == n && x.shape()[1] == J) return false;
    x.resize({n, J});
    return true;
  }

  static std::optional<std::size_t> first_non_finite(const Tensor<T>& x, std::size_t row) {
    const T* r = x.data() + row * x.shape()[1];
    for (std::size_t j = 0; j < x.shape()[1]; ++j)
      if (!std::isfinite(r[j])) return j;
    return std::nullopt;
  }

  std::string where(std::uint64_t t, std::size_t i) const {
    return name_ + ": step " + std::to_string(t) + ", particle " + std::to_string(i) + ": ";
  }

  std::string name_;
  Tensor<T> particles_;
  Optimizer<T> optimizer_;
  std::uint64_t seed_;
  std::uint64_t steps_ = 0;
  std::vector<std::unique_ptr<Term<T>>> terms_;
  // Per-step buffers, kept so that steady-state steps allocate nothing (the terms keep theirs too).
  Tensor<T> drift_, delta_, next_;
  std::vector<Tensor<T>> term_drifts_;  // one per term
  bool term_drifts_zero_ = false;
  Tensor<T> xi_;                        // the step's standard normals, when there is noise
  std::vector<std::exception_ptr> errors_;  // per term (and the noise): what it threw
  std::vector<T> largest_;
  std::vector<std::size_t> largest_term_;
  // Per particle: the first non-finite coordinate found by a parallel pass (no_fault if none), its value
  // and, for a drift, the term.
  std::vector<std::size_t> bad_, bad_term_;
  std::vector<T> bad_value_;
};

}  // namespace wgflow::flows
