#pragma once
// Matrix-vector products: the GEMM path for n == 1 (C is a column) and m == 1 (C is a row).
//
// Why a path of their own: the micro-kernel's tile is NR columns wide (16 floats with AVX2), so a
// product with one column (a network's scalar output H w, its weight gradient H^T g) would spend 15 of
// every 16 FMAs on padding. Both cases are y = alpha X x + beta y for a matrix view X (rows x k) and a
// vector x (k):
//   n == 1:  X = op(A),     x = op(B)(:, 0), y = C(:, 0)
//   m == 1:  X = op(B)^T,   x = op(A)(0, :), y = C(0, :)
// and X has unit stride along its rows or along its columns, which picks the kernel:
//   unit stride along rows i ("axpy" form): y(i..i+W) += X(i..i+W, p) x(p) for p in increasing order:
//     each y entry is summed over p with one FMA per step, exactly the micro-kernel's arithmetic;
//   unit stride along p ("dot" form): each y(i) is a dot product over p in SIMD lanes, reduced at the
//     end. The lanes and their reduction depend on k alone.
// Either way an entry's value depends only on the shape, never on threads (this path is serial).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>

#include "blocking.hpp"
#include "product.hpp"
#include "scratch.hpp"
#include "../lane_fma.hpp"

namespace wgflow::gemm_detail {

// y(i) = alpha * s + beta * y(i); beta == 0 never reads y.
template <class T>
inline void store_scaled(T* y, T alpha, T s, T beta) {
  *y = beta == T(0) ? alpha * s : alpha * s + beta * *y;
}

// X(i, p) = x_base[i * row_stride + p * col_stride].
template <class T>
struct MatrixView {
  const T* data;
  std::size_t row_stride, col_stride;
};

// Rows with unit stride along i: vectorised over i, p in increasing order.
template <class T>
void gemv_axpy(std::size_t rows, std::size_t k, MatrixView<T> X, const T* x, T alpha, T beta, T* y,
               std::size_t y_stride) {
  constexpr std::size_t W = Batch<T>::size, V = 4;  // 4 independent accumulators cover the FMA latency
  const std::size_t ld = X.col_stride;
  alignas(64) std::array<T, V * W> lanes;
  std::size_t i = 0;
  for (; i + V * W <= rows; i += V * W) {
    Batch<T> acc[V];
    for (std::size_t v = 0; v < V; ++v) acc[v] = Batch<T>(T(0));
    for (std::size_t p = 0; p < k; ++p) {
      const Batch<T> xp(x[p]);
      const T* col = X.data + p * ld + i;
      for (std::size_t v = 0; v < V; ++v) acc[v] = vector_fma(Batch<T>::load_unaligned(col + v * W), xp, acc[v]);
    }
    for (std::size_t v = 0; v < V; ++v) acc[v].store_aligned(lanes.data() + v * W);
    for (std::size_t r = 0; r < V * W; ++r) store_scaled(y + (i + r) * y_stride, alpha, lanes[r], beta);
  }
  if (i == rows) return;
  // The last rows - i < V W rows: up to V - 1 whole vectors and fewer than W single rows, all in one pass
  // over p so that their FMA chains overlap. The single rows are scalar fma chains, which round as a
  // vector lane does; a zero-padded vector filled element by element each step stalled on store-to-load
  // forwarding (H^T g at 50 x 1 x 100 floats: 1.2 us, now 0.6).
  const std::size_t rest = rows - i, full = rest / W, tail = rest % W;
  Batch<T> acc[V];
  for (std::size_t v = 0; v < V; ++v) acc[v] = Batch<T>(T(0));
  std::array<T, W> single{};
  for (std::size_t p = 0; p < k; ++p) {
    const Batch<T> xp(x[p]);
    const T* col = X.data + p * ld + i;
    for (std::size_t v = 0; v < full; ++v) acc[v] = vector_fma(Batch<T>::load_unaligned(col + v * W), xp, acc[v]);
    for (std::size_t r = 0; r < tail; ++r) single[r] = lane_fma(col[full * W + r], x[p], single[r]);
  }
  for (std::size_t v = 0; v < full; ++v) acc[v].store_aligned(lanes.data() + v * W);
  for (std::size_t r = 0; r < tail; ++r) lanes[full * W + r] = single[r];
  for (std::size_t r = 0; r < rest; ++r) store_scaled(y + (i + r) * y_stride, alpha, lanes[r], beta);
}

// Rows with unit stride along p: a SIMD dot product per row (x contiguous), R = 4 rows at a time so that
// each load of x serves four rows and their FMA chains overlap. Each row sums its vectors in two
// accumulators (even and odd vectors), adds them, reduces the lanes, then adds the last k mod W
// products one by one: the same arithmetic for every row, whatever its position. One row at a time
// with its chains in sequence, H w at 100 x 1 x 50 floats (a network's scalar output) took 0.6 us
// in a DE step's profile.
template <class T, std::size_t R>
inline void dot_rows(const T* const (&row)[R], std::size_t k, const T* x, T (&s)[R]) {
  constexpr std::size_t W = Batch<T>::size;
  const std::size_t vectors = k / W * W;
  Batch<T> even[R], odd[R];
  for (std::size_t r = 0; r < R; ++r) even[r] = odd[r] = Batch<T>(T(0));
  std::size_t p = 0;
  for (; p + 2 * W <= vectors; p += 2 * W) {
    const Batch<T> x0 = Batch<T>::load_unaligned(x + p), x1 = Batch<T>::load_unaligned(x + p + W);
    for (std::size_t r = 0; r < R; ++r) {
      even[r] = vector_fma(Batch<T>::load_unaligned(row[r] + p), x0, even[r]);
      odd[r] = vector_fma(Batch<T>::load_unaligned(row[r] + p + W), x1, odd[r]);
    }
  }
  if (p < vectors) {
    const Batch<T> x0 = Batch<T>::load_unaligned(x + p);
    for (std::size_t r = 0; r < R; ++r) even[r] = vector_fma(Batch<T>::load_unaligned(row[r] + p), x0, even[r]);
    p += W;
  }
  for (std::size_t r = 0; r < R; ++r) {
    s[r] = xsimd::hadd(even[r] + odd[r]);
    for (std::size_t q = p; q < k; ++q) s[r] += row[r][q] * x[q];
  }
}

template <class T>
void gemv_dot(std::size_t rows, std::size_t k, MatrixView<T> X, const T* x, T alpha, T beta, T* y,
              std::size_t y_stride) {
  constexpr std::size_t R = 4;
  std::size_t i = 0;
  for (; i + R <= rows; i += R) {
    const T* const row[R] = {X.data + i * X.row_stride, X.data + (i + 1) * X.row_stride,
                             X.data + (i + 2) * X.row_stride, X.data + (i + 3) * X.row_stride};
    T s[R];
    dot_rows(row, k, x, s);
    for (std::size_t r = 0; r < R; ++r) store_scaled(y + (i + r) * y_stride, alpha, s[r], beta);
  }
  for (; i < rows; ++i) {
    const T* const row[1] = {X.data + i * X.row_stride};
    T s[1];
    dot_rows(row, k, x, s);
    store_scaled(y + i * y_stride, alpha, s[0], beta);
  }
}

// y = alpha X x + beta y, x read with stride x_stride (copied to contiguous scratch when needed).
template <class T>
void gemv(std::size_t rows, std::size_t k, MatrixView<T> X, const T* x, std::size_t x_stride, T alpha, T beta, T* y,
          std::size_t y_stride) {
  if (x_stride != 1) {
    T* packed = thread_scratch<T>().b.get(k);
    for (std::size_t p = 0; p < k; ++p) packed[p] = x[p * x_stride];
    x = packed;
  }
  if (X.row_stride == 1 && X.col_stride != 1) gemv_axpy(rows, k, X, x, alpha, beta, y, y_stride);
  else gemv_dot(rows, k, X, x, alpha, beta, y, y_stride);
}

// C = alpha op(A) op(B) + beta C when n == 1 or m == 1.
template <class T>
void gemm_vector(const Product<T>& pr) {
  if (pr.n == 1) {
    const MatrixView<T> X{pr.a.data, pr.a.row_stride(), pr.a.col_stride()};
    gemv(pr.m, pr.k, X, pr.b.data, pr.b.row_stride(), pr.alpha, pr.beta, pr.c, pr.ldc);
  } else {  // m == 1: C(0, :)^T = op(B)^T op(A)(0, :)^T
    const MatrixView<T> X{pr.b.data, pr.b.col_stride(), pr.b.row_stride()};
    gemv(pr.n, pr.k, X, pr.a.data, pr.a.col_stride(), pr.alpha, pr.beta, pr.c, 1);
  }
}

}  // namespace wgflow::gemm_detail
