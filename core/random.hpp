#pragma once
// Random streams keyed by integers, so that every random draw in wgflow is a pure function of
// (seed, who, when): particle i's noise at step t comes from stream(seed, i, t) whatever thread runs it,
// which makes flows bit-identical for any thread count and makes resuming from a checkpoint exact.
//
// Generator: xoshiro256++ (Blackman & Vigna 2019), seeded through SplitMix64. Normals by the
// Box-Muller transform, written here rather than std::normal_distribution, whose algorithm differs
// between standard libraries. fill_normal draws many at once, in SIMD vectors: Langevin noise is J
// normals per particle and step, and one libm log + sin + cos per pair made the noise cost more than a
// UCI network's gradient (about 50 of 125 us in a 5-network DLE step). Its draws come from 8 sub-streams
// in SIMD lanes, its log, sin and cos are written for Box-Muller's arguments (core/box_muller.hpp).
// Float normals have a cheaper form of their own (one 64-bit draw per pair, float arithmetic on twice
// the lanes; commit 94918a4), so a float32 flow's noise is not a float64 flow's rounded.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <type_traits>

#include "box_muller.hpp"
#include "intrinsics.hpp"  // before xsimd: GCC 12 repairs, see there
#include <xsimd/xsimd.hpp>

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

  // n standard normals into out, in blocks of 8 Box-Muller pairs from 8 xoshiro256++ sub-streams in
  // 64-bit SIMD lanes: one stream's draws form a serial chain (0.8 ns a draw on Zen 4, two a pair), 8
  // independent ones fill a vector. The call takes one draw s from this stream, whatever n (a spare left
  // by normal() is neither used nor lost), and starts sub-stream k = 0..7 as Rng(s + 4k 0x9e3779b97f4a7c15),
  // i.e. on the SplitMix64 outputs 4k..4k+3 after s (a few ns a call). Block b takes the next two draws
  // x_k, y_k of each sub-stream k: its pair k is Box-Muller of u1 = 1 - (x_k >> 11) 2^-53 in (0, 1] and
  // u2 = (y_k >> 11) 2^-53, r = sqrt(-2 log u1) (|z| <= 8.57), and it fills out[16b, 16b + 16) with its
  // 8 pairs' r cos(2 pi u2), then their r sin(2 pi u2) (not pair by pair: no shuffles). Defined by
  // sub-streams, not SIMD vectors, the values are the same on every instruction set up to the rounding
  // of the vector log, sqrt, sin and cos (within 3.3 ulp of the exact values: core/box_muller.hpp). The
  // last block's unused values are dropped, so each value depends on its index alone, never on n or on
  // how a caller splits its work. Not normal()'s values: normal() takes its pairs from this stream.
  void fill_normal(double* out, std::size_t n) { normal_stream().normals(out, n); }

  // n standard normals in float, for float computations (a float32 flow's noise): the sub-streams of
  // the double form, one 64-bit draw a pair, so 16 pairs a block: block b takes the next two draws x_k,
  // y_k of each sub-stream k, and its pair 2k + h (h = 0, 1) reads their low (h = 0) or high 32 bits
  // x, y: u1 = (x + 1) 2^-32 rounded to float, in (0, 1], and u2 = (y >> 8) 2^-24; it fills
  // out[32b, 32b + 32) with the 16 r cos(2 pi u2), then the 16 r sin(2 pi u2), in float arithmetic: half
  // the draws and twice the lanes of the double form. u1 >= 2^-32 caps |z| at sqrt(64 ln 2) = 6.66: a
  // standard normal exceeds it with probability 3e-11. Otherwise as the double form.
  void fill_normal(float* out, std::size_t n) { normal_stream().normals(out, n); }

  // Calls f(j, z_j) for j = 0..n-1 with the n normals of fill_normal(T*, n) (T = double or float),
  // drawn in chunks on the stack: for a caller that consumes the normals as they come (noise added to
  // a particle) and should not need an n-element buffer.
  template <class T = double, class F>
  void for_each_normal(std::size_t n, F&& f) {
    static_assert(std::is_same_v<T, double> || std::is_same_v<T, float>, "normals come in double or float");
    constexpr std::size_t chunk = 64;  // whole blocks of both forms, so that chunks change nothing
    static_assert(chunk % NormalStream::block<T> == 0);
    NormalStream stream = normal_stream();
    T z[chunk];
    for (std::size_t j0 = 0; j0 < n; j0 += chunk) {
      const std::size_t len = std::min(chunk, n - j0);
      stream.normals(z, len);
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

  using Draws = box_muller::Draws;

  // The values of fill_normal(out, n), in consecutive pieces: normal_stream() takes the call's one draw,
  // and normals(out, len) writes the next len values. Pieces of whole blocks (block<T>; 64 is whole for
  // both types) change no value: a caller can draw a row's noise a piece at a time as it uses it. Inside,
  // the 8 sub-streams as 8 / Draws::size vectors of each state word (sub-stream k in lane k mod
  // Draws::size of vector k / Draws::size), xoshiro256++'s update done on vectors.
  class NormalStream {
   public:
    static constexpr std::size_t count = 8, vectors = count / Draws::size;
    static_assert(count % Draws::size == 0, "8 sub-streams fill whole vectors");
    template <class T>  // the normals of a block, two draws of each sub-stream: 8 double or 16 float pairs
    static constexpr std::size_t block = 2 * count * sizeof(double) / sizeof(T);

    explicit NormalStream(std::uint64_t s) {
      alignas(Draws::arch_type::alignment()) std::uint64_t words[4][count];
      for (std::size_t k = 0; k < count; ++k) {
        std::uint64_t x = s + 4 * k * 0x9e3779b97f4a7c15ULL;  // Rng(x)'s state
        for (auto& w : words) w[k] = splitmix(x);
      }
      for (std::size_t m = 0; m < vectors; ++m)
        for (std::size_t i = 0; i < 4; ++i) state_[m][i] = Draws::load_aligned(words[i] + m * Draws::size);
    }

    // out[0, n) from the sub-streams' next draws, in whole blocks, a last partial one through z.
    template <class T>
    void normals(T* out, std::size_t n) {
      constexpr std::size_t W = xsimd::batch<T>::size, half = block<T> / 2;
      T z[block<T>];
      for (std::size_t done = 0; done < n; done += block<T>) {
        Draws x[vectors], y[vectors];
        next(x);
        next(y);
        T* to = n - done >= block<T> ? out + done : z;
        for (std::size_t m = 0; m < vectors; ++m)  // cos values to the block's first half, sin to its second
          box_muller::normals(x[m], y[m], to + m * W, to + half + m * W);
        if (to == z) std::copy_n(z, n - done, out + done);
      }
    }

   private:
    void next(Draws (&out)[vectors]) {
      for (std::size_t m = 0; m < vectors; ++m) {
        Draws(&s)[4] = state_[m];
        out[m] = rotl<23>(s[0] + s[3]) + s[0];
        const Draws t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl<45>(s[3]);
      }
    }
    template <int k>
    static Draws rotl(Draws x) {
#if defined(__AVX512F__)
      if constexpr (Draws::size == 8) return _mm512_rol_epi64(x, k);
#endif
      return (x << k) | (x >> (64 - k));
    }

    Draws state_[vectors][4];
  };
  NormalStream normal_stream() { return NormalStream((*this)()); }

 private:

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
