#pragma once
// The processes an experiment program runs on. Started by mpirun with R ranks (wgflow built with MPI), a
// program splits each flow's particles over the ranks (flow.distribute(ranks()), the one line a program
// adds) or, like uci_regression, deals its jobs to them, and rank 0 alone writes files and progress
// lines; every output goes through AtomicFile, which the other ranks skip. Started plainly it is one
// process and nothing changes. An error on any rank ends all of them with that rank's message
// (run_main.hpp), so no rank waits forever for one that has failed.
#include <cstdlib>
#include <memory>
#include <string>

#include "../../core/communicator.hpp"
#include "../../core/errors.hpp"
#if WGFLOW_WITH_MPI
#include "../../core/mpi_communicator.hpp"
#endif

namespace wgflow::experiments {

// Open MPI's launcher tells each rank the world's size and how many ranks share its machine.
inline std::size_t launched_ranks(const char* variable = "OMPI_COMM_WORLD_SIZE") {
  const char* value = std::getenv(variable);
  return value ? std::strtoull(value, nullptr, 10) : 0;
}

// This process's rank as the launcher numbers it (0 when started plainly), known before MPI starts: what
// --help asks, so that under mpirun one rank prints it.
inline std::size_t launched_rank() { return launched_ranks("OMPI_COMM_WORLD_RANK"); }

namespace detail {
struct RankState {
#if WGFLOW_WITH_MPI
  std::unique_ptr<MpiSession> session;  // finalised at exit, after main returns
#endif
  std::shared_ptr<Communicator> world;
};
inline RankState& rank_state() {
  static RankState state;
  return state;
}
}  // namespace detail

// The world: MPI_COMM_WORLD when started by mpirun, else one process. The first call starts MPI.
inline const std::shared_ptr<Communicator>& ranks() {
  detail::RankState& s = detail::rank_state();
  if (s.world) return s.world;
  if (launched_ranks() > 0) {
#if WGFLOW_WITH_MPI
    int argc = 0;
    char** argv = nullptr;
    s.session = std::make_unique<MpiSession>(argc, argv);
    s.world = s.session->world();
#else
    if (launched_ranks() > 1)
      throw Error("started by mpirun with " + std::to_string(launched_ranks()) +
                  " ranks, but this build of wgflow has no MPI (install libopenmpi-dev and rebuild)");
#endif
  }
  if (!s.world) s.world = single_process();
  return s.world;
}

// Whether this process writes the outputs and progress lines: rank 0, or the only process.
inline bool writes_outputs() { return ranks()->rank() == 0; }

// Ends every rank of an MPI run with `code` (after this rank has printed its message); a no-op for one
// process, which simply returns its code.
inline void end_all_ranks(int code) {
#if WGFLOW_WITH_MPI
  detail::RankState& s = detail::rank_state();
  if (s.world && s.world->size() > 1) MpiSession::abort(code);
#else
  (void)code;
#endif
}

}  // namespace wgflow::experiments
