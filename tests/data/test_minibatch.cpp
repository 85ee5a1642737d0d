// The minibatch schedule: each epoch a partition of the rows, a pure function of (seed, step), and
// uniformly shuffled.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "data/minibatch.hpp"
#include "core/random.hpp"

using wgflow::data::LastBatch;
using wgflow::data::MinibatchSchedule;

namespace {

std::vector<std::size_t> to_vector(std::span<const std::size_t> s) { return {s.begin(), s.end()}; }

}  // namespace

TEST_CASE("each epoch's batches partition the rows; the last one is short unless dropped") {
  MinibatchSchedule keep(103, 10, 42);
  CHECK(keep.batches_per_epoch() == 11);
  MinibatchSchedule drop(103, 10, 42, LastBatch::drop);
  CHECK(drop.batches_per_epoch() == 10);
  for (std::uint64_t e = 0; e < 3; ++e) {
    std::vector<int> seen_keep(103, 0), seen_drop(103, 0);
    for (std::size_t b = 0; b < 11; ++b) {
      const auto rows = keep.rows(e * 11 + b);
      CHECK(rows.size() == (b < 10 ? 10u : 3u));
      for (auto r : rows) ++seen_keep.at(r);
    }
    for (std::size_t b = 0; b < 10; ++b) {
      const auto rows = drop.rows(e * 10 + b);
      CHECK(rows.size() == 10);
      for (auto r : rows) ++seen_drop.at(r);
    }
    CHECK(std::count(seen_keep.begin(), seen_keep.end(), 1) == 103);
    CHECK(std::count(seen_drop.begin(), seen_drop.end(), 1) == 100);
    CHECK(std::count(seen_drop.begin(), seen_drop.end(), 0) == 3);
  }
  // A batch larger than the data set is the whole (shuffled) set, every step.
  MinibatchSchedule whole(7, 100, 1);
  CHECK(whole.batches_per_epoch() == 1);
  auto rows = to_vector(whole.rows(5));
  std::sort(rows.begin(), rows.end());
  CHECK(rows == std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6});
}

TEST_CASE("the batch of a step depends on (seed, step) only, not on the steps asked for before") {
  MinibatchSchedule sequential(57, 8, 2024);
  std::vector<std::vector<std::size_t>> expected;
  for (std::uint64_t t = 0; t < 40; ++t) expected.push_back(to_vector(sequential.rows(t)));
  // The same steps in a scrambled order, from a fresh schedule (as after resuming from a checkpoint).
  MinibatchSchedule scrambled(57, 8, 2024);
  wgflow::Rng rng(1);
  for (int k = 0; k < 200; ++k) {
    const std::uint64_t t = rng.below(40);
    REQUIRE(to_vector(scrambled.rows(t)) == expected[t]);
  }
  // Epochs and seeds give different orders.
  CHECK(sequential.permutation(0) != sequential.permutation(1));
  CHECK(MinibatchSchedule(57, 8, 2025).permutation(0) != sequential.permutation(0));
  // 57 rows in batches of 8 (the last one kept): 8 batches per epoch, batch 7 holding the 57th row alone.
  // Step 15 is epoch 1's short last batch, step 17 epoch 2's second batch.
  REQUIRE(sequential.batches_per_epoch() == 8);
  CHECK(sequential.epoch(15) == 1);
  CHECK(sequential.batch(15) == 7);
  CHECK(to_vector(sequential.rows(15)) == std::vector<std::size_t>{sequential.permutation(1)[56]});
  CHECK(sequential.epoch(17) == 2);
  CHECK(sequential.batch(17) == 1);
  const auto epoch2 = sequential.permutation(2);
  CHECK(to_vector(sequential.rows(17)) == std::vector<std::size_t>(epoch2.begin() + 8, epoch2.begin() + 16));
}

TEST_CASE("permutations are uniform: every row is equally likely at every position") {
  // Position counts over E = 4000 epochs for n = 8: each cell is Binomial(E, 1/8), mean 500. Pearson's
  // statistic over the 8 x 8 table has (8 - 1)^2 = 49 degrees of freedom: mean 49, sd sqrt(98) ~ 9.9.
  // The bound 49 + 6 sd = 108 is exceeded by a correct shuffle with probability < 1e-6 (and the seed is
  // fixed); a biased shuffle (e.g. swapping with rng.below(n) at every step) gives hundreds.
  constexpr std::size_t n = 8;
  constexpr std::uint64_t epochs = 4000;
  MinibatchSchedule s(n, 3, 99);
  std::vector<std::vector<double>> count(n, std::vector<double>(n, 0));
  for (std::uint64_t e = 0; e < epochs; ++e) {
    const auto p = s.permutation(e);
    for (std::size_t pos = 0; pos < n; ++pos) ++count[p[pos]][pos];
  }
  const double expected = static_cast<double>(epochs) / n;
  double chi2 = 0;
  for (const auto& row : count)
    for (double c : row) chi2 += (c - expected) * (c - expected) / expected;
  CHECK(chi2 < 108);
}

TEST_CASE("a schedule with no rows or no batch, or nothing left to keep, is refused") {
  CHECK_THROWS_WITH_AS(MinibatchSchedule(0, 10, 1), "MinibatchSchedule: need n > 0 rows and batch size > 0, got n = 0, batch size = 10",
                       wgflow::Error);
  CHECK_THROWS_AS(MinibatchSchedule(10, 0, 1), wgflow::Error);
  CHECK_THROWS_WITH_AS(MinibatchSchedule(5, 6, 1, LastBatch::drop),
                       "MinibatchSchedule: batch size 6 exceeds the 5 rows, so dropping the incomplete batch would leave none",
                       wgflow::Error);
}
