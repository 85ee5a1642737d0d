#pragma once
// Random streams keyed by integers, so that every random draw in wgflow is a pure function of
// (seed, who, when): particle i's noise at step t comes from stream(seed, i, t) whatever thread runs it,
// which makes flows bit-identical for any thread count and makes resuming from a checkpoint exact.
//
// Generator: xoshiro256++ (Blackman & Vigna 2019), seeded through SplitMix64. Normals by the
// Box-Muller transform, written here rather than std::normal_distribution, whose algorithm differs
// between standard libraries. fill_normal draws many at once with xsimd's vectorised log, sqrt and
// sincos: Langevin noise is J normals per particle and step, and one libm log + sin + cos per pair made
// the noise cost more than a UCI network's gradient (about 50 of 125 us in a 5-network DLE step).
// Float normals have a cheaper form of their own (one 64-bit draw per pair, float arithmetic on twice
// the lanes; BENCHMARKS.md, session 13), so a float32 flow's noise is not a float64 flow's rounded.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <type_traits>

#include "intrinsics.hpp"  // before xsimd: GCC 12 repairs, see there
#include <xsimd/xsimd.hpp>
#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace wgflow {

class Rng {
 public:
  using result_type = std::uint64_t;

  explicit Rng(std::uint64_t seed = 0) {
    for (auto& s : state_) s = splitmix(seed);
  }

  // An independent stream for (seed, a, b): e.g. (seed, particle, step).
  static Rng stream(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0) {
    std::uint64_t key = seed;
    key = mix(key ^ mix(a + 0x632be59bd9b4e019ULL));
    key = mix(key ^ mix(b + 0x9e3779b97f4a7c15ULL));
    return Rng(key);
  }

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return UINT64_MAX; }

  result_type operator()() {
    const std::uint64_t result = rotl(state_[0] + state_[3], 23) + state_[0];
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform on [0, 1), 53 random bits.
  double uniform() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

  // Standard normal (Box-Muller; the second variate is kept for the next call).
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - uniform();  // in (0, 1]: log is finite
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * std::numbers::pi * u2);
  }

  // n standard normals into out: the same pairs (u1, u2) as n calls of normal() on this stream, in the
  // same order, so the values agree with normal()'s to a few ulp (xsimd's log and sincos round
  // differently from libm's). Draws whole SIMD blocks of pairs: the stream advances by a multiple of
  // 2 x the batch width, and the last block's unused values are dropped, so the values depend on n
  // alone, never on how a caller splits its work. A spare left by normal() is neither used nor lost.
  void fill_normal(double* out, std::size_t n) {
    constexpr std::size_t W = xsimd::batch<double>::size;
    alignas(xsimd::batch<double>::arch_type::alignment()) double u1[W], u2[W];
    for (std::size_t done = 0; done < n; done += 2 * W) {
      for (std::size_t k = 0; k < W; ++k) {
        u1[k] = 1.0 - uniform();  // in (0, 1]: log is finite
        u2[k] = uniform();
      }
      box_muller(xsimd::batch<double>::load_aligned(u1), xsimd::batch<double>::load_aligned(u2), out + done,
                 std::min(2 * W, n - done));
    }
  }

  // n standard normals in float, for float computations (a float32 flow's noise): each pair (z0, z1)
  // from one 64-bit draw x, its high 32 bits giving u1 = (hi + 1) 2^-32 in (0, 1] and its low 32 bits'
  // top 24 giving u2 = lo24 2^-24 in [0, 1), then Box-Muller in float: half the draws and twice the lanes
  // of the double form. u1 >= 2^-32 caps |z| at sqrt(64 ln 2) = 6.66 (the double form's cap is 8.57): a
  // standard normal exceeds it with probability 3e-11. Blocks, order and the dropped tail are as in the
  // double form, so the values depend on n alone. Only the draws are scalar: the halves are split and
  // converted in vectors (hi + 1 needs 33 bits, so as its top and bottom 16 bits, whose float sum rounds
  // once, as the scalar int64 conversion did): 2.0 against 3.3 ns a value converted one by one (AMD Zen 3,
  // AVX2; BENCHMARKS.md, session 15).
  void fill_normal(float* out, std::size_t n) {
    using Batch = xsimd::batch<float>;
    using Int = xsimd::batch<std::int32_t>;
    constexpr std::size_t W = Batch::size;
    alignas(Batch::arch_type::alignment()) std::int32_t hi[W], lo[W];
    for (std::size_t done = 0; done < n; done += 2 * W) {
      for (std::size_t k = 0; k < W; ++k) {
        const std::uint64_t x = (*this)();
        hi[k] = static_cast<std::int32_t>(x >> 32);  // the bits, reinterpreted; masked below
        lo[k] = static_cast<std::int32_t>((x & 0xffffffffULL) >> 8);
      }
      const Int h = Int::load_aligned(hi);
      const Batch top = xsimd::to_float((h >> 16) & Int(0xffff)) * Batch(65536.f);
      const Batch u1 = (top + xsimd::to_float((h & Int(0xffff)) + Int(1))) * Batch(0x1.0p-32f);
      const Batch u2 = xsimd::to_float(Int::load_aligned(lo)) * Batch(0x1.0p-24f);
      box_muller(u1, u2, out + done, std::min(2 * W, n - done));
    }
  }

  // Calls f(j, z_j) for j = 0..n-1 with the n normals of fill_normal(T*, n) (T = double or float),
  // drawn in chunks on the stack: for a caller that consumes the normals as they come (noise added to
  // a particle) and should not need an n-element buffer.
  template <class T = double, class F>
  void for_each_normal(std::size_t n, F&& f) {
    static_assert(std::is_same_v<T, double> || std::is_same_v<T, float>, "normals come in double or float");
    constexpr std::size_t chunk = 64;  // a multiple of every 2 x batch width, so chunks change nothing
    static_assert(chunk % (2 * xsimd::batch<T>::size) == 0);
    T z[chunk];
    for (std::size_t j0 = 0; j0 < n; j0 += chunk) {
      const std::size_t len = std::min(chunk, n - j0);
      fill_normal(z, len);
      for (std::size_t k = 0; k < len; ++k) f(j0 + k, z[k]);
    }
  }

  // Uniform integer in [0, n), n > 0, unbiased: draws past the last multiple of n are rejected. That
  // limit is above UINT64_MAX - n, so only a draw beyond it needs the limit's division (a shuffle of a
  // 1000-row epoch spent half its time there).
  std::uint64_t below(std::uint64_t n) {
    std::uint64_t x = (*this)();
    while (x > UINT64_MAX - n && x >= UINT64_MAX - UINT64_MAX % n) x = (*this)();
    return x % n;
  }

 private:
  // One SIMD block of Box-Muller: the batch of pairs (u1, u2), u1 in (0, 1], into its normals
  // r cos(2 pi u2), r sin(2 pi u2) with r = sqrt(-2 log u1), written interleaved (pair k's two values
  // at 2k and 2k + 1, so that the values do not depend on the batch width); the first `count` of them.
  template <class T>
  static void box_muller(xsimd::batch<T> u1, xsimd::batch<T> u2, T* out, std::size_t count) {
    using Batch = xsimd::batch<T>;
    const Batch r = xsimd::sqrt(Batch(T(-2)) * xsimd::log(u1));
    const auto [s, c] = xsimd::sincos(Batch(static_cast<T>(2 * std::numbers::pi)) * u2);
    store_interleaved(r * c, r * s, out, count);
  }

  // out[2k] = a[k], out[2k + 1] = b[k], the first `count` of them. xsimd 8's zip_lo / zip_hi interleave
  // within 128-bit lanes on AVX, hence AVX's unpacks and lane exchange (as in gemm/transpose.hpp), and an
  // element loop for every other target.
  template <class T>
  static void store_interleaved(xsimd::batch<T> a, xsimd::batch<T> b, T* out, std::size_t count) {
    using Batch = xsimd::batch<T>;
    constexpr std::size_t W = Batch::size;
    alignas(Batch::arch_type::alignment()) T z[2 * W];
    T* to = count == 2 * W ? out : z;  // a whole block straight out, a last partial one through z
#if defined(__AVX__)
    if constexpr (W * sizeof(T) == 32 && std::is_same_v<T, float>) {
      const __m256 lo = _mm256_unpacklo_ps(a, b), hi = _mm256_unpackhi_ps(a, b);
      _mm256_storeu_ps(to, _mm256_permute2f128_ps(lo, hi, 0x20));
      _mm256_storeu_ps(to + W, _mm256_permute2f128_ps(lo, hi, 0x31));
    } else if constexpr (W * sizeof(T) == 32) {
      const __m256d lo = _mm256_unpacklo_pd(a, b), hi = _mm256_unpackhi_pd(a, b);
      _mm256_storeu_pd(to, _mm256_permute2f128_pd(lo, hi, 0x20));
      _mm256_storeu_pd(to + W, _mm256_permute2f128_pd(lo, hi, 0x31));
    } else
#endif
    {
      alignas(Batch::arch_type::alignment()) T za[W], zb[W];
      a.store_aligned(za);
      b.store_aligned(zb);
      for (std::size_t k = 0; k < W; ++k) to[2 * k] = za[k], to[2 * k + 1] = zb[k];
    }
    if (to == z) std::copy_n(z, count, out);
  }

  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  static std::uint64_t splitmix(std::uint64_t& x) { return mix(x += 0x9e3779b97f4a7c15ULL); }

  std::uint64_t state_[4];
  double spare_ = 0;
  bool has_spare_ = false;
};

}  // namespace wgflow
