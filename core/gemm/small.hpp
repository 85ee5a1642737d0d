#pragma once
// The direct GEMM path for small products: the micro-kernel reads op(A) in place and op(B) in place
// too when it is not transposed; only a transposed B or the ragged last columns are packed (one
// k x NR sliver at a time). For the shapes of this toolkit's models (say 100x8 times 8x50) packing
// the A and B blocks would cost as much as the product. The last few columns, when they are fewer
// than half a vector, go down the columns instead (narrow.hpp); a product with a few rows is tiled
// in 4-row tiles where MR-row ones would be mostly padding.
#include <algorithm>
#include <cstddef>

#include "blocking.hpp"
#include "micro_kernel.hpp"
#include "narrow.hpp"
#include "pack.hpp"
#include "product.hpp"
#include "scratch.hpp"

namespace wgflow::gemm_detail {

// Rows of the short tile, and whether a product of m rows takes it: where its tiles compute at least a
// quarter fewer rows than MR-row ones (with AVX2, MR = 6: m = 2-4, 7, 8). The input layer's weight
// gradient X^T P of an 8-input network is 8 x 50 over k = 100: two 6-row tiles wasted a third of their
// FMAs; two 4-row tiles waste none and load 6 values per 8 FMAs.
inline constexpr std::size_t short_rows = 4;
template <class T>
constexpr bool short_tile_pays(std::size_t m) {
  constexpr std::size_t MR = Blocking<T>::MR;
  return MR > short_rows && 4 * ((m + short_rows - 1) / short_rows * short_rows) <= 3 * ((m + MR - 1) / MR * MR);
}

// C's columns j .. j + nr - 1 (one tile wide), MR rows at a time.
template <std::size_t MR, class T, class BView>
void small_column_block(const Product<T>& pr, BView b, std::size_t j, std::size_t nr) {
  for (std::size_t i = 0; i < pr.m; i += MR) {
    const std::size_t mr = std::min(MR, pr.m - i);
    const StridedA<T, MR> a(pr.a.at(i, 0), pr.a.row_stride(), pr.a.col_stride(), mr);
    micro_kernel(pr.k, a, b, pr.alpha, pr.beta, pr.c + i * pr.ldc + j, pr.ldc, mr, nr);
  }
}

// The whole product on MR-row tiles, one column block at a time.
template <std::size_t MR, class T>
void gemm_small_rows(const Product<T>& pr) {
  constexpr std::size_t NR = Blocking<T>::NR, W = Blocking<T>::W;
  for (std::size_t j = 0; j < pr.n; j += NR) {
    const std::size_t nr = std::min(NR, pr.n - j);
    if (!pr.b.trans && nr == NR) {
      small_column_block<MR>(pr, StridedB<T>{pr.b.data + j, pr.b.ld}, j, nr);
    } else if (nr <= narrow_columns_max<T>) {
      narrow_columns(pr, j, nr);  // the last 2 columns of a hidden width of 50 = 3 x 16 + 2
    } else if (nr <= W) {
      // The last few columns on a one-vector tile: the full tile would spend most of its FMAs on
      // padding (see store_edge for the measured cost of such edges).
      T* sliver = thread_scratch<T>().b.get(pr.k * W);
      pack_b_sliver<T, W>(pr.b, 0, pr.k, j, nr, sliver);
      small_column_block<MR>(pr, PackedB<T, 1>{sliver}, j, nr);
    } else {
      T* sliver = thread_scratch<T>().b.get(pr.k * NR);
      pack_b_sliver(pr.b, 0, pr.k, j, nr, sliver);
      small_column_block<MR>(pr, PackedB<T>{sliver}, j, nr);
    }
  }
}

template <class T>
void gemm_small(const Product<T>& pr) {
  if (short_tile_pays<T>(pr.m)) return gemm_small_rows<short_rows>(pr);
  gemm_small_rows<Blocking<T>::MR>(pr);
}

}  // namespace wgflow::gemm_detail
