#pragma once
// The GEMM micro-kernel: an MR x NR tile of C held in registers, accumulated over k, then written back.
//
//   acc(r, :) = sum_p a(r, p) * b(p, :)        (one broadcast of a, NV vector FMAs per row and step)
//   C(r, :)   = alpha * acc(r, :) + beta * C(r, :)      (beta == 0: C's old contents are never read)
//
// The operands are read through small views so that one kernel serves both paths: packed slivers
// (contiguous, aligned: the blocked path) and operands read in place with strides (the small path).
//
// Every C entry is one lane of one accumulator, summed over p in increasing order with one FMA per
// step, whatever tile or thread computes it; edge tiles go through the same vector code via a
// scratch tile. So an entry's value depends only on how k is split into KC blocks, which depends
// only on k: results are bitwise identical for any partition of C among threads.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>

#include "blocking.hpp"
#include "../in_register.hpp"
#include "../lane_fma.hpp"

namespace wgflow::gemm_detail {

// MR rows (Blocking's MR, or fewer for a small product with a few rows: small.hpp) by NV vectors
// (Blocking's NV, or 1 for a narrow tile over a product's last few columns).
template <class T, std::size_t MR = Blocking<T>::MR, std::size_t NV = Blocking<T>::NV>
struct Tile {
  Batch<T> acc[MR][NV];
};

// An A sliver packed by pack_a: MR consecutive values (rows r = 0..MR-1) per step p.
template <class T>
struct PackedA {
  static constexpr std::size_t rows = Blocking<T>::MR;
  const T* p;
  T operator[](std::size_t r) const { return p[r]; }
  void next() { p += rows; }
};

// MR rows of op(A) read in place: a(r, p) = base[row_offset[r] + p * step]. Rows past the matrix's
// last row repeat that row (their results are discarded), so no read leaves the operand.
template <class T, std::size_t MR = Blocking<T>::MR>
struct StridedA {
  static constexpr std::size_t rows = MR;
  const T* p;
  std::size_t step;
  std::array<std::size_t, MR> row_offset;

  StridedA(const T* base, std::size_t row_stride, std::size_t col_stride, std::size_t rows)
      : p(base), step(col_stride) {
    for (std::size_t r = 0; r < row_offset.size(); ++r) row_offset[r] = std::min(r, rows - 1) * row_stride;
  }
  T operator[](std::size_t r) const { return p[row_offset[r]]; }
  void next() { p += step; }
};

// A B sliver packed by pack_b: NV * W (NR by default) consecutive values per step, 64-byte aligned.
template <class T, std::size_t NV = Blocking<T>::NV>
struct PackedB {
  static constexpr std::size_t vectors = NV;
  const T* p;
  Batch<T> load(std::size_t v) const { return Batch<T>::load_aligned(p + v * Blocking<T>::W); }
  void next() { p += NV * Blocking<T>::W; }
};

// NR columns of B read in place from rows ld apart (B not transposed, all NR columns inside B).
template <class T>
struct StridedB {
  static constexpr std::size_t vectors = Blocking<T>::NV;
  const T* p;
  std::size_t ld;
  Batch<T> load(std::size_t v) const { return Batch<T>::load_unaligned(p + v * Blocking<T>::W); }
  void next() { p += ld; }
};

template <class T, std::size_t MR, std::size_t NV, class AView, class BView>
inline void accumulate(std::size_t kc, AView a, BView b, Tile<T, MR, NV>& t) {
#pragma GCC unroll 32
  for (std::size_t r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (std::size_t v = 0; v < NV; ++v) t.acc[r][v] = Batch<T>(T(0));
  for (std::size_t p = 0; p < kc; ++p) {
    Batch<T> bv[NV];
#pragma GCC unroll 8
    for (std::size_t v = 0; v < NV; ++v) bv[v] = in_register(b.load(v));  // see core/in_register.hpp
#pragma GCC unroll 32
    for (std::size_t r = 0; r < MR; ++r) {
      const Batch<T> ar(a[r]);
#pragma GCC unroll 8
      for (std::size_t v = 0; v < NV; ++v) t.acc[r][v] = vector_fma(ar, bv[v], t.acc[r][v]);
    }
    a.next();
    b.next();
  }
}

// C = alpha * acc + beta * C on a whole tile at c (row stride ldc).
template <class T, std::size_t MR, std::size_t NV>
inline void store(const Tile<T, MR, NV>& t, T alpha, T beta, T* c, std::size_t ldc) {
  constexpr std::size_t W = Blocking<T>::W;
  const Batch<T> va(alpha), vb(beta);
#pragma GCC unroll 32
  for (std::size_t r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (std::size_t v = 0; v < NV; ++v) {
      T* cr = c + r * ldc + v * W;
      const Batch<T> x = va * t.acc[r][v];
      if (beta == T(0)) x.store_unaligned(cr);
      else vector_fma(vb, Batch<T>::load_unaligned(cr), x).store_unaligned(cr);
    }
}

// The same update on the top-left mr x nr corner of a tile (an edge of C), with exactly the arithmetic of
// store(): vectors wholly inside C are updated in place; the last, partial vector of a row is stored to
// a scratch vector and its lanes inside C are updated one by one with a scalar fma, which rounds as the
// vector fma does. (Copying C's lanes into the scratch vector and loading it whole stalls on
// store-to-load forwarding: with that copy and a full-width tile for the last 2 columns, 100 x 50 x 8
// took 1.3 us more than 100 x 48 x 8 on AMD EPYC, AVX2; with neither, 0.8 us more.) The
// loops have fixed length W, not std::copy_n: the library call that a short copy becomes would cost more
// than the tile's arithmetic (edge tiles are common: every product with m % MR or n % NR nonzero).
template <class T, std::size_t MR, std::size_t NV>
inline void store_edge(const Tile<T, MR, NV>& t, T alpha, T beta, T* c, std::size_t ldc, std::size_t mr,
                       std::size_t nr) {
  constexpr std::size_t W = Blocking<T>::W;
  const Batch<T> va(alpha), vb(beta);
  alignas(64) std::array<T, W> buf{};
  for (std::size_t r = 0; r < mr; ++r)
    for (std::size_t j = 0; j < nr; j += W) {
      T* cr = c + r * ldc + j;
      const Batch<T> x = va * t.acc[r][j / W];
      const std::size_t lanes = std::min(W, nr - j);
      if (lanes == W) {
        if (beta == T(0)) x.store_unaligned(cr);
        else vector_fma(vb, Batch<T>::load_unaligned(cr), x).store_unaligned(cr);
        continue;
      }
      x.store_aligned(buf.data());
      if (beta == T(0)) {
        for (std::size_t l = 0; l < W; ++l)
          if (l < lanes) cr[l] = buf[l];
      } else {
        for (std::size_t l = 0; l < W; ++l)
          if (l < lanes) cr[l] = lane_fma(beta, cr[l], buf[l]);
      }
    }
}

// One tile: accumulate over kc steps and update the mr x nr block of C at c.
// The tile's rows of C are prefetched first (both ends: a row of NR values may straddle two cache lines),
// so that their loads overlap the accumulation instead of stalling the store: +4-6 % on sgemm 1024^3
// (AMD EPYC Zen 3, 1 and 2 threads). Prefetching the A and B slivers ahead as well gained nothing.
// The tile has as many rows as the A view and is as many vectors wide as the B view; mr and nr <= those.
template <class T, class AView, class BView>
inline void micro_kernel(std::size_t kc, AView a, BView b, T alpha, T beta, T* c, std::size_t ldc, std::size_t mr,
                         std::size_t nr) {
  constexpr std::size_t MR = AView::rows, NV = BView::vectors;
  for (std::size_t r = 0; r < mr; ++r) {
    __builtin_prefetch(c + r * ldc, 1);
    __builtin_prefetch(c + r * ldc + nr - 1, 1);
  }
  Tile<T, MR, NV> t;
  accumulate(kc, a, b, t);
  if (mr == MR && nr == NV * Blocking<T>::W) store(t, alpha, beta, c, ldc);
  else store_edge(t, alpha, beta, c, ldc, mr, nr);
}

}  // namespace wgflow::gemm_detail
