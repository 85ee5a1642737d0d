#pragma once
// The slots of models/lanes_replicated_kernel.hpp: a 512-bit vector's lanes as M slots of `count` lanes
// (network n at lane c count + n of slot c; the lanes past the last slot spare), and the lane permutes
// that move values into, out of and between the slots. Each permute's index vector is built once, for
// the group's count, by the constructor.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../core/intrinsics.hpp"  // before xsimd: GCC 12 repairs, see there
#include <xsimd/xsimd.hpp>

#if XSIMD_WITH_AVX512F
#include <immintrin.h>

namespace wgflow::models::lanes_detail {

// The M slots of `count` lanes in a vector of T, and the lane permutes between them.
template <class T, std::size_t M>
class Slots {
 public:
  using Wide = xsimd::batch<T, xsimd::avx512f>;
  static constexpr std::size_t W = Wide::size;
  using Mask = std::conditional_t<std::is_same_v<T, float>, __mmask16, __mmask8>;

  explicit Slots(std::size_t count) : count_(count), used_(static_cast<Mask>(~spare())) {
    for (std::size_t c = 0; c < M; ++c) {
      alignas(64) Index from{}, pair{};
      for (std::size_t l = 0; l < W; ++l) {
        from[l] = static_cast<Lane>(c * count + l % count);
        pair[l] = static_cast<Lane>(from[l] + (l / count == 1 ? W : 0));  // slot 1 from the second source
      }
      from_[c] = _mm512_load_si512(from.data());
      pair_[c] = _mm512_load_si512(pair.data());
      slot_[c] = static_cast<Mask>(((1u << count) - 1) << (c * count));
    }
    for (std::size_t L = 0; L < W / E; ++L) {  // network n's value: lane E L + n of lo, or of hi from n = E
      alignas(64) Index column{};
      for (std::size_t l = 0; l < W; ++l) {
        const std::size_t n = l % count;
        column[l] = static_cast<Lane>((n < E ? 0 : W - E) + E * L + n);
      }
      column_[L] = _mm512_load_si512(column.data());
    }
    for (std::size_t k = 0; k < W / 2; ++k) {  // slot c's row: lane k of half c of a, b
      alignas(64) Index row{};
      for (std::size_t l = 0; l < W; ++l) row[l] = static_cast<Lane>(std::min(l / count, M - 1) * W / 2 + k);
      row_[k] = _mm512_load_si512(row.data());
    }
  }

  static constexpr std::size_t E = 16 / sizeof(T);  // values in 128 bits

  std::size_t count() const { return count_; }
  // The lanes past the last slot.
  Mask spare() const { return static_cast<Mask>(~0u << (M * count_)); }

  // Slot c of v in every slot (lanes past the last slot: some lane of slot c).
  Wide spread(std::size_t c, const Wide& v) const {
    if constexpr (is_float) return _mm512_permutexvar_ps(from_[c], v);
    else return _mm512_permutexvar_pd(from_[c], v);
  }
  // A column of `count` rows in every slot, zeros past the last slot: rows 0 .. E - 1 in 128-bit lane L of
  // lo, rows E .. 2E - 1 in lane L of hi (E = the values in 128 bits, 4 floats or 2 doubles: how
  // gemm_detail::shuffle_in_lanes leaves a column, core/gemm/transpose.hpp).
  Wide column(std::size_t L, const Wide& lo, const Wide& hi) const {
    if constexpr (is_float) return _mm512_maskz_permutex2var_ps(used_, lo, column_[L], hi);
    else return _mm512_maskz_permutex2var_pd(used_, lo, column_[L], hi);
  }
  // Value k of M rows in their slots, zeros past the last slot: row c in lanes k + c W/2 of a (c < 2) or
  // b (c >= 2), each row's first W/2 values in a half.
  Wide rows(std::size_t k, const Wide& a, const Wide& b) const {
    if constexpr (is_float) return _mm512_maskz_permutex2var_ps(used_, a, row_[k], b);
    else return _mm512_maskz_permutex2var_pd(used_, a, row_[k], b);
  }
  // Slot a of the result = slot c of v[a]: M vectors of M slots, one slot of each.
  Wide gather(std::size_t c, const Wide* v) const {
    Wide r;
    if constexpr (is_float) r = _mm512_permutex2var_ps(v[0], pair_[c], v[1]);
    else r = _mm512_permutex2var_pd(v[0], pair_[c], v[1]);
    for (std::size_t a = 2; a < M; ++a) {
      if constexpr (is_float) r = _mm512_mask_permutexvar_ps(r, slot_[a], from_[c], v[a]);
      else r = _mm512_mask_permutexvar_pd(r, slot_[a], from_[c], v[a]);
    }
    return r;
  }
  // The first halves of x and y, as one vector.
  static Wide halves(const Wide& x, const Wide& y) {
    if constexpr (is_float) return _mm512_shuffle_f32x4(x, y, 0x44);
    else return _mm512_shuffle_f64x2(x, y, 0x44);
  }
  // p[0 .. W) where m has a lane, zeros elsewhere: nothing outside m is read.
  static Wide load(Mask m, const T* p) {
    if constexpr (is_float) return _mm512_maskz_loadu_ps(m, p);
    else return _mm512_maskz_loadu_pd(m, p);
  }
  // The first n lanes (all W for n >= W).
  static Mask first(std::size_t n) { return static_cast<Mask>(n >= W ? ~0u : (1u << n) - 1); }
  // v's first n lanes (all W for n >= W) to p: nothing past them is written.
  static void store_first(std::size_t n, const Wide& v, T* p) {
    if constexpr (is_float) _mm512_mask_storeu_ps(p, first(n), v);
    else _mm512_mask_storeu_pd(p, first(n), v);
  }
  // The `count` lanes of slot c to p[0 .. count).
  void store(std::size_t c, const Wide& v, T* p) const {
    if constexpr (is_float) _mm512_mask_storeu_ps(p, slot_[0], spread(c, v));
    else _mm512_mask_storeu_pd(p, slot_[0], spread(c, v));
  }

 private:
  static constexpr bool is_float = std::is_same_v<T, float>;
  using Lane = std::conditional_t<is_float, std::int32_t, std::int64_t>;
  using Index = std::array<Lane, W>;
  static_assert(W / M <= 2 * E && M <= 4, "column() reads 2E rows at most, rows() 4 rows from two vectors");
  std::size_t count_;
  Mask used_;  // the lanes of the slots
  __m512i from_[M], pair_[M], column_[W / E], row_[W / 2];
  Mask slot_[M];
};

}  // namespace wgflow::models::lanes_detail

#endif  // XSIMD_WITH_AVX512F
