#pragma once
// Packing: copies of op(A) and op(B) blocks into the order the micro-kernel reads them, so that its
// loads are contiguous, aligned and free of TLB and cache-set conflicts whatever the leading dimension.
//
//   A block (mc x kc) -> ceil(mc / MR) slivers; sliver s holds, for p = 0..kc-1, rows s*MR .. s*MR+MR-1.
//   B panel (kc x nc) -> ceil(nc / NR) slivers; sliver s holds, for p = 0..kc-1, columns s*NR .. +NR-1
//   (a last sliver of at most W columns holds W values a step: blocked.hpp's narrow_sliver).
// Rows / columns past the block's edge are zero, so edge tiles run the full-size kernel.
#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "blocking.hpp"
#include "product.hpp"
#include "transpose.hpp"

namespace wgflow::gemm_detail {

// Sliver s of the A block whose top-left corner is op(A)(i0, p0); dst receives MR * kc values.
template <class T>
void pack_a_sliver(const Operand<T>& a, std::size_t i0, std::size_t rows, std::size_t p0, std::size_t kc, T* dst) {
  constexpr std::size_t MR = Blocking<T>::MR;
  if (a.trans) {
    // op(A)(i, p) = data[p * ld + i]: each step p is a contiguous run of rows.
    // Element loops of fixed length, not copy_n + fill: for MR values a library call costs more.
    for (std::size_t p = 0; p < kc; ++p, dst += MR) {
      const T* src = a.data + (p0 + p) * a.ld + i0;
      for (std::size_t r = 0; r < MR; ++r) dst[r] = r < rows ? src[r] : T(0);
    }
    return;
  }
  // op(A)(i, p) = data[i * ld + p]: a transpose. With AVX-512, in 512-bit columns where a sliver fills
  // more than half of one (measured with the 14 x 2 tile's 14 rows: 1000 x 100 x 1000 1323 -> 1289 us,
  // Intel Xeon); the 8 x 8 blocks where it would be mostly padding (6 floats of 16).
#if defined(__AVX512F__)
  if constexpr ((std::is_same_v<T, float> || std::is_same_v<T, double>) && 2 * MR > Blocking<T>::W) {
    transpose_copy_wide(a.data + i0 * a.ld + p0, a.ld, rows, kc, dst, MR);
  } else {
    transpose_copy(a.data + i0 * a.ld + p0, a.ld, rows, kc, dst, MR);
  }
#else
  transpose_copy(a.data + i0 * a.ld + p0, a.ld, rows, kc, dst, MR);
#endif
  for (std::size_t r = rows; r < MR; ++r)
    for (std::size_t p = 0; p < kc; ++p) dst[p * MR + r] = T(0);
}

// The A block op(A)(i0 .. i0+mc-1, p0 .. p0+kc-1).
template <class T>
void pack_a(const Operand<T>& a, std::size_t i0, std::size_t mc, std::size_t p0, std::size_t kc, T* dst) {
  constexpr std::size_t MR = Blocking<T>::MR;
  for (std::size_t i = 0; i < mc; i += MR, dst += MR * kc)
    pack_a_sliver(a, i0 + i, std::min(MR, mc - i), p0, kc, dst);
}

// Sliver of the B panel whose top-left corner is op(B)(p0, j0); dst receives kc * NR values. NR is the
// tile's width: Blocking's, or one vector for a narrow tile (small.hpp).
template <class T, std::size_t NR = Blocking<T>::NR>
void pack_b_sliver(const Operand<T>& b, std::size_t p0, std::size_t kc, std::size_t j0, std::size_t cols, T* dst) {
  constexpr std::size_t W = Blocking<T>::W;
  if (!b.trans) {
    // op(B)(p, j) = data[p * ld + j]: each step p is a contiguous run of columns.
    const T* src = b.data + p0 * b.ld + j0;
    if (cols == NR) {
      for (std::size_t p = 0; p < kc; ++p, src += b.ld, dst += NR)
        for (std::size_t v = 0; v < NR; v += W) Batch<T>::load_unaligned(src + v).store_aligned(dst + v);
    } else {
      for (std::size_t p = 0; p < kc; ++p, src += b.ld, dst += NR)
        for (std::size_t j = 0; j < NR; ++j) dst[j] = j < cols ? src[j] : T(0);
    }
    return;
  }
  // op(B)(p, j) = data[j * ld + p]: a transpose.
  transpose_copy(b.data + j0 * b.ld + p0, b.ld, cols, kc, dst, NR);
  for (std::size_t j = cols; j < NR; ++j)
    for (std::size_t p = 0; p < kc; ++p) dst[p * NR + j] = T(0);
}

}  // namespace wgflow::gemm_detail
