#pragma once
// The MPI_COMM_WORLD of the test executable (tests/mpi/main.cpp), for the cases.
#include <memory>

#include "core/communicator.hpp"

namespace wgtest {
inline std::shared_ptr<wgflow::Communicator> world;
}  // namespace wgtest
