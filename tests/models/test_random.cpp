#include <cmath>
#include <cstddef>
#include <vector>

#include <doctest/doctest.h>

#include "models/random.hpp"

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

TEST_CASE("Rng::for_each_normal visits exactly the values of fill_normal, in order") {
  for (const std::size_t n : {5, 64, 65, 200}) {
    CAPTURE(n);
    std::vector<double> want(n), got(n, -1e300);
    Rng::stream(3, n).fill_normal(want.data(), n);
    std::size_t calls = 0;
    Rng::stream(3, n).for_each_normal(n, [&](std::size_t j, double z) {
      CHECK(j == calls++);
      got[j] = z;
    });
    CHECK(calls == n);
    CHECK(got == want);  // bitwise: the chunks are whole SIMD blocks
  }
}

TEST_CASE("Rng::fill_normal: moments of a standard normal") {
  const std::size_t n = 1'000'000;
  std::vector<double> z(n);
  Rng(2026).fill_normal(z.data(), n);
  double m1 = 0, m2 = 0, m4 = 0;
  std::size_t non_finite = 0;
  for (const double v : z) {
    non_finite += !std::isfinite(v);
    m1 += v, m2 += v * v, m4 += v * v * v * v;
  }
  REQUIRE(non_finite == 0);
  m1 /= n, m2 /= n, m4 /= n;
  // Standard errors: sd(mean) = 1e-3, sd(m2) = sqrt(2) 1e-3, sd(m4) = sqrt(96) 1e-3; 5 of each.
  CHECK(std::abs(m1) < 5e-3);
  CHECK(std::abs(m2 - 1) < 5 * 1.415e-3);
  CHECK(std::abs(m4 - 3) < 5 * 9.8e-3);
}
