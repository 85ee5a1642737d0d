// doctest's main under MPI: every rank runs every case (the flows' collectives need all of them); rank 0
// prints the report, and the exit status is non-zero on every rank if a case failed on any.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <fstream>

#include "core/mpi_communicator.hpp"
#include "tests/mpi/world.hpp"

int main(int argc, char** argv) {
  wgflow::MpiSession mpi(argc, argv);
  wgtest::world = mpi.world();
  doctest::Context context(argc, argv);
  // mpirun gives ranks a terminal, so doctest would colour its report; scripts/test-summary.sh reads it plain.
  context.setOption("no-colors", true);
  std::ofstream quiet("/dev/null");
  if (wgtest::world->rank() != 0) context.setCout(&quiet);
  const int failed = context.run() != 0 ? 1 : 0;
  return wgtest::world->max(failed);
}
