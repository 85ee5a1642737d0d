#pragma once
// lane_fma(a, b, c): a * b + c on one scalar, rounded exactly as vector_fma (below) rounds each lane of a
// vector on this target. Where the ISA has FMA instructions (x86-64-v3's FMA3, AVX-512) vector_fma is fused,
// one rounding, and so is std::fma; where it has none (SSE4.2, x86-64-v2) xsimd computes a product and a
// sum, two roundings, while std::fma still rounds once (in software). The scalar tails and edge lanes of
// the GEMM kernels use this, so that an entry of a product has the same bits whether it fell in a vector
// lane or in a tail: on an SSE4.2 build std::fma there broke the GEMM = fused dense head identity that
// tests/models/test_dense_head.cpp asserts (found by the x86-64-v2 leg of scripts/test-isa.sh).
//
// vector_fma(a, b, c): the same on every lane of xsimd batches, fused where the target has FMA
// instructions, at any optimisation level. Every wgflow kernel calls it rather than xsimd::fma: xsimd 8.1
// has no AVX-512 fma and computes a product and a sum there, which GCC fuses into one instruction only
// from -O2 on (floating-point contraction). At -O0 and -O1 (the sanitizer build) AVX-512 lanes then
// rounded twice while lane_fma rounded once, and a GEMM entry's bits depended on whether it fell in a
// vector lane or a scalar tail (tests/core/test_gemm.cpp's gemm_rows case, in the -O0 AddressSanitizer
// leg on Zen 4).
#include <cmath>
#include <type_traits>

#include "intrinsics.hpp"  // before xsimd: GCC 12 repairs, see there
#include <xsimd/xsimd.hpp>

namespace wgflow {

template <class T, class A>
inline xsimd::batch<T, A> vector_fma(const xsimd::batch<T, A>& a, const xsimd::batch<T, A>& b,
                                     const xsimd::batch<T, A>& c) {
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, A> && std::is_same_v<T, float>)
    return xsimd::batch<T, A>(_mm512_fmadd_ps(a, b, c));
  else if constexpr (std::is_base_of_v<xsimd::avx512f, A> && std::is_same_v<T, double>)
    return xsimd::batch<T, A>(_mm512_fmadd_pd(a, b, c));
  else
#endif
    return xsimd::fma(a, b, c);
}

template <class T>
inline T lane_fma(T a, T b, T c) {
#if XSIMD_WITH_FMA3_SSE || XSIMD_WITH_FMA3_AVX || XSIMD_WITH_FMA3_AVX2 || XSIMD_WITH_AVX512F
  return std::fma(a, b, c);
#else
  return a * b + c;  // ISO C++ does not contract this into an FMA (and the target has none)
#endif
}

}  // namespace wgflow
