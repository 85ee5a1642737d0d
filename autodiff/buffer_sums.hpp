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

#include <xsimd/xsimd.hpp>

namespace wgflow::ad {

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

}  // namespace wgflow::ad
