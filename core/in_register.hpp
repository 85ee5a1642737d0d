#pragma once
// in_register(v): v, held in a register for the code that follows.
//
// An empty asm that claims to change v, so that the compiler cannot fold v's load into each FMA that
// uses it. Why: with few enough FMAs per loaded vector, GCC reads the vector from memory once per use
// (a memory operand costs no extra instruction), and the loads, not the FMAs, set the pace. Measured on
// AMD EPYC Zen 3 (AVX2): a 4 x 2 GEMM tile, where GCC folded B's loads into every FMA (4 times the
// loads, most of them split across cache lines for a B 50 columns wide), took 1.7 us for 8 x 50 x 100
// floats against 1.0 us with B's vectors held; a small dense head's forward, where each W1 vector serves
// two rows, 3-14 % (8 to 32 inputs).
#include "intrinsics.hpp"  // before xsimd: GCC 12 repairs, see there
#include <xsimd/xsimd.hpp>

namespace wgflow {

template <class T, class A>
inline xsimd::batch<T, A> in_register(xsimd::batch<T, A> v) {
#if defined(__x86_64__) && defined(__AVX__)
  typename xsimd::batch<T, A>::register_type r = v;
#if defined(__AVX512F__)
  asm("" : "+v"(r));  // any of the 32 vector registers ("x" allows the first 16)
#else
  asm("" : "+x"(r));
#endif
  return xsimd::batch<T, A>(r);
#else
  return v;
#endif
}

}  // namespace wgflow
