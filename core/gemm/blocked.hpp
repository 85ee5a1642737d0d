#pragma once
// The blocked GEMM driver: the five loops of BLIS around the micro-kernel (see blocking.hpp), on packed
// operands, optionally spread over TBB threads.
//
// Parallel scheme: for each (NC, KC) step the B panel is packed once, by all threads, then the m x nc
// block of C is cut into a grid of tasks; each task packs its own A blocks and runs the macro-kernel on
// its part of C. Every C entry belongs to exactly one task, and its value does not depend on the grid
// (see micro_kernel.hpp), so any thread count gives bitwise identical results.
#include <algorithm>
#include <cstddef>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>

#include "blocking.hpp"
#include "micro_kernel.hpp"
#include "narrow.hpp"
#include "pack.hpp"
#include "product.hpp"
#include "scratch.hpp"

namespace wgflow::gemm_detail {

inline std::size_t ceil_div(std::size_t a, std::size_t b) { return (a + b - 1) / b; }

// The depth of the k blocks: as many as KC requires, of equal size, so that no block is a sliver with
// a poor ratio of FMAs to C updates. It depends on k alone: that is what makes results independent
// of the thread count.
template <class T>
std::size_t k_block(std::size_t k) {
  return ceil_div(k, ceil_div(k, Blocking<T>::KC));
}

// The panel's last sliver, when it is at most one vector wide, is packed one vector wide and computed
// on a narrower tile (a one-vector tile, or down the rows for a few columns: narrow.hpp); every entry
// keeps the tile's arithmetic, so the bits do not depend on the path.
template <class T>
constexpr bool narrow_sliver(std::size_t columns) {
  return columns <= Blocking<T>::W && Blocking<T>::NV > 1;
}

// C(0..mc-1, 0..nc-1) at c = alpha * (packed A block) (packed B slivers) + beta * C. With `upper`, the
// block's first entry is C(row0, col0) and tiles wholly below C's diagonal are skipped.
template <class T>
void macro_kernel(const T* pa, const T* pb, std::size_t mc, std::size_t nc, std::size_t kc, T alpha, T beta, T* c,
                  std::size_t ldc, bool upper = false, std::size_t row0 = 0, std::size_t col0 = 0) {
  constexpr std::size_t MR = Blocking<T>::MR, NR = Blocking<T>::NR;
  for (std::size_t j = 0; j < nc; j += NR) {
    const std::size_t nr = std::min(NR, nc - j);
    const bool narrow = narrow_sliver<T>(nr);
    for (std::size_t i = 0; i < mc; i += MR) {
      if (upper && row0 + i >= col0 + j + nr) break;  // this tile's first row is below its last column
      const std::size_t mr = std::min(MR, mc - i);
      T* ct = c + i * ldc + j;
      if (!narrow) micro_kernel(kc, PackedA<T>{pa + i * kc}, PackedB<T>{pb + j * kc}, alpha, beta, ct, ldc, mr, nr);
      else if (nr <= narrow_columns_max<T>) narrow_packed(kc, pa + i * kc, pb + j * kc, alpha, beta, ct, ldc, mr, nr);
      else micro_kernel(kc, PackedA<T>{pa + i * kc}, PackedB<T, 1>{pb + j * kc}, alpha, beta, ct, ldc, mr, nr);
    }
  }
}

// Rows i0..i1-1 and panel columns j0..j1-1 (j0 a multiple of NR) of C against the packed B panel pb,
// whose first column is column jc of C, for the k block starting at pc.
template <class T>
void panel_part(const Product<T>& pr, const T* pb, std::size_t jc, std::size_t pc, std::size_t kc, T beta,
                std::size_t i0, std::size_t i1, std::size_t j0, std::size_t j1) {
  constexpr std::size_t MC = Blocking<T>::MC;
  T* pa = thread_scratch<T>().a.get(MC * kc + narrow_padding<T>);
  for (std::size_t ic = i0; ic < i1; ic += MC) {
    if (pr.upper && ic >= jc + j1) break;  // the rest of the rows lie below this part's columns
    const std::size_t mc = std::min(MC, i1 - ic);
    pack_a(pr.a, ic, mc, pc, kc, pa);
    macro_kernel(pa, pb + j0 * kc, mc, j1 - j0, kc, pr.alpha, beta, pr.c + ic * pr.ldc + jc + j0, pr.ldc, pr.upper, ic,
                 jc + j0);
  }
}

// C = alpha op(A) op(B) + beta C on `threads` threads (1: the calling thread alone, no TBB).
template <class T>
void gemm_blocked(const Product<T>& pr, std::size_t threads) {
  constexpr std::size_t MR = Blocking<T>::MR, NR = Blocking<T>::NR, NC = Blocking<T>::NC;
  const std::size_t kb = k_block<T>(pr.k);
  AlignedBuffer<T>& panel = thread_scratch<T>().b;

  for (std::size_t jc = 0; jc < pr.n; jc += NC) {
    const std::size_t nc = std::min(NC, pr.n - jc), col_slivers = ceil_div(nc, NR);
    T* pb = panel.get(col_slivers * NR * kb);
    for (std::size_t pc = 0; pc < pr.k; pc += kb) {
      const std::size_t kc = std::min(kb, pr.k - pc);
      const T beta = pc == 0 ? pr.beta : T(1);  // later k blocks accumulate onto the first
      auto pack_panel = [&](std::size_t s0, std::size_t s1) {
        for (std::size_t s = s0; s < s1; ++s) {
          const std::size_t j = jc + s * NR, cols = std::min(NR, nc - s * NR);
          T* dst = pb + s * NR * kc;
          if (narrow_sliver<T>(cols)) pack_b_sliver<T, Blocking<T>::W>(pr.b, pc, kc, j, cols, dst);
          else pack_b_sliver(pr.b, pc, kc, j, cols, dst);
        }
      };
      if (threads == 1) {
        pack_panel(0, col_slivers);
        panel_part(pr, pb, jc, pc, kc, beta, 0, pr.m, 0, nc);
        continue;
      }
      tbb::this_task_arena::isolate([&] {
        tbb::parallel_for(tbb::blocked_range<std::size_t>(0, col_slivers, ceil_div(col_slivers, 4 * threads)),
                          [&](const tbb::blocked_range<std::size_t>& r) { pack_panel(r.begin(), r.end()); });
        // About four tasks per thread, so that a thread slowed by other work is made up for; rows are
        // split first (each column split repacks the A block).
        const std::size_t row_slivers = ceil_div(pr.m, MR), target = 4 * threads;
        const std::size_t rows = std::min(row_slivers, target);
        const std::size_t cols = std::min(col_slivers, ceil_div(target, rows));
        tbb::parallel_for(
            tbb::blocked_range<std::size_t>(0, rows * cols, 1),
            [&](const tbb::blocked_range<std::size_t>& r) {
              for (std::size_t t = r.begin(); t < r.end(); ++t) {
                const std::size_t ri = t / cols, ci = t % cols;
                const std::size_t i0 = ri * row_slivers / rows * MR, i1 = std::min(pr.m, (ri + 1) * row_slivers / rows * MR);
                const std::size_t j0 = ci * col_slivers / cols * NR, j1 = std::min(nc, (ci + 1) * col_slivers / cols * NR);
                panel_part(pr, pb, jc, pc, kc, beta, i0, i1, j0, j1);
              }
            },
            tbb::simple_partitioner());
      });
    }
  }
}

}  // namespace wgflow::gemm_detail
