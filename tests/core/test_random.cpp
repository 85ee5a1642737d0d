#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <type_traits>
#include <vector>

#include <doctest/doctest.h>

#include "core/box_muller.hpp"
#include "core/random.hpp"

using wgflow::Rng;

// fill_normal's documented definition, evaluated in double with libm from scalar streams: the call's one
// draw s seeds sub-streams Rng(s + 4k 0x9e3779b97f4a7c15), k = 0..7; block b takes the next two draws
// x_k, y_k of each and gives 2P values (P = 8 double or 16 float pairs): the pairs' r cos(2 pi u2), then
// their r sin(2 pi u2). Double: pair k from x_k and y_k. Float: pair 2k + h from the low (h = 0) or high
// 32 bits of x_k and y_k, u1 = (x + 1) 2^-32 rounded to float.
namespace {
template <class T>
std::vector<double> reference_normals(Rng rng, std::size_t n) {
  const std::uint64_t s = rng();
  std::vector<Rng> lanes;
  for (std::uint64_t k = 0; k < 8; ++k) lanes.emplace_back(s + 4 * k * 0x9e3779b97f4a7c15ULL);
  constexpr std::size_t P = std::is_same_v<T, double> ? 8 : 16;
  std::vector<double> z;
  while (z.size() < n) {
    std::uint64_t x[8], y[8];
    for (std::size_t k = 0; k < 8; ++k) x[k] = lanes[k]();
    for (std::size_t k = 0; k < 8; ++k) y[k] = lanes[k]();
    double c[P], sn[P];
    for (std::size_t p = 0; p < P; ++p) {
      double u1, u2;
      if constexpr (std::is_same_v<T, double>) {
        u1 = 1 - static_cast<double>(x[p] >> 11) * 0x1.0p-53;
        u2 = static_cast<double>(y[p] >> 11) * 0x1.0p-53;
      } else {
        const auto a = static_cast<std::uint32_t>(x[p / 2] >> (32 * (p % 2)));
        const auto b = static_cast<std::uint32_t>(y[p / 2] >> (32 * (p % 2)));
        u1 = static_cast<float>((static_cast<double>(a) + 1) * 0x1.0p-32);  // rounded to float once
        u2 = static_cast<double>(b >> 8) * 0x1.0p-24;
      }
      const double r = std::sqrt(-2 * std::log(u1)), angle = 2 * std::numbers::pi * u2;
      c[p] = r * std::cos(angle), sn[p] = r * std::sin(angle);
    }
    z.insert(z.end(), c, c + P);
    z.insert(z.end(), sn, sn + P);
  }
  z.resize(n);
  return z;
}
}  // namespace

// Only the rounding differs: the vector log, sqrt, sin and cos against libm's, and 2 pi u2 rounded here
// (up to 4e-15 of a double z near the cap). Sizes around the blocks (16 doubles, 32 floats) and
// for_each_normal's chunks (64).
TEST_CASE_TEMPLATE("Rng::fill_normal: Box-Muller on 8 sub-streams, as documented, to rounding", T, double, float) {
  const double tolerance = std::is_same_v<T, double> ? 1e-14 : 1e-6;
  for (const std::size_t n : {1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 64, 65, 1001}) {
    CAPTURE(n);
    const std::vector<double> want = reference_normals<T>(Rng::stream(11, n), n);
    std::vector<T> z(n);
    Rng::stream(11, n).fill_normal(z.data(), n);
    for (std::size_t j = 0; j < n; ++j) {
      CAPTURE(j);
      CHECK(std::abs(z[j] - want[j]) <= tolerance * std::max(1.0, std::abs(want[j])));
    }
  }
}

// Each value depends on its index alone, so a shorter call gives a prefix, bit for bit; and a call takes
// one draw of its stream whatever n, and leaves normal()'s spare in place.
TEST_CASE_TEMPLATE("Rng::fill_normal: prefixes of one another, one draw of the stream a call", T, double, float) {
  std::vector<T> all(200);
  Rng::stream(5, 1).fill_normal(all.data(), all.size());
  for (const std::size_t n : {0, 1, 15, 16, 17, 32, 33, 100}) {
    CAPTURE(n);
    std::vector<T> z(n);
    Rng::stream(5, 1).fill_normal(z.data(), n);
    CHECK(std::equal(z.begin(), z.end(), all.begin()));
    Rng rng = Rng::stream(5, 2), twin = Rng::stream(5, 2);
    rng.normal();  // draws a pair, keeps its second value
    rng.fill_normal(z.data(), n);
    twin.normal();
    const double spare = twin.normal();
    twin();  // the call's one draw
    CHECK(rng.normal() == spare);
    CHECK(rng() == twin());
  }
}

// The kernel at the edges of its arguments, against long double libm (2 pi u2 rounds negligibly there):
// u1 = 1 (z = 0), about 1/2, and its least values (|z| at the cap; for a float half, the other way
// round), u2 = 0, its largest value, and u2 at and beside every rounding boundary of 4 u2 (k's half-way
// points, r = +-1/2), for the double and for both 32-bit halves of a float draw.
TEST_CASE("box_muller::normals: the extremes of u1 and the quarter-turn boundaries, to rounding") {
  using wgflow::box_muller::Draws;
  constexpr std::size_t V = Draws::size;
  const long double two_pi = 6.283185307179586476925286766559L;
  const std::uint64_t x_draws[] = {0, 1, 0x7ff, 0x800, 0x123456789abcdefULL, ~0ULL >> 1, ~0ULL - 0x7ff, ~0ULL};
  std::vector<std::uint64_t> y_draws = {0, 0x7ff, 0x800, ~0ULL};
  for (std::uint64_t q = 1; q < 8; q += 2)  // 4 u2 = q / 2 in the high 53 bits and in the high 32
    for (const std::int64_t d : {-4096, -1, 0, 1, 4096})
      y_draws.push_back((q << 61) + (static_cast<std::uint64_t>(d) << 11));
  const auto close = [](long double got, long double want, double tolerance) {
    return std::abs(got - want) <= tolerance * std::max(1.0L, std::abs(want));
  };
  for (const std::uint64_t xd : x_draws)
    for (const std::uint64_t yd : y_draws) {
      CAPTURE(xd);
      CAPTURE(yd);
      alignas(64) std::uint64_t x[V], y[V];
      std::fill_n(x, V, xd), std::fill_n(y, V, yd);
      alignas(64) double zd[2 * V];
      wgflow::box_muller::normals(Draws::load_aligned(x), Draws::load_aligned(y), zd, zd + V);
      const long double r = std::sqrt(-2 * std::log(1 - static_cast<long double>(xd >> 11) * 0x1.0p-53L));
      const long double angle = two_pi * static_cast<long double>(yd >> 11) * 0x1.0p-53L;
      CHECK(close(zd[0], r * std::cos(angle), 2e-15));
      CHECK(close(zd[V], r * std::sin(angle), 2e-15));
      alignas(64) float zf[4 * V];
      wgflow::box_muller::normals(Draws::load_aligned(x), Draws::load_aligned(y), zf, zf + 2 * V);
      for (std::size_t h = 0; h < 2; ++h) {  // lanes 0 and 1: the draws' low and high halves
        CAPTURE(h);
        const auto a = static_cast<std::uint32_t>(xd >> (32 * h)), b = static_cast<std::uint32_t>(yd >> (32 * h));
        const long double u1 = static_cast<float>((static_cast<double>(a) + 1) * 0x1.0p-32);
        const long double rf = std::sqrt(-2 * std::log(u1));
        const long double af = two_pi * static_cast<long double>(b >> 8) * 0x1.0p-24L;
        CHECK(close(zf[h], rf * std::cos(af), 1e-6));
        CHECK(close(zf[2 * V + h], rf * std::sin(af), 1e-6));
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
