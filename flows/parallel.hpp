#pragma once
// Parallel loops over particles (or any rows) that give bit-identical results for every thread count.
//
// The rule that makes this true: each index is processed by exactly one call of the body, and what the
// body writes for index i depends only on i (its own row of the output, its own tape, its own random
// stream Rng::stream(seed, i, step)). TBB may cut the range into any pieces on any threads; no
// reduction across indices happens inside the loop. Sums over particles are done afterwards, serially or
// by GEMM, in a fixed order.
#include <cstddef>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

namespace wgflow::flows {

// Calls body(i) for i in [0, n), in parallel. `grain` is the smallest piece TBB hands to one thread:
// raise it when body(i) is cheap so that scheduling does not dominate.
template <class Body>
void parallel_for_each_index(std::size_t n, const Body& body, std::size_t grain = 1) {
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, grain), [&](const tbb::blocked_range<std::size_t>& r) {
    for (std::size_t i = r.begin(); i != r.end(); ++i) body(i);
  });
}

}  // namespace wgflow::flows
