#pragma once
// Networks in SIMD lanes: W networks of the paper's UCI shape evaluated at once, one per lane of a vector,
//
//   out = act(X W1 + 1 b1) w2 + b2        X: B x d, W1: d x H, b1: 1 x H, w2: H x 1, b2: 1 x 1
//
// (W = 16 floats or 8 doubles on AVX-512, 8 or 4 on AVX2), for the particles of an ensemble, which share
// the step's minibatch X. models::NetworkPotential evaluates an Mlp of widths {d, H, 1} this way when a
// flow hands it all its particles (values_and_gradients); one particle at a time it records the tape.
//
// Why lanes: the tape's fused head (models/dense_head.hpp) vectorises one network along its hidden units,
// so a width of 50 fills 50 of 64 float lanes, each output is a horizontal sum, and dW1 = X^T P is a
// product only 8 deep. In lanes every vector operation serves W networks whatever H is, X[b, k] is one
// broadcast for all of them, the outputs and every gradient are plain vector sums (no horizontal sums),
// and a group's weights stay in L1 (8 x 50 vectors: 25 KB).
//
// Each lane runs the same sequence of fused multiply-adds, in the same order, whatever the other lanes
// hold: a network's value and gradient depend on the network and the minibatch alone, not on the group it
// falls in, the thread count, the ranks' split or the vector width. They equal the tape's up to rounding
// (the sums run in another order); tests/models/test_network_lanes.cpp checks them against it and against
// finite differences.
//
// A group of at most half the widest vector runs in half-width vectors (on AVX-512: 8 float lanes of AVX2
// rather than 16): 5 networks in 16 lanes did 3 times the work they needed, and took twice the tape's
// time. Lanes of either width run the same fused operations, so the bits are the same.

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../core/intrinsics.hpp"  // before xsimd: GCC 12 repairs, see there
#include <xsimd/xsimd.hpp>

#include "../core/errors.hpp"
#include "../core/gemm/transpose.hpp"
#include "../core/in_register.hpp"
#include "../core/lane_fma.hpp"
#include "../core/parallel.hpp"
#include "../core/precompiled.hpp"
#include "activation.hpp"
#include "dense.hpp"
#include "mlp.hpp"

namespace wgflow::models {

namespace lanes_detail {

// One group's evaluation, kept for its backward: parameter-major buffers with the lanes inner.
template <class T>
struct Workspace {
  std::vector<T, xsimd::aligned_allocator<T, 64>> params, hidden, grads;
  std::vector<T> tiles;  // X by forward tiles of rows: [tile][k][row in tile], a short tile padded with zeros
  const T* X = nullptr;
  std::size_t rows = 0, count = 0, width = 0;
};

// The lanes of one vector width (arch A): the kernels. NetworkLanes below picks the width per group.
template <class T, class A>
class Kernel {
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
    ws.params.resize(J * lanes);
    ws.hidden.resize(H_ * B * lanes);
    ws.grads.resize(J * lanes);
    ws.X = X;
    ws.rows = B;
    ws.count = count;
    pack(thetas, stride, count, ws.params.data());
    tile_rows(ws);
    with_activation([&](auto act) { forward_rows(act, ws, out, ldo); });
  }

  // As NetworkLanes::backward, G's rows `ldg` apart.
  void backward(const T* G, std::size_t ldg, Workspace<T>& ws, T* grads, std::size_t stride) const {
    with_activation([&](auto act) { backward_params(act, G, ldg, ws); });
    unpack(ws.grads.data(), ws.count, grads, stride);
  }

 private:
  // Tiles sized to the register file: 32 vector registers with AVX-512 (narrower vectors too), 16 below.
#if defined(__AVX512VL__)
  static constexpr bool wide = true;
#else
  static constexpr bool wide = false;
#endif
  static constexpr std::size_t R = 4;               // forward: rows per tile
  static constexpr std::size_t JB = wide ? 4 : 2;   // forward: hidden units per tile
  static constexpr std::size_t KB = wide ? 8 : 4;   // backward: inputs per tile
  static constexpr std::size_t JB2 = 2;             // backward: hidden units per tile

  // act(v), and d act at a hidden value h as a select of g: g where h > 0, `negative` g elsewhere (the
  // sign of h is the pre-activation's for these activations, as in models/dense_head.hpp).
  struct Relu {
    Batch operator()(Batch v) const { return xsimd::select(v < Batch(T(0)), Batch(T(0)), v); }
    Batch slope(Batch h, Batch g) const { return xsimd::select(h > Batch(T(0)), g, Batch(T(0))); }
  };
  struct Leaky {
    T s;
    Batch operator()(Batch v) const { return xsimd::select(v < Batch(T(0)), v * Batch(s), v); }
    Batch slope(Batch h, Batch g) const { return xsimd::select(h > Batch(T(0)), g, g * Batch(s)); }
  };
  struct Identity {
    Batch operator()(Batch v) const { return v; }
    Batch slope(Batch, Batch g) const { return g; }
  };
  template <class F>
  void with_activation(F f) const {
    switch (act_.kind()) {
      case Activation::Kind::relu: return f(Relu{});
      case Activation::Kind::leaky_relu: return f(Leaky{static_cast<T>(act_.slope())});
      default: return f(Identity{});
    }
  }

  // Parameter-major with the lanes inner: packed[p * lanes + l] = theta_l[p]. A transpose, in registers a
  // block at a time (core/gemm/transpose.hpp); element by element it cost a sixth of a DE step.
  void pack(const T* thetas, std::size_t stride, std::size_t count, T* packed) const {
    const std::size_t J = num_params();
    if (count < lanes) std::fill(packed, packed + J * lanes, T(0));  // one fill: per row, J tiny memsets
    gemm_detail::transpose_copy(thetas, stride, count, J, packed, lanes);
  }
  void unpack(const T* packed, std::size_t count, T* grads, std::size_t stride) const {
    gemm_detail::transpose_copy(packed, lanes, num_params(), count, grads, stride);
  }

  // X rearranged so that a forward tile finds its rows' inputs at fixed offsets from one pointer: with a
  // pointer per row the tile ran out of general registers, and GCC then read W1's vectors from memory at
  // every use rather than holding them.
  void tile_rows(Workspace<T>& ws) const {
    const std::size_t B = ws.rows, tiles = (B + R - 1) / R;
    ws.tiles.assign(tiles * d_ * R, T(0));
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t k = 0; k < d_; ++k) ws.tiles[(b / R * d_ + k) * R + b % R] = ws.X[b * d_ + k];
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
    for (std::size_t jj = 0; jj < JJ; ++jj) {
      const Batch init = bias_ ? Batch::load_aligned(P + (d_ * H_ + j0 + jj) * lanes) : Batch(T(0));
      for (std::size_t r = 0; r < RR; ++r) acc[r][jj] = init;
    }
    for (std::size_t k = 0; k < d_; ++k) {
      Batch w[JJ];
      for (std::size_t jj = 0; jj < JJ; ++jj) w[jj] = in_register(Batch::load_aligned(P + (k * H_ + j0 + jj) * lanes));
      for (std::size_t r = 0; r < RR; ++r) {
        const Batch xk(x[k * R + r]);
        for (std::size_t jj = 0; jj < JJ; ++jj) acc[r][jj] = vector_fma(xk, w[jj], acc[r][jj]);
      }
    }
    T* hidden = ws.hidden.data();
    for (std::size_t jj = 0; jj < JJ; ++jj) {
      const Batch w2 = Batch::load_aligned(P + (o_w2_ + j0 + jj) * lanes);
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
    std::size_t j0 = 0;
    for (; j0 + JB2 <= H_; j0 += JB2) backward_units<JB2>(act, G, ldg, ws, j0);
    if (j0 < H_) backward_units<1>(act, G, ldg, ws, j0);
  }

  // The first tile of inputs also sums the units' dw2 and db1; a compile-time flag, since as a run-time
  // test in the loop it left db1's sums on the stack, where a store and a reload per row set the pace.
  template <std::size_t JJ, class Act>
  void backward_units(Act act, const T* G, std::size_t ldg, Workspace<T>& ws, std::size_t j0) const {
    constexpr auto tail = std::make_index_sequence<KB>{};  // the last d mod KB inputs
    if (d_ < KB) return dispatch_inputs<JJ, true>(act, G, ldg, ws, j0, 0, tail);
    backward_tile<JJ, KB, true>(act, G, ldg, ws, j0, 0);
    std::size_t k0 = KB;
    for (; k0 + KB <= d_; k0 += KB) backward_tile<JJ, KB, false>(act, G, ldg, ws, j0, k0);
    dispatch_inputs<JJ, false>(act, G, ldg, ws, j0, k0, tail);
  }
  template <std::size_t JJ, bool First, class Act, std::size_t... K>
  void dispatch_inputs(Act act, const T* G, std::size_t ldg, Workspace<T>& ws, std::size_t j0, std::size_t k0,
                       std::index_sequence<K...>) const {
    const std::size_t rest = d_ - k0;
    ((rest == K && K > 0 ? backward_tile<JJ, K, First>(act, G, ldg, ws, j0, k0) : void()), ...);
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
    for (std::size_t jj = 0; jj < JJ; ++jj) {
      for (std::size_t kk = 0; kk < KK; ++kk) dW[kk][jj] = Batch(T(0));
      dw2[jj] = db1[jj] = Batch(T(0));
      w2[jj] = Batch::load_aligned(P + (o_w2_ + j0 + jj) * lanes);
    }
    for (std::size_t b = 0; b < B; ++b) {
      const Batch g = Batch::load_unaligned(G + b * ldg);
      Batch p[JJ];
      for (std::size_t jj = 0; jj < JJ; ++jj) {
        const Batch h = Batch::load_aligned(hidden + ((j0 + jj) * B + b) * lanes);
        p[jj] = act.slope(h, g);
        if constexpr (First) {
          dw2[jj] = vector_fma(h, g, dw2[jj]);
          db1[jj] += p[jj];
        }
      }
      for (std::size_t kk = 0; kk < KK; ++kk) {
        const Batch x(X[b * d_ + k0 + kk]);
        for (std::size_t jj = 0; jj < JJ; ++jj) dW[kk][jj] = vector_fma(x, p[jj], dW[kk][jj]);
      }
    }
    T* D = ws.grads.data();
    for (std::size_t jj = 0; jj < JJ; ++jj) {
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

// The widths a group can run in, widest first: the target's vectors, and on AVX-512 AVX2's with FMA3 (xsimd
// 8 offers no narrower arch with fused multiply-adds where AVX is on: its SSE FMA3 arch is off there).
template <class... A>
struct Archs {};
#if XSIMD_WITH_AVX512F && XSIMD_WITH_FMA3_AVX2
using Widths = Archs<xsimd::default_arch, xsimd::fma3<xsimd::avx2>>;
#else
using Widths = Archs<xsimd::default_arch>;
#endif

}  // namespace lanes_detail

template <class T>
class NetworkLanes {
 public:
  // Particles per group: the target's widest vector of T.
  static constexpr std::size_t lanes = xsimd::batch<T>::size;
  // One per thread, reused: after the first group of a shape nothing allocates.
  using Workspace = lanes_detail::Workspace<T>;

  // The network of Mlp({.widths = {inputs, hidden, 1}, .hidden = act, .bias = bias}): its parameters, in a
  // row of theta, are W1 (inputs x hidden, row-major), b1 (hidden; with bias), w2 (hidden), b2 (1; with bias).
  NetworkLanes(std::size_t inputs, std::size_t hidden, bool bias, Activation act)
      : d_(inputs), H_(hidden), bias_(bias), act_(act) {
    if (!dense_detail::fusable(act))
      throw Error("NetworkLanes: the hidden activation must be piecewise linear (identity, relu, leaky relu), got " +
                  act.name());
  }

  // The lanes for `model` when it is such a network (an Mlp of one hidden layer with a piecewise-linear
  // activation and one identity output); none otherwise.
  static std::optional<NetworkLanes> of(const Model<T>& model) {
    const auto* mlp = dynamic_cast<const Mlp<T>*>(&model);
    if (!mlp) return std::nullopt;
    const MlpSpec& s = mlp->spec();
    if (s.widths.size() != 3 || s.widths[2] != 1 || s.output.kind() != Activation::Kind::identity ||
        !dense_detail::fusable(s.hidden))
      return std::nullopt;
    return NetworkLanes(s.widths[0], s.widths[1], s.bias, s.hidden);
  }

  std::size_t num_params() const { return d_ * H_ + H_ + (bias_ ? H_ + 1 : 0); }

  // body(i0, count) for the consecutive groups [i0, i0 + count) of `lanes` particles (the last may hold
  // fewer), in parallel, each group by one task. (Half-width groups where whole ones leave few per thread
  // evened the threads' shares out, but half-width lanes ran 11 % slower: DE N = 100, AMD Zen 4.)
  template <class Body>
  static void for_each_group(std::size_t n, const Body& body) {
    parallel_for_each_index((n + lanes - 1) / lanes, [&](std::size_t group) {
      const std::size_t i0 = group * lanes;
      body(i0, std::min(lanes, n - i0));
    });
  }

  // out[b * lanes + l] = network l's output on row b of X (B x inputs, row-major), for the networks whose
  // parameters are the first num_params() entries of rows 0 .. count - 1 (count <= lanes) of `thetas`, rows
  // `stride` apart; the rest of out is left alone. X must stay alive and unchanged until backward().
  void forward(const T* thetas, std::size_t stride, std::size_t count, const T* X, std::size_t B, Workspace& ws,
               T* out) const {
    if (count == 0 || count > lanes)
      throw Error("NetworkLanes::forward: " + std::to_string(count) + " networks for a group of " +
                  std::to_string(lanes));
    ws.width = narrowest(count, lanes_detail::Widths{});
    with_kernel(ws.width, lanes_detail::Widths{},
                [&](const auto& k) { k.forward(thetas, stride, count, X, B, ws, out, lanes); });
  }

  // Row l of `grads` (rows `stride` apart), its first num_params() entries, = d <G[:, l], out[:, l]> / d theta_l
  // for l < count of the last forward() on ws; G is B x lanes like out. Written, not added.
  void backward(const T* G, Workspace& ws, T* grads, std::size_t stride) const {
    with_kernel(ws.width, lanes_detail::Widths{}, [&](const auto& k) { k.backward(G, lanes, ws, grads, stride); });
  }

 private:
  template <class... A>
  static std::size_t narrowest(std::size_t count, lanes_detail::Archs<A...>) {
    std::size_t width = lanes;
    ((count <= xsimd::batch<T, A>::size ? void(width = xsimd::batch<T, A>::size) : void()), ...);
    return width;
  }
  template <class F, class... A>
  void with_kernel(std::size_t width, lanes_detail::Archs<A...>, const F& f) const {
    ((width == xsimd::batch<T, A>::size ? f(lanes_detail::Kernel<T, A>(d_, H_, bias_, act_)) : void()), ...);
  }

  std::size_t d_, H_;
  bool bias_;
  Activation act_;
};

WGFLOW_EXTERN_INSTANCES(NetworkLanes)

}  // namespace wgflow::models
