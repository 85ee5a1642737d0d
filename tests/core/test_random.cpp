#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <type_traits>
#include <vector>

#include <doctest/doctest.h>

#include "core/random.hpp"

using wgflow::Rng;

// The vectorised Box-Muller draws the same pairs (u1, u2) as normal() does, in the same order; only
// the rounding of log, sqrt and sincos differs (xsimd against libm), by a few ulp.
TEST_CASE("Rng::fill_normal: the values of normal() on the same stream, to rounding") {
  for (const std::size_t n : {1, 2, 3, 7, 8, 15, 16, 17, 64, 1001}) {
    CAPTURE(n);
    Rng scalar = Rng::stream(11, n), vector = Rng::stream(11, n);
    std::vector<double> z(n);
    vector.fill_normal(z.data(), n);
    for (std::size_t j = 0; j < n; ++j) {
      CAPTURE(j);
      const double want = scalar.normal();
      CHECK(std::abs(z[j] - want) <= 1e-14 * std::max(1.0, std::abs(want)));
    }
  }
}

// The float form's documented recipe, evaluated in double from the same 64-bit draws: u1 from the high
// 32 bits, u2 from the top 24 of the low 32, z0 = r cos(2 pi u2) first, then z1 = r sin(2 pi u2).
TEST_CASE("Rng::fill_normal in float: Box-Muller on each draw's two halves, to float rounding") {
  for (const std::size_t n : {1, 2, 3, 15, 16, 17, 31, 33, 64, 1001}) {
    CAPTURE(n);
    Rng bits = Rng::stream(12, n), vector = Rng::stream(12, n);
    std::vector<float> z(n);
    vector.fill_normal(z.data(), n);
    for (std::size_t j = 0; j < n; j += 2) {
      const std::uint64_t x = bits();
      const double u1 = static_cast<double>((x >> 32) + 1) * 0x1.0p-32;
      const double u2 = static_cast<double>((x & 0xffffffffULL) >> 8) * 0x1.0p-24;
      const double r = std::sqrt(-2 * std::log(u1)), angle = 2 * std::numbers::pi * u2;
      for (std::size_t k = j; k < std::min(n, j + 2); ++k) {
        CAPTURE(k);
        const double want = k == j ? r * std::cos(angle) : r * std::sin(angle);
        // float rounding of u1, 2 pi u2, log, sqrt and sincos: a few 1e-7 relative, times r <= 6.7
        CHECK(std::abs(z[k] - want) <= 4e-6 * std::max(1.0, std::abs(want)));
      }
    }
  }
}

TEST_CASE_TEMPLATE("Rng::for_each_normal visits exactly the values of fill_normal, in order", T, double, float) {
  for (const std::size_t n : {5, 64, 65, 200}) {
    CAPTURE(n);
    std::vector<T> want(n), got(n, T(-1e30));
    Rng::stream(3, n).fill_normal(want.data(), n);
    std::size_t calls = 0;
    Rng::stream(3, n).for_each_normal<T>(n, [&](std::size_t j, T z) {
      CHECK(j == calls++);
      got[j] = z;
    });
    CHECK(calls == n);
    CHECK(got == want);  // bitwise: the chunks are whole SIMD blocks
  }
}

TEST_CASE_TEMPLATE("Rng::fill_normal: moments and tails of a standard normal", T, double, float) {
  const std::size_t n = 1'000'000;
  std::vector<T> z(n);
  Rng(2026).fill_normal(z.data(), n);
  double m1 = 0, m2 = 0, m4 = 0, largest = 0;
  std::size_t non_finite = 0, beyond_3 = 0;
  for (const T t : z) {
    const double v = t;
    non_finite += !std::isfinite(v);
    m1 += v, m2 += v * v, m4 += v * v * v * v;
    beyond_3 += std::abs(v) > 3;
    largest = std::max(largest, std::abs(v));
  }
  REQUIRE(non_finite == 0);
  m1 /= n, m2 /= n, m4 /= n;
  // Standard errors: sd(mean) = 1e-3, sd(m2) = sqrt(2) 1e-3, sd(m4) = sqrt(96) 1e-3; 5 of each.
  CHECK(std::abs(m1) < 5e-3);
  CHECK(std::abs(m2 - 1) < 5 * 1.415e-3);
  CHECK(std::abs(m4 - 3) < 5 * 9.8e-3);
  // P(|z| > 3) = 2.6998e-3, sd of the fraction 5.2e-5 at n = 1e6: a truncated or thinned tail moves it.
  CHECK(std::abs(static_cast<double>(beyond_3) / n - 2.6998e-3) < 5 * 5.2e-5);
  // ~63 draws beyond 4 are expected (none with probability e^-63); float's cap is sqrt(64 ln 2) = 6.66.
  CHECK(largest > 4);
  if (std::is_same_v<T, float>) CHECK(largest <= 6.67);
}
