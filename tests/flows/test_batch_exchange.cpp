// BatchExchange on one process's communicator (tests/mpi runs the same cases over 2 and 3 ranks).
#include <doctest/doctest.h>

#include "tests/support/batch_exchange_cases.hpp"

TEST_CASE("random batches' exchange on one process: every batch, every particle's features and results") {
  const auto one = wgflow::single_process();
  wgtest::check_batch_exchanges(*one);
}
