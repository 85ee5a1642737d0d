#pragma once
// One GEMM call's arguments: C = alpha op(A) op(B) + beta C with op(A) m x k, op(B) k x n, all row-major.
// The operands are op(X) = X or X^T over the stored matrix, read in place, never materialised.
#include <cstddef>

namespace wgflow::gemm_detail {

template <class T>
struct Operand {
  const T* data;
  std::size_t ld;  // elements between consecutive stored rows
  bool trans;

  // Strides of op(X): element (i, j) of op(X) is data[i * row_stride() + j * col_stride()].
  std::size_t row_stride() const { return trans ? 1 : ld; }
  std::size_t col_stride() const { return trans ? ld : 1; }
  const T* at(std::size_t i, std::size_t j) const { return data + i * row_stride() + j * col_stride(); }
};

template <class T>
struct Product {
  std::size_t m, n, k;
  T alpha;
  Operand<T> a, b;
  T beta;
  T* c;
  std::size_t ldc;
  // Only C's upper triangle is wanted (gemm_upper): tiles wholly below the diagonal are skipped.
  bool upper = false;
};

}  // namespace wgflow::gemm_detail
