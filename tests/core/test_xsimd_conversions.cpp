// core/intrinsics.hpp, repair 3: xsimd 8.1 converts between double and 64-bit integers through the stack
// on AVX-512 unless given the one-instruction conversions. Where the target has AVX-512DQ, xsimd must pick
// them (its "fast" conversion path); on every target, its conversions must give the scalar casts' values.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

TEST_CASE("xsimd's double <-> int64 conversions: one instruction with AVX-512DQ, the scalar casts' values") {
  using D = xsimd::batch<double>;
  using I = xsimd::batch<std::int64_t>;
  namespace kd = xsimd::kernel::detail;
#if defined(__AVX512DQ__)
  CHECK(std::is_same_v<kd::conversion_type<xsimd::default_arch, double, std::int64_t>, kd::with_fast_conversion>);
  CHECK(std::is_same_v<kd::conversion_type<xsimd::default_arch, std::int64_t, double>, kd::with_fast_conversion>);
#endif
  const double two53 = 9007199254740992.0;
  const std::vector<double> reals{0.0, -0.0, 0.49, -0.51, 1.5, -2.5, 3.7, -3.7, 1e15 + 0.5, -1e15 - 0.5,
                                  two53 - 1, -two53, 123456789.987, -1.0, 7e-300, 4.5e18};
  const std::vector<std::int64_t> ints{0, 1, -1, 42, -42, (std::int64_t{1} << 53) - 1, -(std::int64_t{1} << 53),
                                       (std::int64_t{1} << 62) + 1, -(std::int64_t{1} << 62) - 3, 1000000007,
                                       INT64_MAX, INT64_MIN + 1, 3, -5, 1 << 30, -(1 << 30)};
  for (std::size_t s = 0; s < reals.size(); ++s) {
    alignas(64) double x[D::size];
    alignas(64) std::int64_t n[I::size], got_n[I::size];
    alignas(64) double got_x[D::size];
    for (std::size_t l = 0; l < D::size; ++l) {
      x[l] = reals[(s + l) % reals.size()];
      n[l] = ints[(s + 3 * l) % ints.size()];
    }
    xsimd::to_int(D::load_aligned(x)).store_aligned(got_n);
    xsimd::to_float(I::load_aligned(n)).store_aligned(got_x);
    for (std::size_t l = 0; l < D::size; ++l) {
      CHECK_MESSAGE(got_n[l] == static_cast<std::int64_t>(x[l]), "to_int(", x[l], ")");
      CHECK_MESSAGE(got_x[l] == static_cast<double>(n[l]), "to_float(", n[l], ")");
    }
  }
}
