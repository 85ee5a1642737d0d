// BatchExchange over the ranks of the world (the cases: tests/support/batch_exchange_cases.hpp).
#include <doctest/doctest.h>

#include "tests/mpi/world.hpp"
#include "tests/support/batch_exchange_cases.hpp"

TEST_CASE("random batches over ranks: each rank computes whole batches from its particles' features, returned to their owners") {
  CAPTURE(wgtest::world->size());
  wgtest::check_batch_exchanges(*wgtest::world);
}
