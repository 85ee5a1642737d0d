#pragma once
// Transposed copies for packing: dst(p, j) = src(j, p), for j < rows, p < cols, with src rows ld_src
// apart and dst rows ld_dst apart. Packing a transposed operand is such a copy (B = W^T in a layer's
// backward, d X = G W^T). Element by element it is one scalar load and one strided store per value;
// with AVX, square blocks of one vector (8 floats, 4 doubles) are transposed in registers: W row loads,
// 3 (float) or 2 (double) rounds of in-lane shuffles and a lane exchange, W vector stores.
// Measured on AMD EPYC (Zen 3, AVX2): see BENCHMARKS.md, "the transposed pack".
//
// xsimd 8's zip_lo / zip_hi interleave within 128-bit lanes on AVX (unlike SSE and NEON), so they do not
// compose into a portable transpose; hence the intrinsics, with the scalar loop for every other target.
#include <cstddef>
#include <type_traits>

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace wgflow::gemm_detail {

#if defined(__AVX__)
// One 8 x 8 float block: dst(q, r) = src(r, q).
inline void transpose_block(const float* src, std::size_t ld_src, float* dst, std::size_t ld_dst) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ld_src);
  for (int i = 0; i < 8; i += 2) {  // pairs of rows interleaved, per 128-bit lane
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {  // 2 x 2 blocks of pairs: each lane now holds one column's 4 values
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {  // rows 0-3 and 4-7 of each column joined across the lanes
    _mm256_storeu_ps(dst + i * ld_dst, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * ld_dst, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
  }
}

// One 4 x 4 double block.
inline void transpose_block(const double* src, std::size_t ld_src, double* dst, std::size_t ld_dst) {
  const __m256d r0 = _mm256_loadu_pd(src), r1 = _mm256_loadu_pd(src + ld_src);
  const __m256d r2 = _mm256_loadu_pd(src + 2 * ld_src), r3 = _mm256_loadu_pd(src + 3 * ld_src);
  const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
  const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
  _mm256_storeu_pd(dst, _mm256_permute2f128_pd(t0, t2, 0x20));
  _mm256_storeu_pd(dst + ld_dst, _mm256_permute2f128_pd(t1, t3, 0x20));
  _mm256_storeu_pd(dst + 2 * ld_dst, _mm256_permute2f128_pd(t0, t2, 0x31));
  _mm256_storeu_pd(dst + 3 * ld_dst, _mm256_permute2f128_pd(t1, t3, 0x31));
}

template <class T>
inline constexpr std::size_t transpose_block_size = 32 / sizeof(T);
#endif

template <class T>
void transpose_copy(const T* src, std::size_t ld_src, std::size_t rows, std::size_t cols, T* dst, std::size_t ld_dst) {
  std::size_t r0 = 0;
#if defined(__AVX__)
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    constexpr std::size_t B = transpose_block_size<T>;
    const std::size_t full_cols = cols - cols % B;
    for (; r0 + B <= rows; r0 += B) {
      const T* s = src + r0 * ld_src;
      for (std::size_t p = 0; p < full_cols; p += B) transpose_block(s + p, ld_src, dst + p * ld_dst + r0, ld_dst);
      for (std::size_t r = 0; r < B; ++r)  // the columns past the last whole block
        for (std::size_t p = full_cols; p < cols; ++p) dst[p * ld_dst + r0 + r] = s[r * ld_src + p];
    }
  }
#endif
  // Rows outer, so each source row is read sequentially.
  for (std::size_t r = r0; r < rows; ++r)
    for (std::size_t p = 0; p < cols; ++p) dst[p * ld_dst + r] = src[r * ld_src + p];
}

}  // namespace wgflow::gemm_detail
