#pragma once
// The order in which the lane kernels' backward passes (lanes_kernel.hpp, lanes_paired_kernel.hpp,
// lanes_replicated_kernel.hpp) visit their register tiles, written once. A kernel K derives from BackwardSchedule<K, T, KB> and supplies the
// tile, summed over all rows:
//
//   backward_tile<JJ, KK, First>(act, G, ldg, ws, j0, k0)    units (the paired kernel: pairs of units,
//                                                            the replicated one: M units) j0 .. j0 + JJ - 1,
//                                                            inputs k0 .. k0 + KK - 1
//
// Full tiles are 2 units by KB inputs; the edges take smaller ones, picked by a switch, since a tile's size
// is a template argument: its accumulators are then registers. The schedule calls the kernel's member
// template directly; routed through a generic lambda instead (the tile's accumulators reached through
// its captures), GCC kept part of them in memory (the paired forward's tiles: 5.1 -> 6.7-7.0 us, Zen 5).
// The forward passes keep their own loops: shared the same way, GCC inlined their edge blocks otherwise
// and allocated the paired tile's registers otherwise, and the forward ran 3-7 % slower (Zen 5, medians
// of 8 alternating runs); the backward's tiles compile to the same instructions as before.
#include <cstddef>
#include <utility>

namespace wgflow::models::lanes_detail {

template <class T>
struct Workspace;  // lanes_kernel.hpp

template <class K, class T, std::size_t KB>
class BackwardSchedule {
 protected:
  // Units (pairs of units) [0, units), two per tile: more left GCC short of registers. The first input
  // tile of a unit is compiled apart (First): it also sums the unit's dw2 and db1; as a run-time test in
  // the loop it left db1's sums on the stack, where a store and a reload per row set the pace.
  template <class Act>
  void backward_units(Act act, const T* G, std::size_t ldg, Workspace<T>& ws, std::size_t units) const {
    std::size_t j0 = 0;
    for (; j0 + 2 <= units; j0 += 2) backward_inputs<2>(act, G, ldg, ws, j0);
    if (j0 < units) backward_inputs<1>(act, G, ldg, ws, j0);
  }

 private:
  const K& self() const { return static_cast<const K&>(*this); }

  template <std::size_t JJ, class Act>
  void backward_inputs(Act act, const T* G, std::size_t ldg, Workspace<T>& ws, std::size_t j0) const {
    const std::size_t d = self().d_;
    constexpr auto tail = std::make_index_sequence<KB>{};  // the last d mod KB inputs
    if (d < KB) return dispatch_inputs<JJ, true>(act, G, ldg, ws, j0, 0, tail);
    self().template backward_tile<JJ, KB, true>(act, G, ldg, ws, j0, 0);
    std::size_t k0 = KB;
    for (; k0 + KB <= d; k0 += KB) self().template backward_tile<JJ, KB, false>(act, G, ldg, ws, j0, k0);
    dispatch_inputs<JJ, false>(act, G, ldg, ws, j0, k0, tail);
  }
  template <std::size_t JJ, bool First, class Act, std::size_t... Ks>
  void dispatch_inputs(Act act, const T* G, std::size_t ldg, Workspace<T>& ws, std::size_t j0, std::size_t k0,
                       std::index_sequence<Ks...>) const {
    const std::size_t rest = self().d_ - k0;
    ((rest == Ks && Ks > 0 ? self().template backward_tile<JJ, Ks, First>(act, G, ldg, ws, j0, k0) : void()), ...);
  }
};

}  // namespace wgflow::models::lanes_detail
