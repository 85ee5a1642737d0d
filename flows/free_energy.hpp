#pragma once
// The free energy F = sum_k F_k of a particle flow (flows/particle_flow.hpp) as its integrator uses it:
// the terms in the order added, and steps 1 and 2 of each step, whose result is the total gradient g_i at
// every particle.
//   1. g_k = grad_theta (dF_k/dQ) at every particle, for all terms at once (FreeEnergy::evaluate), each
//      into its own buffer; or, where one term alone has a buffer, a group of particles at a time
//      (evaluate_by_rows), handing each group on as soon as it is done;
//   2. g_i = sum_k g_k,i in term order (sum_row), each g_k,i checked as it is added and its buffer row
//      zeroed for the next step, unless the term writes its buffer (Term::writes_gradient). A pointwise
//      term (flows/pointwise_term.hpp) has no buffer: its g_k,i is computed here, row by row. Where the
//      first term writes its buffer (the presets' potential energy), g is summed in that buffer: DE's is
//      then only checked, DLE's takes the prior's gradient in place. At N = 1000 the copy into another
//      N x J matrix and the zeroing were two of the step's passes over it.
// A non-finite g_k,i, or a pointwise term's exception, is reported by throw_if_fault as the first fault
// in (term, particle) order, whatever the threads did; then a term's non-finite value at a particle.
//
// Over ranks the flow calls split_over(): a term of reach own_rows or collective then fills this rank's
// rows, one of reach ensemble all N rows (of which step 2 reads this rank's).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../core/communicator.hpp"
#include "../core/errors.hpp"
#include "../core/finite.hpp"
#include "../core/parallel.hpp"
#include "../core/rows_done.hpp"
#include "../core/tensor.hpp"
#include "finite_rows.hpp"
#include "pointwise_term.hpp"
#include "term.hpp"

namespace wgflow::flows {

// How the flow's messages begin: "<flow>: step t, particle i: ".
inline std::string step_particle(const std::string& flow, std::uint64_t t, std::size_t i) {
  return flow + ": step " + std::to_string(t) + ", particle " + std::to_string(i) + ": ";
}

template <class T>
class FreeEnergy {
 public:
  explicit FreeEnergy(std::string flow) : flow_(std::move(flow)) {}

  // Adds a term, attached to the particles by the caller; terms act in the order added.
  void add(std::unique_ptr<Term<T>> term) {
    pointwise_.push_back(dynamic_cast<const PointwiseTerm<T>*>(term.get()));
    writes_.push_back(term->writes_gradient());
    seconds_.push_back(0);
    terms_.push_back(std::move(term));
  }

  std::size_t size() const { return terms_.size(); }
  const Term<T>& term(std::size_t k) const { return *terms_.at(k); }
  Term<T>& term(std::size_t k) { return *terms_.at(k); }
  const std::vector<std::unique_ptr<Term<T>>>& terms() const { return terms_; }

  // D = the sum of the terms' diffusion coefficients.
  T diffusion() const {
    T d = 0;
    for (const auto& t : terms_) d += t->diffusion();
    return d;
  }
  // sum_k F_k at the last step's particles, when every term estimates its own.
  std::optional<T> value() const {
    T total = 0;
    for (const auto& t : terms_) {
      const std::optional<T> e = t->energy();
      if (!e) return std::nullopt;
      total += *e;
    }
    return total;
  }
  // The mean training loss at the last step, from the first term that evaluates it.
  std::optional<T> mean_loss() const {
    for (const auto& t : terms_)
      if (const std::optional<T> l = t->mean_loss()) return l;
    return std::nullopt;
  }
  bool needs_ensemble() const {
    return std::any_of(terms_.begin(), terms_.end(), [](const auto& t) { return t->reach() == Reach::ensemble; });
  }

  // The flow steps `block` of N particles on this rank of `ranks`.
  void split_over(RowBlock block, std::size_t n_total, Communicator* ranks) {
    block_ = block;
    n_total_ = n_total;
    ranks_ = ranks;
  }

  // Every term's prepare(t), serially, in order (term.hpp's concurrency rule).
  void prepare(std::uint64_t t) {
    for (auto& term : terms_) term->prepare(t);
  }

  // 1. for every term that is not pointwise, all at once: one term's serial stretches (an interaction's
  //    N x N kernel) overlap another's parallel loops. `particles` are this rank's rows, `ensemble` all N
  //    (the same where the flow is not split). Rethrows the first term's exception, in term order.
  void evaluate(std::uint64_t t, const Tensor<T>& particles, const Tensor<T>& ensemble, std::uint64_t seed) {
    const std::size_t n = particles.shape()[0], K = terms_.size();
    prepare_buffers(n, particles.shape()[1]);
    const StepContext<T> own{t, particles, seed, block_.begin, ranks_, n_total_, true},
        all{t, ensemble, seed, 0, nullptr, 0, true};
    errors_.assign(K, nullptr);
    const auto evaluate = [&](std::size_t k) {
      const auto start = std::chrono::steady_clock::now();
      try {
        // A buffer of this rank's rows takes its rows; one of all N the ensemble (the same rows where n = N).
        terms_[k]->add_gradient(buffers_[k].shape()[0] == n ? own : all, buffers_[k]);
      } catch (...) {
        errors_[k] = std::current_exception();
      }
      seconds_[k] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    // Over ranks the collective terms take their turns on this thread (MPI is called from it alone, and
    // in the same order on every rank) while the other terms run beside them: job 0 of run_concurrently
    // runs on the calling thread.
    jobs_.clear();
    bool collective = false;
    for (std::size_t k = 0; k < K; ++k) {
      if (pointwise_[k]) continue;
      if (ranks_ && terms_[k]->reach() == Reach::collective)
        collective = true;
      else
        jobs_.push_back(k);
    }
    // The calling thread starts job 0 at once, a job handed to another thread only once that thread
    // wakes, which on the 2-core guests takes about as long as a term at N = 5: job 0 (or job 1, after
    // the collective terms) is the term that took longest at the last step. In term order DRLE's
    // potential ran here and its interaction, the longer, waited for the other thread (Zen 5, 2 threads,
    // alternating runs: N = 5, 6 pairs, 24.1-31.3 -> 20.9-22.1 us float32, 43.3-47.5 -> 38.7-46.8 us
    // float64; N = 100, 12 pairs, medians 312 -> 291 and 501 -> 501 us; N = 1000 within the noise).
    // Where a term runs changes no value.
    std::sort(jobs_.begin(), jobs_.end(), [&](std::size_t a, std::size_t b) {  // no allocation: stable_sort's buffer
      return seconds_[a] != seconds_[b] ? seconds_[a] > seconds_[b] : a < b;
    });
    run_concurrently(jobs_.size() + (collective ? 1 : 0), [&](std::size_t job) {
      if (!collective) return evaluate(jobs_[job]);
      if (job > 0) return evaluate(jobs_[job - 1]);
      for (std::size_t k = 0; k < K; ++k)
        if (terms_[k]->reach() == Reach::collective) evaluate(k);
    });
    for (const std::exception_ptr& e : errors_)  // the first term's error, whatever the threads did
      if (e) std::rethrow_exception(e);
  }

  // The term that evaluate_by_rows can run: the only one that is not pointwise, its buffer this rank's rows.
  std::optional<std::size_t> streaming_term() const {
    std::optional<std::size_t> found;
    for (std::size_t k = 0; k < terms_.size(); ++k) {
      if (pointwise_[k]) continue;
      if (found) return std::nullopt;
      found = k;
    }
    if (found && ranks_ && terms_[*found]->reach() == Reach::ensemble) return std::nullopt;
    return found;
  }
  // 1. for that term alone, calling rows_done(i0, i1) as each group of rows is done.
  void evaluate_by_rows(std::size_t k, std::uint64_t t, const Tensor<T>& particles, std::uint64_t seed,
                        RowsDone rows_done) {
    prepare_buffers(particles.shape()[0], particles.shape()[1]);
    const StepContext<T> own{t, particles, seed, block_.begin, ranks_, n_total_, true};
    terms_[k]->add_gradient_by_rows(own, buffers_[k], rows_done);
  }

  // 2. for n rows of J: begin_sum(n, J), then sum_row for each row (concurrently, a row per call), then
  //    end_sum(); gradient() is then the sum.
  void begin_sum(std::size_t n, std::size_t J) {
    in_place_ = sums_in_place();
    if (!in_place_ && (sum_.shape()[0] != n || sum_.shape()[1] != J)) sum_.resize({n, J});
    faults_.reset(n);
    const bool pointwise = std::any_of(pointwise_.begin(), pointwise_.end(), [](const auto* p) { return p; });
    row_errors_.assign(pointwise ? n : 0, nullptr);
  }
  // g = sum_k g_k at this rank's row i (theta the particle), each g_k checked and its buffer's row zeroed
  // where the term adds; about 4 entry-passes of work per term. False if a pointwise term threw there.
  bool sum_row(std::size_t i, std::uint64_t t, std::span<const T> theta) {
    const std::size_t J = theta.size(), K = terms_.size();
    T* g = (in_place_ ? buffers_[0] : sum_).data() + i * J;
    if (in_place_) faults_.examine(i, 0, g, J);  // g = g_0 already
    else if (K == 0) std::fill(g, g + J, T(0));
    for (std::size_t k = in_place_ ? 1 : 0; k < K; ++k) {
      if (pointwise_[k]) {
        if (!add_pointwise(k, i, t, theta, g)) return false;
        continue;
      }
      T* g_k = buffers_[k].data() + (block_.begin - first_row_[k] + i) * J;
      faults_.accumulate(i, k, g, g_k, J, k == 0);
      if (!writes_[k]) std::fill(g_k, g_k + J, T(0));
    }
    return true;
  }
  // g += pointwise term k's gradient at row i, in its one pass where it has one; false if it threw.
  bool add_pointwise(std::size_t k, std::size_t i, std::uint64_t t, std::span<const T> theta, T* g) {
    const std::size_t J = theta.size(), row = block_.begin + i;
    thread_local std::vector<T> e;  // one per thread, reused
    std::optional<T> largest;
    try {
      if (k == 0) std::fill(g, g + J, T(0));  // (0 + e) as accumulate's first add
      largest = pointwise_[k]->add_row_gradient(t, row, theta, std::span<T>(g, J));
      if (largest && std::isfinite(*largest)) return faults_.added(i, k, *largest), true;
      // The term's row: its only pass, or, after a fault in its own pass, again for the first non-finite entry.
      e.resize(J);
      pointwise_[k]->row_gradient(t, row, theta, std::span<T>(e));
    } catch (...) {
      row_errors_[i] = std::current_exception();
      return false;
    }
    if (largest) faults_.check(i, k, e.data(), J);
    else faults_.accumulate(i, k, g, e.data(), J, k == 0);
    return true;
  }

  // Every row summed: the buffers of the terms that add are zero again.
  void end_sum() { buffers_zero_ = true; }

  // g (n x J, this rank's rows) after the last sum: in its own matrix or in the first term's buffer.
  const Tensor<T>& gradient() const { return in_place_ ? buffers_[0] : sum_; }

  // A pointwise term's exception at the first row it threw at; then the first term's non-finite gradient;
  // then the first term's non-finite per-particle value (Term::particle_values), its gradient finite.
  void throw_if_fault(std::uint64_t t) const {
    for (const std::exception_ptr& e : row_errors_)
      if (e) std::rethrow_exception(e);
    if (const auto f = faults_.first())
      throw Error(step_particle(flow_, t, block_.begin + f->row) + "the gradient of term '" +
                  terms_[f->source]->name() + "' is not finite (coordinate " + std::to_string(f->column) + " = " +
                  std::to_string(f->value) + ")");
    for (std::size_t k = 0; k < terms_.size(); ++k) {
      const std::span<const T> values = terms_[k]->particle_values();
      const std::size_t row0 = pointwise_[k] ? block_.begin : first_row_[k];  // the global row of values[0]
      if (const auto i = first_non_finite(values.data(), values.size()))
        throw Error(step_particle(flow_, t, row0 + *i) + "the value of term '" + terms_[k]->name() +
                    "' is not finite (" + std::to_string(values[*i]) + "), its gradient finite");
    }
  }
  // What step 2 saw at each row: its largest contribution and the term it came from.
  const RowFaults<T>& faults() const { return faults_; }

 private:
  // The buffers of the terms that are not pointwise (n rows of J: this rank's), zero where the term adds;
  // a term that writes its buffer is given it as it is.
  void prepare_buffers(std::size_t n, std::size_t J) {
    const std::size_t K = terms_.size();
    buffers_.resize(K);
    first_row_.resize(K);
    for (std::size_t k = 0; k < K; ++k) {
      if (pointwise_[k]) continue;  // computed in step 2
      // Over ranks a term of reach ensemble writes all N rows, of which step 2 reads (and zeroes) ours.
      const bool whole = ranks_ && terms_[k]->reach() == Reach::ensemble;
      first_row_[k] = whole ? 0 : block_.begin;
      Tensor<T>& g = buffers_[k];  // a term that threw halfway may have left part of its buffer
      const std::size_t rows = whole ? n_total_ : n;
      const bool reshaped = g.shape()[0] != rows || g.shape()[1] != J;
      if (reshaped) g.resize({rows, J});
      if (reshaped || whole || (!buffers_zero_ && !writes_[k])) g.fill(T(0));
    }
    buffers_zero_ = false;
  }

  // g = sum_k g_k is summed in the first term's buffer: a term, not pointwise, that writes its buffer of
  // this rank's rows. The sum's order, and so its bits, are those of a separate g, ((0 + g_0) + g_1) + ...
  // (but for the sign of a zero g_0 entry).
  bool sums_in_place() const {
    return !terms_.empty() && !pointwise_[0] && writes_[0] && !(ranks_ && terms_[0]->reach() == Reach::ensemble);
  }

  std::string flow_;  // for messages
  std::vector<std::unique_ptr<Term<T>>> terms_;
  std::vector<const PointwiseTerm<T>*> pointwise_;  // per term: itself if pointwise, else null
  std::vector<bool> writes_;                        // per term: Term::writes_gradient()

  // Over ranks: this rank's rows of N, and the ranks (null in one process).
  RowBlock block_;
  std::size_t n_total_ = 0;
  Communicator* ranks_ = nullptr;

  // Per-step buffers, kept so that steady-state steps allocate nothing.
  std::vector<Tensor<T>> buffers_;      // g_k, one per term, zero between steps where the term adds
  Tensor<T> sum_;                       // g, unless in_place_
  bool in_place_ = false;               // g is summed in buffers_[0] (sums_in_place() at the last begin_sum)
  std::vector<std::size_t> first_row_;  // per term: the global row of its buffer's row 0
  bool buffers_zero_ = false;
  std::vector<std::exception_ptr> errors_;      // per term: what it threw in step 1
  std::vector<std::exception_ptr> row_errors_;  // per row: what a pointwise term threw in step 2
  std::vector<std::size_t> jobs_;               // the terms run concurrently with the collective ones
  std::vector<double> seconds_;                 // per term: how long its step 1 took at the last step
  RowFaults<T> faults_;
};

}  // namespace wgflow::flows
