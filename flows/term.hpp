#pragma once
// A free-energy term: one summand of F(Q) = sum_k F_k(Q), and what it does to the particles.
//
// The Wasserstein gradient flow of F moves each particle with velocity -grad_theta (dF/dQ)(theta), minus
// the gradient of the first variation. Each term adds its part of that gradient at every particle (one
// word and one sign everywhere in wgflow: a term's *gradient*; the velocity is minus the sum). A term with
// an entropy part (the KL divergence, weight lambda) also has a diffusion coefficient, and the flow adds
// Brownian motion sqrt(2 D eta) xi with D the sum over terms. The terms (paper §1-§2):
//   PotentialEnergy     F = int l dQ                       gradient grad l(theta_i)
//   KlDivergence        F = lambda KL(Q || P)              gradient -lambda grad log p(theta_i), D = lambda
//   InteractionEnergy   F = (lambda1 / 2) MMD_k^2(Q, P)    gradient lambda1 ((1/N) sum_j grad_1 k(theta_i, theta_j)
//                                                                         - (1/M) sum_m grad_1 k(theta_i, phi_m))
//   SvgdDirection       KL(Q || pi) in the Stein geometry  gradient -phi*(theta_i), the kernelised direction
//   MeanFieldGaussian   E_q l + lambda KL(q || P) over the members' [mu | rho]
//
// Writing a new term takes one class (see experiments/example_custom_term.cpp):
//
//   class Confinement final : public Term<double> {       // F = (c/2) int |theta|^2 dQ
//    public:
//     explicit Confinement(double c) : c_(c) {}
//     std::string name() const override { return "confinement"; }
//     void add_gradient(const StepContext<double>& ctx, Tensor<double>& gradient) override {
//       gradient += c_ * ctx.particles;
//     }
//    private:
//     double c_;
//   };
//   flow.add(std::make_unique<Confinement>(0.1));
//
// Concurrency, the one rule: ParticleFlow calls every term's prepare() serially, in the order added, and
// then every term's add_gradient() at once, on different threads. So whatever terms share (a potential
// whose minibatch changes with the step, a cache) is changed in prepare() only; add_gradient() reads
// shared objects and writes nothing but its own members and `gradient`. PotentialEnergy follows it: the
// minibatch is chosen in prepare(), and value_and_gradient() is const and thread-safe, so two terms on one
// potential do not race (tests/flows/test_particle_flow.cpp).
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "../core/communicator.hpp"
#include "../core/rows_done.hpp"
#include "../core/tensor.hpp"

namespace wgflow::flows {

// What a term sees at one step.
template <class T>
struct StepContext {
  std::uint64_t step;          // t, counted from 0
  const Tensor<T>& particles;  // n x J, the particles at time t whose gradient the term adds (row i =
                               // theta_{first_row + i}): all N of them, unless the flow is split over
                               // ranks and the term's reach() is own_rows or collective
  std::uint64_t seed;          // the flow's seed: a term that draws (mean-field VI's reparameterised
                               // samples) uses Rng::stream(seed, first_row + i, t) for row i, the streams
                               // of the flow's own noise, which such a flow does not draw (D = 0)
  std::size_t first_row = 0;   // the global index of particles' row 0
  Communicator* ranks = nullptr;  // for a term of reach collective in a flow over ranks: the ranks to
                                  // gather from (null in one process, where particles are all N)
  std::size_t total_rows = 0;     // N, over all ranks (0: particles' rows are all of them)
  bool may_write = false;         // the buffer is the flow's, this term's alone: add_gradient may write its
                                  // rows rather than add to them, sparing a pass. It is all zero, unless the
                                  // term writes_gradient(): then it holds what the term wrote last step

  std::size_t ensemble_size() const { return total_rows != 0 ? total_rows : particles.shape()[0]; }
  RowBlock rows() const { return {first_row, first_row + particles.shape()[0]}; }
};

// What a term needs when its flow is split over ranks (ParticleFlow::distribute, core/communicator.hpp).
//   ensemble:   the whole ensemble, every rank the same: particles are all N rows, and the term adds the
//               gradient of all of them (the flow keeps its rank's rows). Right for any term, so it is the
//               default: a term written without ranks in mind stays correct, if not faster on more ranks.
//   own_rows:   only the rank's own rows: a term whose gradient at particle i depends on theta_i alone
//               (a potential, a prior, a member's Gaussian) and that draws from Rng::stream(seed,
//               first_row + i, t); it then costs each rank only its share.
//   collective: the rank's own rows, as own_rows, for a term whose gradient at particle i depends on the
//               others (the interaction energy, its random-batch estimate, SVGD): it gathers from the
//               other ranks exactly what it needs (gather_rows below: features; a median bandwidth takes
//               its median over the ranks' distance rows, Bandwidth::update) and computes only its rows'
//               gradient. Every rank calls its add_gradient at once, on the thread that steps the flow;
//               before each collective it agrees with the others on whether its own part failed (agree
//               below), so that an error on one rank cannot leave the others waiting.
enum class Reach { ensemble, own_rows, collective };

// For a term of reach collective: the N rows of which each rank holds its own `mine` (rows() of the
// context), in global order. Gathered into `buffer` over ranks; in one process `mine` itself.
template <class T>
const Tensor<T>& gather_rows(const StepContext<T>& context, const Tensor<T>& mine, Tensor<T>& buffer) {
  if (context.ranks == nullptr) return mine;
  const std::size_t n = context.ensemble_size(), cols = mine.shape()[1];
  if (buffer.shape()[0] != n || buffer.shape()[1] != cols) buffer.resize({n, cols});
  context.ranks->allgather_rows(mine.data(), buffer.data(), n, cols);
  return buffer;
}

// Runs a collective term's own computation and, over ranks, agrees on its outcome: if it threw on any
// rank, every rank throws that rank's error (core/communicator.hpp's collectively).
template <class T, class Work>
void agree(const StepContext<T>& context, Work&& work) {
  if (context.ranks == nullptr) return work();
  collectively(*context.ranks, std::forward<Work>(work));
}

template <class T>
class Term {
 public:
  virtual ~Term() = default;

  // Names the term and its settings; checkpoints compare names to recognise a flow configured alike.
  virtual std::string name() const = 0;

  // Called once when the term joins a flow, with the flow's current particles: check dimensions, embed
  // fixed reference points. Throw wgflow::ShapeError on a mismatch.
  virtual void attach(const Tensor<T>& /*particles*/) {}

  // Called once per step before any term's add_gradient, serially in term order: the place to change
  // state shared with other terms (PotentialEnergy selects the step's minibatch here).
  virtual void prepare(std::uint64_t /*step*/) {}

  // What the term needs from the other ranks (see Reach); one process sees no difference.
  virtual Reach reach() const { return Reach::ensemble; }

  // gradient(i, :) += grad_theta (dF_k/dQ)(theta_i) for every row i of context.particles. `gradient` has
  // their shape and is the term's own buffer. Runs concurrently with the other terms' (the rule above). Parallelise inside, writing
  // each particle's row from one task only, so that results do not depend on the thread count.
  virtual void add_gradient(const StepContext<T>& context, Tensor<T>& gradient) = 0;

  // True if, where context.may_write, add_gradient writes every entry of every row it is given, whatever
  // the buffer held (PotentialEnergy: a potential's gradient is written, not added; InteractionEnergy: its
  // pullback, Embedding::pullback_into). A constant of the term. The flow then never zeroes its buffer,
  // and where the term comes first sums the total gradient in that buffer (DE's, DLE's, DRLE's potential
  // energy): two passes over the N x J entries a step fewer. Checked for the library's terms by
  // tests/flows/test_particle_flow.cpp, with a buffer of NaNs.
  virtual bool writes_gradient() const { return false; }

  // add_gradient, calling rows_done(i0, i1) (from any thread, once for each row) as soon as rows [i0, i1)
  // of `gradient` are final. A flow whose other terms are all pointwise may call this instead (DE's and DLE's do:
  // flows/particle_flow.hpp) and move each particle as soon as its row is done, while the row is in
  // cache. By default add_gradient, then rows_done over all rows; PotentialEnergy hands over a group of
  // networks, or a particle, at a time.
  virtual void add_gradient_by_rows(const StepContext<T>& context, Tensor<T>& gradient, RowsDone rows_done) {
    add_gradient(context, gradient);
    rows_done(0, gradient.shape()[0]);
  }

  // This term's diffusion coefficient D_k (its KL weight); 0 for deterministic terms.
  virtual T diffusion() const { return T(0); }

  // F_k at the particles of the last add_gradient (an estimate from the empirical measure), if the term
  // can estimate one. For a term of reach own_rows or collective it is the mean over its rows of
  // per-particle values (the flow weighs the ranks' means by their rows).
  virtual std::optional<T> energy() const { return std::nullopt; }

  // The mean training loss (1/N) sum_i l(theta_i) at the last add_gradient, for a term that evaluates
  // the potential (the potential energy, SVGD's direction): what a progress line shows.
  virtual std::optional<T> mean_loss() const { return std::nullopt; }

  // The per-particle values behind energy() at the last add_gradient, one per row of its particles, if
  // the term has them (the potential energy's losses l(theta_i), mean-field VI's members' objectives).
  // The flow checks them after each step: a NaN or infinite value whose gradient is finite (a potential
  // with a bug, a loss that overflows first) stops the flow naming the particle, rather than making
  // mean_loss() NaN with no error.
  virtual std::span<const T> particle_values() const { return {}; }

  // Checkpointing (flows/checkpoint.hpp): a term whose gradient depends on more than its configuration,
  // the particles and the step (a bandwidth frozen after its first steps, reference samples drawn once)
  // saves that state as named arrays ([a-z0-9_] names) and restores it from them. The checkpoint has
  // already checked that each array has the shape save_state gave it.
  virtual void save_state(std::map<std::string, Tensor<T>>& /*state*/) const {}
  virtual void load_state(const std::map<std::string, Tensor<T>>& /*state*/) {}
};

}  // namespace wgflow::flows
