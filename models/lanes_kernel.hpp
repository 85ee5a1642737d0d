#pragma once
// The kernel of models/network_lanes.hpp: W networks 8-50-1 (any d-H-1 with a piecewise-linear activation)
// in the W lanes of the target's vectors, forward over a minibatch and backward to every parameter. Its
// operations, lane by lane, define the bits of a network's value and gradient; models/lanes_paired_kernel.hpp
// and lanes_replicated_kernel.hpp run the same operations for half or a third as many networks in fewer
// instructions.

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/intrinsics.hpp"  // before xsimd: GCC 12 repairs, see there
#include <xsimd/xsimd.hpp>

#include "../core/gemm/transpose.hpp"
#include "../core/in_register.hpp"
#include "../core/lane_fma.hpp"
#include "activation.hpp"
#include "lanes_backward_schedule.hpp"

namespace wgflow::models::lanes_detail {


// One group's evaluation, kept for its backward: parameter-major buffers with the lanes inner.
template <class T>
struct Workspace {
  std::vector<T, xsimd::aligned_allocator<T, 64>> params, hidden, grads;
  // X rearranged for the forward: Kernel's tiles of rows, [tile][k][row in tile], a short tile padded with
  // zeros; PairedKernel's pairs of rows, a vector per pair and input; ReplicatedKernel's M rows likewise.
  std::vector<T, xsimd::aligned_allocator<T, 64>> tiles;
  // The replicated kernel's backward: G's rows in every slot, and its sums before they reach `grads`.
  std::vector<T, xsimd::aligned_allocator<T, 64>> scratch;
  const T* X = nullptr;
  std::size_t rows = 0, count = 0, width = 0;
};

// Room for n values in a workspace buffer: grown, never shrunk. std::vector::resize value-initialises what
// it adds, and the kernels size the buffers differently, so a workspace passed between them (a thread's,
// at N = 100: six groups of 16 and one of 4) was zeroed again at every switch: a 200 KB memset, 2.7 % of
// a DE step (Intel Xeon, float32, perf).
template <class V>
void fit(V& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
}

// act(v), and d act at a hidden value h as a select of g: g where h > 0, `negative` g elsewhere (the sign of
// h is the pre-activation's for these activations, as in models/dense_head.hpp). On vectors of any width.
//
// Relu in one instruction where a select takes two (a compare and a blend or masked move): on Intel's
// AVX-512 cores all of them issue on the two FMA ports, so every one of them costs an FMA's slot.
template <class Batch>
struct Relu {
  static Batch zero() { return Batch(typename Batch::value_type(0)); }
  // x86's max returns its second operand where the two compare equal (+0, -0) or either is NaN: v's own -0
  // and NaN pass, the bits of select(v < 0, 0, v).
  Batch operator()(Batch v) const {
#if defined(__x86_64__) || defined(__i386__)
    return xsimd::max(zero(), v);
#else
    return xsimd::select(v < zero(), zero(), v);
#endif
  }
  // g where h > 0, +0 where h is zero, negative or NaN: select(h > 0, g, 0). With AVX-512, fixupimm writes
  // per class of h (QNaN, SNaN, +-0, +1, -inf, +inf, negative, positive: a nibble each, the first lowest)
  // either its first operand unchanged (0) or +0 (8); a positive subnormal is positive (MXCSR.DAZ clear).
  // Measured on an Intel Xeon (AVX-512, AMX), one group of networks 8-50-1 on 100 rows, 6 alternating
  // runs: the backward 11.59 -> 11.05 us (16 floats), 11.54 -> 10.95 us (8 doubles).
  Batch slope(Batch h, Batch g) const {
#if defined(__AVX512F__)
    if constexpr (sizeof(Batch) == 64) {
      constexpr int g_where_positive = 0x08080888;
      if constexpr (std::is_same_v<typename Batch::value_type, float>)
        return _mm512_fixupimm_ps(g, h, _mm512_set1_epi32(g_where_positive), 0);
      else
        return _mm512_fixupimm_pd(g, h, _mm512_set1_epi64(g_where_positive), 0);
    }
#endif
    return xsimd::select(h > zero(), g, zero());
  }
};
template <class Batch>
struct Leaky {
  typename Batch::value_type s;
  static Batch zero() { return Batch(typename Batch::value_type(0)); }
  Batch operator()(Batch v) const { return xsimd::select(v < zero(), v * Batch(s), v); }
  Batch slope(Batch h, Batch g) const { return xsimd::select(h > zero(), g, g * Batch(s)); }
};
template <class Batch>
struct Identity {
  Batch operator()(Batch v) const { return v; }
  Batch slope(Batch, Batch g) const { return g; }
};
// f by reference: by value, GCC passed the kernels' closures (four pointers) on the stack, written as four
// 8-byte stores and copied by one 32-byte load, which waits for the stores to retire (no store forwarding):
// 8 % of the samples of a 5-network forward's packing (Intel Xeon).
template <class Batch, class F>
void with_activation(const Activation& act, F&& f) {
  switch (act.kind()) {
    case Activation::Kind::relu: return f(Relu<Batch>{});
    case Activation::Kind::leaky_relu: return f(Leaky<Batch>{static_cast<typename Batch::value_type>(act.slope())});
    default: return f(Identity<Batch>{});
  }
}

// Parameter-major with the lanes inner: packed[p * lanes + l] = theta_l[p], for the J parameters of `count`
// networks (rows `stride` apart; lanes past count zero). A transpose, in registers a block at a time
// (core/gemm/transpose.hpp); element by element it cost a sixth of a DE step.
//
// transpose_lanes: with AVX-512, a group of more than 4 doubles goes through 8 x 8 blocks in 512-bit registers (one row
// block for 8 networks, 24 shuffles per 64 values) rather than 4 x 4 ymm blocks (two row blocks, 32): at
// N = 1000 the pack reads each group's rows from L3 and the 4 x 4 blocks were 8.6 % of a DLE step in
// float64 (Zen 5, perf). Zen 5, 1 thread pinned, medians of 5 alternating runs: DE N = 1000 float64 2792 ->
// 2687 us, DLE 3364 -> 3281 us, DRLE 14.76 -> 14.35 ms. Floats keep the 8 x 8 ymm blocks: 16 x 16 in zmm
// measured no faster on the Intel Xeon and 3 % slower here (DE N = 1000 1296 -> 1340 us).
template <class T>
void transpose_lanes(const T* src, std::size_t ld_src, std::size_t rows, std::size_t cols, T* dst, std::size_t ld_dst,
                     [[maybe_unused]] std::size_t count) {  // unused without AVX-512
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, double>)
    if (2 * count > 64 / sizeof(T)) return gemm_detail::transpose_copy_wide(src, ld_src, rows, cols, dst, ld_dst);
#endif
  gemm_detail::transpose_copy(src, ld_src, rows, cols, dst, ld_dst);
}

template <class T>
void pack(const T* thetas, std::size_t stride, std::size_t count, std::size_t J, std::size_t lanes, T* packed) {
  if (count < lanes) std::fill(packed, packed + J * lanes, T(0));  // one fill: per row, J tiny memsets
  transpose_lanes(thetas, stride, count, J, packed, lanes, count);
}
template <class T>
void unpack(const T* packed, std::size_t lanes, std::size_t J, std::size_t count, T* grads, std::size_t stride) {
  transpose_lanes(packed, lanes, J, count, grads, stride, count);
}

// Tiles sized to the register file: 32 vector registers with AVX-512 (narrower vectors too), 16 below.
#if defined(__AVX512VL__)
inline constexpr bool wide_register_file = true;
#else
inline constexpr bool wide_register_file = false;
#endif

template <class T, class A>
class Kernel;
// Backward tiles of 2 units by 8 inputs (4 with 16 registers).
template <class T, class A>
using KernelBackward = BackwardSchedule<Kernel<T, A>, T, wide_register_file ? 8 : 4>;

// The lanes of the target's vectors (arch A), a network per lane.
template <class T, class A>
class Kernel : KernelBackward<T, A> {
 public:
  using Batch = xsimd::batch<T, A>;
  static constexpr std::size_t lanes = Batch::size;

  Kernel(std::size_t inputs, std::size_t hidden, bool bias, Activation act)
      : d_(inputs), H_(hidden), bias_(bias), act_(act), o_w2_(inputs * hidden + (bias ? hidden : 0)) {}

  std::size_t num_params() const { return o_w2_ + H_ + (bias_ ? 1 : 0); }

  // As NetworkLanes::forward, out's rows `ldo` apart.
  void forward(const T* thetas, std::size_t stride, std::size_t count, const T* X, std::size_t B,
               Workspace<T>& ws, T* out, std::size_t ldo) const {
    const std::size_t J = num_params();
    fit(ws.params, J * lanes);
    fit(ws.hidden, H_ * B * lanes);
    fit(ws.grads, J * lanes);
    ws.X = X;
    ws.rows = B;
    ws.count = count;
    pack(thetas, stride, count, J, lanes, ws.params.data());
    tile_rows(ws);
    with_activation<Batch>(act_, [&](auto act) { forward_rows(act, ws, out, ldo); });
  }

  // As NetworkLanes::backward, G's rows `ldg` apart.
  void backward(const T* G, std::size_t ldg, Workspace<T>& ws, T* grads, std::size_t stride) const {
    with_activation<Batch>(act_, [&](auto act) { backward_params(act, G, ldg, ws); });
    unpack(ws.grads.data(), lanes, num_params(), ws.count, grads, stride);
  }

 private:
  friend KernelBackward<T, A>;
  static constexpr std::size_t R = 4;                              // forward: rows per tile
  static constexpr std::size_t JB = wide_register_file ? 4 : 2;   // forward: hidden units per tile
  // The loops over a register tile carry `#pragma GCC unroll`, as core/gemm/micro_kernel.hpp's: without it
  // GCC kept part of the tile in memory between the FMAs and the stores (the paired kernel's forward:
  // 6.0 -> 5.0 us for 5 networks 8-50-1 on 100 rows, Zen 5). The forward's loop over the inputs k too,
  // though d is known only at run time: rolled, its 8 trips a tile left the FMA ports idle at each turn
  // (16 networks, 100 rows: 9.8-10.4 -> 8.9-9.3 us, Intel Xeon).

  // X rearranged so that a forward tile finds its rows' inputs at fixed offsets from one pointer: with a
  // pointer per row the tile ran out of general registers, and GCC then read W1's vectors from memory at
  // every use rather than holding them. Each tile is written once, its padding with it: a fill of the whole
  // buffer first and an index computed per value cost 0.48 us (now 0.12) a group of 16 networks on 100
  // rows, 5 % of its forward (Intel Xeon).
  void tile_rows(Workspace<T>& ws) const {
    const std::size_t B = ws.rows, tiles = (B + R - 1) / R;
    fit(ws.tiles, tiles * d_ * R);
    T* t = ws.tiles.data();
    for (std::size_t b0 = 0; b0 < B; b0 += R, t += d_ * R) {
      const std::size_t rr = std::min(R, B - b0);
      for (std::size_t k = 0; k < d_; ++k)
        for (std::size_t r = 0; r < R; ++r) t[k * R + r] = r < rr ? ws.X[(b0 + r) * d_ + k] : T(0);
    }
  }

  // The hidden values are kept unit-major, hidden[(j * B + b) * lanes], for the backward's pass down b.
  template <class Act>
  void forward_rows(Act act, Workspace<T>& ws, T* out, std::size_t ldo) const {
    const std::size_t B = ws.rows;
    std::size_t b0 = 0;
    for (; b0 + R <= B; b0 += R) forward_block<R>(act, ws, b0, out, ldo);
    switch (B - b0) {
      case 1: forward_block<1>(act, ws, b0, out, ldo); break;
      case 2: forward_block<2>(act, ws, b0, out, ldo); break;
      case 3: forward_block<3>(act, ws, b0, out, ldo); break;
      default: break;
    }
  }

  // Rows b0 .. b0 + RR - 1: every hidden unit, then the output, accumulated over the units in order.
  template <std::size_t RR, class Act>
  void forward_block(Act act, Workspace<T>& ws, std::size_t b0, T* out, std::size_t ldo) const {
    const T* P = ws.params.data();
    Batch sum[RR];
    for (std::size_t r = 0; r < RR; ++r) sum[r] = Batch(T(0));
    std::size_t j0 = 0;
    for (; j0 + JB <= H_; j0 += JB) forward_tile<RR, JB>(act, ws, b0, j0, sum);
    switch (H_ - j0) {
      case 1: forward_tile<RR, 1>(act, ws, b0, j0, sum); break;
      case 2: forward_tile<RR, 2>(act, ws, b0, j0, sum); break;
      case 3: forward_tile<RR, 3>(act, ws, b0, j0, sum); break;
      default: break;
    }
    const Batch b2 = bias_ ? Batch::load_aligned(P + (o_w2_ + H_) * lanes) : Batch(T(0));
    for (std::size_t r = 0; r < RR; ++r) (sum[r] + b2).store_unaligned(out + (b0 + r) * ldo);
  }

  // h = act(b1 + sum_k X[b, k] W1[k, j]) for RR rows and JJ units in registers; stored, and sum += h w2.
  template <std::size_t RR, std::size_t JJ, class Act>
  void forward_tile(Act act, Workspace<T>& ws, std::size_t b0, std::size_t j0, Batch* sum) const {
    const T* P = ws.params.data();
    const T* x = ws.tiles.data() + b0 * d_;  // this tile's inputs, x[k * R + r] = X[b0 + r, k]
    const std::size_t B = ws.rows;
    Batch acc[RR][JJ];
#pragma GCC unroll 8
    for (std::size_t jj = 0; jj < JJ; ++jj) {
      const Batch init = bias_ ? Batch::load_aligned(P + (d_ * H_ + j0 + jj) * lanes) : Batch(T(0));
#pragma GCC unroll 8
      for (std::size_t r = 0; r < RR; ++r) acc[r][jj] = init;
    }
#pragma GCC unroll 8
    for (std::size_t k = 0; k < d_; ++k) {
      Batch w[JJ];
#pragma GCC unroll 8
      for (std::size_t jj = 0; jj < JJ; ++jj) w[jj] = in_register(Batch::load_aligned(P + (k * H_ + j0 + jj) * lanes));
#pragma GCC unroll 8
      for (std::size_t r = 0; r < RR; ++r) {
        const Batch xk(x[k * R + r]);
#pragma GCC unroll 8
        for (std::size_t jj = 0; jj < JJ; ++jj) acc[r][jj] = vector_fma(xk, w[jj], acc[r][jj]);
      }
    }
    T* hidden = ws.hidden.data();
#pragma GCC unroll 8
    for (std::size_t jj = 0; jj < JJ; ++jj) {
      const Batch w2 = Batch::load_aligned(P + (o_w2_ + j0 + jj) * lanes);
#pragma GCC unroll 8
      for (std::size_t r = 0; r < RR; ++r) {
        const Batch h = act(acc[r][jj]);
        h.store_aligned(hidden + ((j0 + jj) * B + b0 + r) * lanes);
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
      Batch s(T(0));
      for (std::size_t b = 0; b < ws.rows; ++b) s += Batch::load_unaligned(G + b * ldg);
      s.store_aligned(D + (o_w2_ + H_) * lanes);
    }
    this->backward_units(act, G, ldg, ws, H_);
  }

  // Units j0 .. j0 + JJ - 1 and inputs k0 .. k0 + KK - 1 of dW1, accumulated in registers over all rows;
  // the first tile (k0 = 0) also sums the units' dw2 and db1. w2[j] is a factor of P's column j, so it
  // multiplies the column sums once at the end rather than every P[b, j].
  template <std::size_t JJ, std::size_t KK, bool First, class Act>
  void backward_tile(Act act, const T* G, std::size_t ldg, Workspace<T>& ws, std::size_t j0, std::size_t k0) const {
    const T* P = ws.params.data();
    const T* X = ws.X;
    const T* hidden = ws.hidden.data();
    const std::size_t B = ws.rows;
    Batch dW[KK > 0 ? KK : 1][JJ], dw2[JJ], db1[JJ], w2[JJ];
#pragma GCC unroll 8
    for (std::size_t jj = 0; jj < JJ; ++jj) {
#pragma GCC unroll 8
      for (std::size_t kk = 0; kk < KK; ++kk) dW[kk][jj] = Batch(T(0));
      dw2[jj] = db1[jj] = Batch(T(0));
      w2[jj] = Batch::load_aligned(P + (o_w2_ + j0 + jj) * lanes);
    }
    for (std::size_t b = 0; b < B; ++b) {
      const Batch g = Batch::load_unaligned(G + b * ldg);
      Batch p[JJ];
#pragma GCC unroll 8
      for (std::size_t jj = 0; jj < JJ; ++jj) {
        const Batch h = Batch::load_aligned(hidden + ((j0 + jj) * B + b) * lanes);
        p[jj] = act.slope(h, g);
        if constexpr (First) {
          dw2[jj] = vector_fma(h, g, dw2[jj]);
          db1[jj] += p[jj];
        }
      }
#pragma GCC unroll 8
      for (std::size_t kk = 0; kk < KK; ++kk) {
        const Batch x(X[b * d_ + k0 + kk]);
#pragma GCC unroll 8
        for (std::size_t jj = 0; jj < JJ; ++jj) dW[kk][jj] = vector_fma(x, p[jj], dW[kk][jj]);
      }
    }
    T* D = ws.grads.data();
#pragma GCC unroll 8
    for (std::size_t jj = 0; jj < JJ; ++jj) {
#pragma GCC unroll 8
      for (std::size_t kk = 0; kk < KK; ++kk)
        (dW[kk][jj] * w2[jj]).store_aligned(D + ((k0 + kk) * H_ + j0 + jj) * lanes);
      if constexpr (!First) continue;
      dw2[jj].store_aligned(D + (o_w2_ + j0 + jj) * lanes);
      if (bias_) (db1[jj] * w2[jj]).store_aligned(D + (d_ * H_ + j0 + jj) * lanes);
    }
  }

  std::size_t d_, H_;
  bool bias_;
  Activation act_;
  std::size_t o_w2_;  // w2's offset in theta
};

}  // namespace wgflow::models::lanes_detail
