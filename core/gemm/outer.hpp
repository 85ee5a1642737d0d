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

#include "blocking.hpp"
#include "product.hpp"
#include "scratch.hpp"
#include "../lane_fma.hpp"

namespace wgflow::gemm_detail {

// Row i of C: update(c_ij, alpha (a_i b_j)) for every j, vector by vector, then the last n mod W
// entries one by one.
template <class T, class VectorUpdate, class ScalarUpdate>
void rows(const Product<T>& pr, const T* __restrict b, T alpha, VectorUpdate update, ScalarUpdate update_one) {
  constexpr std::size_t W = Batch<T>::size;
  const std::size_t m = pr.m, n = pr.n, ldc = pr.ldc, a_step = pr.a.row_stride();
  const T* a_col = pr.a.data;
  T* c_rows = pr.c;
  const Batch<T> va(alpha);
  for (std::size_t i = 0; i < m; ++i) {
    const T ai = a_col[i * a_step];
    const Batch<T> a(ai);
    T* c = c_rows + i * ldc;
    std::size_t j = 0;
    for (; j + W <= n; j += W) update(c + j, va * (a * Batch<T>::load_unaligned(b + j)));
    for (; j < n; ++j) update_one(c + j, alpha * (ai * b[j]));
  }
}

template <class T>
void gemm_outer(const Product<T>& pr) {
  const std::size_t n = pr.n;
  // b with unit stride: a transposed B (stored n x 1 with row stride ldb) is gathered first.
  const T* b = pr.b.data;
  if (pr.b.col_stride() != 1) {
    T* gathered = thread_scratch<T>().b.get(n);
    for (std::size_t j = 0; j < n; ++j) gathered[j] = *pr.b.at(0, j);
    b = gathered;
  }
  // One loop per case of beta, with the operands in locals: read through `pr` inside the loop, alpha and
  // beta were reloaded after every store to C (which the compiler must assume may alias *pr), with a
  // compare and branch per vector: the hottest instructions of the loop.
  const T alpha = pr.alpha, beta = pr.beta;
  if (beta == T(0)) rows(pr, b, alpha, [](T* c, Batch<T> x) { x.store_unaligned(c); }, [](T* c, T x) { *c = x; });
  else rows(pr, b, alpha,
            [vb = Batch<T>(beta)](T* c, Batch<T> x) { vector_fma(vb, Batch<T>::load_unaligned(c), x).store_unaligned(c); },
            [beta](T* c, T x) { *c = lane_fma(beta, *c, x); });
}

}  // namespace wgflow::gemm_detail
