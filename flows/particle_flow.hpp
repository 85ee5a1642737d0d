#pragma once
// The one integrator of wgflow: Euler-Maruyama for the Wasserstein gradient flow of a free energy
// F = sum_k F_k (paper §2). Every method is this class with different terms (flows/presets.hpp): DE, DLE
// and DRLE, SVGD (one term, the Stein direction) and mean-field VI (one term over the members'
// variational parameters [mu | rho]).
//
// State: the particles theta (N x J), the step count t, the optimiser's state, the terms' states (e.g. a
// kernel bandwidth) and the seed. One step, t -> t + 1:
//   1. g_k = grad_theta (dF_k/dQ) at every particle for every term k, all terms concurrently (after each
//      term's prepare(t), serially);
//   2. g = sum_k g_k, in the order the terms were added; every g_k must be finite;
//   3. delta = optimiser(g)  (Sgd: delta = -eta g, the paper's update);
//   4. theta_i <- theta_i + delta_i + sqrt(2 D eta) xi_i,  D = sum_k D_k, eta the optimiser's learning
//      rate, xi_i ~ N(0, I) the normals of Rng::stream(seed, i, t); every new particle must be finite.
// Steps 2-4 run in one pass over each particle's row where the optimiser is entrywise, the noise drawn a
// piece of the row at a time as it is added. A pointwise term's gradient (flows/pointwise_term.hpp: the KL
// divergence's) is computed in that pass too, row by row, in its place in the sum; it has no buffer. Where
// only one term is not pointwise (DE, DLE), the pass over a particle runs as soon as that term has its row
// (Term::add_gradient_by_rows), while the row is in cache. Steps 1 and 2 are the
// free energy's (flows/free_energy.hpp: the terms, their gradient buffers, the sum), 3 and 4 this class's.
// A non-finite gradient or particle throws wgflow::Error naming the step, the particle and the term; the
// particles and the step count are then as before the step, but the optimiser's state (Momentum, Adam)
// and the terms' states may have advanced: to go on, e.g. with a smaller step, rebuild the flow or load a
// checkpoint rather than call step() again (undoing those too would copy the optimiser's O(N J) state on
// every step for the sake of the rare failing one).
//
// Reproducibility: every per-particle computation writes its own row and draws from its own random
// stream, and all sums over particles run in a fixed order, so a run is bit-identical for any number of
// threads.
//
// Over ranks (distribute(comm), core/communicator.hpp): each rank steps its contiguous block of rows with
// TBB as above. Terms of reach own_rows (flows/term.hpp: the potential, the KL term, mean-field VI) see
// only those rows; so do terms of reach collective (the interaction energy, SVGD), which gather what
// they need from the other ranks themselves and run on the stepping thread, beside the other terms; for
// terms of reach ensemble the flow gathers all N particles once per step and keeps the rows of theirs
// it owns. Noise streams are keyed by the global row, so the particles after T steps are the
// plain process's, bit for bit, for any number of ranks and threads. A step ends with one small
// collective that carries the ranks' energies and whether any of them failed (flows/rank_step_summary.hpp):
// an error on one rank (a diverging particle) is thrown on every rank with that rank's message.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/communicator.hpp"
#include "../core/errors.hpp"
#include "../core/finite.hpp"
#include "../core/parallel.hpp"
#include "../core/precompiled.hpp"
#include "../core/random.hpp"
#include "../core/tensor.hpp"
#include "finite_rows.hpp"
#include "free_energy.hpp"
#include "optimizers.hpp"
#include "particle_layout.hpp"
#include "rank_step_summary.hpp"
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
      : name_(std::move(name)), particles_(std::move(initial_particles)), optimizer_(std::move(optimizer)), seed_(seed),
        free_energy_(name_),
        layout_(ParticleLayout::of(ParticleLayout::unnamed(std::max<std::size_t>(particles_.shape()[1], 1)))) {
    const std::size_t n = particles_.shape()[0], J = particles_.shape()[1];
    if (n == 0 || J == 0)
      throw ShapeError(name_ + ": need at least one particle of positive dimension, got " + shape_string({n, J}));
    require_finite_particles(particles_, name_, "initial particle");
    optimizer_.init(particles_);
    block_ = {0, n};
  }

  // Splits the flow over the ranks of `comm`: this rank keeps its block of rows (own_rows()) and steps
  // them; steps, run() and checkpoints then are collectives, called on every rank alike. Call it once,
  // before the first step, on every rank with the same particles (checked), e.g. right after the preset:
  //   auto flow = flows::deep_langevin_ensemble(loss, prior, init, {...});
  //   flow.distribute(world);
  // One rank leaves the flow as it is.
  void distribute(std::shared_ptr<Communicator> comm) {
    if (!comm) throw Error(name_ + ": distribute(): null communicator");
    if (comm_ || steps_ != 0) throw Error(name_ + ": distribute() once, before the first step");
    if (comm->size() == 1) return;
    const std::size_t N = particles_.shape()[0], J = dim(), R = static_cast<std::size_t>(comm->size());
    if (N < R)
      throw ShapeError(name_ + ": " + std::to_string(N) + " particles cannot be split over " + std::to_string(R) + " ranks");
    const std::uint64_t hash = fingerprint(particles_);
    for (std::uint64_t h : comm->allgather_value(hash))
      if (h != hash)
        throw Error(name_ + ": distribute(): the ranks start from different particles (" + comm->describe() +
                    "); build the initial particles from the same seed on every rank");
    block_ = RowBlock::of(N, comm->rank(), comm->size());
    Tensor<T> mine = Tensor<T>::from_shape({block_.size(), J});
    std::copy(particles_.data() + block_.begin * J, particles_.data() + block_.end * J, mine.data());
    particles_ = std::move(mine);
    optimizer_.init(particles_);
    n_total_ = N;
    comm_ = std::move(comm);
    free_energy_.split_over(block_, n_total_, comm_.get());
  }

  // Adds a term of the free energy; returns it for inspection. Terms act in the order added.
  template <class TermT>
  TermT& add(std::unique_ptr<TermT> term) {
    if (!term) throw Error(name_ + ": add(): null term");
    if (comm_ && term->reach() != Reach::own_rows)
      term->attach(gathered_particles());  // a collective: add terms on every rank alike
    else
      term->attach(particles_);
    TermT& ref = *term;
    free_energy_.add(std::move(term));
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

  // What a row of particles() holds, by name (flows/particle_layout.hpp): saved in every checkpoint and
  // beside saved particles. By default one unnamed block "theta" of the row's length; the presets name the
  // potential's blocks (a network's weights and biases), and mean-field VI's rows as [mu | rho].
  void set_layout(ParticleLayout layout) {
    if (layout.row_length() != dim())
      throw ShapeError(name_ + ": set_layout(): the layout's rows " + layout.row() + " have " +
                       std::to_string(layout.row_length()) + " entries, the particles " + std::to_string(dim()));
    layout_ = std::move(layout);
  }
  const ParticleLayout& layout() const { return layout_; }

  std::string name() const { return name_; }
  std::uint64_t steps_taken() const { return steps_; }
  // The particles this process holds, row i = particle own_rows().begin + i: all N (N x J) unless the
  // flow is distributed.
  const Tensor<T>& particles() const { return particles_; }
  // N, the ensemble's size (over all ranks).
  std::size_t num_particles() const { return comm_ ? n_total_ : particles_.shape()[0]; }
  // Which of the N particles this process holds.
  RowBlock own_rows() const { return comm_ ? block_ : RowBlock{0, particles_.shape()[0]}; }
  bool distributed() const { return comm_ != nullptr; }
  // All N particles on every rank (a collective when distributed; a copy otherwise).
  Tensor<T> gathered_particles() const {
    if (!comm_) return particles_;
    Tensor<T> all = Tensor<T>::from_shape({n_total_, dim()});
    comm_->allgather_rows(particles_.data(), all.data(), n_total_, dim());
    return all;
  }
  const std::shared_ptr<Communicator>& communicator() const { return comm_; }
  // Seconds this rank spent in collectives during its steps, the flow's and its terms' (waiting for other
  // ranks included).
  double communication_seconds() const { return communication_seconds_; }
  std::size_t dim() const { return particles_.shape()[1]; }
  std::uint64_t seed() const { return seed_; }
  const Optimizer<T>& optimizer() const { return optimizer_; }
  std::size_t num_terms() const { return free_energy_.size(); }
  const Term<T>& term(std::size_t k) const { return free_energy_.term(k); }

  // Parameter vectors that stand for Q: the particles themselves, unless a sampler was set (mean-field
  // VI: `per_member` draws from each member's Gaussian, rows grouped by member). All N members on every
  // rank (a collective when distributed).
  Tensor<T> predictive_samples(std::size_t per_member = 1, std::uint64_t seed = 0) const {
    if (comm_) {
      const Tensor<T> all = gathered_particles();
      return sampler_ ? sampler_(all, per_member, seed) : all;
    }
    return sampler_ ? sampler_(particles_, per_member, seed) : particles_;
  }

  // D = the sum of the terms' diffusion coefficients.
  T diffusion() const { return free_energy_.diffusion(); }

  // The total gradient g of the last step (N x J): the particles moved along -g.
  const Tensor<T>& gradient() const { return free_energy_.gradient(); }

  // sum_k F_k at the particles of the last step, when every term can estimate its own (the KL divergence
  // with lambda > 0 cannot); empty before the first step.
  std::optional<T> free_energy() const {
    if (steps_ == 0) return std::nullopt;
    return comm_ ? ranks_.free_energy() : free_energy_.value();
  }

  // The mean training loss over the particles at the last step, from the first term that evaluates it.
  std::optional<T> mean_loss() const { return comm_ ? ranks_.mean_loss() : free_energy_.mean_loss(); }

  // One step, t -> t + 1 (the algorithm at the top of this file).
  void step() {
    const std::uint64_t t = steps_;
    const double communicated = comm_ ? comm_->collective_seconds() : 0.0;
    if (comm_) gather_ensemble();
    try {
      free_energy_.prepare(t);
      if (const std::optional<std::size_t> k = by_rows_term()) {
        step_by_rows(t, *k);  // 1. - 4., each particle as soon as its gradient is done
      } else {
        free_energy_.evaluate(t, particles_, comm_ ? ensemble_ : particles_, seed_);  // 1.
        advance(t);                                                                   // 2. - 4.
      }
    } catch (...) {
      if (!comm_) throw;
      ranks_.end_step(*comm_, free_energy_.terms(), block_, n_total_, std::current_exception());
    }
    if (comm_) {
      ranks_.end_step(*comm_, free_energy_.terms(), block_, n_total_, nullptr);
      communication_seconds_ += comm_->collective_seconds() - communicated;
    }
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

  // The term whose rows step_by_rows moves as they are done: the only one that is not pointwise, where the
  // optimiser is entrywise and the term's buffer holds this rank's rows. Once the flows without noise (DE)
  // were left out: slicing their light pass between the potential's groups cost more than the cache it
  // saved, DE N = 1000 float32, 1 thread, 2.67 -> 3.02 ms (Zen 4, medians of 4 alternating runs), when the
  // pass still copied the gradient into a matrix of its own and zeroed the buffer. With the gradient
  // summed in the buffer (flows/free_energy.hpp) DE gains by rows: float32 / float64, medians of 6
  // alternating runs, 1 thread: N = 100 153 -> 151 / 315 -> 314 us, N = 1000 1757 -> 1658 / 3523 -> 3350
  // us; 2 threads: N = 100 89.0 -> 82.3 / 167 -> 163 us, N = 1000 881 -> 822 / 1776 -> 1718 us; N = 5 (one
  // group) the same (Intel Xeon; not measured again on Zen).
  std::optional<std::size_t> by_rows_term() const {
    if (!optimizer_.entrywise()) return std::nullopt;
    return free_energy_.streaming_term();
  }

  // 1. - 4. where one term is not pointwise (DE, DLE: the potential energy): each particle is summed,
  //    updated and moved as soon as that term has its row (PotentialEnergy: a group of networks in SIMD
  //    lanes), while the rows are in cache, rather than in a pass over the N x J matrices afterwards, which
  //    no longer fit the caches at N = 1000 in float64. The values are those of FreeEnergy::evaluate and advance.
  void step_by_rows(std::uint64_t t, std::size_t k) {
    const T noise = begin_advance();
    free_energy_.evaluate_by_rows(k, t, particles_, seed_,
                                  [&](std::size_t i0, std::size_t i1) { move_rows(i0, i1, t, noise); });
    free_energy_.end_sum();
    end_advance(t);
  }

  // 2. - 4. for every particle. With an entrywise optimiser (Sgd, Momentum, Adam) in one pass over its
  //    row, so that its gradient and displacement are still in cache when it moves: each separate pass
  //    over the N x J matrices cost 2-4 % of a UCI DE step at N = 1000 (commit cb69361). An optimiser that
  //    needs the whole gradient gets it between a summing and a moving pass.
  void advance(std::uint64_t t) {
    const std::size_t n = particles_.shape()[0], J = dim();
    const T noise = begin_advance();
    if (optimizer_.entrywise()) {
      move_rows(0, n, t, noise);
      free_energy_.end_sum();
    } else {
      for_each_index(n, sum_work(n), [&](std::size_t i) { sum_row(i, t); }, 4);
      free_energy_.end_sum();
      free_energy_.throw_if_fault(t);
      optimizer_.update(free_energy_.gradient(), delta_);
      for_each_index(n, move_work(n, noise), [&](std::size_t i) { move_row(i, t, noise, delta_.data() + i * J); }, 4);
    }
    end_advance(t);
  }

  // 2. - 4.'s buffers and fault records for this step; returns the noise's scale sqrt(2 D eta).
  T begin_advance() {
    const std::size_t n = particles_.shape()[0], J = dim();
    resize(next_, n, J);
    free_energy_.begin_sum(n, J);
    update_faults_.reset(n);
    if (optimizer_.entrywise()) optimizer_.begin_step(n * J);
    return noise_scale();
  }

  // Work in entry-passes (core/parallel.hpp) of summing `rows` rows, and of moving them (a normal is about
  // 4 in float, 8 in double: Rng::fill_normal).
  std::size_t sum_work(std::size_t rows) const {
    return 4 * rows * dim() * std::max<std::size_t>(free_energy_.size(), 1);
  }
  std::size_t move_work(std::size_t rows, T noise) const {
    return (noise > 0 ? (std::is_same_v<T, float> ? 7 : 11) : 3) * rows * dim();
  }

  // 2. - 4. for rows [i0, i1) with an entrywise optimiser, in parallel where the rows repay it; a term's
  //    group of rows (step_by_rows) on the term's own task.
  void move_rows(std::size_t i0, std::size_t i1, std::uint64_t t, T noise) {
    const auto row = [&](std::size_t i) {
      if (sum_row(i, t)) move_row(i, t, noise, nullptr);
    };
    const std::size_t rows = i1 - i0;
    if (rows <= piece_rows) {
      for (std::size_t i = i0; i < i1; ++i) row(i);
      return;
    }
    for_each_index(rows, sum_work(rows) + move_work(rows, noise) + 3 * rows * dim(), [&](std::size_t r) { row(i0 + r); }, 4);
  }

  // The step's faults, in the order a serial step would meet them.
  void end_advance(std::uint64_t t) {
    free_energy_.throw_if_fault(t);
    if (const auto f = update_faults_.first()) {
      const std::size_t i = f->row;
      const RowFaults<T>& g = free_energy_.faults();
      std::ostringstream msg;
      msg << step_particle(name_, t, block_.begin + i) << "the particle is not finite after the update (coordinate "
          << f->column << " = " << f->value << "; gradient finite, largest contribution " << g.largest(i)
          << " from term '"
          << (free_energy_.size() == 0 ? std::string("none") : free_energy_.term(g.largest_source(i)).name())
          << "', optimiser " << optimizer_.name() << ")";
      throw Error(msg.str());
    }
  }

  // 2. for particle i (FreeEnergy::sum_row); false if a pointwise term threw there.
  bool sum_row(std::size_t i, std::uint64_t t) {
    const std::size_t J = dim();
    return free_energy_.sum_row(i, t, std::span<const T>(particles_.data() + i * J, J));
  }

  // 3. - 4. for particle i, a piece of its row at a time on the stack: its displacement from an entrywise
  //    optimiser (delta null) or from `delta`, the optimiser's for the whole gradient; its noise from
  //    the particle's stream, drawn as it is added; theta + delta + sqrt(2 D eta) xi into next_, checked.
  void move_row(std::size_t i, std::uint64_t t, T noise, const T* delta) {
    const std::size_t J = dim(), row0 = i * J;
    constexpr std::size_t piece = 256;  // whole blocks of Rng::NormalStream: the pieces change no value
    static_assert(piece % Rng::NormalStream::block<T> == 0);
    const T* gradient = free_energy_.gradient().data() + row0;
    T step[piece], z[piece];
    std::optional<Rng::NormalStream> xi;
    // Checked as written: a pass afterwards cost ~1 % of a step (N = 100, DE and DLE, float32 and float64,
    // 1 thread, medians of 8 alternating runs: 158 -> 157, 320 -> 315, 196 -> 195, 400 -> 392 us; Intel Xeon).
    typename RowFaults<T>::Bits top = 0;
    if (noise > 0) xi.emplace(Rng::stream(seed_, block_.begin + i, t).normal_stream());
    for (std::size_t j0 = 0; j0 < J; j0 += piece) {
      const std::size_t len = std::min(piece, J - j0);
      const T* d = delta ? delta + j0 : step;
      if (!delta) optimizer_.update(row0 + j0, std::span<const T>(gradient + j0, len), std::span<T>(step, len));
      const T* theta = particles_.data() + row0 + j0;
      T* row = next_.data() + row0 + j0;
      if (xi) {
        xi->normals(z, len);
        for (std::size_t j = 0; j < len; ++j)
          top = RowFaults<T>::widest(top, row[j] = (theta[j] + d[j]) + noise * z[j]);
      } else {
        for (std::size_t j = 0; j < len; ++j) top = RowFaults<T>::widest(top, row[j] = theta[j] + d[j]);
      }
    }
    update_faults_.checked(i, 0, next_.data() + row0, J, top);
  }

  // Over ranks, before a step: all N particles into ensemble_, where a term needs them.
  void gather_ensemble() {
    if (!free_energy_.needs_ensemble()) return;
    resize(ensemble_, n_total_, dim());
    comm_->allgather_rows(particles_.data(), ensemble_.data(), n_total_, dim());
  }

  // FNV-1a over the bytes: a cheap check that every rank starts from the same particles.
  static std::uint64_t fingerprint(const Tensor<T>& x) {
    std::uint64_t h = 1469598103934665603ull;
    const auto* bytes = reinterpret_cast<const unsigned char*>(x.data());
    for (std::size_t b = 0; b < x.size() * sizeof(T); ++b) h = (h ^ bytes[b]) * 1099511628211ull;
    return h;
  }

  // Gives x the shape n x J, reallocating only when the shape changes; true if it did.
  static bool resize(Tensor<T>& x, std::size_t n, std::size_t J) {
    if (x.shape()[0] == n && x.shape()[1] == J) return false;
    x.resize({n, J});
    return true;
  }

  // The state.
  std::string name_;
  Tensor<T> particles_;
  Optimizer<T> optimizer_;
  std::uint64_t seed_;
  std::uint64_t steps_ = 0;
  FreeEnergy<T> free_energy_;  // the terms, and steps 1 - 2
  Sampler sampler_;
  ParticleLayout layout_;

  // Over ranks (distribute()): the communicator (null for one process), this rank's rows, N, and what the
  // ranks agreed on at the end of the last step.
  std::shared_ptr<Communicator> comm_;
  RowBlock block_;
  std::size_t n_total_ = 0;
  RankStepSummary<T> ranks_;
  Tensor<T> ensemble_;  // all N rows, for terms of reach ensemble
  double communication_seconds_ = 0;

  // Per-step buffers, kept so that steady-state steps allocate nothing (the terms keep theirs too).
  Tensor<T> delta_, next_;
  RowFaults<T> update_faults_;
};

WGFLOW_EXTERN_INSTANCES(ParticleFlow)

}  // namespace wgflow::flows
