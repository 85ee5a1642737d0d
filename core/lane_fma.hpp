#pragma once
// lane_fma(a, b, c): a * b + c on one scalar, rounded exactly as xsimd::fma rounds each lane of a vector
// on this target. Where the ISA has FMA instructions (x86-64-v3's FMA3, AVX-512) xsimd::fma is fused,
// one rounding, and so is std::fma; where it has none (SSE4.2, x86-64-v2) xsimd computes a product and a
// sum, two roundings, while std::fma still rounds once (in software). The scalar tails and edge lanes of
// the GEMM kernels use this, so that an entry of a product has the same bits whether it fell in a vector
// lane or in a tail: on an SSE4.2 build std::fma there broke the GEMM = fused dense head identity that
// tests/models/test_dense_head.cpp asserts (found by the x86-64-v2 leg of scripts/test-isa.sh).
#include <cmath>

#include "intrinsics.hpp"  // before xsimd: GCC 12 repairs, see there
#include <xsimd/xsimd.hpp>

namespace wgflow {

template <class T>
inline T lane_fma(T a, T b, T c) {
#if XSIMD_WITH_FMA3_SSE || XSIMD_WITH_FMA3_AVX || XSIMD_WITH_FMA3_AVX2 || XSIMD_WITH_AVX512F
  return std::fma(a, b, c);
#else
  return a * b + c;  // ISO C++ does not contract this into an FMA (and the target has none)
#endif
}

}  // namespace wgflow
