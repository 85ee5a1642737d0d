// The machine's peak multiply-add rate: the ceiling that issue 5's targets are read against.
//
// Every thread runs 12 independent chains of vector FMAs (x <- x * m + c, in registers, no memory
// traffic): enough chains to keep both FMA pipes of a Zen 3 or Skylake core busy through a 4-5 cycle
// latency. The figure is the best of the repeats, not the median: it is a capability (what the cores can
// issue at all), so that a time computed from it, multiply-adds / peak, is a floor no implementation of
// the same arithmetic can beat on this machine. bench/compare.py puts that floor beside each target.
//
//   bench_peak [shared options, see bench_common.hpp]   --threads N: N threads at once (default: all)
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <thread>
#include <utility>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "bench/bench_common.hpp"
#include "core/lane_fma.hpp"

namespace {

using namespace wgflow;
namespace wb = wgflow::bench;

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

// G multiply-adds per second on o.threads threads at once, best of the repeats.
template <class T>
double peak_rate(const wb::Options& o, int repeats) {
  constexpr std::size_t lanes = xsimd::batch<T>::size;
  const std::size_t iterations = 20'000'000 / lanes;  // ~0.1 s a repeat at a few G FMA/s per lane
  volatile T sink = 0;
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = wb::Clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < o.threads; ++t) threads.emplace_back([&] { sink = fma_chains<T>(iterations); });
    for (std::thread& t : threads) t.join();
    const double s = std::chrono::duration<double>(wb::Clock::now() - t0).count();
    best = std::max(best, static_cast<double>(o.threads) * iterations * chains * lanes / s / 1e9);
  }
  return best;
}

template <class T>
void report(const wb::Options& o) {
  const double g = peak_rate<T>(o, 7);
  std::printf("%-8s %7d %14.1f %12.1f\n", wb::dtype_name<T>(), o.threads, g, g / o.threads);
  wb::emit(o, wb::Record()
                  .set("workload", "peak_fma")
                  .set("dtype", wb::dtype_name<T>())
                  .set("gfma_per_s", g)
                  .set("simd_lanes", xsimd::batch<T>::size));
}

}  // namespace

int main(int argc, char** argv) {
  wb::Options o;
  if (!wb::parse_options(argc, argv, o)) return 2;
  const wb::Session session("wgflow: the cores' peak multiply-add rate (FMA chains in registers)", o);
  std::printf("%-8s %7s %14s %12s\n", "dtype", "threads", "G FMA/s", "per thread");
  if (o.float32) report<float>(o);
  if (o.float64) report<double>(o);
}
