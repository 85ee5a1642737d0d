#pragma once
// Sums over row-major buffers, the reductions that kernels outside the tape's ops share (a dense layer's
// bias gradient, the centre and squared norms of the flows' distance matrices, a kernel's row sums).
//
// Why not a plain loop: `s += x[k]` is one chain of dependent adds, which the compiler may not reorder
// (4 cycles each on AMD Zen 3: 1000 x 500 squared norms took ~0.7 ms that way), and a column sum updated
// row by row makes each vector update of the sums wait on the store of the one before (store-to-load
// forwarding: the bias gradient of a 100 x 50 layer took 5 % of a UCI network's step). The orders of
// summation below depend on the shapes alone, so the results do too.
#include <cstddef>
#include <type_traits>

#include "intrinsics.hpp"  // before xsimd: GCC 12 repairs, see there
#include <xsimd/xsimd.hpp>
#if XSIMD_WITH_AVX2
#include <immintrin.h>
#endif

namespace wgflow {

// sum_k f(x_k) over a row of d values, f applied to SIMD batches and to scalars alike: whole vectors in
// two accumulators (even and odd vectors), added and reduced across lanes, then the last d mod W values
// in order.
template <class T, class F>
T row_sum(const T* x, std::size_t d, F f) {
  using Batch = xsimd::batch<T>;
  constexpr std::size_t W = Batch::size;
  Batch even(T(0)), odd(T(0));
  std::size_t k = 0;
  for (; k + 2 * W <= d; k += 2 * W) {
    even += f(Batch::load_unaligned(x + k));
    odd += f(Batch::load_unaligned(x + k + W));
  }
  if (k + W <= d) {
    even += f(Batch::load_unaligned(x + k));
    k += W;
  }
  T s = xsimd::hadd(even + odd);
  for (; k < d; ++k) s += f(x[k]);
  return s;
}

// The lane sums of W = batch::size vectors at once: lane r of the result is xsimd::hadd(v[r]), bit for bit
// (the same additions in the same order), so a kernel may reduce rows W at a time or one at a time and
// get the same values. Why: a row's hadd is a chain of ~5 dependent shuffles and adds at its end; reduced
// W rows together, the shuffles serve all of them (a 100 x 50 dense head's forward in float64 went from
// 3.6 to 3.2 us, AMD EPYC Zen 3). 256-bit AVX2 vectors get the transposed form below (its last shuffle
// is AVX2's); other targets reduce one vector at a time.
template <class T>
xsimd::batch<T> lane_sums(const xsimd::batch<T>* v) {
  using Batch = xsimd::batch<T>;
  constexpr std::size_t W = Batch::size;
#if XSIMD_WITH_AVX2
  if constexpr (std::is_base_of_v<xsimd::avx2, typename Batch::arch_type> && W * sizeof(T) == 32) {
    // xsimd's AVX hadd first adds the two 128-bit halves, then adds neighbouring lanes (twice for float).
    // Here the halves of two vectors are added in one register (a | b), then hadd pairs lanes across
    // registers: the additions of each vector's lanes are the ones hadd makes, in its order.
    if constexpr (std::is_same_v<T, float>) {
      auto halves = [&](std::size_t a) {
        const __m256 x = v[a], y = v[a + 1];
        return _mm256_add_ps(_mm256_permute2f128_ps(x, y, 0x20), _mm256_permute2f128_ps(x, y, 0x31));
      };
      const __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(halves(0), halves(2)), _mm256_hadd_ps(halves(4), halves(6)));
      return Batch(_mm256_permutevar8x32_ps(s, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));  // was 0 2 4 6 1 3 5 7
    } else if constexpr (std::is_same_v<T, double>) {
      auto halves = [&](std::size_t a) {
        const __m256d x = v[a], y = v[a + 1];
        return _mm256_add_pd(_mm256_permute2f128_pd(x, y, 0x20), _mm256_permute2f128_pd(x, y, 0x31));
      };
      return Batch(_mm256_permute4x64_pd(_mm256_hadd_pd(halves(0), halves(2)), 0b11011000));  // was 0 2 1 3
    }
  }
#endif
  alignas(64) T s[W];
  for (std::size_t r = 0; r < W; ++r) s[r] = xsimd::hadd(v[r]);
  return Batch::load_aligned(s);
}

// out(j) += sum_i P(i, j) for the rows x cols matrix P with row stride ld (a block of columns of a wider
// matrix when ld > cols): vectorised along the row, four rows per update of out.
template <class T>
void add_column_sums(const T* P, std::size_t rows, std::size_t cols, std::size_t ld, T* __restrict out) {
  std::size_t i = 0;
  for (; i + 4 <= rows; i += 4) {
    const T *p0 = P + i * ld, *p1 = p0 + ld, *p2 = p1 + ld, *p3 = p2 + ld;
    for (std::size_t j = 0; j < cols; ++j) out[j] += (p0[j] + p1[j]) + (p2[j] + p3[j]);
  }
  for (; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) out[j] += P[i * ld + j];
}

}  // namespace wgflow
