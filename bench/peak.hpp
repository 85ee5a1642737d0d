#pragma once
// The cores' peak multiply-add rate, measured: the yardstick every benchmark's share of peak is read
// against (bench_peak prints it; bench_lanes divides by it in the same run).
//
// Every thread runs 12 independent chains of vector FMAs (x <- x * m + c, in registers, no memory
// traffic): enough chains to keep both FMA pipes of a Zen 3 or Skylake core busy through a 4-5 cycle
// latency. The figure is the best of the repeats, not the median: it is a capability (what the cores can
// issue at all), so that a time computed from it, multiply-adds / peak, is a floor no implementation of
// the same arithmetic can beat on this machine.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <thread>
#include <utility>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "bench/bench_common.hpp"
#include "core/lane_fma.hpp"

namespace wgflow::bench {

namespace peak_detail {
constexpr std::size_t chains = 12;

// `iterations` rounds of one FMA on each chain; returns a value that depends on all of them, so that no
// chain is dead code.
template <class T>
[[gnu::noinline]] T fma_chains(std::size_t iterations) {
  using Batch = xsimd::batch<T>;
  const Batch m(T(0.999999)), c(T(1e-7));
  std::array<Batch, chains> x;
  for (std::size_t k = 0; k < chains; ++k) x[k] = Batch(static_cast<T>(k));
  // Unrolled by the fold, so that every chain stays in a register (a loop over k left them in memory).
  const auto round = [&]<std::size_t... k>(std::index_sequence<k...>) { ((x[k] = vector_fma(x[k], m, c)), ...); };
  for (std::size_t i = 0; i < iterations; ++i) round(std::make_index_sequence<chains>{});
  Batch s(T(0));
  for (const Batch& v : x) s += v;
  return xsimd::hadd(s);
}

}  // namespace peak_detail

// G multiply-adds per second on `threads` threads at once, best of `repeats`.
template <class T>
double peak_rate(int threads, int repeats) {
  constexpr std::size_t lanes = xsimd::batch<T>::size;
  const std::size_t iterations = 20'000'000 / lanes;  // ~0.1 s a repeat at a few G FMA/s per lane
  volatile T sink = 0;
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) workers.emplace_back([&] { sink = peak_detail::fma_chains<T>(iterations); });
    for (std::thread& t : workers) t.join();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, static_cast<double>(threads) * iterations * peak_detail::chains * lanes / s / 1e9);
  }
  return best;
}

}  // namespace wgflow::bench
