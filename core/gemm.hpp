#pragma once
// General matrix multiply on row-major storage: C = alpha op(A) op(B) + beta C; and gemm_upper, its
// upper triangle alone for symmetric products.
//
// op(X) is X or X^T as the flags say; op(A) is m x k, op(B) is k x n, C is m x n. lda, ldb, ldc are
// row strides (elements between consecutive rows as stored), so a transposed operand is read in place.
// With beta == 0, C's old contents are never read (they may be uninitialised, even NaN). C must not
// overlap A or B.
//
// Implementation (core/gemm/): the BLIS / GotoBLAS scheme with an xsimd register-blocked
// micro-kernel on packed operands, parallel over blocks of C with TBB for large products, a direct
// path that packs nothing (or only B) for the small products that dominate this toolkit, a
// matrix-vector path for a C of one column or one row (a network's scalar output), and an
// outer-product path for k == 1 (that output's backward). Results are bitwise identical whatever the
// number of threads. Scratch memory is thread-local and reused, so repeated calls with the same shapes
// allocate nothing.
#include <algorithm>
#include <cstddef>
#include <string>

#include "errors.hpp"
#include "gemm/blocked.hpp"
#include "gemm/outer.hpp"
#include "gemm/product.hpp"
#include "gemm/small.hpp"
#include "gemm/vector.hpp"
#include "parallel.hpp"

namespace wgflow {

namespace gemm_detail {

// Below this many multiply-adds a product runs on the direct path: packing A (and B) would cost
// more than it saves. Measured crossover: the direct path wins up to about 128^3 (2^21) on Zen 3
// (AMD EPYC, 32 KiB L1d, 512 KiB L2 per core); at 2^15 the UCI network's own products (100x8 * 8x50,
// 40000 FMAs; 100x50 * 50x50) went through packing and ran 10-40 % slower. 2^20 stays below the
// crossover with a margin, and below parallel_limit, so no product that threads would help runs here.
inline constexpr std::size_t small_limit = std::size_t{1} << 20;

// From this many multiply-adds a product is shared among threads: below it, TBB's fork and join
// (a few microseconds) outweighs the gain. Measured crossover on 2 cores.
inline constexpr std::size_t parallel_limit = std::size_t{1} << 21;

inline void check_leading_dimension(const char* name, std::size_t ld, std::size_t rows, std::size_t cols) {
  if (rows > 0 && ld < cols)
    throw ShapeError(std::string("gemm: ") + name + " = " + std::to_string(ld) + " is less than the " +
                     std::to_string(cols) + " columns of the " + std::to_string(rows) + "x" + std::to_string(cols) +
                     " matrix it strides");
}

// Stored shapes: A is m x k (k x m when transposed), B is k x n (n x k), C is m x n.
inline void check_leading_dimensions(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k,
                                     std::size_t lda, std::size_t ldb, std::size_t ldc) {
  check_leading_dimension("lda", lda, trans_a ? k : m, trans_a ? m : k);
  check_leading_dimension("ldb", ldb, trans_b ? n : k, trans_b ? k : n);
  check_leading_dimension("ldc", ldc, m, n);
}

// The threads a product of `fmas` multiply-adds runs on: 1 below parallel_limit, else thread_count().
inline std::size_t threads_for(std::size_t fmas) { return fmas < parallel_limit ? 1 : thread_count(); }

// Runs `pr` (rows of a product of `m` rows, all of them when pr.m == m) down the path that gemm takes
// for the whole product.
template <class T>
void run_path(const Product<T>& pr, std::size_t m) {
  // One column or one row: the micro-kernel's NR-wide tile would be mostly padding.
  if (pr.n == 1 || m == 1) return gemm_vector(pr);
  // Depth one: an outer product, one vector update per row instead of one tile per MR x NR block.
  if (pr.k == 1) return gemm_outer(pr);
  if (m * pr.n * pr.k <= small_limit) return gemm_small(pr);
  gemm_blocked(pr, threads_for(pr.m * pr.n * pr.k));
}

// C = beta C, where no product term remains (k == 0 or alpha == 0).
template <class T>
void scale(std::size_t m, std::size_t n, T beta, T* c, std::size_t ldc) {
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
}

}  // namespace gemm_detail

template <class T>
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
          std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc) {
  namespace d = gemm_detail;
  d::check_leading_dimensions(trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == T(0)) return d::scale(m, n, beta, c, ldc);

  gemm_detail::run_path(gemm_detail::Product<T>{m, n, k, alpha, {a, lda, trans_a}, {b, ldb, trans_b}, beta, c, ldc}, m);
}

// Rows first_row .. first_row + rows - 1 of the m x n product C = alpha op(A) op(B) + beta C, equal bit
// for bit to the entries gemm computes for the whole product: what one rank computes of a product whose
// rows are split over ranks (flows/interaction_energy.hpp). `a` and `c` address op(A)'s and C's row
// first_row (for a transposed A, column first_row of the stored matrix); B is whole. The path is chosen
// by the whole product's shape, as gemm chooses it, and every path computes an entry the same way
// wherever its row falls (core/gemm/micro_kernel.hpp), so a block of one row still gets the tile's bits.
template <class T>
void gemm_rows(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, std::size_t first_row,
               std::size_t rows, T alpha, const T* a, std::size_t lda, const T* b, std::size_t ldb, T beta, T* c,
               std::size_t ldc) {
  namespace d = gemm_detail;
  if (first_row > m || rows > m - first_row)
    throw ShapeError("gemm_rows: rows " + std::to_string(first_row) + " .. " + std::to_string(first_row + rows) +
                     " of a product with " + std::to_string(m) + " rows");
  d::check_leading_dimensions(trans_a, trans_b, rows, n, k, lda, ldb, ldc);
  if (rows == 0 || n == 0) return;
  if (k == 0 || alpha == T(0)) return d::scale(rows, n, beta, c, ldc);
  d::run_path(d::Product<T>{rows, n, k, alpha, {a, lda, trans_a}, {b, ldb, trans_b}, beta, c, ldc}, m);
}

// The entries on and above the diagonal of C = alpha op(A) op(B) + beta C for a square n x n C: all that
// a symmetric product (a Gram matrix A A^T, squared distances) needs. Tiles wholly below the diagonal
// are skipped, about half of the work for large n; entries below the diagonal are unspecified (those in
// tiles that cross it are computed, the others keep C's old contents). The entries it computes equal
// gemm's, bit for bit, on any number of threads.
template <class T>
void gemm_upper(bool trans_a, bool trans_b, std::size_t n, std::size_t k, T alpha, const T* a, std::size_t lda,
                const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc) {
  namespace d = gemm_detail;
  const std::size_t fmas = n * n * k;
  // Below the blocked path's threshold a product is cheap, and the full one gives the same entries; so
  // does a product of depth one, which gemm computes as an outer product (as gemm_rows does its rows).
  if (n <= 1 || k <= 1 || alpha == T(0) || fmas <= d::small_limit)
    return gemm(trans_a, trans_b, n, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  d::check_leading_dimensions(trans_a, trans_b, n, n, k, lda, ldb, ldc);
  d::Product<T> pr{n, n, k, alpha, {a, lda, trans_a}, {b, ldb, trans_b}, beta, c, ldc};
  pr.upper = true;
  d::gemm_blocked(pr, d::threads_for(fmas / 2));  // about half of the tiles
}

}  // namespace wgflow
