// MedianOverRanks over the ranks of the world: every rank gets the median of all ranks' values, the
// sorted values' median bit for bit (the cases: tests/support/median_cases.hpp).
#include <doctest/doctest.h>

#include "tests/mpi/world.hpp"
#include "tests/support/median_cases.hpp"

TEST_CASE("the median over ranks is the sorted values' median, on every rank") {
  CAPTURE(wgtest::world->size());
  wgtest::check_median_over_ranks<double>(*wgtest::world);
  wgtest::check_median_over_ranks<float>(*wgtest::world);
}
