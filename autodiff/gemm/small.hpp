#pragma once
// The direct GEMM path for small products: the micro-kernel reads op(A) in place and op(B) in place
// too when it is not transposed; only a transposed B or the ragged last columns are packed (one
// k x NR sliver at a time). For the shapes of this toolkit's models (say 100x8 times 8x50) packing
// the A and B blocks would cost as much as the product. The last few columns, when they are fewer
// than half a vector, go down the columns instead (narrow.hpp).
#include <algorithm>
#include <cstddef>

#include "autodiff/gemm/blocking.hpp"
#include "autodiff/gemm/micro_kernel.hpp"
#include "autodiff/gemm/narrow.hpp"
#include "autodiff/gemm/pack.hpp"
#include "autodiff/gemm/product.hpp"
#include "autodiff/gemm/scratch.hpp"

namespace wgflow::ad::gemm_detail {

template <class T, class BView>
void small_column_block(const Product<T>& pr, BView b, std::size_t j, std::size_t nr) {
  constexpr std::size_t MR = Blocking<T>::MR;
  for (std::size_t i = 0; i < pr.m; i += MR) {
    const std::size_t mr = std::min(MR, pr.m - i);
    const StridedA<T> a(pr.a.at(i, 0), pr.a.row_stride(), pr.a.col_stride(), mr);
    micro_kernel(pr.k, a, b, pr.alpha, pr.beta, pr.c + i * pr.ldc + j, pr.ldc, mr, nr);
  }
}

template <class T>
void gemm_small(const Product<T>& pr) {
  constexpr std::size_t NR = Blocking<T>::NR, W = Blocking<T>::W;
  for (std::size_t j = 0; j < pr.n; j += NR) {
    const std::size_t nr = std::min(NR, pr.n - j);
    if (!pr.b.trans && nr == NR) {
      small_column_block(pr, StridedB<T>{pr.b.data + j, pr.b.ld}, j, nr);
    } else if (nr <= narrow_columns_max<T>) {
      narrow_columns(pr, j, nr);  // the last 2 columns of a hidden width of 50 = 3 x 16 + 2
    } else if (nr <= W) {
      // The last few columns on a one-vector tile: the full tile would spend most of its FMAs on
      // padding (see store_edge for the measured cost of such edges).
      T* sliver = thread_scratch<T>().b.get(pr.k * W);
      pack_b_sliver<T, W>(pr.b, 0, pr.k, j, nr, sliver);
      small_column_block(pr, PackedB<T, 1>{sliver}, j, nr);
    } else {
      T* sliver = thread_scratch<T>().b.get(pr.k * NR);
      pack_b_sliver(pr.b, 0, pr.k, j, nr, sliver);
      small_column_block(pr, PackedB<T>{sliver}, j, nr);
    }
  }
}

}  // namespace wgflow::ad::gemm_detail
