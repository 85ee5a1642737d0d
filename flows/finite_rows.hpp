#pragma once
// Divergence checks by rows: which particle (row) of a matrix first holds a NaN or an infinity, found
// without slowing a healthy step, and reported the same way whatever the thread count.
//
//   require_finite_rows   one matrix, checked after the fact (a term's intermediate results)
//   RowFaults             the integrator's per-particle passes: each row is checked in the same
//                         vectorised pass that sums or updates it, and the first fault is reported in a
//                         fixed order (source, then row) after the parallel pass
//
// Messages read "<flow>: step t, particle i: <what> is not finite (coordinate j = v)".
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/errors.hpp"
#include "../core/tensor.hpp"

namespace wgflow::flows {

// Throws wgflow::Error if x (rows x cols, row-major) holds a NaN or an infinity. `row_name` names a row
// ("particle", "member"); describe() returns the pair {who, quantity at fault} and is called only on
// failure, so that a healthy step builds no string (steady-state steps allocate nothing). Row i is
// reported as first_row + i (a rank's rows of a flow over ranks).
template <class T, class Describe>
void require_finite_rows(const Tensor<T>& x, std::uint64_t step, const char* row_name, const Describe& describe,
                         std::size_t first_row = 0) {
  const std::size_t rows = x.shape()[0], cols = x.shape()[1];
  const T* p = x.data();
  T sum = 0;  // one branch-free pass: a NaN or an infinity anywhere makes the sum non-finite
  for (std::size_t k = 0; k < rows * cols; ++k) sum += p[k] * T(0);
  if (std::isfinite(sum)) return;
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j)
      if (!std::isfinite(p[i * cols + j])) {
        const auto [who, what] = describe();
        std::ostringstream msg;
        msg << who << ": step " << step << ", " << row_name << " " << first_row + i << ": " << what
            << " is not finite (coordinate " << j << " = " << p[i * cols + j] << ")";
        throw Error(msg.str());
      }
}

// Per row, written by the one task that owns the row: the first non-finite entry met and the source
// (a term's index) that produced it, and the source with the largest entry, for the message when a
// finite gradient still overflows the update.
template <class T>
class RowFaults {
 public:
  struct Fault {
    std::size_t row, column, source;
    T value;
  };

  void reset(std::size_t rows) {
    column_.assign(rows, none);
    source_.assign(rows, 0);
    value_.resize(rows);
    largest_.assign(rows, T(0));
    largest_source_.assign(rows, 0);
  }

  // d = (first ? 0 : d) + e over n entries, noting in row i a fault of `source` or its largest entry:
  // one pass (the magnitudes' maximum as integers vectorises where a NaN-aware float maximum does not).
  void accumulate(std::size_t i, std::size_t source, T* d, const T* e, std::size_t n, bool first) {
    record(i, source, e, n, first ? accumulate_into<true>(d, e, n) : accumulate_into<false>(d, e, n));
  }
  // For a source that added itself to row i in a pass of its own (PointwiseTerm::add_row_gradient):
  // `largest`, the largest |entry| it added, finite. A source that added a non-finite entry is noted
  // by check() on its entries instead.
  void added(std::size_t i, std::size_t source, T largest) {
    if (largest > largest_[i]) largest_[i] = largest, largest_source_[i] = source;
  }
  // The same for a source taken as it is, e the sum itself: only read.
  void examine(std::size_t i, std::size_t source, const T* e, std::size_t n) {
    Bits top = 0;
    for (std::size_t j = 0; j < n; ++j) top = widest(top, e[j]);
    record(i, source, e, n, top);
  }

  // Notes a fault of `source` in row i if x (n entries) is not finite.
  void check(std::size_t i, std::size_t source, const T* x, std::size_t n) {
    Bits top = 0;
    for (std::size_t j = 0; j < n; ++j) top = widest(top, x[j]);
    checked(i, source, x, n, top);
  }

  // The same for a pass that writes x itself, without reading it again: top = widest(top, v) for each
  // value v it writes (top starting at 0), then checked(i, source, x, n, top).
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  static Bits widest(Bits top, T v) { return std::max(top, magnitude_bits(v)); }
  void checked(std::size_t i, std::size_t source, const T* x, std::size_t n, Bits top) {
    if (top >= infinity_bits) note(i, source, x, n);
  }

  // The fault of the lowest source, and within it of the lowest row: the same whatever the threads did.
  std::optional<Fault> first() const {
    std::optional<Fault> best;
    for (std::size_t i = 0; i < column_.size(); ++i)
      if (column_[i] != none && (!best || source_[i] < best->source)) best = Fault{i, column_[i], source_[i], value_[i]};
    return best;
  }

  // The largest |entry| row i received from a source, and which source.
  T largest(std::size_t i) const { return largest_[i]; }
  std::size_t largest_source(std::size_t i) const { return largest_source_[i]; }

 private:
  static constexpr std::size_t none = static_cast<std::size_t>(-1);

  // |x| as an unsigned integer of T's width: ordered like |x| for finite x, and at least infinity_bits
  // exactly when x is infinite or NaN.
  static constexpr Bits infinity_bits = std::bit_cast<Bits>(std::numeric_limits<T>::infinity());
  static Bits magnitude_bits(T x) { return std::bit_cast<Bits>(x) & (~Bits(0) >> 1); }

  void record(std::size_t i, std::size_t source, const T* e, std::size_t n, Bits top) {
    if (top >= infinity_bits) {
      note(i, source, e, n);
    } else {
      added(i, source, std::bit_cast<T>(top));
    }
  }

  template <bool first>
  static Bits accumulate_into(T* d, const T* e, std::size_t n) {
    Bits top = 0;
    for (std::size_t j = 0; j < n; ++j) {
      top = widest(top, e[j]);
      d[j] = (first ? T(0) : d[j]) + e[j];
    }
    return top;
  }

  // Keeps a row's first fault only: a later source's cannot be the one to report.
  void note(std::size_t i, std::size_t source, const T* x, std::size_t n) {
    if (column_[i] != none) return;
    for (std::size_t j = 0; j < n; ++j)
      if (!std::isfinite(x[j])) {
        column_[i] = j, source_[i] = source, value_[i] = x[j];
        return;
      }
  }

  std::vector<std::size_t> column_, source_, largest_source_;
  std::vector<T> value_, largest_;
};

}  // namespace wgflow::flows
