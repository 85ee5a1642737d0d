// MedianOverRanks on one process (tests/mpi runs the same cases over 2 and 3 ranks).
#include <doctest/doctest.h>

#include "tests/support/median_cases.hpp"

TEST_CASE("the median over ranks is the sorted values' median, on one process") {
  const auto one = wgflow::single_process();
  wgtest::check_median_over_ranks<double>(*one);
  wgtest::check_median_over_ranks<float>(*one);
}
