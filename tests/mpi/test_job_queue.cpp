// experiments/common/job_queue.hpp over the ranks: every job is dealt exactly once, a rank that finishes
// takes the next one (a rank stuck in a long job does not hold the others back), and every result
// reaches rank 0.
#include <doctest/doctest.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include "experiments/common/job_queue.hpp"
#include "tests/mpi/world.hpp"

using namespace wgflow;

TEST_CASE("the job queue deals every job once, to whichever rank is free, and funnels the results to rank 0") {
  const std::size_t jobs = 40;
  std::vector<std::string> results(jobs);
  std::vector<int> handled(jobs, 0);
  experiments::JobQueue queue(wgtest::world, jobs, [&](std::size_t job, const std::string& result) {
    results[job] = result;
    ++handled[job];
  });
  std::size_t mine = 0;
  while (const auto job = queue.next()) {
    // Job 0 is long: whoever takes it must not stop the others from taking the rest.
    if (*job == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    queue.done(*job, "job " + std::to_string(*job) + " by rank " + std::to_string(wgtest::world->rank()));
    queue.poll();
    ++mine;
  }
  queue.finish();
  const std::vector<std::size_t> per_rank = wgtest::world->allgather_value(mine);
  std::size_t total = 0;
  for (std::size_t n : per_rank) total += n;
  CHECK(total == jobs);
  if (wgtest::world->size() > 1) {
    // The rank that drew the long job 0 (the first to ask) did few others; the rest did most.
    std::size_t most = 0;
    for (std::size_t n : per_rank) most = std::max(most, n);
    CHECK(most >= jobs / 2);
  }
  if (wgtest::world->rank() == 0)
    for (std::size_t j = 0; j < jobs; ++j) {
      CAPTURE(j);
      CHECK(handled[j] == 1);
      CHECK(results[j].rfind("job " + std::to_string(j) + " by rank ", 0) == 0);
    }
}
