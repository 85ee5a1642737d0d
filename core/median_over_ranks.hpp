#pragma once
// The median of values split over ranks, without gathering them: a flow over ranks holds its own n rows of
// the N x N distance matrix whose median sets the kernel bandwidth (flows/bandwidth.hpp), and gathering
// the N^2 entries on every rank costs 8 N^2 bytes of memory and exchange per rank and step (800 MB at
// N = 10^4), where this exchanges four histograms.
//
// Selection by radix on the values' order-preserving keys (an IEEE float's bits, the sign folded so that
// unsigned order is numeric order), 16 bits a round from the top: every rank counts its entries by the
// next digit among those that share the digits chosen so far, the counts are summed over ranks (exact:
// integers), and the digit holding the wanted position is chosen. Two passes over a rank's entries: the
// top digit's counts, then the entries of the chosen top digit (those within 1/16 of an octave of the
// median) copied aside for the remaining rounds. The result is an entry of the data, or for an even count the mean of
// the two middle entries, the same value for any number of ranks (tests/mpi). Collective: every rank calls
// it at once. On one process it is also the faster selection (flows/bandwidth.hpp's median()).
//
// Below 2^16 values in all, a round's 2^16 counts outweigh the values themselves: one process selects with
// nth_element on their keys, and ranks gather the values (at most 512 KB, one round's counts) and do the
// same, where the four rounds cost ~58 us of counting and four exchanges of 512 KB (SVGD at N = 50: 2500
// distances).
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>
#include <vector>

#include "communicator.hpp"
#include "errors.hpp"

namespace wgflow {

template <class T>
class MedianOverRanks {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "IEEE float or double values");

 public:
  // The median of the entries `local` of every rank: the middle one of all, or the mean of the two middle
  // ones for an even count; NaN if any is NaN (as NumPy's median). The same value on every rank.
  T operator()(std::span<const T> local, Communicator& ranks) {
    if (ranks.single()) return (*this)(local);
    const std::vector<std::size_t> counts = ranks.allgather_value(local.size());
    std::size_t total = 0;
    for (const std::size_t c : counts) total += c;
    if (total == 0) throw Error("median: no values on any rank");
    if (total >= bins) return select(local, ranks);
    gathered_.resize(total);
    ranks.allgather(local, std::span<T>(gathered_), counts);
    return select_few(gathered_);
  }
  // The median of `values` on one process: by radix selection from 2^16 values, two passes over them
  // where nth_element made three to four and a copy (3.2-4.3 against 10.2-12.1 ms for 10^6 doubles on Zen
  // 5); below, by nth_element on a copy of the keys (3.4 us for 2500 doubles, the radix 58 us).
  T operator()(std::span<const T> values) {
    if (values.empty()) throw Error("median: no values");
    if (values.size() < bins) return select_few(values);
    SingleProcess one;
    return select(values, one);
  }

 private:
  // All the values at hand, fewer than 2^16 of them: nth_element on their keys.
  T select_few(std::span<const T> values) {
    candidates_.resize(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (values[i] != values[i]) return std::numeric_limits<T>::quiet_NaN();
      candidates_[i] = key(values[i]);
    }
    const auto mid = candidates_.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
    std::nth_element(candidates_.begin(), mid, candidates_.end());
    const T upper = value(*mid);
    if (values.size() % 2 == 1) return upper;
    return (value(*std::max_element(candidates_.begin(), mid)) + upper) / 2;
  }

  // Any number of values, over ranks or not: radix selection.
  T select(std::span<const T> local, Communicator& ranks) {
    constexpr int rounds = bits / digit;
    counts_.assign(bins + 1, 0);  // the last: NaNs
    for (const T v : local) ++counts_[v != v ? bins : top(key(v))];
    ranks.sum(counts_);
    if (counts_[bins] != 0) return std::numeric_limits<T>::quiet_NaN();
    std::uint64_t total = 0;
    for (std::size_t d = 0; d < bins; ++d) total += counts_[d];

    // The entry at position mid of the sorted values; `at` is its position among the entries of the
    // digits chosen so far.
    const std::uint64_t mid = total / 2;
    std::uint64_t at = mid;
    Key prefix = choose(at);
    Key below = 0;  // the largest key under the chosen top digit (0: none; no value's key is 0)
    candidates_.clear();
    candidates_.reserve(local.size());  // at most all of them; so a step that has more allocates nothing
    for (const T v : local) {
      const Key k = key(v);
      if (top(k) == prefix) candidates_.push_back(k);
      else if (top(k) < prefix) below = std::max(below, k);
    }
    for (int round = 1; round < rounds; ++round) {
      const int shift = bits - digit * (round + 1);
      counts_.assign(bins, 0);
      for (const Key k : candidates_)
        if (k >> (shift + digit) == prefix) ++counts_[(k >> shift) & (bins - 1)];
      ranks.sum(counts_);
      prefix = (prefix << digit) | choose(at);
    }
    const T upper = value(prefix);
    if (total % 2 == 1) return upper;
    // The entry at mid - 1: the upper one again if it repeats there (their mean, overflowing as NumPy's),
    // else the largest key below it.
    if (at > 0) return (upper + upper) / 2;
    for (const Key k : candidates_)
      if (k < prefix) below = std::max(below, k);
    Key lower = below;
    if (!ranks.single()) {
      const std::uint64_t mine = below;
      belows_.resize(static_cast<std::size_t>(ranks.size()));
      ranks.allgather_rows(&mine, belows_.data(), belows_.size(), 1);
      for (const std::uint64_t k : belows_) lower = std::max(lower, static_cast<Key>(k));
    }
    return (value(lower) + upper) / 2;
  }

  using Key = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
  static constexpr int bits = 8 * sizeof(T), digit = 16;
  static constexpr std::size_t bins = std::size_t{1} << digit;
  static constexpr Key sign = Key{1} << (bits - 1);

  // Unsigned order = numeric order: a negative value's bits reversed, a positive value's sign bit set.
  // -0 counts as +0 (they are equal), so the key of a number is never 0 (that of a NaN only).
  static Key key(T v) {
    const Key b = std::bit_cast<Key>(v + T(0));
    return (b & sign) ? ~b : (b | sign);
  }
  static T value(Key k) { return std::bit_cast<T>((k & sign) ? (k & ~sign) : ~k); }
  static std::size_t top(Key k) { return static_cast<std::size_t>(k >> (bits - digit)); }

  // The digit whose summed count holds position `at`; `at` becomes the position within that digit.
  Key choose(std::uint64_t& at) const {
    std::size_t d = 0;
    while (at >= counts_[d]) at -= counts_[d++];
    return static_cast<Key>(d);
  }

  std::vector<std::uint64_t> counts_;
  std::vector<Key> candidates_;  // this rank's keys under the chosen top digit
  std::vector<std::uint64_t> belows_;  // each rank's largest key below the middle entry
  std::vector<T> gathered_;  // every rank's values, when they are few
};

}  // namespace wgflow
