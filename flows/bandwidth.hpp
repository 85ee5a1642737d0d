#pragma once
// Kernel bandwidths: a fixed number, or the median heuristic applied once per step to the particles.
//
// Every wgflow kernel is written k(x, y) = phi(d^2(x, y) / h) with bandwidth h in units of d^2 (for the
// RBF, k = exp(-d^2 / (2 h)), so h plays the role of sigma^2). The median heuristic (Schoelkopf & Smola
// 2002; Liu & Wang 2016 for SVGD) picks h so that a typical particle interacts with about log N others:
//   h = median(D^2) / (2 log(N + offset)),
// the median taken over all N^2 entries of the particles' squared-distance matrix, zero diagonal
// included. With offset = 1 this is the reference code of Wild et al. (paper.md §6); with offset = 0
// it is SVGD's h_svgd = med^2 / log N for the kernel exp(-d^2 / h_svgd), since h_svgd = 2 h.
//
// Schedules (paper.md §6): `fixed`; `median`: re-estimated at each of the first `estimated_steps`
// steps (5 in the reference code), then frozen; `rolling_median`: re-estimated every step. The state
// (the current h) belongs to the flow's state, so a bandwidth object is copied with the flow.
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>

#include "../core/communicator.hpp"
#include "../core/errors.hpp"
#include "../core/median_over_ranks.hpp"
#include "../core/tensor.hpp"

namespace wgflow::flows {

// The median of all entries, with NumPy's conventions: the mean of the two middle values for an even
// count, NaN if any value is NaN. By radix selection (core/median_over_ranks.hpp, which also takes it over
// ranks): two passes over the values, in the buffers of `selection`, which a caller that estimates every
// step keeps so that nothing is allocated.
template <class T>
T median(const Tensor<T>& values, MedianOverRanks<T>& selection) {
  return selection(std::span<const T>(values.data(), values.size()));
}

template <class T>
T median(const Tensor<T>& values) {
  MedianOverRanks<T> selection;
  return median(values, selection);
}

namespace detail {
// The median rule's h from the median of the squared distances of n particles, found by `median`: all
// their pairs, or `random_pairs` of them (flows/random_batch_interaction.hpp); `who` names the caller in
// the errors.
template <class T, class Median>
T bandwidth_from_median(std::size_t n, T offset, Median&& median, const char* who = "median_bandwidth",
                        std::size_t random_pairs = 0) {
  const T log_count = std::log(static_cast<T>(n) + offset);
  if (!(log_count > 0))
    throw Error(std::string(who) + ": log(N + offset) = log(" + std::to_string(n) + " + " + std::to_string(offset) +
                ") is not positive; the heuristic needs N + offset > 1");
  const T median_d2 = median();
  const T h = median_d2 / (2 * log_count);
  // Two causes with two remedies: distances that overflowed or went NaN come from particles that diverged
  // (the step size is at fault, not the bandwidth rule); a zero median from particles that coincide.
  const auto of = [&] {
    return std::string(who) + ": the median squared distance of " +
           (random_pairs ? std::to_string(random_pairs) + " random pairs of particles" : std::to_string(n) + " particles") +
           " is " + std::to_string(median_d2);
  };
  if (!std::isfinite(median_d2) || !std::isfinite(h))
    throw Error(of() + ": the particles have diverged (try a smaller step size)");
  if (!(h > 0)) throw Error(of() + " (more than half of the pairs coincide); use a fixed bandwidth");
  return h;
}
}  // namespace detail

// h = median(D^2) / (2 log(N + offset)) for the N x N squared distances of N particles; `selection` as
// for median().
template <class T>
T median_bandwidth(const Tensor<T>& particle_squared_distances, T offset, MedianOverRanks<T>& selection) {
  const std::size_t n = particle_squared_distances.shape()[0];
  if (particle_squared_distances.shape()[1] != n)
    throw ShapeError("median_bandwidth: expected the N x N squared distances of N particles, got " +
                     shape_string({n, particle_squared_distances.shape()[1]}));
  return detail::bandwidth_from_median(n, offset, [&] { return median(particle_squared_distances, selection); });
}

template <class T>
T median_bandwidth(const Tensor<T>& particle_squared_distances, T offset = 1) {
  MedianOverRanks<T> selection;
  return median_bandwidth(particle_squared_distances, offset, selection);
}

template <class T>
class Bandwidth {
 public:
  enum class Rule { fixed, median, rolling_median };

  static Bandwidth fixed(T h) {
    if (!(h > 0) || !std::isfinite(h)) throw Error("Bandwidth::fixed: bandwidth must be positive and finite, got " + std::to_string(h));
    return Bandwidth(Rule::fixed, h, 0, 0);
  }
  // The reference code's "median": estimated at steps 0 .. estimated_steps - 1, then frozen.
  static Bandwidth median(std::uint64_t estimated_steps = 5, T offset = 1) {
    return Bandwidth(Rule::median, std::numeric_limits<T>::quiet_NaN(), estimated_steps, offset);
  }
  static Bandwidth rolling_median(T offset = 1) {
    return Bandwidth(Rule::rolling_median, std::numeric_limits<T>::quiet_NaN(), 0, offset);
  }

  Rule rule() const { return rule_; }

  // Whether update() at this step re-estimates h (and so needs the particles' squared distances).
  bool estimates_at(std::uint64_t step) const {
    switch (rule_) {
      case Rule::fixed: return false;
      case Rule::median: return step < estimated_steps_ || std::isnan(h_);
      case Rule::rolling_median: return true;
    }
    return false;
  }

  // The bandwidth for this step; D^2 (the particles' N x N squared distances) is read only when
  // estimates_at(step).
  T update(std::uint64_t step, const Tensor<T>& particle_squared_distances) {
    if (estimates_at(step)) h_ = median_bandwidth(particle_squared_distances, offset_, selection_);
    return h_;
  }
  // The same for a flow over ranks (flows/term.hpp, reach collective): each rank passes its own rows, n x N,
  // of the N x N matrix and every rank gets the h of the whole, bit for bit, without gathering it
  // (core/median_over_ranks.hpp). A collective at the steps that estimate; null `ranks`: update() above.
  T update(std::uint64_t step, const Tensor<T>& distance_rows, Communicator* ranks) {
    if (ranks == nullptr) return update(step, distance_rows);
    if (estimates_at(step))
      h_ = detail::bandwidth_from_median(distance_rows.shape()[1], offset_, [&] {
        return selection_(std::span<const T>(distance_rows.data(), distance_rows.size()), *ranks);
      });
    return h_;
  }

  // The bandwidth in use (NaN for a median rule before its first estimate).
  T value() const { return h_; }
  // The median rules' offset in log(N + offset) (0 for a fixed bandwidth): what an estimate of the median
  // from a sample of the distances (flows/random_batch_interaction.hpp) keeps of the rule.
  T offset() const { return offset_; }
  // Sets the state back to a saved value() (checkpoints, flows/checkpoint.hpp).
  void restore(T h) { h_ = h; }

  std::string describe() const {
    switch (rule_) {
      case Rule::fixed: return "fixed h = " + std::to_string(h_);
      case Rule::median:
        return "median heuristic (offset " + std::to_string(offset_) + "), frozen after " +
               std::to_string(estimated_steps_) + " steps";
      case Rule::rolling_median: return "rolling median heuristic (offset " + std::to_string(offset_) + ")";
    }
    return {};
  }

 private:
  Bandwidth(Rule rule, T h, std::uint64_t estimated_steps, T offset)
      : rule_(rule), h_(h), estimated_steps_(estimated_steps), offset_(offset) {}

  Rule rule_;
  T h_;
  std::uint64_t estimated_steps_;
  T offset_;
  MedianOverRanks<T> selection_;  // the median's buffers, kept so that a rolling median does not allocate
};

}  // namespace wgflow::flows
