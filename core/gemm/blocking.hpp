#pragma once
// Register and cache blocking of the GEMM kernel: the parameters MR, NR, KC, MC, NC of the BLIS /
// GotoBLAS scheme (Goto & van de Geijn, "Anatomy of high-performance matrix multiplication", TOMS
// 2008; Van Zee & van de Geijn, "BLIS", TOMS 2015).
//
//   for jc in steps of NC          (B panel KC x NC lives in L3)
//     for pc in steps of KC        (pack the B panel)
//       for ic in steps of MC      (pack an A block MC x KC; it lives in L2)
//         for jr in steps of NR    (a B sliver KC x NR stays in L1 ...)
//           for ir in steps of MR  (... while A slivers MR x KC stream past it)
//             MR x NR register tile += A sliver * B sliver
//
// C is row-major, so the tile is vectorised along n: NR = NV SIMD vectors, and each step of the
// micro-kernel loads NV vectors of B, broadcasts MR scalars of A and issues MR * NV FMAs.
#include <cstddef>
#include <type_traits>

#include "../intrinsics.hpp"  // before xsimd: GCC 12 repairs, see there
#include <xsimd/xsimd.hpp>

namespace wgflow::gemm_detail {

// The widest instruction set this translation unit was compiled for (AVX-512, AVX2, SSE, NEON).
using Arch = xsimd::default_arch;

template <class T>
using Batch = xsimd::batch<T, Arch>;

// Architectural vector registers: 32 with AVX-512 (zmm0-31) and on AArch64, 16 otherwise.
inline constexpr std::size_t vector_registers =
    std::is_base_of_v<xsimd::avx512f, Arch> || std::is_base_of_v<xsimd::neon64, Arch> ? 32 : 16;

template <class T>
struct Blocking {
  static constexpr std::size_t W = Batch<T>::size;  // lanes per vector

  // Register tile. The MR * NV accumulators, the NV vectors of B and one broadcast of A must fit the
  // register file. With 32 registers, 14 x 2 vectors (28 accumulators, 30 live) measured fastest
  // on Zen 5 (sgemm 1024^3, one core): 14x2 beat 8x3, 6x4 and 12x2 — it loads 16 values per 28
  // FMAs, and 28 independent chains cover the FMA latency (4 cycles x 2 pipes) many times over.
  // Sapphire Rapids (as GCC's -march=native names it) prefers 6 x 4 (24 accumulators, 29 live): one
  // core, 1024^3, 0.93-0.94 of OpenBLAS's GFLOP/s in float and 0.90-0.93 in double, against 0.88-0.91
  // and 0.85-0.87 with 14 x 2 (a sweep of 11 tiles and blockings: `git show 2e5b311:BENCHMARKS.md`). Other
  // AVX-512 cores keep 14 x 2 until measured. With 16 registers the classic 6 x 2 (12 accumulators,
  // 15 live).
#ifdef WGFLOW_GEMM_TUNE
  static constexpr std::size_t NV = WGFLOW_GEMM_NV;
  static constexpr std::size_t MR = WGFLOW_GEMM_MR;
#elif defined(__sapphirerapids__)
  static constexpr std::size_t NV = 4;
  static constexpr std::size_t MR = 6;
#else
  static constexpr std::size_t NV = 2;
  static constexpr std::size_t MR = vector_registers >= 32 ? 14 : 6;
#endif
  static constexpr std::size_t NR = NV * W;

  // Cache blocks, in elements. KC: a B sliver (KC x NR) stays in L1 (48 KiB on Zen 5, 32 KiB on most
  // others) next to the A sliver streaming through: 256 x 32 floats = 32 KiB. MC: an A block
  // (MC x KC) fills about half of L2 (1 MiB on Zen 5, >= 512 KiB on recent x86). NC: a B panel
  // (KC x NC) of a few MiB sits in L3. Chosen by measurement (bench/bench_gemm.cpp); the products
  // are insensitive to +-25 % around these values.
#ifdef WGFLOW_GEMM_TUNE
  static constexpr std::size_t KC = WGFLOW_GEMM_KC;
  static constexpr std::size_t MC = MR * WGFLOW_GEMM_MCS;
  static constexpr std::size_t NC = WGFLOW_GEMM_NC;
#elif defined(__sapphirerapids__)
  static constexpr std::size_t KC = 256;
  static constexpr std::size_t MC = MR * 40;  // 240 rows: the sweep's 6 x 4 tile ran with these
  static constexpr std::size_t NC = 2048;
#else
  static constexpr std::size_t KC = 256;
  static constexpr std::size_t MC = MR * 18;
  static constexpr std::size_t NC = 4096 / (sizeof(T) / 4);
#endif

  static_assert(NR % W == 0 && MC % MR == 0 && NC % NR == 0);
};

}  // namespace wgflow::gemm_detail
