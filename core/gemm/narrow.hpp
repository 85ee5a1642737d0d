#pragma once
// The last few columns of a small product (a hidden width of 50 = 3 x 16 + 2 floats), vectorised along
// m instead of n.
//
// The register tile is vectorised along n: each step broadcasts MR values of op(A) and loads op(B)
// vectors. Over 2 remaining columns a one-vector tile spends 6 of its 8 lanes on padding and still
// pays a broadcast per row and step: in a DE step of the UCI network it was ~10 % of the time for 4 % of
// the columns. Here the vector runs down W rows of one column instead:
//
//   acc_j(r) = sum_p op(A)(i + r, p) op(B)(p, j)      (one load of op(A)'s W rows, NC broadcasts of B)
//
// op(A)'s W rows at step p are contiguous when A is stored transposed (X^T P in a layer's backward);
// otherwise the block is transposed into scratch first (X W in the forward), 8 x 8 floats at a time
// in registers. Each C entry is still one lane summed over p in increasing order with one FMA per step
// and updated as store_edge() does, so it is bit for bit the tile's result.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>

#include "blocking.hpp"
#include "product.hpp"
#include "scratch.hpp"
#include "transpose.hpp"
#include "../lane_fma.hpp"

namespace wgflow::gemm_detail {

// Columns this path takes: at most half a vector (2 doubles or 4 floats with AVX2) and at most 4;
// wider remainders waste little of a one-vector tile.
template <class T>
inline constexpr std::size_t narrow_columns_max = std::min<std::size_t>(Blocking<T>::W / 2, 4);

// C(i .. i+mr-1, j0 .. j0+NC-1) from op(A)'s rows i.. laid out as `col + p * step` (W values per step).
template <class T, std::size_t NC>
inline void narrow_block(const Product<T>& pr, const T* col, std::size_t step, std::size_t i, std::size_t mr,
                         std::size_t j0) {
  constexpr std::size_t W = Blocking<T>::W;
  Batch<T> acc[NC];
  const T* b[NC];
  for (std::size_t j = 0; j < NC; ++j) acc[j] = Batch<T>(T(0)), b[j] = pr.b.at(0, j0 + j);
  const std::size_t b_step = pr.b.row_stride();
  for (std::size_t p = 0; p < pr.k; ++p) {
    const Batch<T> a = Batch<T>::load_unaligned(col + p * step);
    for (std::size_t j = 0; j < NC; ++j) acc[j] = vector_fma(a, Batch<T>(b[j][p * b_step]), acc[j]);
  }
  const Batch<T> va(pr.alpha);
  alignas(64) std::array<T, W> buf[NC];
  for (std::size_t j = 0; j < NC; ++j) (va * acc[j]).store_aligned(buf[j].data());
  for (std::size_t r = 0; r < mr; ++r) {
    T* c = pr.c + (i + r) * pr.ldc + j0;
    for (std::size_t j = 0; j < NC; ++j) c[j] = pr.beta == T(0) ? buf[j][r] : lane_fma(pr.beta, c[j], buf[j][r]);
  }
}

// C(:, j0 .. j0+nr-1) for nr <= narrow_columns_max<T>.
template <class T>
void narrow_columns(const Product<T>& pr, std::size_t j0, std::size_t nr) {
  constexpr std::size_t W = Blocking<T>::W;
  T* packed = thread_scratch<T>().a.get(pr.k * W);
  for (std::size_t i = 0; i < pr.m; i += W) {
    const std::size_t mr = std::min(W, pr.m - i);
    const T* col = packed;
    std::size_t step = W;
    if (pr.a.trans && mr == W) {
      col = pr.a.at(i, 0), step = pr.a.ld;  // op(A)(i + r, p) = data[p * ld + i + r]: read in place
    } else {
      // The rows past the last are zero (their lanes are discarded); vector stores, since a short fill
      // per step became a `rep stos` whose start-up cost 12 % of this function in a DE step.
      if (mr < W)
        for (std::size_t p = 0; p < pr.k; ++p) Batch<T>(T(0)).store_aligned(packed + p * W);
      if (pr.a.trans) {
        for (std::size_t p = 0; p < pr.k; ++p)
          for (std::size_t r = 0; r < mr; ++r) packed[p * W + r] = *pr.a.at(i + r, p);
      } else {
        transpose_copy(pr.a.at(i, 0), pr.a.ld, mr, pr.k, packed, W);
      }
    }
    switch (nr) {
      case 1: narrow_block<T, 1>(pr, col, step, i, mr, j0); break;
      case 2: narrow_block<T, 2>(pr, col, step, i, mr, j0); break;
      case 3: if constexpr (narrow_columns_max<T> >= 3) narrow_block<T, 3>(pr, col, step, i, mr, j0); break;
      case 4: if constexpr (narrow_columns_max<T> >= 4) narrow_block<T, 4>(pr, col, step, i, mr, j0); break;
      default: break;
    }
  }
}

}  // namespace wgflow::gemm_detail
