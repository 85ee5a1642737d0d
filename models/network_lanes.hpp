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
// The kernels: models/lanes_kernel.hpp, a network per lane of the target's vectors. On AVX-512 a group of at
// most half a vector (8 floats, 4 doubles) runs in models/lanes_paired_kernel.hpp, the same operations in
// whole vectors, two rows or two hidden units at a time, with the same bits: in 16 lanes 5 networks did 3
// times the work they needed, in AVX2's 8 lanes they ran at half the 512-bit rate. A group of at most a
// third (5 floats: the paper's ensembles) runs three rows or units at a time in
// models/lanes_replicated_kernel.hpp, one of at most a quarter (4 floats, 2 doubles) four at a time, again
// with the same bits.

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../core/intrinsics.hpp"  // before xsimd: GCC 12 repairs, see there
#include <xsimd/xsimd.hpp>

#include "../core/errors.hpp"
#include "../core/parallel.hpp"
#include "../core/precompiled.hpp"
#include "activation.hpp"
#include "dense.hpp"
#include "lanes_kernel.hpp"
#include "lanes_paired_kernel.hpp"
#include "lanes_replicated_kernel.hpp"
#include "mlp.hpp"

namespace wgflow::models {

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
#if XSIMD_WITH_AVX512F
    for (std::size_t count = 1; count <= quadrupled_lanes; ++count)
      quadrupled_.emplace_back(d_, H_, bias_, act_, count);
    for (std::size_t count = quadrupled_lanes + 1; count <= tripled_lanes; ++count)
      tripled_.emplace_back(d_, H_, bias_, act_, count);
#endif
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
  // The groups of `lanes` particles that n particles make (the last may hold fewer).
  static std::size_t groups(std::size_t n) { return (n + lanes - 1) / lanes; }
  // About what a Workspace holds after forward() on B rows: a group's parameters and gradients, its hidden
  // values and its rows of X rearranged.
  std::size_t workspace_bytes(std::size_t B) const { return (2 * num_params() + (H_ + d_) * B) * lanes * sizeof(T); }

  // body(i0, count) for the consecutive groups [i0, i0 + count) of `lanes` particles (the last may hold
  // fewer), in parallel, each group by one task. (Half-width groups where whole ones leave few per thread
  // evened the threads' shares out, but half-width lanes ran 11 % slower: DE N = 100, AMD Zen 4.)
  template <class Body>
  static void for_each_group(std::size_t n, const Body& body) {
    parallel_for_each_index(groups(n), [&](std::size_t group) {
      const std::size_t i0 = group * lanes;
      body(i0, std::min(lanes, n - i0));
    });
  }

  // out[b * lanes + l] = network l's output on row b of X (B x inputs, row-major), for the networks whose
  // parameters are the first num_params() entries of rows 0 .. count - 1 (count <= lanes) of `thetas`, rows
  // `stride` apart; the rest of out is left alone. X must stay alive and unchanged until backward().
  void forward(const T* thetas, std::size_t stride, std::size_t count, const T* X, std::size_t B, Workspace& ws,
               T* out) const;

  // Row l of `grads` (rows `stride` apart), its first num_params() entries, = d <G[:, l], out[:, l]> / d theta_l
  // for l < count of the last forward() on ws; G is B x lanes like out. Written, not added.
  void backward(const T* G, Workspace& ws, T* grads, std::size_t stride) const;

 private:
#if XSIMD_WITH_AVX512F
  using Quadrupled = lanes_detail::ReplicatedKernel<T, 4>;
  using Tripled = lanes_detail::ReplicatedKernel<T, 3>;
  static constexpr std::size_t quadrupled_lanes = Quadrupled::lanes, tripled_lanes = Tripled::lanes;
  static constexpr std::size_t paired_lanes = lanes_detail::PairedKernel<T>::lanes;
#else
  // Every group in whole vectors.
  static constexpr std::size_t quadrupled_lanes = 0, tripled_lanes = 0, paired_lanes = 0;
#endif

  // The kernel for groups of `width` networks at most (a group of `count`).
  template <class F>
  void with_kernel([[maybe_unused]] std::size_t width, [[maybe_unused]] std::size_t count,
                   const F& f) const {  // unused without AVX-512
#if XSIMD_WITH_AVX512F
    if (width == quadrupled_lanes) return f(quadrupled_[count - 1]);
    if (width == tripled_lanes) return f(tripled_[count - quadrupled_lanes - 1]);
    if (width == paired_lanes) return f(lanes_detail::PairedKernel<T>(d_, H_, bias_, act_));
#endif
    f(lanes_detail::Kernel<T, xsimd::default_arch>(d_, H_, bias_, act_));
  }

  std::size_t d_, H_;
  bool bias_;
  Activation act_;
#if XSIMD_WITH_AVX512F
  // The replicated kernels, built once for each group size they take: their permutes' index vectors took
  // 0.13 us to build (stored lane by lane, then loaded whole), twice a step (Intel Xeon, float32). Four
  // copies a vector for 1 .. quadrupled_lanes networks, three for the sizes above, up to tripled_lanes
  // (5 floats; none in double, where both are 2). Four copies of 4 float networks against three: forward
  // 4.5-4.7 -> 3.5-3.7 us, backward 3.9-4.4 -> 4.3-4.8 us; of 2 doubles: 4.4-4.5 -> 3.4-3.6 us and 4.3 ->
  // 3.8-3.9 us (bench_lanes, 4 alternating runs, Intel Xeon); a DE step at N = 4 (float32, 1 thread) 10.1
  // -> 9.4 us (medians of 6).
  std::vector<Quadrupled> quadrupled_;
  std::vector<Tripled> tripled_;
#endif
};

// Out of the class, so not inline: where WGFLOW_EXTERN_INSTANCES declares NetworkLanes<float> and
// <double> compiled elsewhere, a translation unit then leaves the kernels to that one place. Defined in
// the class, GCC instantiated them in every unit that called forward() (to consider inlining them): 260 KB
// of tile code compiled again in each experiment program and test suite.
template <class T>
void NetworkLanes<T>::forward(const T* thetas, std::size_t stride, std::size_t count, const T* X, std::size_t B,
                              Workspace& ws, T* out) const {
  if (count == 0 || count > lanes)
    throw Error("NetworkLanes::forward: " + std::to_string(count) + " networks for a group of " +
                std::to_string(lanes));
  ws.width = count <= quadrupled_lanes ? quadrupled_lanes
             : count <= tripled_lanes  ? tripled_lanes
             : count <= paired_lanes   ? paired_lanes
                                       : lanes;
  with_kernel(ws.width, count, [&](const auto& k) { k.forward(thetas, stride, count, X, B, ws, out, lanes); });
}

template <class T>
void NetworkLanes<T>::backward(const T* G, Workspace& ws, T* grads, std::size_t stride) const {
  with_kernel(ws.width, ws.count, [&](const auto& k) { k.backward(G, lanes, ws, grads, stride); });
}

WGFLOW_EXTERN_INSTANCES(NetworkLanes)

}  // namespace wgflow::models
