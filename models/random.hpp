#pragma once
// Random streams keyed by integers, so that every random draw in wgflow is a pure function of
// (seed, who, when): particle i's noise at step t comes from stream(seed, i, t) whatever thread runs it,
// which makes flows bit-identical for any thread count and makes resuming from a checkpoint exact.
//
// Generator: xoshiro256++ (Blackman & Vigna 2019), seeded through SplitMix64. Normals by the
// Box-Muller transform, written here rather than std::normal_distribution, whose algorithm differs
// between standard libraries.
#include <cmath>
#include <cstdint>
#include <numbers>

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

  // Uniform integer in [0, n), n > 0, unbiased: draws past the last multiple of n are rejected.
  std::uint64_t below(std::uint64_t n) {
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    std::uint64_t x;
    do x = (*this)();
    while (x >= limit);
    return x % n;
  }

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
