// The transposes that pack operands and move the networks' lanes (core/gemm/transpose.hpp): transposed
// copies of every shape around the register blocks, and the 512-bit register blocks on their own.
#include <doctest/doctest.h>

#include <cstddef>
#include <type_traits>
#include <vector>

#include "core/gemm.hpp"

namespace {

// Entries of dst wrong after copy(src, ld_src, rows, cols, dst, ld_dst) for every rows, cols <= max, with
// padded strides: dst(p, j) must be src(j, p), and dst's padding and every entry beyond cols x rows keep
// their sentinel.
template <class T, class Copy>
int transposed_copy_errors(std::size_t max, const Copy& copy) {
  constexpr T untouched = T(12345);
  const std::size_t ld_src = max + 4, ld_dst = max + 2;
  std::vector<T> src(max * ld_src);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<T>(i) + T(0.5);
  int bad = 0;
  for (std::size_t rows = 0; rows <= max; ++rows)
    for (std::size_t cols = 0; cols <= max; ++cols) {
      std::vector<T> dst((max + 1) * ld_dst, untouched);
      copy(src.data(), ld_src, rows, cols, dst.data(), ld_dst);
      for (std::size_t p = 0; p <= max; ++p)
        for (std::size_t j = 0; j < ld_dst; ++j) {
          const T want = p < cols && j < rows ? src[j * ld_src + p] : untouched;
          if (dst[p * ld_dst + j] != want) ++bad;
        }
    }
  return bad;
}

TEST_CASE_TEMPLATE("transpose_copy: dst(p, j) = src(j, p) for every shape around the vector blocks", T, float,
                   double) {
  // Sizes below, at and past one and two register blocks (8 floats, 4 doubles).
  CHECK(transposed_copy_errors<T>(19, wgflow::gemm_detail::transpose_copy<T>) == 0);
}

#if defined(__AVX512F__)
// The 512-bit copy packs the GEMM's A slivers and the lanes of 5-8 double networks (and unpacks their
// gradients: then rows are the parameters, any count): every shape up to two 16-float blocks and an edge.
TEST_CASE_TEMPLATE("transpose_copy_wide: the same for every shape around the 512-bit blocks", T, float, double) {
  CHECK(transposed_copy_errors<T>(35, wgflow::gemm_detail::transpose_copy_wide<T>) == 0);
}
#endif

#if defined(__AVX__)
// A row of a register block, by the register's width.
template <class Register, class T>
Register load(const T* p) {
  if constexpr (sizeof(Register) == 32) {
    if constexpr (std::is_same_v<T, float>) return _mm256_loadu_ps(p);
    else return _mm256_loadu_pd(p);
#if defined(__AVX512F__)
  } else {
    if constexpr (std::is_same_v<T, float>) return _mm512_loadu_ps(p);
    else return _mm512_loadu_pd(p);
#endif
  }
}
void store(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
void store(double* p, __m256d v) { _mm256_storeu_pd(p, v); }
#if defined(__AVX512F__)
void store(float* p, __m512 v) { _mm512_storeu_ps(p, v); }
void store(double* p, __m512d v) { _mm512_storeu_pd(p, v); }
#endif

// Column i of a block of W rows of W values comes back in c[i].
template <class Register, class T, std::size_t W>
int register_block_errors() {
  T block[W][W], column[W];
  Register r[W], c[W];
  for (std::size_t i = 0; i < W; ++i)
    for (std::size_t j = 0; j < W; ++j) block[i][j] = static_cast<T>(100 * i + j);
  for (std::size_t i = 0; i < W; ++i) r[i] = load<Register>(block[i]);
  wgflow::gemm_detail::transpose_registers(r, c);
  int bad = 0;
  for (std::size_t i = 0; i < W; ++i) {
    store(column, c[i]);
    for (std::size_t j = 0; j < W; ++j) bad += column[j] != block[j][i];
  }
  return bad;
}

// 8 x 8 floats and 4 x 4 doubles in AVX registers; with AVX-512, 16 x 16 and 8 x 8 in 512-bit ones.
TEST_CASE("transpose_registers: every register block of the target") {
  CHECK(register_block_errors<__m256, float, 8>() == 0);
  CHECK(register_block_errors<__m256d, double, 4>() == 0);
#if defined(__AVX512F__)
  CHECK(register_block_errors<__m512, float, 16>() == 0);
  CHECK(register_block_errors<__m512d, double, 8>() == 0);
#endif
}
#endif

}  // namespace
