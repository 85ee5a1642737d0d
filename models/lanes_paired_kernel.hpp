#pragma once
// A group of at most w networks (w = half an AVX-512 vector: 8 floats, 4 doubles) in full AVX-512 vectors,
// with the bits of models/lanes_kernel.hpp's w-lane kernel: each vector carries the w networks twice over,
// and its two halves do two different pieces of the same work.
//
//   forward:  the lower half runs row b, the upper half row b + ceil(B/2), of every network;
//   backward: the lower half sums unit j's gradients, the upper half unit j + ceil(H/2)'s.
//
// Either way each lane runs exactly the w-lane kernel's sequence of fused operations for its network, row
// or unit (a forward row sums over the inputs and then the units in order; a backward sum runs over the
// rows in order), so a network's value and gradient keep their bits, whichever group it falls in.
// Workspace's params and grads have the w-lane kernel's layout, each half read or written where its unit
// lives; the hidden values are stored as the forward makes them, a whole vector per pair of rows, and the
// backward reads its rows' halves from there (the forward's two half-stores per vector cost 0.3 us of 4.9).
//
// Why: in 256-bit vectors of 8 lanes, as before, 5 networks (the paper's ensembles) took 8's instructions,
// at half the rate of a core that issues two 512-bit FMAs a cycle (Zen 5, Sapphire Rapids); pairing halves
// the instructions. A core that splits a 512-bit FMA in two (Zen 4) should gain little (not measured).
#include <cstddef>
#include <type_traits>

#include "../core/intrinsics.hpp"  // before xsimd: GCC 12 repairs, see there
#include <xsimd/xsimd.hpp>

#include "lanes_backward_schedule.hpp"
#include "lanes_kernel.hpp"

#if XSIMD_WITH_AVX512F
#include <immintrin.h>

namespace wgflow::models::lanes_detail {

// Vectors of 2w lanes built from, and stored to, rows of w lanes (32 bytes; aligned unless said). The halves
// move as 256-bit blocks of bits, so one set of intrinsics serves float and double.
template <class T>
struct Halves {
  using Wide = xsimd::batch<T, xsimd::avx512f>;

  // The w lanes at p in both halves.
  static Wide both(const T* p) { return wide(_mm512_broadcast_f64x4(load(p))); }
  static Wide both_unaligned(const T* p) { return wide(_mm512_broadcast_f64x4(loadu(p))); }
  // The w lanes at lo, then those at hi.
  static Wide join(const T* lo, const T* hi) { return wide(_mm512_insertf64x4(_mm512_castpd256_pd512(load(lo)), load(hi), 1)); }
  // lo in every lane of the lower half, hi in the upper.
  static Wide pair(T lo, T hi) {
    if constexpr (std::is_same_v<T, float>) return Wide(_mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(lo), _mm512_set1_ps(hi)));
    else return Wide(_mm512_mask_blend_pd(0xF0, _mm512_set1_pd(lo), _mm512_set1_pd(hi)));
  }
  static void store_lo(const Wide& v, T* p) { store(p, _mm512_castpd512_pd256(bits(v))); }
  static void store_hi(const Wide& v, T* p) { store(p, _mm512_extractf64x4_pd(bits(v), 1)); }
  static void storeu_lo(const Wide& v, T* p) { storeu(p, _mm512_castpd512_pd256(bits(v))); }
  static void storeu_hi(const Wide& v, T* p) { storeu(p, _mm512_extractf64x4_pd(bits(v), 1)); }

 private:
  static constexpr bool is_float = std::is_same_v<T, float>;
  static __m256d load(const T* p) {
    if constexpr (is_float) return _mm256_castps_pd(_mm256_load_ps(p));
    else return _mm256_load_pd(p);
  }
  static __m256d loadu(const T* p) {
    if constexpr (is_float) return _mm256_castps_pd(_mm256_loadu_ps(p));
    else return _mm256_loadu_pd(p);
  }
  static void store(T* p, __m256d v) {
    if constexpr (is_float) _mm256_store_ps(p, _mm256_castpd_ps(v));
    else _mm256_store_pd(p, v);
  }
  static void storeu(T* p, __m256d v) {
    if constexpr (is_float) _mm256_storeu_ps(p, _mm256_castpd_ps(v));
    else _mm256_storeu_pd(p, v);
  }
  static Wide wide(__m512d v) {
    if constexpr (is_float) return Wide(_mm512_castpd_ps(v));
    else return Wide(v);
  }
  static __m512d bits(const Wide& v) {
    if constexpr (is_float) return _mm512_castps_pd(v);
    else return v;
  }
};

template <class T>
class PairedKernel : BackwardSchedule<PairedKernel<T>, T, 8> {  // backward tiles: 2 pairs of units by 8 inputs
 public:
  using Wide = typename Halves<T>::Wide;
  static constexpr std::size_t lanes = Wide::size / 2;  // networks per group, w

  PairedKernel(std::size_t inputs, std::size_t hidden, bool bias, Activation act)
      : d_(inputs), H_(hidden), bias_(bias), act_(act), o_w2_(inputs * hidden + (bias ? hidden : 0)) {}

  std::size_t num_params() const { return o_w2_ + H_ + (bias_ ? 1 : 0); }

  // As NetworkLanes::forward, out's rows `ldo` apart.
  void forward(const T* thetas, std::size_t stride, std::size_t count, const T* X, std::size_t B,
               Workspace<T>& ws, T* out, std::size_t ldo) const {
    const std::size_t J = num_params();
    fit(ws.params, J * lanes);
    fit(ws.hidden, H_ * upper(B) * 2 * lanes);
    fit(ws.grads, J * lanes);
    ws.X = X;
    ws.rows = B;
    ws.count = count;
    pack(thetas, stride, count, J, lanes, ws.params.data());
    pair_rows(ws);
    with_activation<Wide>(act_, [&](auto act) { forward_rows(act, ws, out, ldo); });
  }

  // As NetworkLanes::backward, G's rows `ldg` apart.
  void backward(const T* G, std::size_t ldg, Workspace<T>& ws, T* grads, std::size_t stride) const {
    with_activation<Wide>(act_, [&](auto act) { backward_params(act, G, ldg, ws); });
    unpack(ws.grads.data(), lanes, num_params(), ws.count, grads, stride);
  }

 private:
  friend BackwardSchedule<PairedKernel<T>, T, 8>;
  using H2 = Halves<T>;
  static constexpr std::size_t R = 4;   // forward: pairs of rows per tile
  static constexpr std::size_t JB = 4;  // forward: hidden units per tile

  // The upper halves' first row and unit.
  static std::size_t upper(std::size_t n) { return (n + 1) / 2; }

  // ws.tiles[(p d + k) 2w + l] = X[p, k] for l < w, X[p + ceil(B/2), k] (0 past the last row) above.
  void pair_rows(Workspace<T>& ws) const {
    const std::size_t B = ws.rows, half = upper(B);
    fit(ws.tiles, half * d_ * 2 * lanes);
    T* t = ws.tiles.data();
    for (std::size_t p = 0; p < half; ++p)
      for (std::size_t k = 0; k < d_; ++k, t += 2 * lanes)
        H2::pair(ws.X[p * d_ + k], p + half < B ? ws.X[(p + half) * d_ + k] : T(0)).store_aligned(t);
  }

  template <class Act>
  void forward_rows(Act act, Workspace<T>& ws, T* out, std::size_t ldo) const {
    const std::size_t half = upper(ws.rows);
    std::size_t p0 = 0;
    for (; p0 + R <= half; p0 += R) forward_block<R>(act, ws, p0, out, ldo);
    switch (half - p0) {
      case 1: forward_block<1>(act, ws, p0, out, ldo); break;
      case 2: forward_block<2>(act, ws, p0, out, ldo); break;
      case 3: forward_block<3>(act, ws, p0, out, ldo); break;
      default: break;
    }
  }

  // Pairs p0 .. p0 + RR - 1: every hidden unit, then the output, accumulated over the units in order.
  template <std::size_t RR, class Act>
  void forward_block(Act act, Workspace<T>& ws, std::size_t p0, T* out, std::size_t ldo) const {
    const T* P = ws.params.data();
    const std::size_t B = ws.rows, half = upper(B);
    Wide sum[RR];
    for (std::size_t r = 0; r < RR; ++r) sum[r] = Wide(T(0));
    std::size_t j0 = 0;
    for (; j0 + JB <= H_; j0 += JB) forward_tile<RR, JB>(act, ws, p0, j0, sum);
    switch (H_ - j0) {
      case 1: forward_tile<RR, 1>(act, ws, p0, j0, sum); break;
      case 2: forward_tile<RR, 2>(act, ws, p0, j0, sum); break;
      case 3: forward_tile<RR, 3>(act, ws, p0, j0, sum); break;
      default: break;
    }
    const Wide b2 = bias_ ? H2::both(P + (o_w2_ + H_) * lanes) : Wide(T(0));
    alignas(64) T spare[lanes];  // where the row past the last goes
    for (std::size_t r = 0; r < RR; ++r) {
      const Wide o = sum[r] + b2;
      H2::storeu_lo(o, out + (p0 + r) * ldo);
      H2::storeu_hi(o, p0 + r + half < B ? out + (p0 + r + half) * ldo : spare);
    }
  }

  // h = act(b1 + sum_k X[b, k] W1[k, j]) for RR pairs of rows and JJ units in registers; stored,
  // hidden[(j ceil(B/2) + p) 2w + l] (row p + ceil(B/2) in the upper half), and sum += h w2.
  template <std::size_t RR, std::size_t JJ, class Act>
  void forward_tile(Act act, Workspace<T>& ws, std::size_t p0, std::size_t j0, Wide* sum) const {
    const T* P = ws.params.data();
    const T* x = ws.tiles.data() + p0 * d_ * 2 * lanes;
    const std::size_t B = ws.rows, half = upper(B);
    Wide acc[RR][JJ];
#pragma GCC unroll 8
    for (std::size_t jj = 0; jj < JJ; ++jj) {
      const Wide init = bias_ ? H2::both(P + (d_ * H_ + j0 + jj) * lanes) : Wide(T(0));
#pragma GCC unroll 8
      for (std::size_t r = 0; r < RR; ++r) acc[r][jj] = init;
    }
#pragma GCC unroll 8
    for (std::size_t k = 0; k < d_; ++k) {
      Wide w[JJ];
#pragma GCC unroll 8
      for (std::size_t jj = 0; jj < JJ; ++jj) w[jj] = in_register(H2::both(P + (k * H_ + j0 + jj) * lanes));
#pragma GCC unroll 8
      for (std::size_t r = 0; r < RR; ++r) {
        const Wide xk = in_register(Wide::load_aligned(x + (r * d_ + k) * 2 * lanes));
#pragma GCC unroll 8
        for (std::size_t jj = 0; jj < JJ; ++jj) acc[r][jj] = vector_fma(xk, w[jj], acc[r][jj]);
      }
    }
    T* hidden = ws.hidden.data();
#pragma GCC unroll 8
    for (std::size_t jj = 0; jj < JJ; ++jj) {
      const std::size_t j = j0 + jj;
      const Wide w2 = H2::both(P + (o_w2_ + j) * lanes);
#pragma GCC unroll 8
      for (std::size_t r = 0; r < RR; ++r) {
        const std::size_t b = p0 + r;
        const Wide h = act(acc[r][jj]);
        h.store_aligned(hidden + (j * half + b) * 2 * lanes);
        sum[r] = vector_fma(h, w2, sum[r]);
      }
    }
  }

  // With P[b, j] = act'(h[b, j]) G[b] w2[j]:  dW1 = X^T P,  db1 = 1^T P,  dw2 = h^T G,  db2 = 1^T G, each a
  // sum over the rows in order, into ws.grads (packed as ws.params).
  template <class Act>
  void backward_params(Act act, const T* G, std::size_t ldg, Workspace<T>& ws) const {
    T* D = ws.grads.data();
    if (bias_) {
      Wide s(T(0));  // both halves alike
      for (std::size_t b = 0; b < ws.rows; ++b) s += H2::both_unaligned(G + b * ldg);
      H2::store_lo(s, D + (o_w2_ + H_) * lanes);
    }
    this->backward_units(act, G, ldg, ws, upper(H_));
  }

  // Units j0 .. j0 + JJ - 1 (lower halves) and the units ceil(H/2) above them (upper halves), inputs k0 ..
  // k0 + KK - 1 of dW1, accumulated in registers over all rows; the first tile also sums dw2 and db1. An
  // upper unit past the last reads the lower one's values and is not stored.
  template <std::size_t JJ, std::size_t KK, bool First, class Act>
  void backward_tile(Act act, const T* G, std::size_t ldg, Workspace<T>& ws, std::size_t j0, std::size_t k0) const {
    const T* P = ws.params.data();
    const T* X = ws.X;
    const T* hidden = ws.hidden.data();
    const std::size_t B = ws.rows, half = upper(H_);
    std::size_t lo[JJ], hi[JJ];
    Wide dW[KK > 0 ? KK : 1][JJ], dw2[JJ], db1[JJ], w2[JJ];
#pragma GCC unroll 8
    for (std::size_t jj = 0; jj < JJ; ++jj) {
      lo[jj] = j0 + jj;
      hi[jj] = lo[jj] + half < H_ ? lo[jj] + half : lo[jj];
#pragma GCC unroll 8
      for (std::size_t kk = 0; kk < KK; ++kk) dW[kk][jj] = Wide(T(0));
      dw2[jj] = db1[jj] = Wide(T(0));
      w2[jj] = H2::join(P + (o_w2_ + lo[jj]) * lanes, P + (o_w2_ + hi[jj]) * lanes);
    }
    const std::size_t rows_half = upper(B);
    for (std::size_t b = 0; b < B; ++b) {
      const Wide g = H2::both_unaligned(G + b * ldg);
      const std::size_t q = b < rows_half ? b * 2 * lanes : (b - rows_half) * 2 * lanes + lanes;
      Wide p[JJ];
#pragma GCC unroll 8
      for (std::size_t jj = 0; jj < JJ; ++jj) {
        const Wide h = H2::join(hidden + lo[jj] * rows_half * 2 * lanes + q, hidden + hi[jj] * rows_half * 2 * lanes + q);
        p[jj] = act.slope(h, g);
        if constexpr (First) {
          dw2[jj] = vector_fma(h, g, dw2[jj]);
          db1[jj] += p[jj];
        }
      }
#pragma GCC unroll 8
      for (std::size_t kk = 0; kk < KK; ++kk) {
        const Wide x(X[b * d_ + k0 + kk]);
#pragma GCC unroll 8
        for (std::size_t jj = 0; jj < JJ; ++jj) dW[kk][jj] = vector_fma(x, p[jj], dW[kk][jj]);
      }
    }
    T* D = ws.grads.data();
    alignas(64) T spare[lanes];
    const auto store = [&](const Wide& v, std::size_t jj, std::size_t offset) {  // to units lo[jj], hi[jj]
      H2::store_lo(v, D + (offset + lo[jj]) * lanes);
      H2::store_hi(v, hi[jj] != lo[jj] ? D + (offset + hi[jj]) * lanes : spare);
    };
#pragma GCC unroll 8
    for (std::size_t jj = 0; jj < JJ; ++jj) {
#pragma GCC unroll 8
      for (std::size_t kk = 0; kk < KK; ++kk) store(dW[kk][jj] * w2[jj], jj, (k0 + kk) * H_);
      if constexpr (!First) continue;
      store(dw2[jj], jj, o_w2_);
      if (bias_) store(db1[jj] * w2[jj], jj, d_ * H_);
    }
  }

  std::size_t d_, H_;
  bool bias_;
  Activation act_;
  std::size_t o_w2_;  // w2's offset in theta
};

}  // namespace wgflow::models::lanes_detail

#endif  // XSIMD_WITH_AVX512F
