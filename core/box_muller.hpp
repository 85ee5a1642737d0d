#pragma once
// The vector kernel of Rng::fill_normal (core/random.hpp): Box-Muller normals from two vectors of 64-bit
// draws, with a log, a sine and a cosine written for its arguments alone. xsimd's log and sincos take any
// argument (special values, a range reduction good for huge angles); here u1 lies in (0, 1] and the angle
// 2 pi u2 comes from u2 = v 2^-b (an integer v < 2^b, b = 24 or 53), so its reduction to a quarter turn
// is exact in integers: k = round(4 u2), r = 4 u2 - k in [-1/2, 1/2], 2 pi u2 = (pi / 2)(k + r). What
// remains is two short polynomials in r^2 and a swap and signs by k mod 4; the log is fdlibm's (exponent
// and mantissa, then a polynomial). Measured against long double, with FMA: the log within 1.1 ulp (every
// float in [2^-32, 1]; 2e7 doubles), sin and cos of (pi / 2) r within 1.0 (every float r), the normals
// within 2.8 ulp (SSE, without FMA: 1.2, 1.6, 3.3), where xsimd's sincos of the rounded 2 pi u2 was off
// by up to 57 ulp for |z| >= 1/4, and by its absolute error near the zeros of sin and cos. With the
// sub-streams of core/random.hpp, 501 normals a call on AMD Zen 4 (AVX-512): 0.56-0.60 against 1.25 ns a
// float normal, 1.1 against 2.3 ns a double one (x86-64-v3: 0.9 against 2.45, 2.3 against 3.45 ns).
#include <cstdint>
#include <type_traits>

#include "intrinsics.hpp"  // before xsimd: GCC 12 repairs, see there
#include <xsimd/xsimd.hpp>

namespace wgflow::box_muller {

template <class T>
using Int = xsimd::batch<xsimd::as_integer_t<T>>;  // T's lanes as signed integers
using Draws = xsimd::batch<std::uint64_t>;

// a b + c, rounded once where the target has FMA (SSE: twice). xsimd 8 has no AVX-512 fma: its a * b + c
// is GCC's to contract or not (in fma(r, hi, r p) it rounded r hi and fused r p instead). No product
// below feeds a sum but through fmadd: GCC contracts such a sum in some inlined copies and not in others,
// and the values must not depend on the call site (tests/core/test_random.cpp: prefixes, for_each_normal).
template <class T>
inline xsimd::batch<T> fmadd(xsimd::batch<T> a, xsimd::batch<T> b, xsimd::batch<T> c) {
#if defined(__AVX512F__)
  if constexpr (xsimd::batch<T>::size * sizeof(T) == 64) {
    if constexpr (std::is_same_v<T, float>) return _mm512_fmadd_ps(a, b, c);
    else return _mm512_fmadd_pd(a, b, c);
  }
#endif
  return xsimd::fma(a, b, c);
}

// log x for normal x in (0, 1]: x = 2^k m with m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact), and
// log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f / (2 + f), R a minimax polynomial: fdlibm's e_log.c
// and e_logf.c (FreeBSD msun; musl), both within 1 ulp. No special values: x is never 0, negative or
// subnormal here.
template <class T>
inline xsimd::batch<T> log_unit(xsimd::batch<T> x) {
  using B = xsimd::batch<T>;
  using I = Int<T>;
  B f, dk;
  if constexpr (std::is_same_v<T, float>) {
    const I ix = xsimd::bitwise_cast<I>(x) + I(0x3f800000 - 0x3f3504f3);  // exponent field k + 127
    dk = xsimd::to_float((ix >> 23) - I(0x7f));
    f = xsimd::bitwise_cast<B>((ix & I(0x007fffff)) + I(0x3f3504f3)) - B(1);
  } else {
    const std::uint64_t sqrt_half = 0x3fe6a09eULL << 32;  // its high word, as fdlibm
    const Draws ix = xsimd::bitwise_cast<Draws>(x) + Draws((0x3ff00000ULL << 32) - sqrt_half);
    // 2^52 + 1023 + k from the biased exponent's bits: AVX2 has no 64-bit integer conversion
    dk = xsimd::bitwise_cast<B>((ix >> 52) | Draws(0x4330000000000000)) - B(0x1.0p52 + 1023);
    f = xsimd::bitwise_cast<B>((ix & Draws(0x000fffffffffffff)) + Draws(sqrt_half)) - B(1);
  }
  const B hf = B(T(0.5)) * f, s = f / (B(2) + f), z = s * s;
  B R;  // Lg1 z + Lg2 z^2 + ... by Horner: fdlibm's two halves save latency, fewer operations pay more here
  if constexpr (std::is_same_v<T, float>) {
    R = fmadd(z, fmadd(z, B(0xf89e26.0p-26f), B(0x91e9ee.0p-25f)), B(0xccce13.0p-25f));
    R = z * fmadd(z, R, B(0xaaaaaa.0p-24f));
  } else {
    R = fmadd(z, B(1.479819860511658591e-01), B(1.531383769920937332e-01));
    R = fmadd(z, R, B(1.818357216161805012e-01));
    R = fmadd(z, R, B(2.222219843214978396e-01));
    R = fmadd(z, R, B(2.857142874366239149e-01));
    R = fmadd(z, R, B(3.999999999940941908e-01));
    R = z * fmadd(z, R, B(6.666666666666735130e-01));
  }
  // ln 2 as hi + lo, hi with trailing zeros so that k hi is exact
  const B ln2_hi(std::is_same_v<T, float> ? T(0x1.62e3p-1f) : T(0x1.62e42feep-1)),
      ln2_lo(std::is_same_v<T, float> ? T(9.0580006145e-06f) : T(1.90821492927058770002e-10));
  // f - f^2/2 + s (f^2/2 + R) + k ln 2, f^2/2 = hf f fused into both sums (see fmadd)
  return fmadd(dk, ln2_hi, fmadd(-hf, f, f) + fmadd(s, fmadd(hf, f, R), dk * ln2_lo));
}

// sin(pi r / 2) and cos(pi r / 2) for |r| <= 1/2: r P(r^2) and 1 + r^2 Q(r^2), P and Q minimax for the
// relative error on [0, 1/4] with P(0) = pi / 2 (Remez; float: degree 3, 4e-9 and 6e-11; double: degree
// 6, 4e-18 and 4e-20), so rounding sets the error. pi / 2 as hi + lo: r hi + r (lo + ...) rounds once.
template <class T>
inline void sincos_quarter(xsimd::batch<T> r, xsimd::batch<T>& s, xsimd::batch<T>& c) {
  using B = xsimd::batch<T>;
  const B t = r * r;
  if constexpr (std::is_same_v<T, float>) {
    B p = fmadd(t, B(-0.00460483413f), B(0.0796814114f));
    p = fmadd(t, p, B(-0.645963609f));
    s = fmadd(r, B(1.57079637f), r * fmadd(t, p, B(-4.37113883e-08f)));
    B q = fmadd(t, B(0.000903766544f), B(-0.0208601654f));
    q = fmadd(t, q, B(0.253669232f));
    q = fmadd(t, q, B(-1.23370051f));
    c = fmadd(t, q, B(1));
  } else {
    B p = fmadd(t, B(5.634463158686828e-08), B(-3.5986477759184695e-06));
    p = fmadd(t, p, B(0.00016044115216851874));
    p = fmadd(t, p, B(-0.004681754132562599));
    p = fmadd(t, p, B(0.0796926262460598));
    p = fmadd(t, p, B(-0.6459640975062448));
    s = fmadd(r, B(1.5707963267948966), r * fmadd(t, p, B(6.123233995736766e-17)));
    B q = fmadd(t, B(-6.321202067320101e-09), B(4.710609669335479e-07));
    q = fmadd(t, q, B(-2.5202036788288548e-05));
    q = fmadd(t, q, B(0.000919260274191067));
    q = fmadd(t, q, B(-0.02086348076331257));
    q = fmadd(t, q, B(0.2536695079010468));
    q = fmadd(t, q, B(-1.2337005501361697));
    c = fmadd(t, q, B(1));
  }
}

// Box-Muller on lanes j = 0..W-1: cos_out[j] = R cos(theta), sin_out[j] = R sin(theta) with
// R = sqrt(-2 log u1), theta = (pi / 2)(k + r), r in [-1/2, 1/2], k >= 0. With a = (pi / 2) r, (cos, sin)
// of theta is (cos a, sin a), (-sin a, cos a), (-cos a, -sin a), (sin a, -cos a) for k mod 4 = 0..3:
// sin and cos swapped where k is odd, sin taken at -r there (sin is odd), R negated for k mod 4 >= 2.
template <class T>
inline void pairs(xsimd::batch<T> u1, Int<T> k, xsimd::batch<T> r, T* cos_out, T* sin_out) {
  using B = xsimd::batch<T>;
  using I = Int<T>;
  constexpr int sign = 8 * sizeof(T) - 1;
  const I odd = k << sign;  // k's bit 0 at the sign bit
  B R = xsimd::sqrt(B(T(-2)) * log_unit(u1)), s, c;
  sincos_quarter(r ^ xsimd::bitwise_cast<B>(odd), s, c);
  const B d = (s ^ c) & xsimd::bitwise_cast<B>(I(0) - (k & I(1)));  // s ^ c where k is odd, else 0
  R = R ^ xsimd::bitwise_cast<B>((k & I(2)) << (sign - 1));
  (R * (c ^ d)).store_unaligned(cos_out);
  (R * (s ^ d)).store_unaligned(sin_out);
}

// 2 x Draws::size float pairs from x and y, the draws' 32-bit halves read as 32-bit lanes, low half
// first: lane j's u1 = (x_j + 1) 2^-32, rounded to float once, u2 = (y_j >> 8) 2^-24.
inline void normals(Draws x, Draws y, float* cos_out, float* sin_out) {
  using B = xsimd::batch<float>;
  using I = Int<float>;
  const I a = xsimd::bitwise_cast<I>(x), v = (xsimd::bitwise_cast<I>(y) >> 8) & I(0xffffff);
  // x_j + 1 needs 33 bits: its top and bottom 16 bits are converted exactly, their sum rounds once
  const B hi = xsimd::to_float((a >> 16) & I(0xffff)), lo = xsimd::to_float((a & I(0xffff)) + I(1));
  const B u1 = fmadd(hi, B(65536.f), lo);
  const I k = (v + I(1 << 21)) >> 22;  // round(4 u2), 4 u2 = v 2^-22
  pairs(u1 * B(0x1.0p-32f), k, xsimd::to_float(v - (k << 22)) * B(0x1.0p-22f), cos_out, sin_out);
}

// Draws::size double pairs from x and y: u1 = 1 - (x_j >> 11) 2^-53, u2 = (y_j >> 11) 2^-53, both exact.
inline void normals(Draws x, Draws y, double* cos_out, double* sin_out) {
  using B = xsimd::batch<double>;
  using I = Int<double>;
  const Draws v = y >> 11;
  const I k = xsimd::bitwise_cast<I>((v + Draws(1ULL << 50)) >> 51);  // round(4 u2), 4 u2 = v 2^-51
  // |v - k 2^51| <= 2^50 converted exactly as the low bits of 1.5 x 2^52 (AVX2 has no 64-bit conversion)
  const B r = xsimd::bitwise_cast<B>(xsimd::bitwise_cast<I>(v) - (k << 51) + I(0x4338000000000000));
  const B u1 = fmadd(xsimd::to_float(xsimd::bitwise_cast<I>(x >> 11)), B(-0x1.0p-53), B(1));
  pairs(u1, k, fmadd(r, B(0x1.0p-51), B(-3)), cos_out, sin_out);  // (r - 1.5 x 2^52) 2^-51, exact
}

}  // namespace wgflow::box_muller
