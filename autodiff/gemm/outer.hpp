#pragma once
// Outer products: the GEMM path for k == 1, C = alpha a b^T + beta C with a = op(A)(:, 0) (m entries)
// and b = op(B)(0, :) (n entries).
//
// Why a path of its own: through the micro-kernel every MR x NR tile zeroes its accumulators, runs a
// single step of FMAs and goes through the store and edge logic, so the bookkeeping is the whole cost.
// A network with a scalar output meets this shape in every backward pass (dH = g w^T: B x 1 times
// 1 x H): 100 x 50 floats took 3.3 us through the tiles and take 0.43 us as row-wise vector updates
// (AMD EPYC, AVX2).
//
// Arithmetic: each entry is alpha (a_i b_j) + beta c_ij evaluated as the micro-kernel's store evaluates
// it (the product rounded, scaled by alpha, then fma(beta, c, .); beta == 0 never reads C), so results
// equal the tiled path's. Serial; an entry depends only on its own operands.
#include <cmath>
#include <cstddef>

#include "autodiff/gemm/blocking.hpp"
#include "autodiff/gemm/product.hpp"
#include "autodiff/gemm/scratch.hpp"

namespace wgflow::ad::gemm_detail {

template <class T>
void gemm_outer(const Product<T>& pr) {
  constexpr std::size_t W = Batch<T>::size;
  const std::size_t m = pr.m, n = pr.n;
  // b with unit stride: a transposed B (stored n x 1 with row stride ldb) is gathered first.
  const T* b = pr.b.data;
  if (pr.b.col_stride() != 1) {
    T* gathered = thread_scratch<T>().b.get(n);
    for (std::size_t j = 0; j < n; ++j) gathered[j] = *pr.b.at(0, j);
    b = gathered;
  }
  const Batch<T> alpha(pr.alpha), beta(pr.beta);
  for (std::size_t i = 0; i < m; ++i) {
    const T ai = *pr.a.at(i, 0);
    const Batch<T> a(ai);
    T* c = pr.c + i * pr.ldc;
    std::size_t j = 0;
    for (; j + W <= n; j += W) {
      const Batch<T> x = alpha * (a * Batch<T>::load_unaligned(b + j));
      if (pr.beta == T(0)) x.store_unaligned(c + j);
      else xsimd::fma(beta, Batch<T>::load_unaligned(c + j), x).store_unaligned(c + j);
    }
    for (; j < n; ++j) {
      const T x = pr.alpha * (ai * b[j]);
      c[j] = pr.beta == T(0) ? x : std::fma(pr.beta, c[j], x);
    }
  }
}

}  // namespace wgflow::ad::gemm_detail
