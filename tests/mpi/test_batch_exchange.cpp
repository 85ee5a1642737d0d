// BatchExchange (flows/batch_exchange.hpp) over the ranks of the world: the batches are handed out whole
// and once, a rank gets exactly the features of the particles at its positions (and of a bandwidth pair's
// partner beyond them), and each particle's results reach its owner exactly once.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <utility>
#include <vector>

#include "core/random.hpp"
#include "core/row_block.hpp"
#include "flows/batch_exchange.hpp"
#include "tests/mpi/world.hpp"

using namespace wgflow;

namespace {

constexpr std::size_t E = 3;
double feature(std::size_t i, std::size_t a) { return static_cast<double>(i) + 0.125 * static_cast<double>(a); }
double result(std::size_t i, std::size_t a) { return -10.0 * static_cast<double>(i) - static_cast<double>(a); }

void check_exchange(std::size_t n, std::size_t batch, std::size_t pairs, std::uint64_t seed) {
  Communicator& comm = *wgtest::world;
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
  Tensor<double> own_features = Tensor<double>::from_shape({own.size(), E});
  for (std::size_t i = own.begin; i < own.end; ++i)
    for (std::size_t a = 0; a < E; ++a) own_features(i - own.begin, a) = feature(i, a);
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
    for (std::size_t a = 0; a < E; ++a)
      if (row[a] != feature(i, a)) return false;
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
      for (std::size_t a = 0; a < E + 2; ++a) out[a] = result(i, a);
    } else {
      CHECK(batches == 1);  // every rank computes the one batch; its owner keeps its own
    }
  }
  exchange.return_results(&comm, [&](std::size_t i, const double* row) {
    REQUIRE(exchange.owns(i));
    for (std::size_t a = 0; a < E + 2; ++a) CHECK(row[a] == result(i, a));
    ++results[i - own.begin];
  });
  for (std::size_t i = own.begin; i < own.end; ++i) {
    CAPTURE(i);
    CHECK(results[i - own.begin] == 1);
  }
}

}  // namespace

TEST_CASE("random batches over ranks: each rank computes whole batches from its particles' features, returned to their owners") {
  for (std::uint64_t seed : {1, 2, 3})
    for (const auto& [n, batch] : std::vector<std::pair<std::size_t, std::size_t>>{
             {13, 4}, {13, 5}, {13, 3}, {13, 2}, {13, 8}, {40, 3}, {40, 7}, {6, 2}, {5, 2}})
      for (std::size_t pairs : {std::size_t{0}, std::size_t{2}, n / 2}) check_exchange(n, batch, pairs, seed);
}
