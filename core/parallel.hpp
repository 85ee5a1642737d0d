#pragma once
// Parallel loops over particles (or any rows) that give bit-identical results for every thread count.
//
// The rule that makes this true: each index is processed by exactly one call of the body, and what the
// body writes for index i depends only on i (its own row of the output, its own tape, its own random
// stream Rng::stream(seed, i, step)). TBB may cut the range into any pieces on any threads; no
// reduction across indices happens inside the loop. Sums over particles are done afterwards, serially or
// by GEMM, in a fixed order.
#include <algorithm>
#include <cstddef>

#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

namespace wgflow {

// The threads a parallel loop started here may use: the current arena's width as further limited by a
// tbb::global_control in force (the programs' --threads).
inline std::size_t thread_count() {
  return std::min(static_cast<std::size_t>(tbb::this_task_arena::max_concurrency()),
                  tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism));
}

// Calls body(i) for i in [0, n), in parallel. `grain` is the smallest piece TBB hands to one thread:
// raise it when body(i) is cheap so that scheduling does not dominate. A loop of one piece runs on the
// calling thread, without TBB's task: DRLE N = 5 float32 on 2 threads 38.4 -> 37.0 us (medians of 4
// alternating runs, Intel Xeon; DE and DLE within the noise).
template <class Body>
void parallel_for_each_index(std::size_t n, const Body& body, std::size_t grain = 1) {
  if (n <= grain) {
    for (std::size_t i = 0; i < n; ++i) body(i);
    return;
  }
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, grain), [&](const tbb::blocked_range<std::size_t>& r) {
    for (std::size_t i = r.begin(); i != r.end(); ++i) body(i);
  });
}

// Below this much work a pass over rows runs on the calling thread: TBB's fork and join, a few
// microseconds on 2 cores, would cost more. Work counts entry-passes: one cheap vectorised operation
// (an add, a compare) on one entry, a few tenths of a nanosecond.
inline constexpr std::size_t parallel_work = std::size_t{1} << 16;

// parallel_for_each_index when `work` repays the threads, else body(0), ..., body(n - 1) in order on the
// calling thread; the results are the same either way.
template <class Body>
void for_each_index(std::size_t n, std::size_t work, const Body& body, std::size_t grain = 1) {
  if (work < parallel_work) {
    for (std::size_t i = 0; i < n; ++i) body(i);
    return;
  }
  parallel_for_each_index(n, body, grain);
}

// Calls job(0), ..., job(n - 1) concurrently and returns when all are done: for independent stages
// (a flow's free-energy terms) that each run their own parallel loops, so that one's serial stretches
// overlap another's loops. A job must not throw (catch inside, as ParticleFlow::step does, to report
// errors in a fixed order). One job runs on the calling thread, without TBB.
template <class Job>
void run_concurrently(std::size_t n, const Job& job) {
  if (n == 0) return;
  if (n == 1) return job(std::size_t{0});
  tbb::task_group group;
  for (std::size_t k = 1; k < n; ++k) group.run([&job, k] { job(k); });
  job(std::size_t{0});
  group.wait();
}

// The rows of a piece of for_each_piece.
inline constexpr std::size_t piece_rows = 32;

// Calls body(i0, i1) on consecutive pieces [i0, i1) of piece_rows rows covering [0, n): in parallel when
// `work` (the entries the pass touches) is large enough to repay TBB's scheduling, else once for all
// rows on the calling thread. For row-wise passes over matrices (centring, norms, clamping) whose rows
// are independent: each row is computed whole by one call, so results do not depend on the partition.
template <class Body>
void for_each_piece(std::size_t n, std::size_t work, const Body& body) {
  const std::size_t pieces = (n + piece_rows - 1) / piece_rows;
  if (work < parallel_work || pieces < 2) return body(std::size_t{0}, n);
  parallel_for_each_index(pieces, [&](std::size_t p) { body(p * piece_rows, std::min(n, (p + 1) * piece_rows)); });
}

}  // namespace wgflow
