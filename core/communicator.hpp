#pragma once
// The processes a computation is split over, and the few collective operations wgflow needs from them.
// A flow split over R ranks (flows/particle_flow.hpp, distribute()) holds a contiguous block of the N
// particles on each rank; what crosses ranks is only what a term needs from the whole ensemble (an
// allgather of rows) and the reductions of per-particle values, always assembled in the same global row
// order, so a run gives the same bits for any number of ranks.
//
// Two implementations: single_process() (R = 1, no MPI: every call is a copy) and MpiCommunicator
// (core/mpi_communicator.hpp, where wgflow is built with MPI). Collectives are called from one thread per
// rank (the one that calls step()), in the same order on every rank.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "errors.hpp"
#include "row_block.hpp"

namespace wgflow {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // For messages: "rank 2 of 4", or "single process".
  virtual std::string describe() const = 0;

  // Every rank contributes `local` (its bytes); every rank receives all contributions, rank 0's first, in
  // `all`, whose size is the sum of `counts` (bytes per rank, the same on every rank).
  virtual void allgather_bytes(std::span<const std::byte> local, std::span<std::byte> all,
                               std::span<const std::size_t> counts) = 0;
  // Every rank sends send_counts[q] bytes of `send` (in rank order) to rank q and receives
  // receive_counts[r] bytes from rank r into `receive` (in rank order); each side's counts agree with the
  // other's.
  virtual void alltoall_bytes(std::span<const std::byte> send, std::span<const std::size_t> send_counts,
                              std::span<std::byte> receive, std::span<const std::size_t> receive_counts) = 0;
  // Rank `root`'s bytes into `data` on every rank.
  virtual void broadcast_bytes(std::span<std::byte> data, int root) = 0;
  // Waits for every rank.
  virtual void barrier() = 0;
  // The largest of the ranks' values (e.g. an error flag: 0 fine, 1 failed).
  virtual int max(int value) = 0;
  // values[i] = the sum over ranks of their values[i], on every rank (counts: exact in any order).
  virtual void allreduce_sum(std::span<std::uint64_t> values) = 0;

  // A counter shared by the ranks, starting at 0 (a collective to create): fetch_add() returns its value
  // and adds to it atomically, whichever rank asks, without the rank that holds it taking part. What
  // deals jobs to ranks as they become free (experiments/common/job_queue.hpp).
  class SharedCounter {
   public:
    virtual ~SharedCounter() = default;
    virtual std::uint64_t fetch_add(std::uint64_t increment) = 0;
  };
  virtual std::unique_ptr<SharedCounter> shared_counter() = 0;

  // Point to point, for messages of any length: send() returns once `data` may be reused; receive_any()
  // waits for the next message with this tag from any rank and returns its sender; has_message() asks
  // without waiting (and lets MPI make progress).
  virtual void send(int destination, int tag, std::span<const std::byte> data) = 0;
  virtual int receive_any(int tag, std::vector<std::byte>& data) = 0;
  virtual bool has_message(int tag) = 0;

  bool single() const { return size() == 1; }

  // Seconds spent in the collectives below (allgather_rows, allgather, alltoall_rows, allgather_value, sum,
  // broadcast), waiting for the other ranks included: what a flow reports as its communication
  // (ParticleFlow::communication_seconds); and the bytes this rank received in them from the others (a
  // sum's counted as its vector's size).
  double collective_seconds() const { return collective_seconds_; }
  std::uint64_t received_bytes() const { return received_bytes_; }

  // Row blocks of an N x cols row-major matrix: each rank's own rows in, the whole matrix out.
  template <class T>
  void allgather_rows(const T* own, T* all, std::size_t n, std::size_t cols) {
    std::vector<std::size_t>& counts = counts_;
    counts.resize(static_cast<std::size_t>(size()));
    for (int r = 0; r < size(); ++r) counts[static_cast<std::size_t>(r)] = RowBlock::of(n, r, size()).size() * cols * sizeof(T);
    const RowBlock mine = RowBlock::of(n, rank(), size());
    const Tally tally(*this, (n - mine.size()) * cols * sizeof(T));
    allgather_bytes(std::as_bytes(std::span<const T>(own, mine.size() * cols)),
                    std::as_writable_bytes(std::span<T>(all, n * cols)), counts);
  }
  // Each rank's `own` values (counts[r] of them on rank r, `counts` the same on every rank), one after
  // another in rank order, in `all` on every rank.
  template <class T>
  void allgather(std::span<const T> own, std::span<T> all, std::span<const std::size_t> counts) {
    counts_.resize(counts.size());
    for (std::size_t r = 0; r < counts.size(); ++r) counts_[r] = counts[r] * sizeof(T);
    const Tally tally(*this, all.size_bytes() - own.size_bytes());
    allgather_bytes(std::as_bytes(own), std::as_writable_bytes(all), counts_);
  }
  // Rows to each rank and from each rank: send_rows[q] rows of `cols` values of `send` (in rank order) go
  // to rank q, and receive_rows[r] rows from rank r arrive in `receive` (in rank order).
  template <class T>
  void alltoall_rows(const T* send, std::span<const std::size_t> send_rows, T* receive,
                     std::span<const std::size_t> receive_rows, std::size_t cols) {
    const std::size_t ranks = static_cast<std::size_t>(size());
    counts_.resize(2 * ranks);
    std::size_t sent = 0, received = 0;
    for (std::size_t r = 0; r < ranks; ++r) {
      counts_[r] = send_rows[r] * cols * sizeof(T);
      counts_[ranks + r] = receive_rows[r] * cols * sizeof(T);
      sent += counts_[r];
      received += counts_[ranks + r];
    }
    const std::span<const std::size_t> counts(counts_);
    const Tally tally(*this, received - counts_[ranks + static_cast<std::size_t>(rank())]);
    alltoall_bytes(std::span<const std::byte>(reinterpret_cast<const std::byte*>(send), sent), counts.first(ranks),
                   std::span<std::byte>(reinterpret_cast<std::byte*>(receive), received), counts.last(ranks));
  }
  // One value per rank, in rank order, on every rank: sums over ranks are then taken in a fixed order.
  template <class T>
  std::vector<T> allgather_value(const T& value) {
    std::vector<T> all(static_cast<std::size_t>(size()));
    counts_.assign(static_cast<std::size_t>(size()), sizeof(T));
    const Tally tally(*this, (all.size() - 1) * sizeof(T));
    allgather_bytes(std::as_bytes(std::span<const T>(&value, 1)), std::as_writable_bytes(std::span<T>(all)), counts_);
    return all;
  }
  void sum(std::span<std::uint64_t> values) {
    const Tally tally(*this, single() ? 0 : values.size_bytes());
    allreduce_sum(values);
  }
  template <class T>
  void broadcast(std::span<T> data, int root) {
    const Tally tally(*this, rank() == root ? 0 : data.size_bytes());
    broadcast_bytes(std::as_writable_bytes(data), root);
  }

 private:
  // Adds the seconds of its lifetime and the bytes received to the communicator's totals.
  struct Tally {
    Tally(Communicator& comm, std::size_t received) : comm(comm) { comm.received_bytes_ += received; }
    ~Tally() { comm.collective_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); }
    Tally(const Tally&) = delete;
    Tally& operator=(const Tally&) = delete;
    Communicator& comm;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  };

  std::vector<std::size_t> counts_;
  double collective_seconds_ = 0;
  std::uint64_t received_bytes_ = 0;
};

// R = 1: the plain process.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string describe() const override { return "single process"; }
  void allgather_bytes(std::span<const std::byte> local, std::span<std::byte> all,
                       std::span<const std::size_t> counts) override {
    if (counts.size() != 1 || counts[0] != local.size() || all.size() != local.size())
      throw ShapeError("allgather: " + std::to_string(local.size()) + " bytes into " + std::to_string(all.size()));
    if (!local.empty()) std::memmove(all.data(), local.data(), local.size());
  }
  void alltoall_bytes(std::span<const std::byte> send, std::span<const std::size_t> send_counts,
                      std::span<std::byte> receive, std::span<const std::size_t> receive_counts) override {
    if (send_counts.size() != 1 || receive_counts.size() != 1 || send_counts[0] != send.size() ||
        receive_counts[0] != receive.size() || send.size() != receive.size())
      throw ShapeError("alltoall: " + std::to_string(send.size()) + " bytes into " + std::to_string(receive.size()));
    if (!send.empty()) std::memmove(receive.data(), send.data(), send.size());
  }
  void broadcast_bytes(std::span<std::byte>, int) override {}
  void barrier() override {}
  int max(int value) override { return value; }
  void allreduce_sum(std::span<std::uint64_t>) override {}

  std::unique_ptr<SharedCounter> shared_counter() override {
    struct Counter final : SharedCounter {
      std::uint64_t value = 0;
      std::uint64_t fetch_add(std::uint64_t increment) override {
        const std::uint64_t old = value;
        value += increment;
        return old;
      }
    };
    return std::make_unique<Counter>();
  }
  // One process has no one to talk to: its messages to itself wait in a queue.
  void send(int destination, int tag, std::span<const std::byte> data) override {
    if (destination != 0) throw Error("send: a single process has no rank " + std::to_string(destination));
    queue_.push_back({tag, std::vector<std::byte>(data.begin(), data.end())});
  }
  int receive_any(int tag, std::vector<std::byte>& data) override {
    for (auto it = queue_.begin(); it != queue_.end(); ++it)
      if (it->first == tag) {
        data = std::move(it->second);
        queue_.erase(it);
        return 0;
      }
    throw Error("receive: a single process waits for a message it never sent itself (tag " + std::to_string(tag) + ")");
  }
  bool has_message(int tag) override {
    for (const auto& m : queue_)
      if (m.first == tag) return true;
    return false;
  }

 private:
  std::vector<std::pair<int, std::vector<std::byte>>> queue_;
};

inline std::shared_ptr<Communicator> single_process() { return std::make_shared<SingleProcess>(); }

// An error that another rank raised, as every rank throws it (raise_from_rank): the message names that
// rank, so that a second round of agreement (a term's collective error, then the step's) does not
// attribute it twice.
class RankError : public Error {
 public:
  RankError(const std::string& message, int origin, int ranks)
      : Error(message + " (on rank " + std::to_string(origin) + " of " + std::to_string(ranks) + ")"),
        message_(message), origin_(origin) {}
  const std::string& message() const { return message_; }  // without the rank
  int origin() const { return origin_; }

 private:
  std::string message_;
  int origin_;
};

// Every rank throws rank `root`'s error message (a collective: every rank calls it with the same root).
// `root` rethrows `own`, its exception; the others throw RankError with its message and where it came
// from. So an error on one rank (a diverging particle, an unreadable file) ends the collective work of
// all ranks, with that rank's words, instead of leaving them waiting.
[[noreturn]] inline void raise_from_rank(Communicator& comm, int root, std::exception_ptr own) {
  std::string message;
  std::uint64_t header[2] = {0, static_cast<std::uint64_t>(root)};  // length, the rank it came from
  if (comm.rank() == root) {
    try {
      std::rethrow_exception(own);
    } catch (const RankError& e) {
      message = e.message();
      header[1] = static_cast<std::uint64_t>(e.origin());
    } catch (const std::exception& e) {
      message = e.what();
    } catch (...) {
      message = "unknown error";
    }
    header[0] = message.size();
  }
  comm.broadcast(std::span<std::uint64_t>(header, 2), root);
  message.resize(header[0]);
  comm.broadcast(std::span<char>(message.data(), message.size()), root);
  if (comm.rank() == root) std::rethrow_exception(own);
  throw RankError(message, static_cast<int>(header[1]), comm.size());
}

// Runs `work` on every rank and agrees on the outcome: if it threw on any rank, every rank throws the
// first failing rank's error (raise_from_rank). A collective.
template <class Work>
void collectively(Communicator& comm, Work&& work) {
  std::exception_ptr error;
  try {
    work();
  } catch (...) {
    error = std::current_exception();
  }
  const std::vector<int> failed = comm.allgather_value(error ? 1 : 0);
  for (std::size_t r = 0; r < failed.size(); ++r)
    if (failed[r] != 0) raise_from_rank(comm, static_cast<int>(r), error);
}

}  // namespace wgflow
