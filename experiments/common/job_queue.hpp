#pragma once
// Independent jobs (a sweep: data set x split x method) dealt to the ranks as they become free, their
// results funnelled to rank 0, which keeps the journal and writes the tables:
//
//   JobQueue queue(ranks(), todo.size(), [&](std::size_t job, const std::string& result) { ... });  // rank 0's
//   while (const auto job = queue.next()) queue.done(*job, run(*job));   // any rank
//   queue.finish();                                                    // rank 0: every result is in
//
// Dealing is dynamic (a counter on rank 0 that any rank increments without rank 0 answering: MPI's
// one-sided Fetch_and_op), so a rank that finishes takes the next job and long jobs (protein's) do not
// leave the others idle while short ones wait. Results are strings (a journal line); rank 0 handles its
// own at once and the others' whenever it calls poll() (between and during its jobs) or finish(). Under
// one process it is a plain loop, the handler called as each job finishes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../../core/communicator.hpp"
#include "../../core/errors.hpp"

namespace wgflow::experiments {

class JobQueue {
 public:
  using Handler = std::function<void(std::size_t job, const std::string& result)>;

  // A collective: every rank, with the same number of jobs. `handler` runs on rank 0 only.
  JobQueue(std::shared_ptr<Communicator> world, std::size_t jobs, Handler handler)
      : world_(std::move(world)), jobs_(jobs), handler_(std::move(handler)), counter_(world_->shared_counter()) {}

  // The next job for this rank, or nothing when every job has been dealt.
  std::optional<std::size_t> next() {
    const std::uint64_t job = counter_->fetch_add(1);
    if (job >= jobs_) return std::nullopt;
    return static_cast<std::size_t>(job);
  }

  // This rank finished `job` with `result`: handled now on rank 0, sent to it from the others.
  void done(std::size_t job, const std::string& result) {
    if (world_->rank() == 0) {
      handle(job, result);
      return;
    }
    std::vector<std::byte> message(sizeof(std::uint64_t) + result.size());
    const std::uint64_t index = job;
    std::memcpy(message.data(), &index, sizeof index);
    std::memcpy(message.data() + sizeof index, result.data(), result.size());
    world_->send(0, tag, message);
  }

  // Rank 0: handles the results that have arrived, without waiting (call it often: it is cheap).
  void poll() {
    if (world_->rank() != 0) return;
    while (world_->has_message(tag)) receive();
  }

  // Rank 0: waits for every job's result; then every rank returns together.
  void finish() {
    if (world_->rank() == 0)
      while (handled_ < jobs_) receive();
    world_->barrier();
  }

 private:
  static constexpr int tag = 4242;

  void receive() {
    const int from = world_->receive_any(tag, buffer_);
    if (buffer_.size() < sizeof(std::uint64_t)) throw Error("job queue: a short message from rank " + std::to_string(from));
    std::uint64_t job = 0;
    std::memcpy(&job, buffer_.data(), sizeof job);
    handle(static_cast<std::size_t>(job),
           std::string(reinterpret_cast<const char*>(buffer_.data()) + sizeof job, buffer_.size() - sizeof job));
  }
  void handle(std::size_t job, const std::string& result) {
    if (job >= jobs_) throw Error("job queue: a result for job " + std::to_string(job) + " of " + std::to_string(jobs_));
    ++handled_;
    handler_(job, result);
  }

  std::shared_ptr<Communicator> world_;
  std::size_t jobs_, handled_ = 0;
  Handler handler_;
  std::unique_ptr<Communicator::SharedCounter> counter_;
  std::vector<std::byte> buffer_;
};

}  // namespace wgflow::experiments
