// The shared reductions of core/buffer_sums.hpp whose exact order of summation is part of their
// contract: lane_sums must add each vector's lanes exactly as xsimd::hadd does, so that a kernel may
// reduce rows W at a time or one at a time and get the same values.
#include <cmath>
#include <cstdint>
#include <random>

#include <doctest/doctest.h>
#include <xsimd/xsimd.hpp>

#include "core/buffer_sums.hpp"

namespace {

template <class T>
void check_lane_sums() {
  using Batch = xsimd::batch<T>;
  constexpr std::size_t W = Batch::size;
  // Lanes of wildly different magnitudes and signs, so that a different order of the additions rounds
  // differently (checked below: a reversed order disagrees with hadd somewhere in these draws).
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> mantissa(-1, 1);
  std::uniform_int_distribution<int> exponent(-30, 30);
  int differs_from_reversed = 0;
  for (int draw = 0; draw < 2000; ++draw) {
    alignas(64) T lanes[W * W];
    for (T& x : lanes) x = static_cast<T>(std::ldexp(mantissa(rng), exponent(rng)));
    Batch v[W];
    for (std::size_t r = 0; r < W; ++r) v[r] = Batch::load_aligned(lanes + r * W);
    alignas(64) T got[W];
    wgflow::lane_sums<T>(v).store_aligned(got);
    for (std::size_t r = 0; r < W; ++r) {
      const T want = xsimd::hadd(v[r]);
      CHECK(got[r] == want);
      T reversed = 0;
      for (std::size_t l = W; l-- > 0;) reversed += lanes[r * W + l];
      differs_from_reversed += reversed != want;
    }
  }
  // The draws do tell orders of summation apart, where there are orders: two lanes (double on SSE) have
  // one sum, a + b = b + a exactly.
  if constexpr (W > 2) CHECK(differs_from_reversed > 0);
}

}  // namespace

TEST_CASE_TEMPLATE("lane_sums gives each vector's xsimd::hadd, bit for bit", T, float, double) {
  check_lane_sums<T>();
}
