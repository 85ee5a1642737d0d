#pragma once
// Transposed copies for packing: dst(p, j) = src(j, p), for j < rows, p < cols, with src rows ld_src
// apart and dst rows ld_dst apart. Packing a transposed operand is such a copy (B = W^T in a layer's
// backward, d X = G W^T). Element by element it is one scalar load and one strided store per value;
// with AVX, square blocks of one vector (8 floats, 4 doubles) are transposed in registers: W row loads,
// 3 (float) or 2 (double) rounds of in-lane shuffles and a lane exchange, W vector stores; with AVX-512VL
// the edge blocks too, through masked loads and stores (AVX2's masked stores are slow on AMD's cores).
// Measured on AMD EPYC (Zen 3, AVX2): commit 2023678 and `git show 2e5b311:BENCHMARKS.md`, session 12.
//
// xsimd 8's zip_lo / zip_hi interleave within 128-bit lanes on AVX (unlike SSE and NEON), so they do not
// compose into a portable transpose; hence the intrinsics, with the scalar loop for every other target.
#include <algorithm>
#include <cstddef>
#include <type_traits>

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace wgflow::gemm_detail {

#if defined(__AVX__)
// Rows r[0 .. 8) of an 8 x 8 float block to its columns, in registers: 3 rounds of in-lane shuffles, then
// the lanes exchanged; column i comes back in c[i].
inline void transpose_registers(const __m256 (&r)[8], __m256 (&c)[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {  // pairs of rows interleaved, per 128-bit lane
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {  // 2 x 2 blocks of pairs: each lane now holds one column's 4 values
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {  // rows 0-3 and 4-7 of each column joined across the lanes
    c[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    c[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}
// The same for a 4 x 4 double block.
inline void transpose_registers(const __m256d (&r)[4], __m256d (&c)[4]) {
  const __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
  const __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
  c[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
  c[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
  c[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
  c[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

#if defined(__AVX512F__)
// The in-lane rounds of a 512-bit transpose of rows r[0 .. N) (N a multiple of E, the values in 128 bits:
// 4 floats, 2 doubles): afterwards 128-bit lane L of u[g E + j] holds column E L + j of rows g E .. g E +
// E - 1. Floats take two rounds (pairs of rows interleaved, then pairs of pairs), doubles one.
template <std::size_t N>
inline void shuffle_in_lanes(const __m512 (&r)[N], __m512 (&u)[N]) {
  static_assert(N % 4 == 0);
  for (std::size_t i = 0; i < N; i += 4) {
    const __m512 t0 = _mm512_unpacklo_ps(r[i], r[i + 1]), t1 = _mm512_unpackhi_ps(r[i], r[i + 1]);
    const __m512 t2 = _mm512_unpacklo_ps(r[i + 2], r[i + 3]), t3 = _mm512_unpackhi_ps(r[i + 2], r[i + 3]);
    u[i] = _mm512_shuffle_ps(t0, t2, 0x44);
    u[i + 1] = _mm512_shuffle_ps(t0, t2, 0xEE);
    u[i + 2] = _mm512_shuffle_ps(t1, t3, 0x44);
    u[i + 3] = _mm512_shuffle_ps(t1, t3, 0xEE);
  }
}
template <std::size_t N>
inline void shuffle_in_lanes(const __m512d (&r)[N], __m512d (&u)[N]) {
  static_assert(N % 2 == 0);
  for (std::size_t i = 0; i < N; i += 2) {
    u[i] = _mm512_unpacklo_pd(r[i], r[i + 1]);
    u[i + 1] = _mm512_unpackhi_pd(r[i], r[i + 1]);
  }
}
// The last two rounds, across lanes, of a transpose of 4 S rows after shuffle_in_lanes (S = E): column
// j + S L is gathered from lane L of u[j], u[S + j], u[2S + j], u[3S + j] into c[j + S L]. The float
// shuffles move doubles' bits as well.
template <int S>
inline void exchange_lanes(const __m512 (&u)[4 * S], __m512 (&c)[4 * S]) {
  for (int j = 0; j < S; ++j) {
    const __m512 a = _mm512_shuffle_f32x4(u[j], u[S + j], 0x88), b = _mm512_shuffle_f32x4(u[j], u[S + j], 0xDD);
    const __m512 e = _mm512_shuffle_f32x4(u[2 * S + j], u[3 * S + j], 0x88);
    const __m512 f = _mm512_shuffle_f32x4(u[2 * S + j], u[3 * S + j], 0xDD);
    c[j] = _mm512_shuffle_f32x4(a, e, 0x88);
    c[S + j] = _mm512_shuffle_f32x4(b, f, 0x88);
    c[2 * S + j] = _mm512_shuffle_f32x4(a, e, 0xDD);
    c[3 * S + j] = _mm512_shuffle_f32x4(b, f, 0xDD);
  }
}
// A 16 x 16 float block in 512-bit registers: 64 shuffles for 256 values, where the 8 x 8 blocks take 24
// for 64.
inline void transpose_registers(const __m512 (&r)[16], __m512 (&c)[16]) {
  __m512 u[16];
  shuffle_in_lanes(r, u);
  exchange_lanes<4>(u, c);
}
// The same for an 8 x 8 double block.
inline void transpose_registers(const __m512d (&r)[8], __m512d (&c)[8]) {
  __m512d t[8];
  shuffle_in_lanes(r, t);
  __m512 u[8], v[8];
  for (int i = 0; i < 8; ++i) u[i] = _mm512_castpd_ps(t[i]);
  exchange_lanes<2>(u, v);
  for (int i = 0; i < 8; ++i) c[i] = _mm512_castps_pd(v[i]);
}
#endif

template <class T>
inline constexpr std::size_t transpose_block_size = 32 / sizeof(T);

// A row of a block, whole or its first n entries (masked: nothing past them is read or written).
inline __m256 load_row(const float* p) { return _mm256_loadu_ps(p); }
inline __m256d load_row(const double* p) { return _mm256_loadu_pd(p); }
inline void store_row(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
inline void store_row(double* p, __m256d v) { _mm256_storeu_pd(p, v); }
#if defined(__AVX512VL__)
inline __m256 load_row(const float* p, __mmask8 n) { return _mm256_maskz_loadu_ps(n, p); }
inline __m256d load_row(const double* p, __mmask8 n) { return _mm256_maskz_loadu_pd(n, p); }
inline void store_row(float* p, __m256 v, __mmask8 n) { _mm256_mask_storeu_ps(p, n, v); }
inline void store_row(double* p, __m256d v, __mmask8 n) { _mm256_mask_storeu_pd(p, n, v); }
#endif

// One whole block: dst(q, r) = src(r, q).
template <class T>
void transpose_block(const T* src, std::size_t ld_src, T* dst, std::size_t ld_dst) {
  constexpr std::size_t B = transpose_block_size<T>;
  decltype(load_row(src)) r[B], c[B];
  for (std::size_t i = 0; i < B; ++i) r[i] = load_row(src + i * ld_src);
  transpose_registers(r, c);
  for (std::size_t i = 0; i < B; ++i) store_row(dst + i * ld_dst, c[i]);
}

#if defined(__AVX512VL__)
// A block's first nr rows by nc columns (at most a whole block), through masked loads and stores, which
// touch nothing outside it. Why: a group of 5 networks packs 5 rows of parameters (and unpacks 5
// columns), all of them edge; element by element that cost 0.85 and 0.68 us a group of 5 networks
// 8-50-1 (pack with its fill, unpack; now 0.49 and 0.34; Intel Xeon, float32), a tenth of a DE step
// at N = 5.
template <class T>
void transpose_edge_block(const T* src, std::size_t ld_src, std::size_t nr, std::size_t nc, T* dst, std::size_t ld_dst) {
  constexpr std::size_t B = transpose_block_size<T>;
  const auto in = static_cast<__mmask8>((1u << nc) - 1), out = static_cast<__mmask8>((1u << nr) - 1);
  decltype(load_row(src)) r[B], c[B];
  for (std::size_t i = 0; i < B; ++i)
    if (i < nr) r[i] = load_row(src + i * ld_src, in);
    else r[i] = decltype(load_row(src)){};
  transpose_registers(r, c);
  for (std::size_t i = 0; i < nc; ++i) store_row(dst + i * ld_dst, c[i], out);
}
#endif
#endif

#if defined(__AVX512F__)
// transpose_copy in whole 512-bit columns, for a packed A sliver (pack.hpp: a step's MR values right after
// the last step's) and the lanes of 5-8 double networks (models/lanes_kernel.hpp): rows in chunks of one
// vector (16 floats, 8 doubles) read through masked loads, transposed in registers, each column stored
// with a mask of the chunk's rows. The 8 x 8 ymm blocks took a whole block and an edge block for a sliver
// of 14 rows.
inline __m512 load_lanes(const float* p, std::size_t n) {
  return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p);
}
inline __m512d load_lanes(const double* p, std::size_t n) {
  return _mm512_maskz_loadu_pd(static_cast<__mmask8>((1u << n) - 1), p);
}
inline void store_lanes(float* p, __m512 v, std::size_t n) {
  _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), v);
}
inline void store_lanes(double* p, __m512d v, std::size_t n) {
  _mm512_mask_storeu_pd(p, static_cast<__mmask8>((1u << n) - 1), v);
}

template <class T>
void transpose_copy_wide(const T* src, std::size_t ld_src, std::size_t rows, std::size_t cols, T* dst,
                         std::size_t ld_dst) {
  constexpr std::size_t B = 64 / sizeof(T);
  using Vector = decltype(load_lanes(src, 0));
  for (std::size_t r0 = 0; r0 < rows; r0 += B) {
    const std::size_t nr = std::min(B, rows - r0);
    for (std::size_t p = 0; p < cols; p += B) {
      const std::size_t nc = std::min(B, cols - p);
      Vector r[B], c[B];
      for (std::size_t i = 0; i < B; ++i) r[i] = i < nr ? load_lanes(src + (r0 + i) * ld_src + p, nc) : Vector{};
      transpose_registers(r, c);
      for (std::size_t q = 0; q < nc; ++q) store_lanes(dst + (p + q) * ld_dst + r0, c[q], nr);
    }
  }
}
#endif

template <class T>
void transpose_copy(const T* src, std::size_t ld_src, std::size_t rows, std::size_t cols, T* dst, std::size_t ld_dst) {
  std::size_t r0 = 0;
#if defined(__AVX__)
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    constexpr std::size_t B = transpose_block_size<T>;
#if defined(__AVX512VL__)
    for (; r0 < rows; r0 += B) {
      const T* s = src + r0 * ld_src;
      const std::size_t nr = std::min(B, rows - r0);
      for (std::size_t p = 0; p < cols; p += B) {
        const std::size_t nc = std::min(B, cols - p);
        if (nr == B && nc == B) transpose_block(s + p, ld_src, dst + p * ld_dst + r0, ld_dst);
        else transpose_edge_block(s + p, ld_src, nr, nc, dst + p * ld_dst + r0, ld_dst);
      }
    }
#else
    const std::size_t full_cols = cols - cols % B;
    for (; r0 + B <= rows; r0 += B) {
      const T* s = src + r0 * ld_src;
      for (std::size_t p = 0; p < full_cols; p += B) transpose_block(s + p, ld_src, dst + p * ld_dst + r0, ld_dst);
      for (std::size_t r = 0; r < B; ++r)  // the columns past the last whole block
        for (std::size_t p = full_cols; p < cols; ++p) dst[p * ld_dst + r0 + r] = s[r * ld_src + p];
    }
#endif
  }
#endif
  // Rows outer, so each source row is read sequentially.
  for (std::size_t r = r0; r < rows; ++r)
    for (std::size_t p = 0; p < cols; ++p) dst[p * ld_dst + r] = src[r * ld_src + p];
}

}  // namespace wgflow::gemm_detail
