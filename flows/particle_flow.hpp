#pragma once
// The one integrator of wgflow: Euler-Maruyama for the Wasserstein gradient flow of a free energy
// F = sum_k F_k (paper §2). Every method is this class with different terms (flows/presets.hpp): DE, DLE
// and DRLE, SVGD (one term, the Stein direction) and mean-field VI (one term over the members'
// variational parameters [mu | rho]).
//
// State: the particles theta (N x J), the step count t, the optimiser's state, the terms' states (e.g. a
// kernel bandwidth) and the seed. One step, t -> t + 1:
//   1. g_k = grad_theta (dF_k/dQ) at every particle for every term k, and the noise xi ~ N(0, I) from
//      Rng::stream(seed, i, t), all concurrently (after each term's prepare(t), serially);
//   2. g = sum_k g_k, in the order the terms were added; every g_k must be finite;
//   3. delta = optimiser(g)  (Sgd: delta = -eta g, the paper's update);
//   4. theta_i <- theta_i + delta_i + sqrt(2 D eta) xi_i,  D = sum_k D_k, eta the optimiser's learning
//      rate; every new particle must be finite.
// A non-finite gradient or particle throws wgflow::Error naming the step, the particle and the term; the
// particles and the step count are then as before the step, but the optimiser's state (Momentum, Adam)
// and the terms' states may have advanced: to go on, e.g. with a smaller step, rebuild the flow or load a
// checkpoint rather than call step() again (undoing those too would copy the optimiser's O(N J) state on
// every step for the sake of the rare failing one).
//
// Reproducibility: every per-particle computation writes its own row and draws from its own random
// stream, and all sums over particles run in a fixed order, so a run is bit-identical for any number of
// threads.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/errors.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/tensor.hpp"
#include "finite_rows.hpp"
#include "optimizers.hpp"
#include "term.hpp"

namespace wgflow::flows {

template <class T>
class ParticleFlow {
 public:
  // Called after a step; return false to stop the run early.
  using Callback = std::function<bool(const ParticleFlow&)>;
  // What the particles stand for when predicting (see predictive_samples).
  using Sampler = std::function<Tensor<T>(const Tensor<T>& particles, std::size_t per_member, std::uint64_t seed)>;

  ParticleFlow(std::string name, Tensor<T> initial_particles, Optimizer<T> optimizer, std::uint64_t seed)
      : name_(std::move(name)), particles_(std::move(initial_particles)), optimizer_(std::move(optimizer)), seed_(seed) {
    const std::size_t n = particles_.shape()[0], J = particles_.shape()[1];
    if (n == 0 || J == 0)
      throw ShapeError(name_ + ": need at least one particle of positive dimension, got " + shape_string({n, J}));
    RowFaults<T> faults;
    faults.reset(n);
    for (std::size_t i = 0; i < n; ++i) faults.check(i, 0, particles_.data() + i * J, J);
    if (const auto f = faults.first())
      throw Error(name_ + ": initial particle " + std::to_string(f->row) + " is not finite (coordinate " +
                  std::to_string(f->column) + " = " + std::to_string(f->value) + ")");
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

  // How the particles stand for Q when predicting. By default each row is a parameter vector and Q the
  // empirical measure; mean-field VI's rows are Gaussians' [mu | rho], and it samples from them.
  void set_predictive_sampler(Sampler sampler) { sampler_ = std::move(sampler); }

  std::string name() const { return name_; }
  std::uint64_t steps_taken() const { return steps_; }
  // N x J: row i is particle i.
  const Tensor<T>& particles() const { return particles_; }
  std::size_t num_particles() const { return particles_.shape()[0]; }
  std::size_t dim() const { return particles_.shape()[1]; }
  std::uint64_t seed() const { return seed_; }
  const Optimizer<T>& optimizer() const { return optimizer_; }
  std::size_t num_terms() const { return terms_.size(); }
  const Term<T>& term(std::size_t k) const { return *terms_.at(k); }

  // Parameter vectors that stand for Q: the particles themselves, unless a sampler was set (mean-field
  // VI: `per_member` draws from each member's Gaussian, rows grouped by member).
  Tensor<T> predictive_samples(std::size_t per_member = 1, std::uint64_t seed = 0) const {
    return sampler_ ? sampler_(particles_, per_member, seed) : particles_;
  }

  // D = the sum of the terms' diffusion coefficients.
  T diffusion() const {
    T d = 0;
    for (const auto& t : terms_) d += t->diffusion();
    return d;
  }

  // The total gradient g of the last step (N x J): the particles moved along -g.
  const Tensor<T>& gradient() const { return gradient_; }

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

  // The mean training loss over the particles at the last step, from the first term that evaluates it.
  std::optional<T> mean_loss() const {
    for (const auto& t : terms_)
      if (const std::optional<T> l = t->mean_loss()) return l;
    return std::nullopt;
  }

  // One step, t -> t + 1 (the algorithm at the top of this file).
  void step() {
    const std::uint64_t t = steps_;
    for (auto& term : terms_) term->prepare(t);
    evaluate_terms_and_noise(t);     // 1.
    sum_term_gradients(t);           // 2.
    optimizer_.update(gradient_, delta_);  // 3.
    move_particles(t);               // 4.
    std::swap(particles_, next_);
    ++steps_;
  }

  // Runs n steps, calling `callback` every `every` steps (and after the last).
  void run(std::uint64_t n, const Callback& callback = {}, std::uint64_t every = 1) {
    if (every == 0) throw Error(name_ + ": run(): the callback interval `every` must be at least 1");
    for (std::uint64_t i = 1; i <= n; ++i) {
      step();
      if (callback && (i % every == 0 || i == n) && !callback(*this)) return;
    }
  }

 private:
  friend struct CheckpointAccess;  // saves and restores the state (flows/checkpoint.hpp)

  T noise_scale() const { return std::sqrt(2 * diffusion() * optimizer_.learning_rate()); }

  // 1. Every term's gradient and the noise at once: they depend only on the particles, the step and the
  //    seed, and one term's serial stretches (an interaction's N x N kernel) overlap another's parallel
  //    loops. Each writes its own buffer, which the sum in step 2 leaves zero for the next step.
  void evaluate_terms_and_noise(std::uint64_t t) {
    const std::size_t n = num_particles(), J = dim(), K = terms_.size();
    const bool noisy = noise_scale() > 0;
    term_gradients_.resize(K);
    for (Tensor<T>& g : term_gradients_)  // a term that threw halfway may have left part of its buffer
      if (resize(g, n, J) || !term_gradients_zero_) g.fill(T(0));
    term_gradients_zero_ = false;
    if (noisy) resize(xi_, n, J);
    const StepContext<T> context{t, particles_, seed_};
    errors_.assign(K + (noisy ? 1 : 0), nullptr);
    run_concurrently(errors_.size(), [&](std::size_t k) {
      try {
        if (k < K)
          terms_[k]->add_gradient(context, term_gradients_[k]);
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
  }

  // 2. g = sum_k g_k per particle, in term order, checking each g_k in the same pass (about 4
  //    entry-passes of work per term) and zeroing its row for the next step.
  void sum_term_gradients(std::uint64_t t) {
    const std::size_t n = num_particles(), J = dim(), K = terms_.size();
    resize(gradient_, n, J);
    gradient_faults_.reset(n);
    for_each_index(n, 4 * n * J * std::max<std::size_t>(K, 1), [&](std::size_t i) {
      T* g = gradient_.data() + i * J;
      if (K == 0) std::fill(g, g + J, T(0));
      for (std::size_t k = 0; k < K; ++k) {
        T* g_k = term_gradients_[k].data() + i * J;
        gradient_faults_.accumulate(i, k, g, g_k, J, k == 0);
        std::fill(g_k, g_k + J, T(0));
      }
    }, 4);
    term_gradients_zero_ = true;
    if (const auto f = gradient_faults_.first())
      throw Error(where(t, f->row) + "the gradient of term '" + terms_[f->source]->name() +
                  "' is not finite (coordinate " + std::to_string(f->column) + " = " + std::to_string(f->value) + ")");
  }

  // 4. theta + delta + sqrt(2 D eta) xi into next_, each new particle checked.
  void move_particles(std::uint64_t t) {
    const std::size_t n = num_particles(), J = dim();
    const T noise = noise_scale();
    resize(next_, n, J);
    update_faults_.reset(n);
    for_each_index(n, 3 * n * J, [&](std::size_t i) {
      const T* theta = particles_.data() + i * J;
      const T* delta = delta_.data() + i * J;
      T* row = next_.data() + i * J;
      if (noise > 0) {
        const T* z = xi_.data() + i * J;
        for (std::size_t j = 0; j < J; ++j) row[j] = (theta[j] + delta[j]) + noise * z[j];
      } else {
        for (std::size_t j = 0; j < J; ++j) row[j] = theta[j] + delta[j];
      }
      update_faults_.check(i, 0, row, J);
    }, 4);
    if (const auto f = update_faults_.first()) {
      const std::size_t i = f->row;
      std::ostringstream msg;
      msg << where(t, i) << "the particle is not finite after the update (coordinate " << f->column << " = "
          << f->value << "; gradient finite, largest contribution " << gradient_faults_.largest(i) << " from term '"
          << (terms_.empty() ? std::string("none") : terms_[gradient_faults_.largest_source(i)]->name())
          << "', optimiser " << optimizer_.name() << ")";
      throw Error(msg.str());
    }
  }

  // Gives x the shape n x J, reallocating only when the shape changes; true if it did.
  static bool resize(Tensor<T>& x, std::size_t n, std::size_t J) {
    if (x.shape()[0] == n && x.shape()[1] == J) return false;
    x.resize({n, J});
    return true;
  }

  std::string where(std::uint64_t t, std::size_t i) const {
    return name_ + ": step " + std::to_string(t) + ", particle " + std::to_string(i) + ": ";
  }

  // The state.
  std::string name_;
  Tensor<T> particles_;
  Optimizer<T> optimizer_;
  std::uint64_t seed_;
  std::uint64_t steps_ = 0;
  std::vector<std::unique_ptr<Term<T>>> terms_;
  Sampler sampler_;

  // Per-step buffers, kept so that steady-state steps allocate nothing (the terms keep theirs too).
  std::vector<Tensor<T>> term_gradients_;  // g_k, one per term, zero between steps
  bool term_gradients_zero_ = false;
  Tensor<T> xi_;                           // the step's standard normals, when there is noise
  Tensor<T> gradient_, delta_, next_;
  std::vector<std::exception_ptr> errors_;  // per term (and the noise): what it threw
  RowFaults<T> gradient_faults_, update_faults_;
};

}  // namespace wgflow::flows
