#pragma once
// Which rows of N a rank owns: contiguous blocks in rank order, sizes differing by at most one, the first
// N mod R ranks one larger. The same N and R give the same blocks everywhere. Also the row range of a
// computation split by rows (core/gemm.hpp's gemm_rows, flows/squared_distance.hpp's _rows functions).
#include <cstddef>

namespace wgflow {

struct RowBlock {
  std::size_t begin = 0, end = 0;
  std::size_t size() const { return end - begin; }

  static RowBlock of(std::size_t n, int rank, int ranks) {
    const std::size_t r = static_cast<std::size_t>(rank), R = static_cast<std::size_t>(ranks);
    const std::size_t base = n / R, extra = n % R;
    const std::size_t begin = r * base + (r < extra ? r : extra);
    return {begin, begin + base + (r < extra ? 1 : 0)};
  }
  static RowBlock all(std::size_t n) { return {0, n}; }
  // The rank whose block holds row i < n.
  static int rank_of(std::size_t n, std::size_t i, int ranks) {
    const std::size_t R = static_cast<std::size_t>(ranks), base = n / R, extra = n % R, big = extra * (base + 1);
    return static_cast<int>(i < big ? i / (base + 1) : extra + (i - big) / base);
  }
};

}  // namespace wgflow
