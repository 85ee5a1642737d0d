#pragma once
// The x86 intrinsics headers, made safe for xsimd 8.1 under GCC 12 (Debian 12's toolchain), and xsimd 8.1's
// AVX-512 conversions made fast. meson.build force-includes this file first in every wgflow translation
// unit (-include core/intrinsics.hpp, carried by wgflow_dep), because the first two repairs below only work
// if they come before the first <immintrin.h> or xsimd include, and TBB's headers include <immintrin.h>
// themselves; the third comes after xsimd and before any use of it, the fourth before xsimd. The headers
// through which wgflow reaches xsimd (autodiff/tape.hpp and the few that include xsimd directly) include it
// too, for a program compiled by hand whose first include is a wgflow header.
//
// 1. Warnings. GCC 12's AVX and AVX-512 intrinsics build "undefined" vectors as `__m512i __Y = __Y;` (the
//    _mm512_undefined_* idiom). Once xsimd's math (log, pow, tanh, hadd, ...) is inlined into a loop of
//    ours, the optimiser reports `'__Y' may be used uninitialized [-Wmaybe-uninitialized]` at those lines,
//    in the system header, for every caller (132 such warnings in an AVX-512 release build). The value is
//    meant to be unspecified; the warning is a false positive (GCC bug 105593). It is located at the
//    intrinsic headers' own lines, so silencing it around their one inclusion here is the narrowest place
//    that works: our own code keeps the warning.
//
// 2. -O0 builds on AVX-512BW CPUs. Without __OPTIMIZE__, GCC 12 defines _mm512_mask_blend_epi8 and
//    _mm512_mask_blend_epi16 as macros that cast their operands straight to __v64qi / __v32hi. xsimd's
//    AVX-512BW integer select (reached from xt::log and xsimd::sincos through xsimd's generic log) passes
//    it xsimd::batch objects, which convert to __m512i but not to those types, so any -O0 build (a debug
//    build, the sanitizer build) fails:
//      /usr/include/xsimd/arch/xsimd_avx512bw.hpp:321:24: error: invalid cast from type
//      'const xsimd::batch<long int, xsimd::avx512bw>' to type '__v64qi'
//    With optimisation the same intrinsics are functions taking __m512i; at -O0 we replace the two macros
//    by such functions (same names, same types, same builtins), so the build keeps the CPU's full ISA.
#if defined(__x86_64__) || defined(__i386__)

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif

// Only where xsimd can use AVX-512BW: elsewhere the functions would only warn (-Wpsabi) in -O0 builds.
#if defined(__AVX512BW__) && (defined(_mm512_mask_blend_epi8) || defined(_mm512_mask_blend_epi16))
#if defined(XSIMD_HPP)
#error "core/intrinsics.hpp must come before xsimd (and xtensor): include a wgflow header first"
#endif
#undef _mm512_mask_blend_epi8
#undef _mm512_mask_blend_epi16
extern __inline __m512i __attribute__((__gnu_inline__, __always_inline__, __artificial__))
_mm512_mask_blend_epi8(__mmask64 __U, __m512i __A, __m512i __W) {
  return (__m512i)__builtin_ia32_blendmb_512_mask((__v64qi)__A, (__v64qi)__W, __U);
}
extern __inline __m512i __attribute__((__gnu_inline__, __always_inline__, __artificial__))
_mm512_mask_blend_epi16(__mmask32 __U, __m512i __A, __m512i __W) {
  return (__m512i)__builtin_ia32_blendmw_512_mask((__v32hi)__A, (__v32hi)__W, __U);
}
#endif

// 4. AVX-512F without DQ (-march=x86-64-v3 -mavx512f, Xeon Phi). xsimd 8.1's AVX-512F float hadd takes
//    the halves of the vector with _mm512_extractf32x8_ps, an AVX-512DQ instruction, so every caller of
//    xsimd::hadd on floats failed to compile there ("inlining failed in call to always_inline ...: target
//    specific option mismatch"). The same 256 bits come out of AVX-512F's 64-bit-element extraction.
#if defined(__AVX512F__) && !defined(__AVX512DQ__)
#if defined(XSIMD_HPP)
#error "core/intrinsics.hpp must come before xsimd (and xtensor): include a wgflow header first"
#endif
#define _mm512_extractf32x8_ps(X, C) _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(X), (C)))
#endif

#endif

// 3. xsimd 8.1's AVX-512 conversions between double and 64-bit integers. Its xsimd_isa.hpp never includes
//    its AVX-512DQ kernels (only avx512f and avx512bw), so inside its math (exp's to_int, to_float of
//    int64, log, pow of doubles) such a conversion takes the generic path: the vector stored, converted
//    element by element (GCC: two 256-bit halves) and reloaded whole, which on Intel is a failed store
//    forwarding. The generic code asks for fast_cast by argument-dependent lookup, so the one-instruction
//    conversions below, in namespace xsimd, are found there, in every translation unit this file opens.
//    The same values: truncation toward zero and exact conversion, as the generic path's casts. Measured
//    on an Intel Xeon (AVX-512, AMX), 1 thread: the RBF kernel's 1000 x 1000 double entries
//    (RadialKernel::evaluate_into, xsimd's exp) 1.61 -> 1.11 ms; a double normal 2.9 -> 1.2 ns.
#include <xsimd/xsimd.hpp>

#if defined(__AVX512DQ__)
#include <cstdint>
#include <type_traits>
namespace xsimd {
template <class A, std::enable_if_t<std::is_base_of_v<avx512f, A> && batch<double, A>::size == 8, int> = 0>
inline batch<std::int64_t, A> fast_cast(const batch<double, A>& x, const batch<std::int64_t, A>&, const A&) noexcept {
  return _mm512_cvttpd_epi64(x);
}
template <class A, std::enable_if_t<std::is_base_of_v<avx512f, A> && batch<double, A>::size == 8, int> = 0>
inline batch<double, A> fast_cast(const batch<std::int64_t, A>& x, const batch<double, A>&, const A&) noexcept {
  return _mm512_cvtepi64_pd(x);
}
}  // namespace xsimd
#endif
