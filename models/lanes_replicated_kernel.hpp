#pragma once
// A group of at most W / M networks (W = an AVX-512 vector's lanes) with M copies of them in each vector,
// with the bits of models/lanes_kernel.hpp's W-lane kernel. A vector's lanes are M slots of `count` lanes,
// network n at lane c count + n of slot c, and the slots do M different pieces of the same work:
//
//   forward:  slot c runs row p + c ceil(B/M), for p < ceil(B/M);
//   backward: slot c sums unit j + c ceil(H/M)'s gradients, for j < ceil(H/M).
//
// Each lane runs exactly the W-lane kernel's sequence of fused operations for its network, row or unit (a
// forward row sums over the inputs and then the units in order; a backward sum runs over the rows in
// order), so a network's value and gradient keep their bits, whichever group it falls in.
//
// Why: 5 networks (the paper's ensembles) in the paired kernel's halves fill 10 of 16 float lanes; three
// copies fill 15. Slots of `count` lanes are not halves of a vector, so the data move between the layouts
// by lane permutes (models/lanes_slots.hpp) and masked stores: the parameters are transposed and stored
// into every slot once a forward; the hidden values, stored as the forward makes them (a vector per M
// rows of one unit), are regrouped for the backward (a vector per M units of one row: M loads, M - 1
// permutes); the outputs leave a slot at a time, the gradients through register transposes and a masked
// store a lane.
//
// Intel Xeon (AVX-512, AMX), 1 thread pinned, 5 networks 8-50-1 on 100 rows, float32, against the paired
// kernel: forward 7.0-7.3 -> 5.8-6.0 us, backward 6.3 -> 4.9-5.3 us. As M = 2 for 6 or 8 networks this
// kernel ran 5-10 % behind the paired one, which keeps them; M = 4 takes 4 floats and 2 doubles (the
// numbers in models/network_lanes.hpp).
#include <algorithm>
#include <cstddef>

#include "../core/intrinsics.hpp"  // before xsimd: GCC 12 repairs, see there
#include <xsimd/xsimd.hpp>

#include "lanes_backward_schedule.hpp"
#include "lanes_kernel.hpp"
#include "lanes_slots.hpp"

#if XSIMD_WITH_AVX512F
#include <immintrin.h>

namespace wgflow::models::lanes_detail {

template <class T, std::size_t M>
class ReplicatedKernel : BackwardSchedule<ReplicatedKernel<T, M>, T, 8> {  // backward tiles: 2 x M units by 8 inputs
 public:
  using Wide = xsimd::batch<T, xsimd::avx512f>;
  static constexpr std::size_t W = Wide::size;
  static constexpr std::size_t lanes = W / M;  // networks per group, at most
  static_assert(M >= 2 && lanes >= 1);

  // For a group of `count` networks (count <= lanes), the count that forward() is given.
  ReplicatedKernel(std::size_t inputs, std::size_t hidden, bool bias, Activation act, std::size_t count)
      : d_(inputs), H_(hidden), bias_(bias), act_(act), o_w2_(inputs * hidden + (bias ? hidden : 0)), slots_(count) {}

  std::size_t num_params() const { return o_w2_ + H_ + (bias_ ? 1 : 0); }

  // As NetworkLanes::forward, out's rows `ldo` apart.
  void forward(const T* thetas, std::size_t stride, std::size_t count, const T* X, std::size_t B,
               Workspace<T>& ws, T* out, std::size_t ldo) const {
    const std::size_t J = num_params();
    fit(ws.params, J * W);
    fit(ws.hidden, H_ * rows_per_slot(B) * W);
    ws.X = X;
    ws.rows = B;
    ws.count = count;
    pack_slots(thetas, stride, J, ws.params.data());
    slot_rows(ws);
    with_activation<Wide>(act_, [&](auto act) { forward_rows(act, ws, out, ldo); });
  }

  // As NetworkLanes::backward, G's rows `ldg` apart.
  void backward(const T* G, std::size_t ldg, Workspace<T>& ws, T* grads, std::size_t stride) const {
    with_activation<Wide>(act_, [&](auto act) { backward_params(act, G, ldg, ws, grads, stride); });
  }

 private:
  friend BackwardSchedule<ReplicatedKernel<T, M>, T, 8>;
  static constexpr std::size_t R = 4;   // forward: vectors of rows per tile
  static constexpr std::size_t JB = 4;  // forward: hidden units per tile

  // packed[q W + c count + n] = theta_n[q] for every slot c. The lanes past the last slot compute what no
  // store keeps; zeros there, rather than what an earlier group left, keep their arithmetic finite and
  // normal. A block of W parameters of every network is loaded once, shuffled within 128-bit lanes
  // (gemm_detail::shuffle_in_lanes), and each parameter's row put in every slot by one two-source permute and one
  // whole store: 32 shuffles for 16 float parameters where 8 x 8 transposes and a permute a row took 64
  // (0.65 -> 0.38 us for 5 networks 8-50-1, Intel Xeon). Three transposed copies
  // (core/gemm/transpose.hpp), the first form, took 1.4 us of a DE step at N = 5, stores bound.
  void pack_slots(const T* thetas, std::size_t stride, std::size_t J, T* packed) const {
    using S = Slots<T, M>;
    const std::size_t count = slots_.count();
    for (std::size_t q0 = 0; q0 < J; q0 += W) {
      const std::size_t nc = std::min(W, J - q0);
      typename Wide::register_type r[2 * S::E], v[2 * S::E];
#pragma GCC unroll 8
      for (std::size_t i = 0; i < 2 * S::E; ++i)
        r[i] = i < count ? S::load(S::first(nc), thetas + i * stride + q0) : Wide(T(0));
      gemm_detail::shuffle_in_lanes(r, v);
#pragma GCC unroll 16
      for (std::size_t q = 0; q < W; ++q)
        if (q < nc) slots_.column(q / S::E, v[q % S::E], v[q % S::E + S::E]).store_aligned(packed + (q0 + q) * W);
    }
  }

  static std::size_t rows_per_slot(std::size_t B) { return (B + M - 1) / M; }
  std::size_t units_per_slot() const { return (H_ + M - 1) / M; }

  // ws.tiles[(p d + k) W + lanes of slot c] = X[p + c ceil(B/M), k] (0 past the last row). The M rows'
  // inputs W/2 at a time, two rows a vector, into slots by one permute a vector (0.29 -> 0.20 us for 100
  // rows of 8, where a broadcast and M - 1 masked broadcasts a vector ran; Intel Xeon, float32).
  void slot_rows(Workspace<T>& ws) const {
    using S = Slots<T, M>;
    constexpr std::size_t C = W / 2;
    const std::size_t B = ws.rows, P = rows_per_slot(B);
    fit(ws.tiles, P * d_ * W);
    for (std::size_t p = 0; p < P; ++p)
      for (std::size_t k0 = 0; k0 < d_; k0 += C) {
        const std::size_t nc = std::min(C, d_ - k0);
        Wide r[4];
#pragma GCC unroll 4
        for (std::size_t c = 0; c < 4; ++c)
          r[c] = c < M && p + c * P < B ? S::load(S::first(nc), ws.X + (p + c * P) * d_ + k0) : Wide(T(0));
        const Wide a = S::halves(r[0], r[1]), b = S::halves(r[2], r[3]);
        T* t = ws.tiles.data() + (p * d_ + k0) * W;
#pragma GCC unroll 8
        for (std::size_t k = 0; k < C; ++k)
          if (k < nc) slots_.rows(k, a, b).store_aligned(t + k * W);
      }
  }

  // The forward's loops are the paired kernel's, over vectors of M rows: each kernel keeps its own, for
  // the reason lanes_backward_schedule.hpp gives.
  template <class Act>
  void forward_rows(Act act, Workspace<T>& ws, T* out, std::size_t ldo) const {
    const std::size_t P = rows_per_slot(ws.rows);
    std::size_t p0 = 0;
    for (; p0 + R <= P; p0 += R) forward_block<R>(act, ws, p0, out, ldo);
    switch (P - p0) {
      case 1: forward_block<1>(act, ws, p0, out, ldo); break;
      case 2: forward_block<2>(act, ws, p0, out, ldo); break;
      case 3: forward_block<3>(act, ws, p0, out, ldo); break;
      default: break;
    }
  }

  // Vectors of rows p0 .. p0 + RR - 1: every hidden unit, then the output, accumulated over the units in order.
  template <std::size_t RR, class Act>
  void forward_block(Act act, Workspace<T>& ws, std::size_t p0, T* out, std::size_t ldo) const {
    const T* P = ws.params.data();
    const std::size_t B = ws.rows, per_slot = rows_per_slot(B);
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
    const Wide b2 = bias_ ? Wide::load_aligned(P + (o_w2_ + H_) * W) : Wide(T(0));
    for (std::size_t r = 0; r < RR; ++r) {
      const Wide o = sum[r] + b2;
      for (std::size_t c = 0; c < M; ++c)
        if (const std::size_t b = p0 + r + c * per_slot; b < B) slots_.store(c, o, out + b * ldo);
    }
  }

  // h = act(b1 + sum_k X[b, k] W1[k, j]) for RR vectors of rows and JJ units in registers; stored,
  // hidden[(j ceil(B/M) + p) W] (slot c: row p + c ceil(B/M)), and sum += h w2.
  template <std::size_t RR, std::size_t JJ, class Act>
  void forward_tile(Act act, Workspace<T>& ws, std::size_t p0, std::size_t j0, Wide* sum) const {
    const T* P = ws.params.data();
    const T* x = ws.tiles.data() + p0 * d_ * W;
    const std::size_t per_slot = rows_per_slot(ws.rows);
    Wide acc[RR][JJ];
#pragma GCC unroll 8
    for (std::size_t jj = 0; jj < JJ; ++jj) {
      const Wide init = bias_ ? Wide::load_aligned(P + (d_ * H_ + j0 + jj) * W) : Wide(T(0));
#pragma GCC unroll 8
      for (std::size_t r = 0; r < RR; ++r) acc[r][jj] = init;
    }
#pragma GCC unroll 8
    for (std::size_t k = 0; k < d_; ++k) {
      Wide w[JJ];
#pragma GCC unroll 8
      for (std::size_t jj = 0; jj < JJ; ++jj) w[jj] = in_register(Wide::load_aligned(P + (k * H_ + j0 + jj) * W));
#pragma GCC unroll 8
      for (std::size_t r = 0; r < RR; ++r) {
        const Wide xk = in_register(Wide::load_aligned(x + (r * d_ + k) * W));
#pragma GCC unroll 8
        for (std::size_t jj = 0; jj < JJ; ++jj) acc[r][jj] = vector_fma(xk, w[jj], acc[r][jj]);
      }
    }
    T* hidden = ws.hidden.data();
#pragma GCC unroll 8
    for (std::size_t jj = 0; jj < JJ; ++jj) {
      const std::size_t j = j0 + jj;
      const Wide w2 = Wide::load_aligned(P + (o_w2_ + j) * W);
#pragma GCC unroll 8
      for (std::size_t r = 0; r < RR; ++r) {
        const Wide h = act(acc[r][jj]);
        h.store_aligned(hidden + (j * per_slot + p0 + r) * W);
        sum[r] = vector_fma(h, w2, sum[r]);
      }
    }
  }

  // With P[b, j] = act'(h[b, j]) G[b] w2[j]:  dW1 = X^T P,  db1 = 1^T P,  dw2 = h^T G,  db2 = 1^T G, each a
  // sum over the rows in order. G's rows are spread over the slots first. The tiles leave their sums in
  // ws.scratch, a vector per M units (row k U + j of dW1, d U + j of db1, (d + 1) U + j of dw2, U =
  // ceil(H/M)), so that slot c's rows j < U hold units c U + j: one transposed copy a slot and kind of
  // parameter writes them to the networks' rows of `grads`.
  template <class Act>
  void backward_params(Act act, const T* G, std::size_t ldg, Workspace<T>& ws, T* grads, std::size_t stride) const {
    const std::size_t B = ws.rows, U = units_per_slot(), count = slots_.count();
    fit(ws.scratch, (B + (d_ + 2) * U) * W);
    T* spread = ws.scratch.data();
    Wide db2(T(0));
    for (std::size_t b = 0; b < B; ++b) {
      const Wide g = Wide::load_unaligned(G + b * ldg);
      db2 += g;
      slots_.spread(0, g).store_aligned(spread + b * W);
    }
    this->backward_units(act, spread, W, ws, U);
    const T* sums = spread + B * W;
    for (std::size_t k = 0; k < d_; ++k) to_networks(sums + k * U * W, grads + k * H_, stride);
    if (bias_) to_networks(sums + d_ * U * W, grads + d_ * H_, stride);
    to_networks(sums + (d_ + 1) * U * W, grads + o_w2_, stride);
    if (!bias_) return;
    alignas(64) T last[W];
    db2.store_aligned(last);
    for (std::size_t n = 0; n < count; ++n) grads[n * stride + o_w2_ + H_] = last[n];
  }

  // U rows of sums (slot c's lanes: units c U + j, j < U) to the networks' rows of grads: W rows at a time
  // transposed in registers, each lane's W values to its network's row by one masked store; the last
  // U mod W rows value by value. Where a transposed copy a slot and kind of parameter ran (8 x 8 blocks, all
  // edges: 17 x 5 for 5 networks 8-50-1), the backward of 5 such networks took 4.48-4.57 us, now
  // 4.28-4.33 (Intel Xeon, float32).
  void to_networks(const T* sums, T* grads, std::size_t stride) const {
    using Register = typename Wide::register_type;
    const std::size_t U = units_per_slot(), count = slots_.count(), used = M * count;
    std::size_t j0 = 0;
    for (; j0 + W <= U; j0 += W) {
      Register r[W], c[W];
#pragma GCC unroll 16
      for (std::size_t i = 0; i < W; ++i) r[i] = Wide::load_aligned(sums + (j0 + i) * W);
      gemm_detail::transpose_registers(r, c);
      std::size_t n = 0, first = j0;  // lane l: network n, its value in row j0 is unit `first`'s
#pragma GCC unroll 16
      for (std::size_t l = 0; l < W; ++l) {
        if (l < used && first < H_) Slots<T, M>::store_first(H_ - first, c[l], grads + n * stride + first);
        if (++n == count) n = 0, first += U;
      }
    }
    for (; j0 < U; ++j0)
      for (std::size_t c = 0, l = 0; c < M; ++c)
        for (std::size_t n = 0; n < count; ++n, ++l)
          if (c * U + j0 < H_) grads[n * stride + c * U + j0] = sums[j0 * W + l];
  }

  // Units j0 + jj + c U in slot c (jj < JJ), inputs k0 .. k0 + KK - 1 of dW1, accumulated in registers over
  // all rows; the first tile also sums dw2 and db1. A unit past the last reads unit j0 + jj's values, and
  // its sums are not copied out. G: ws.scratch's rows of G spread over the slots.
  template <std::size_t JJ, std::size_t KK, bool First, class Act>
  void backward_tile(Act act, const T* G, std::size_t ldg, Workspace<T>& ws, std::size_t j0, std::size_t k0) const {
    const T* P = ws.params.data();
    const T* X = ws.X;
    const T* hidden = ws.hidden.data();
    const std::size_t B = ws.rows, per_slot = rows_per_slot(B), U = units_per_slot();
    std::size_t unit[JJ][M];
    Wide dW[KK > 0 ? KK : 1][JJ], dw2[JJ], db1[JJ];
#pragma GCC unroll 8
    for (std::size_t jj = 0; jj < JJ; ++jj) {
      for (std::size_t c = 0; c < M; ++c)
        unit[jj][c] = j0 + jj + c * U < H_ ? j0 + jj + c * U : j0 + jj;
#pragma GCC unroll 8
      for (std::size_t kk = 0; kk < KK; ++kk) dW[kk][jj] = Wide(T(0));
      dw2[jj] = db1[jj] = Wide(T(0));
    }
    for (std::size_t c = 0, b = 0; c < M; ++c)  // row b = p + c ceil(B/M): slot c of the forward's vectors
      for (std::size_t p = 0; p < per_slot && b < B; ++p, ++b) {
        const Wide g = Wide::load_aligned(G + b * ldg);
        Wide q[JJ];
#pragma GCC unroll 8
        for (std::size_t jj = 0; jj < JJ; ++jj) {
          Wide v[M];
#pragma GCC unroll 8
          for (std::size_t a = 0; a < M; ++a) v[a] = Wide::load_aligned(hidden + (unit[jj][a] * per_slot + p) * W);
          const Wide h = slots_.gather(c, v);
          q[jj] = act.slope(h, g);
          if constexpr (First) {
            dw2[jj] = vector_fma(h, g, dw2[jj]);
            db1[jj] += q[jj];
          }
        }
#pragma GCC unroll 8
        for (std::size_t kk = 0; kk < KK; ++kk) {
          const Wide x(X[b * d_ + k0 + kk]);
#pragma GCC unroll 8
          for (std::size_t jj = 0; jj < JJ; ++jj) dW[kk][jj] = vector_fma(x, q[jj], dW[kk][jj]);
        }
      }
    T* S = ws.scratch.data() + B * W;
#pragma GCC unroll 8
    for (std::size_t jj = 0; jj < JJ; ++jj) {
      Wide v[M];
      for (std::size_t a = 0; a < M; ++a) v[a] = Wide::load_aligned(P + (o_w2_ + unit[jj][a]) * W);
      const Wide w2 = slots_.gather(0, v);
      const std::size_t j = j0 + jj;
#pragma GCC unroll 8
      for (std::size_t kk = 0; kk < KK; ++kk) (dW[kk][jj] * w2).store_aligned(S + ((k0 + kk) * U + j) * W);
      if constexpr (!First) continue;
      dw2[jj].store_aligned(S + ((d_ + 1) * U + j) * W);
      if (bias_) (db1[jj] * w2).store_aligned(S + (d_ * U + j) * W);
    }
  }

  std::size_t d_, H_;
  bool bias_;
  Activation act_;
  std::size_t o_w2_;  // w2's offset in theta
  Slots<T, M> slots_;
};

}  // namespace wgflow::models::lanes_detail

#endif  // XSIMD_WITH_AVX512F
