#pragma once
// The Communicator over MPI (core/communicator.hpp), for builds with MPI (meson option -Dmpi, on where
// Open MPI is found; WGFLOW_WITH_MPI then defined by the dependency).
//
//   int main(int argc, char** argv) {
//     wgflow::MpiSession mpi(argc, argv);                 // MPI_Init_thread ... MPI_Finalize
//     auto world = mpi.world();                           // a std::shared_ptr<Communicator>
//     auto flow = flows::deep_ensemble(loss, init, {...});
//     flow.distribute(world);                             // the one line: this rank's block of particles
//
// Collectives are called from the thread that steps the flow only (MPI_THREAD_FUNNELED): TBB's workers
// never touch MPI. A failing call throws wgflow::Error with MPI's message; an error on one rank that
// must end all of them goes through MpiSession::abort (experiments/common/run_main.hpp does this).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <mpi.h>

#include "communicator.hpp"
#include "errors.hpp"

namespace wgflow {

namespace detail {
inline void mpi_check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw Error(std::string("MPI: ") + what + " failed: " + std::string(text, static_cast<std::size_t>(length)));
}
inline int mpi_count(std::size_t bytes, const char* what) {
  if (bytes > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw Error(std::string("MPI: ") + what + ": " + std::to_string(bytes) + " bytes exceed one message's 2^31 - 1");
  return static_cast<int>(bytes);
}
}  // namespace detail

class MpiCommunicator final : public Communicator {
 public:
  // Does not own `comm` (MPI_COMM_WORLD, or a communicator the caller frees after the flows using it).
  explicit MpiCommunicator(MPI_Comm comm) : comm_(comm) {
    detail::mpi_check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    detail::mpi_check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);  // errors as exceptions with MPI's message
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string describe() const override { return "rank " + std::to_string(rank_) + " of " + std::to_string(size_); }
  MPI_Comm comm() const { return comm_; }

  void allgather_bytes(std::span<const std::byte> local, std::span<std::byte> all,
                       std::span<const std::size_t> counts) override {
    counts_.resize(counts.size());
    displacements_.resize(counts.size());
    std::size_t offset = 0;
    for (std::size_t r = 0; r < counts.size(); ++r) {
      counts_[r] = detail::mpi_count(counts[r], "allgather");
      displacements_[r] = detail::mpi_count(offset, "allgather");
      offset += counts[r];
    }
    if (offset != all.size() || counts.size() != static_cast<std::size_t>(size_) ||
        counts[static_cast<std::size_t>(rank_)] != local.size())
      throw ShapeError("allgather on " + describe() + ": " + std::to_string(local.size()) + " bytes from this rank, " +
                       std::to_string(offset) + " in all, into " + std::to_string(all.size()));
    detail::mpi_check(MPI_Allgatherv(local.data(), static_cast<int>(local.size()), MPI_BYTE, all.data(), counts_.data(),
                                     displacements_.data(), MPI_BYTE, comm_),
                      "MPI_Allgatherv");
  }
  void alltoall_bytes(std::span<const std::byte> send, std::span<const std::size_t> send_counts,
                      std::span<std::byte> receive, std::span<const std::size_t> receive_counts) override {
    const std::size_t ranks = static_cast<std::size_t>(size_);
    if (send_counts.size() != ranks || receive_counts.size() != ranks)
      throw ShapeError("alltoall on " + describe() + ": counts for " + std::to_string(send_counts.size()) + " and " +
                       std::to_string(receive_counts.size()) + " ranks");
    counts_.resize(2 * ranks);
    displacements_.resize(2 * ranks);
    std::size_t sent = 0, received = 0;
    for (std::size_t r = 0; r < ranks; ++r) {
      counts_[r] = detail::mpi_count(send_counts[r], "alltoall");
      displacements_[r] = detail::mpi_count(sent, "alltoall");
      counts_[ranks + r] = detail::mpi_count(receive_counts[r], "alltoall");
      displacements_[ranks + r] = detail::mpi_count(received, "alltoall");
      sent += send_counts[r];
      received += receive_counts[r];
    }
    if (sent != send.size() || received != receive.size())
      throw ShapeError("alltoall on " + describe() + ": " + std::to_string(sent) + " bytes counted to send from " +
                       std::to_string(send.size()) + ", " + std::to_string(received) + " to receive into " +
                       std::to_string(receive.size()));
    detail::mpi_check(MPI_Alltoallv(send.data(), counts_.data(), displacements_.data(), MPI_BYTE, receive.data(),
                                    counts_.data() + ranks, displacements_.data() + ranks, MPI_BYTE, comm_),
                      "MPI_Alltoallv");
  }
  void broadcast_bytes(std::span<std::byte> data, int root) override {
    detail::mpi_check(MPI_Bcast(data.data(), detail::mpi_count(data.size(), "broadcast"), MPI_BYTE, root, comm_), "MPI_Bcast");
  }
  void barrier() override { detail::mpi_check(MPI_Barrier(comm_), "MPI_Barrier"); }
  int max(int value) override {
    int out = 0;
    detail::mpi_check(MPI_Allreduce(&value, &out, 1, MPI_INT, MPI_MAX, comm_), "MPI_Allreduce");
    return out;
  }
  void allreduce_sum(std::span<std::uint64_t> values) override {
    detail::mpi_check(MPI_Allreduce(MPI_IN_PLACE, values.data(), detail::mpi_count(values.size(), "allreduce"),
                                    MPI_UINT64_T, MPI_SUM, comm_),
                      "MPI_Allreduce");
  }

  // One 64-bit word in an MPI window on rank 0, read and added to by MPI_Fetch_and_op under a shared
  // passive-target lock: no rank has to answer for another to take a number.
  std::unique_ptr<SharedCounter> shared_counter() override {
    class Counter final : public SharedCounter {
     public:
      explicit Counter(MPI_Comm comm) {
        int rank = 0;
        MPI_Comm_rank(comm, &rank);
        const MPI_Aint bytes = rank == 0 ? static_cast<MPI_Aint>(sizeof(std::uint64_t)) : 0;
        detail::mpi_check(MPI_Win_allocate(bytes, sizeof(std::uint64_t), MPI_INFO_NULL, comm, &base_, &window_),
                          "MPI_Win_allocate");
        if (rank == 0) *base_ = 0;
        detail::mpi_check(MPI_Barrier(comm), "MPI_Barrier");
        detail::mpi_check(MPI_Win_lock_all(0, window_), "MPI_Win_lock_all");
      }
      ~Counter() override {
        MPI_Win_unlock_all(window_);
        MPI_Win_free(&window_);
      }
      std::uint64_t fetch_add(std::uint64_t increment) override {
        std::uint64_t old = 0;
        detail::mpi_check(MPI_Fetch_and_op(&increment, &old, MPI_UINT64_T, 0, 0, MPI_SUM, window_), "MPI_Fetch_and_op");
        detail::mpi_check(MPI_Win_flush(0, window_), "MPI_Win_flush");
        return old;
      }

     private:
      std::uint64_t* base_ = nullptr;
      MPI_Win window_ = MPI_WIN_NULL;
    };
    return std::make_unique<Counter>(comm_);
  }

  void send(int destination, int tag, std::span<const std::byte> data) override {
    detail::mpi_check(MPI_Send(data.data(), detail::mpi_count(data.size(), "send"), MPI_BYTE, destination, tag, comm_),
                      "MPI_Send");
  }
  int receive_any(int tag, std::vector<std::byte>& data) override {
    MPI_Status status;
    detail::mpi_check(MPI_Probe(MPI_ANY_SOURCE, tag, comm_, &status), "MPI_Probe");
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    data.resize(static_cast<std::size_t>(count));
    detail::mpi_check(MPI_Recv(data.data(), count, MPI_BYTE, status.MPI_SOURCE, tag, comm_, MPI_STATUS_IGNORE), "MPI_Recv");
    return status.MPI_SOURCE;
  }
  bool has_message(int tag) override {
    int flag = 0;
    detail::mpi_check(MPI_Iprobe(MPI_ANY_SOURCE, tag, comm_, &flag, MPI_STATUS_IGNORE), "MPI_Iprobe");
    return flag != 0;
  }

 private:
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
  std::vector<int> counts_, displacements_;
};

// MPI_Init_thread (funneled) on construction, MPI_Finalize on destruction; world() is MPI_COMM_WORLD.
class MpiSession {
 public:
  MpiSession(int& argc, char**& argv) {
    int provided = 0;
    detail::mpi_check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    world_ = std::make_shared<MpiCommunicator>(MPI_COMM_WORLD);
  }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  ~MpiSession() {
    world_.reset();
    MPI_Finalize();
  }
  std::shared_ptr<Communicator> world() const { return world_; }
  // Ends every rank of the job with `code` (after this rank's message has been written).
  [[noreturn]] static void abort(int code) {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::abort();
  }

 private:
  std::shared_ptr<MpiCommunicator> world_;
};

}  // namespace wgflow
