// The transposes that pack operands and move the networks' lanes (core/gemm/transpose.hpp): transposed
// copies of every shape around the register blocks, and the 512-bit register blocks on their own.
#include <doctest/doctest.h>

#include <cstddef>
#include <vector>

#include "core/gemm.hpp"

namespace {

TEST_CASE_TEMPLATE("transpose_copy: dst(p, j) = src(j, p) for every shape around the vector blocks", T, float, double) {
  // Sizes below, at and past one and two register blocks (8 floats, 4 doubles), with padded strides;
  // dst's padding, and every entry beyond cols x rows, must keep its sentinel.
  constexpr T untouched = T(12345);
  const std::size_t ld_src = 23, ld_dst = 21;
  std::vector<T> src(19 * ld_src);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<T>(i) + T(0.5);
  int bad = 0;
  for (std::size_t rows = 0; rows <= 19; ++rows)
    for (std::size_t cols = 0; cols <= 19; ++cols) {
      std::vector<T> dst(20 * ld_dst, untouched);
      wgflow::gemm_detail::transpose_copy(src.data(), ld_src, rows, cols, dst.data(), ld_dst);
      for (std::size_t p = 0; p < 20; ++p)
        for (std::size_t j = 0; j < ld_dst; ++j) {
          const T want = p < cols && j < rows ? src[j * ld_src + p] : untouched;
          if (dst[p * ld_dst + j] != want) ++bad;
        }
    }
  CHECK(bad == 0);
}

#if defined(__AVX512F__)
__m512 load(const float* p) { return _mm512_loadu_ps(p); }
__m512d load(const double* p) { return _mm512_loadu_pd(p); }
void store(float* p, __m512 v) { _mm512_storeu_ps(p, v); }
void store(double* p, __m512d v) { _mm512_storeu_pd(p, v); }

// Column i of a block of W rows of W values comes back in c[i] (W = 16 floats, 8 doubles).
template <class T, class Register, std::size_t W>
void check_register_block(Register (&r)[W], Register (&c)[W], T (&block)[W][W]) {
  for (std::size_t i = 0; i < W; ++i)
    for (std::size_t j = 0; j < W; ++j) block[i][j] = static_cast<T>(100 * i + j);
  for (std::size_t i = 0; i < W; ++i) r[i] = load(block[i]);
  wgflow::gemm_detail::transpose_registers(r, c);
  int bad = 0;
  for (std::size_t i = 0; i < W; ++i) {
    T column[W];
    store(column, c[i]);
    for (std::size_t j = 0; j < W; ++j) bad += column[j] != block[j][i];
  }
  CHECK(bad == 0);
}

TEST_CASE("transpose_registers on 512-bit registers: a 16 x 16 float block and an 8 x 8 double block") {
  __m512 rf[16], cf[16];
  float bf[16][16];
  check_register_block(rf, cf, bf);
  __m512d rd[8], cd[8];
  double bd[8][8];
  check_register_block(rd, cd, bd);
}
#endif

}  // namespace
