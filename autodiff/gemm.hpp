#pragma once
// General matrix multiply on row-major storage: C = alpha op(A) op(B) + beta C.
// op(X) is X or X^T as the flags say; op(A) is m x k, op(B) is k x n, C is m x n. lda, ldb, ldc are
// row strides (elements between consecutive rows as stored).
// PLACEHOLDER: straightforward loops; the blocked SIMD kernel replaces this.
#include <cstddef>

namespace wgflow::ad {

template <class T>
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
          std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc) {
  for (std::size_t i = 0; i < m; ++i) {
    T* ci = c + i * ldc;
    for (std::size_t j = 0; j < n; ++j) ci[j] = beta == T(0) ? T(0) : beta * ci[j];
    for (std::size_t p = 0; p < k; ++p) {
      const T aip = alpha * (trans_a ? a[p * lda + i] : a[i * lda + p]);
      for (std::size_t j = 0; j < n; ++j) ci[j] += aip * (trans_b ? b[j * ldb + p] : b[p * ldb + j]);
    }
  }
}

}  // namespace wgflow::ad
