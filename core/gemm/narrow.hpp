#pragma once
// The last few columns of a product (a hidden width of 50 = 3 x 16 + 2 floats; DRLE's 100 function-space
// features = 3 x 32 + 4), vectorised along m instead of n.
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
// in registers. The blocked path's A slivers are already packed that way (MR rows a step), so there the
// vector runs down a packed sliver (narrow_packed). Each C entry is still one lane summed over p in
// increasing order with one FMA per step and updated as store_edge() does, so it is bit for bit the
// tile's result.
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

// The rows of an A sliver packed for the blocked path (pack.hpp: MR values a step) are read as
// narrow_row_vectors<T> vectors from each step's start: the last vector runs past the step's MR values
// into the next step's (or, at the sliver's last step, into narrow_padding<T> values past the block),
// lanes whose results are discarded.
template <class T>
inline constexpr std::size_t narrow_row_vectors = (Blocking<T>::MR + Blocking<T>::W - 1) / Blocking<T>::W;
template <class T>
inline constexpr std::size_t narrow_padding = narrow_row_vectors<T> * Blocking<T>::W - Blocking<T>::MR;

// Columns this path takes: at most half a vector (2 doubles or 4 floats with AVX2) and at most 4;
// wider remainders waste little of a one-vector tile.
template <class T>
inline constexpr std::size_t narrow_columns_max = std::min<std::size_t>(Blocking<T>::W / 2, 4);

// C(r, j) for r < mr, j < NC at c from accumulators down the columns (column j's rows in acc[0][j],
// acc[1][j], ..., W rows a vector): alpha times each, then C's update as store_edge() makes it, so that an
// entry has the register tile's bits.
template <class T, std::size_t V, std::size_t NC>
inline void store_columns(const Batch<T> (&acc)[V][NC], T alpha, T beta, T* c, std::size_t ldc, std::size_t mr) {
  constexpr std::size_t W = Blocking<T>::W;
  const Batch<T> va(alpha);
  alignas(64) std::array<T, V * W> buf[NC];
  for (std::size_t j = 0; j < NC; ++j)
    for (std::size_t v = 0; v < V; ++v) (va * acc[v][j]).store_aligned(buf[j].data() + v * W);
  for (std::size_t r = 0; r < mr; ++r)
    for (std::size_t j = 0; j < NC; ++j)
      c[r * ldc + j] = beta == T(0) ? buf[j][r] : lane_fma(beta, c[r * ldc + j], buf[j][r]);
}

// C(i .. i+mr-1, j0 .. j0+NC-1) from op(A)'s rows i.. laid out as `col + p * step` (W values per step).
template <class T, std::size_t NC>
inline void narrow_block(const Product<T>& pr, const T* col, std::size_t step, std::size_t i, std::size_t mr,
                         std::size_t j0) {
  Batch<T> acc[1][NC];
  const T* b[NC];
  for (std::size_t j = 0; j < NC; ++j) acc[0][j] = Batch<T>(T(0)), b[j] = pr.b.at(0, j0 + j);
  const std::size_t b_step = pr.b.row_stride();
  for (std::size_t p = 0; p < pr.k; ++p) {
    const Batch<T> a = Batch<T>::load_unaligned(col + p * step);
    for (std::size_t j = 0; j < NC; ++j) acc[0][j] = vector_fma(a, Batch<T>(b[j][p * b_step]), acc[0][j]);
  }
  store_columns(acc, pr.alpha, pr.beta, pr.c + i * pr.ldc + j0, pr.ldc, mr);
}

// The blocked path's last few columns (blocked.hpp): C(0 .. mr-1, 0 .. NC-1) at c from one packed A
// sliver (MR rows) and a B sliver packed one vector wide (pack_b_sliver<T, W>), vectorised down the
// sliver's rows. A full-width tile over 4 remaining columns of 100 spent a quarter of the product's
// FMAs on padding (the kernel-gradient sums of DRLE's function-space interaction, 1000 x 100 x 1000);
// here those columns cost NC FMAs a step.
template <class T, std::size_t NC>
inline void narrow_packed_tile(std::size_t kc, const T* pa, const T* pb, T alpha, T beta, T* c, std::size_t ldc,
                               std::size_t mr) {
  constexpr std::size_t W = Blocking<T>::W, MR = Blocking<T>::MR, RV = narrow_row_vectors<T>;
  Batch<T> acc[RV][NC];
  for (std::size_t v = 0; v < RV; ++v)
    for (std::size_t j = 0; j < NC; ++j) acc[v][j] = Batch<T>(T(0));
  for (std::size_t p = 0; p < kc; ++p, pa += MR, pb += W) {
    Batch<T> a[RV];
    for (std::size_t v = 0; v < RV; ++v) a[v] = Batch<T>::load_unaligned(pa + v * W);
    for (std::size_t j = 0; j < NC; ++j) {
      const Batch<T> b(pb[j]);
      for (std::size_t v = 0; v < RV; ++v) acc[v][j] = vector_fma(a[v], b, acc[v][j]);
    }
  }
  store_columns(acc, alpha, beta, c, ldc, mr);
}

template <class T>
inline void narrow_packed(std::size_t kc, const T* pa, const T* pb, T alpha, T beta, T* c, std::size_t ldc,
                          std::size_t mr, std::size_t nr) {
  switch (nr) {
    case 1: return narrow_packed_tile<T, 1>(kc, pa, pb, alpha, beta, c, ldc, mr);
    case 2: return narrow_packed_tile<T, 2>(kc, pa, pb, alpha, beta, c, ldc, mr);
    case 3:
      if constexpr (narrow_columns_max<T> >= 3) return narrow_packed_tile<T, 3>(kc, pa, pb, alpha, beta, c, ldc, mr);
      break;
    case 4:
      if constexpr (narrow_columns_max<T> >= 4) return narrow_packed_tile<T, 4>(kc, pa, pb, alpha, beta, c, ldc, mr);
      break;
    default: break;
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
