#pragma once
// BatchExchange (flows/batch_exchange.hpp) over the ranks of a communicator: the batches are handed out
// whole and once, a rank gets exactly the features of the particles at its positions (and of a bandwidth
// pair's partner beyond them), and each particle's results reach its owner exactly once. The flows suite
// runs it on one process (SingleProcess), tests/mpi on 1, 2 and 3 ranks.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include "core/communicator.hpp"
#include "core/random.hpp"
#include "core/row_block.hpp"
#include "flows/batch_exchange.hpp"

namespace wgtest {

constexpr std::size_t exchange_cols = 3;
inline double exchange_feature(std::size_t i, std::size_t a) { return static_cast<double>(i) + 0.125 * static_cast<double>(a); }
inline double exchange_result(std::size_t i, std::size_t a) { return -10.0 * static_cast<double>(i) - static_cast<double>(a); }

inline void check_batch_exchange(wgflow::Communicator& comm, std::size_t n, std::size_t batch, std::size_t pairs,
                                 std::uint64_t seed) {
  using namespace wgflow;
  const int R = comm.size();
  CAPTURE(n);
  CAPTURE(batch);
  CAPTURE(pairs);
  CAPTURE(R);
  // The random batches as the term cuts them: every rank the same.
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  Rng rng(seed);
  for (std::size_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
  const std::size_t batches = std::max<std::size_t>(1, n / batch);
  std::vector<std::size_t> starts(batches + 1);
  for (std::size_t b = 0; b < batches; ++b) starts[b] = b * batch;
  starts[batches] = n;

  const RowBlock own = RowBlock::of(n, comm.rank(), R);
  Tensor<double> own_features = Tensor<double>::from_shape({own.size(), exchange_cols});
  for (std::size_t i = own.begin; i < own.end; ++i)
    for (std::size_t a = 0; a < exchange_cols; ++a) own_features(i - own.begin, a) = exchange_feature(i, a);
  flows::BatchExchange<double> exchange;
  exchange.fetch(order, starts, own, pairs, own_features, &comm);

  // The ranks' batches and positions: consecutive blocks that cover all once (the one batch: every rank all).
  const RowBlock positions = exchange.positions(), mine = exchange.batches();
  CHECK(positions.begin == starts[mine.begin]);
  CHECK(positions.end == starts[mine.end]);
  const std::vector<std::size_t> begins = comm.allgather_value(positions.begin), ends = comm.allgather_value(positions.end);
  const std::vector<std::size_t> pair_begins = comm.allgather_value(exchange.pairs().begin);
  const std::vector<std::size_t> pair_ends = comm.allgather_value(exchange.pairs().end);
  std::size_t covered = 0, pairs_covered = 0;
  for (int r = 0; r < R; ++r) {
    if (batches == 1) {
      CHECK(begins[r] == 0);
      CHECK(ends[r] == n);
      continue;
    }
    CHECK(begins[r] == covered);
    covered = ends[r];
    if (pair_ends[r] > pair_begins[r]) CHECK(pair_begins[r] == pairs_covered);
    pairs_covered += pair_ends[r] - pair_begins[r];
  }
  if (batches > 1) {
    CHECK(covered == n);
    CHECK(pairs_covered == pairs);
  }
  // The features of every particle at its positions, and of both particles of each of its pairs.
  const auto has_features = [&](std::size_t i) {
    const double* row = exchange.features(i);
    for (std::size_t a = 0; a < exchange_cols; ++a)
      if (row[a] != exchange_feature(i, a)) return false;
    return true;
  };
  for (std::size_t p = positions.begin; p < positions.end; ++p) CHECK(has_features(order[p]));
  for (std::size_t k = exchange.pairs().begin; k < exchange.pairs().end; ++k) {
    CHECK(has_features(order[2 * k]));
    CHECK(has_features(order[2 * k + 1]));
  }

  // Sorted within batches, as the term does; each particle's results reach its owner once.
  for (std::size_t b = 0; b < batches; ++b)
    std::sort(order.begin() + static_cast<std::ptrdiff_t>(starts[b]), order.begin() + static_cast<std::ptrdiff_t>(starts[b + 1]));
  exchange.plan_results(order);
  std::vector<int> results(own.size(), 0);
  for (std::size_t p = positions.begin; p < positions.end; ++p) {
    const std::size_t i = order[p];
    double* out = exchange.results_for(p);
    if (exchange.owns(i)) {
      CHECK(out == nullptr);
      ++results[i - own.begin];
    } else if (out != nullptr) {
      CHECK(batches > 1);
      for (std::size_t a = 0; a < exchange_cols + 2; ++a) out[a] = exchange_result(i, a);
    } else {
      CHECK(batches == 1);  // every rank computes the one batch; its owner keeps its own
    }
  }
  const std::uint64_t bytes_before = comm.received_bytes();
  std::size_t returned = 0;
  exchange.return_results(&comm, [&](std::size_t i, const double* row) {
    REQUIRE(exchange.owns(i));
    for (std::size_t a = 0; a < exchange_cols + 2; ++a) CHECK(row[a] == exchange_result(i, a));
    ++results[i - own.begin];
    ++returned;
  });
  // What the communicator counts as received: those rows, nothing of this rank's own.
  CHECK(comm.received_bytes() - bytes_before == returned * (exchange_cols + 2) * sizeof(double));
  for (std::size_t i = own.begin; i < own.end; ++i) {
    CAPTURE(i);
    CHECK(results[i - own.begin] == 1);
  }
}


// Batches of several sizes, even and odd, one batch, ranks without a batch; with and without pairs.
inline void check_batch_exchanges(wgflow::Communicator& comm) {
  for (std::uint64_t seed : {1, 2, 3})
    for (const auto& [n, batch] : std::vector<std::pair<std::size_t, std::size_t>>{
             {13, 4}, {13, 5}, {13, 3}, {13, 2}, {13, 8}, {40, 3}, {40, 7}, {6, 2}, {5, 2}})
      for (std::size_t pairs : {std::size_t{0}, std::size_t{2}, n / 2}) check_batch_exchange(comm, n, batch, pairs, seed);
}

}  // namespace wgtest
