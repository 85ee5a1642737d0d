#pragma once
// MedianOverRanks (core/median_over_ranks.hpp) against the median of all values sorted, on data sets that
// reach each of its paths: few values (gathered over ranks) and many (selected by radix), a middle entry
// that repeats or not, the lower middle entry under another top digit or under the same, values equal in
// all but their last bits (every round of digits), signs, zeros and infinities, a NaN on one rank among
// few values and among many, ranks that hold nothing. Every rank holds a contiguous block of each
// data set; the test core suite runs it on one process, tests/mpi on 1, 2 and 3 ranks.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "core/communicator.hpp"
#include "core/median_over_ranks.hpp"
#include "core/random.hpp"
#include "core/row_block.hpp"

namespace wgtest {

// NumPy's median of all values: the middle of the sorted values, or the mean of the two middle ones.
template <class T>
T sorted_median(std::vector<T> v) {
  if (std::any_of(v.begin(), v.end(), [](T x) { return x != x; })) return std::numeric_limits<T>::quiet_NaN();
  std::sort(v.begin(), v.end());
  const std::size_t mid = v.size() / 2;
  return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

template <class T>
std::vector<std::vector<T>> median_data_sets() {
  wgflow::Rng rng(17);
  std::vector<std::vector<T>> sets;
  for (std::size_t n : {1, 2, 3, 4, 5, 100, 1001, 70001}) {  // uniform on (0, 1); the last past 2^16
    std::vector<T> v(n);
    for (T& x : v) x = static_cast<T>(rng.uniform());
    sets.push_back(v);
  }
  for (std::size_t n : {10, 11, 500, 501}) {  // three values, many ties
    std::vector<T> v(n);
    for (T& x : v) x = static_cast<T>(rng.below(3));
    sets.push_back(v);
  }
  for (std::size_t n : {64, 65, 2000}) {  // 1 + k ulp: one top digit, the middle found in the last round
    std::vector<T> v(n);
    for (T& x : v) {
      x = T(1);
      for (std::uint64_t k = rng.below(1000); k > 0; --k) x = std::nextafter(x, T(2));
    }
    sets.push_back(v);
  }
  for (std::size_t n : {300, 301}) {  // many octaves, both signs
    std::vector<T> v(n);
    for (T& x : v) x = static_cast<T>((rng.below(2) ? 1.0 : -1.0) * std::exp(20 * rng.normal()));
    sets.push_back(v);
  }
  const T inf = std::numeric_limits<T>::infinity();
  sets.push_back({T(1), T(1000)});                             // the lower middle under another top digit
  sets.push_back({T(1), std::nextafter(T(1), T(2))});          // ... under the same one
  sets.push_back({T(3), T(-0.0), T(0), T(-2), T(0), T(-0.0)});  // zeros of both signs
  sets.push_back({-inf, T(5), inf, inf, T(-1), T(2)});
  sets.push_back({T(0), T(0), T(0), T(7)});                    // the middle repeats
  return sets;
}

// Every data set split over the ranks of `comm` (a collective: every rank calls it).
template <class T>
void check_median_over_ranks(wgflow::Communicator& comm) {
  wgflow::MedianOverRanks<T> median;
  const auto sets = median_data_sets<T>();
  for (std::size_t s = 0; s < sets.size(); ++s) {
    const std::vector<T>& all = sets[s];
    const wgflow::RowBlock mine = wgflow::RowBlock::of(all.size(), comm.rank(), comm.size());
    const T got = median(std::span<const T>(all.data() + mine.begin, mine.size()), comm);
    const T expected = sorted_median(all);
    CAPTURE(s);
    CAPTURE(all.size());
    CHECK(got == expected);
    if (comm.single()) CHECK(median(std::span<const T>(all)) == expected);  // one process's own path
  }
  // A NaN on the last rank: NaN on every rank, among few values (gathered) and many (counted).
  for (std::size_t n : {9, 70001}) {
    std::vector<T> with_nan(n, T(1));
    with_nan.back() = std::numeric_limits<T>::quiet_NaN();
    const wgflow::RowBlock mine = wgflow::RowBlock::of(with_nan.size(), comm.rank(), comm.size());
    CAPTURE(n);
    CHECK(std::isnan(median(std::span<const T>(with_nan.data() + mine.begin, mine.size()), comm)));
    if (comm.single()) CHECK(std::isnan(median(std::span<const T>(with_nan))));
  }
  // No values anywhere.
  CHECK_THROWS_WITH_AS(median(std::span<const T>(), comm),
                       comm.single() ? "median: no values" : "median: no values on any rank", wgflow::Error);
  if (comm.single()) CHECK_THROWS_WITH_AS(median(std::span<const T>()), "median: no values", wgflow::Error);
}

}  // namespace wgtest
