#pragma once
// Squared distances between point sets, as one matrix: the input of every radial kernel.
//
// Convention. Points are the rows of X (N x D) and Y (M x D). The squared distance is
//   d^2(x, y) = c ||x - y||^2,   c = 1 (DistanceConvention::sum) or c = 1 / D (DistanceConvention::mean).
// `sum` is the textbook choice (SVGD, Liu & Wang 2016). `mean` is what the reference code of Wild et al.
// uses (paper.md §6): the mean of squared coordinate differences, in parameter space ||theta - theta'||^2 / J
// and in function space the average over kernel inputs and outputs. The convention only rescales the
// bandwidth, but the paper's bandwidths (e.g. h = 1 for the double well, 0.1 for "sin") refer to `mean`.
//
// Algorithm. For points shifted by a common centre m, u_i = x_i - m and v_j = y_j - m,
//   d^2(x_i, y_j) = c |u_i|^2 + c |v_j|^2 - 2c u_i . v_j,
// so the whole matrix is one GEMM (N M D multiply-adds) instead of a loop over pairs: N = 1000 particles
// with D = 500 parameters cost one 1000 x 1000 x 500 product, and half of that within one set, whose
// distances are symmetric (pairwise_squared_distances). The expansion cancels catastrophically when the
// points lie far from the origin compared with their separations (particles spread around theta ~ 1000 pi
// in the "sin" experiment); shifting both sets by the mean m of the first leaves every distance unchanged
// and removes the cancellation. Rounding can still make an entry slightly negative; entries are clamped
// at 0.
//
// A shifted set is a value, CentredPoints: the centre m, the rows u_i, their squared norms c |u_i|^2 and
// c, made by one function and read both by the distances and by the kernels' gradient sums
// (flows/kernels.hpp), which need the same u_i:
//
//   const CentredPoints<double> x = centred(X, DistanceConvention::mean);  // X about its mean row
//   const CentredPoints<double> y = centred_like(Y, x);                    // Y about the same centre
//   Tensor<double> D;
//   squared_distances_into(x, y, D);        // d^2(x_i, y_j), N x M
//   pairwise_squared_distances_into(x, D);  // d^2(x_i, x_j), N x N, exactly symmetric
//
// Split by rows (a flow over ranks, each computing its own particles' rows against all N), the _rows
// forms compute rows [rows.begin, rows.end) of the same matrices, bit for bit the whole matrix's rows:
//   squared_distance_rows_into(x, rows, y, D);    // rows.size() x M
//   pairwise_squared_distance_rows_into(x, rows, D);  // rows.size() x N
//
// A caller that does this every step keeps its CentredPoints and matrices and refills them with
// centre_into, centre_like_into and the _into forms, which resize only when a shape changes (steady-state
// steps allocate nothing). squared_distances(X, Y, convention) and pairwise_squared_distances(X,
// convention) do it all at once, for points as they are.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "../core/buffer_sums.hpp"
#include "../core/errors.hpp"
#include "../core/gemm.hpp"
#include "../core/gemm/transpose.hpp"
#include "../core/parallel.hpp"
#include "../core/row_block.hpp"
#include "../core/tensor.hpp"

namespace wgflow::flows {

enum class DistanceConvention {
  sum,   // ||x - y||^2
  mean,  // ||x - y||^2 / D, the reference code's convention (paper.md §6)
};

// The factor c in d^2 = c ||x - y||^2 for points of dimension `dim`.
template <class T>
T distance_scale(DistanceConvention convention, std::size_t dim) {
  if (convention == DistanceConvention::sum || dim == 0) return T(1);
  return T(1) / static_cast<T>(dim);
}

inline std::string to_string(DistanceConvention convention) {
  return convention == DistanceConvention::sum ? "sum of squares" : "mean of squares";
}

template <class T>
class CentredPoints;

// Fills `out` with the rows of X about X's own mean row (the origin for an empty X), in `convention`.
template <class T>
void centre_into(const Tensor<T>& X, DistanceConvention convention, CentredPoints<T>& out);

// Fills `out` with the rows of Y about the centre of `reference`, in its convention: the second operand
// of squared_distances_into and add_kernel_gradient_sums. `out` must be another object than `reference`.
template <class T>
void centre_like_into(const Tensor<T>& Y, const CentredPoints<T>& reference, CentredPoints<T>& out);

// A point set shifted by a centre m: the rows u_i = x_i - m, their squared norms c |u_i|^2 and the
// distance scale c. Only the functions above fill one, so the four always belong together; two sets are
// compared (distances, kernel gradient sums) only when they share their centre and scale, in_frame_of().
template <class T>
class CentredPoints {
 public:
  CentredPoints() = default;  // no points, of dimension 0

  std::size_t size() const { return rows_.shape()[0]; }
  std::size_t dim() const { return rows_.shape()[1]; }
  const Tensor<T>& centre() const { return centre_; }             // 1 x D: m
  const Tensor<T>& rows() const { return rows_; }                 // N x D: u_i = x_i - m
  const std::vector<T>& squared_norms() const { return norms_; }  // N: c |u_i|^2
  T scale() const { return scale_; }                              // c

  // Whether this set has the centre of `other`, bit for bit, and its scale.
  bool in_frame_of(const CentredPoints& other) const {
    return scale_ == other.scale_ && centre_.size() == other.centre_.size() &&
           std::memcmp(centre_.data(), other.centre_.data(), centre_.size() * sizeof(T)) == 0;
  }

 private:
  friend void centre_into<T>(const Tensor<T>&, DistanceConvention, CentredPoints&);
  friend void centre_like_into<T>(const Tensor<T>&, const CentredPoints&, CentredPoints&);

  // rows_ = X - centre_ and norms_ = scale_ |rows_|^2, for centre_ and scale_ already set.
  void shift(const Tensor<T>& X);

  Tensor<T> centre_ = Tensor<T>::from_shape({1, 0});
  Tensor<T> rows_ = Tensor<T>::from_shape({0, 0});
  std::vector<T> norms_;
  T scale_ = T(1);
};

namespace detail {

// Resizes a matrix only when its shape differs (xtensor's resize keeps the buffer otherwise).
template <class T>
void ensure_shape(Tensor<T>& A, std::size_t rows, std::size_t cols) {
  if (A.shape()[0] != rows || A.shape()[1] != cols) A.resize({rows, cols});
}

template <class T>
void check_same_dimension(const char* who, const Tensor<T>& X, const Tensor<T>& Y) {
  if (X.shape()[1] != Y.shape()[1])
    throw ShapeError(std::string(who) + ": point sets of different dimension: X is " +
                     shape_string({X.shape()[0], X.shape()[1]}) + ", Y is " +
                     shape_string({Y.shape()[0], Y.shape()[1]}) + " (points are rows)");
}

// The identity the expansions rely on: both sets shifted by one centre, in one convention.
template <class T>
void check_same_frame(const char* who, const CentredPoints<T>& x, const CentredPoints<T>& y) {
  check_same_dimension(who, x.rows(), y.rows());
  if (!y.in_frame_of(x))
    throw Error(std::string(who) + ": the two point sets are centred differently; centre the second with "
                "centre_like_into(Y, first, out) so that it shares the first's centre and convention");
}

// Rows of a point set, as the _rows functions take them.
template <class T>
void check_rows(const char* who, const CentredPoints<T>& x, RowBlock rows) {
  if (rows.begin > rows.end || rows.end > x.size())
    throw ShapeError(std::string(who) + ": rows " + std::to_string(rows.begin) + " .. " + std::to_string(rows.end) +
                     " of " + std::to_string(x.size()) + " points");
}

// The passes over N x D and N x N matrices below run in parallel pieces of rows (or columns) when the
// matrix is large (core/parallel.hpp's for_each_piece): with N = 1000 particles they are a tenth of an
// interaction step, and serial they would hold a second thread idle.

// centre = the mean row of X (the origin for an empty X): column sums (wgflow::add_column_sums), then
// one division, in pieces of columns.
template <class T>
void mean_row_into(const Tensor<T>& X, Tensor<T>& centre) {
  const std::size_t n = X.shape()[0], d = X.shape()[1];
  ensure_shape(centre, 1, d);
  T* c = centre.data();
  std::fill_n(c, d, T(0));
  if (n == 0) return;
  const T count = static_cast<T>(n);
  for_each_piece(d, n * d, [&](std::size_t k0, std::size_t k1) {
    wgflow::add_column_sums(X.data() + k0, n, k1 - k0, d, c + k0);
    for (std::size_t k = k0; k < k1; ++k) c[k] /= count;
  });
}

}  // namespace detail

template <class T>
void CentredPoints<T>::shift(const Tensor<T>& X) {
  const std::size_t n = X.shape()[0], d = X.shape()[1];
  detail::ensure_shape(rows_, n, d);
  norms_.resize(n);
  const T* m = centre_.data();
  using Batch = xsimd::batch<T>;
  constexpr std::size_t W = Batch::size;
  for_each_piece(n, n * d, [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      const T* x = X.data() + i * d;
      T* u = rows_.data() + i * d;
      // In row_sum's vectors: GCC wrote a plain loop in 256-bit halves, and each of row_sum's 512-bit loads
      // then waited for the two stores it spans (no store forwarding): a DRLE step at N = 5 spent 13 % here.
      std::size_t k = 0;
      for (; k + W <= d; k += W) (Batch::load_unaligned(x + k) - Batch::load_unaligned(m + k)).store_unaligned(u + k);
      for (; k < d; ++k) u[k] = x[k] - m[k];
      // In SIMD (wgflow::row_sum): xtensor's axis-1 reducer is a scalar stepper loop, several times slower.
      norms_[i] = scale_ * wgflow::row_sum(u, d, [](auto v) { return v * v; });
    }
  });
}

template <class T>
void centre_into(const Tensor<T>& X, DistanceConvention convention, CentredPoints<T>& out) {
  out.scale_ = distance_scale<T>(convention, X.shape()[1]);
  detail::mean_row_into(X, out.centre_);
  out.shift(X);
}

template <class T>
void centre_like_into(const Tensor<T>& Y, const CentredPoints<T>& reference, CentredPoints<T>& out) {
  if (&out == &reference) throw Error("centre_like_into: `out` is the reference set itself");
  detail::check_same_dimension("centre_like_into", reference.rows(), Y);
  out.scale_ = reference.scale_;
  detail::ensure_shape(out.centre_, 1, reference.dim());
  std::copy(reference.centre_.begin(), reference.centre_.end(), out.centre_.begin());
  out.shift(Y);
}

// X about its own mean row.
template <class T>
CentredPoints<T> centred(const Tensor<T>& X, DistanceConvention convention) {
  CentredPoints<T> out;
  centre_into(X, convention, out);
  return out;
}

// Y about the centre of `reference`.
template <class T>
CentredPoints<T> centred_like(const Tensor<T>& Y, const CentredPoints<T>& reference) {
  CentredPoints<T> out;
  centre_like_into(Y, reference, out);
  return out;
}

// D(i, j) = d^2(x_i, y_j) = max(0, (c |u_i|^2 + c |v_j|^2) - 2c u_i . v_j) for y centred like x; D is
// resized to N x M only when its shape changes.
template <class T>
void squared_distance_rows_into(const CentredPoints<T>& x, RowBlock rows, const CentredPoints<T>& y, Tensor<T>& D);

template <class T>
void squared_distances_into(const CentredPoints<T>& x, const CentredPoints<T>& y, Tensor<T>& D) {
  squared_distance_rows_into(x, RowBlock::all(x.size()), y, D);
}

// Rows `rows` of squared_distances_into(x, y, D), bit for bit: D(r, j) = d^2(x_{rows.begin + r}, y_j),
// rows.size() x M.
template <class T>
void squared_distance_rows_into(const CentredPoints<T>& x, RowBlock rows, const CentredPoints<T>& y, Tensor<T>& D) {
  detail::check_same_frame("squared_distance_rows_into", x, y);
  detail::check_rows("squared_distance_rows_into", x, rows);
  const std::size_t n = rows.size(), m = y.size(), d = x.dim();
  detail::ensure_shape(D, n, m);
  if (n == 0 || m == 0) return;
  const T* x2 = x.squared_norms().data() + rows.begin;
  const std::vector<T>& y2 = y.squared_norms();
  T* p = D.data();
  wgflow::gemm_rows<T>(false, true, x.size(), m, d, rows.begin, n, T(-2) * x.scale(), x.rows().data() + rows.begin * d,
                       d, y.rows().data(), d, T(0), p, m);
  for_each_piece(n, n * m, [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      T* row = p + i * m;
      for (std::size_t j = 0; j < m; ++j) row[j] = std::max(T(0), (x2[i] + y2[j]) + row[j]);
    }
  });
}

// Rows `rows` of pairwise_squared_distances_into(x, D), bit for bit, rows.size() x N: the products are
// gemm's entries, which gemm_upper's equal, and the sums commute exactly, so an entry below the diagonal
// computed here is the mirrored one there. It costs the whole rows' multiply-adds (gemm_upper halves
// them for the whole matrix): what a rank computes for its own particles when the flow is split.
template <class T>
void pairwise_squared_distance_rows_into(const CentredPoints<T>& x, RowBlock rows, Tensor<T>& D) {
  detail::check_rows("pairwise_squared_distance_rows_into", x, rows);
  const std::size_t n = x.size(), r = rows.size(), d = x.dim();
  detail::ensure_shape(D, r, n);
  if (r == 0) return;
  const T* u = x.rows().data();
  const std::vector<T>& x2 = x.squared_norms();
  T* p = D.data();
  wgflow::gemm_rows<T>(false, true, n, n, d, rows.begin, r, T(-2) * x.scale(), u + rows.begin * d, d, u, d, T(0), p, n);
  for_each_piece(r, r * n, [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      const std::size_t g = rows.begin + i;  // the global row
      T* row = p + i * n;
      for (std::size_t j = 0; j < n; ++j) row[j] = j == g ? T(0) : std::max(T(0), (x2[g] + x2[j]) + row[j]);
    }
  });
}

// D(i, j) = d^2(x_i, x_j) within one set, N x N: exactly symmetric, with an exactly zero diagonal (so a
// symmetric kernel gives an exactly symmetric matrix). The product computes only the upper triangle
// (wgflow::gemm_upper: about half of the N^2 D multiply-adds); the lower one mirrors it. D is resized
// only when its shape changes.
template <class T>
void pairwise_squared_distances_into(const CentredPoints<T>& x, Tensor<T>& D) {
  const std::size_t n = x.size(), d = x.dim();
  detail::ensure_shape(D, n, n);
  if (n == 0) return;
  const T* u = x.rows().data();
  const std::vector<T>& x2 = x.squared_norms();
  T* p = D.data();
  wgflow::gemm_upper<T>(false, true, n, d, T(-2) * x.scale(), u, d, u, d, T(0), p, n);
  for_each_piece(n, n * n, [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      T* row = p + i * n;
      row[i] = T(0);  // rounding would leave ~eps |u_i|^2
      for (std::size_t j = i + 1; j < n; ++j) row[j] = std::max(T(0), (x2[i] + x2[j]) + row[j]);
    }
  });
  // The lower triangle, a block of piece_rows rows [i0, i1) at a time: it writes only its own rows and
  // reads the upper triangle, which the pass above has finished. Left of the block's diagonal it is a
  // transposed copy of the columns above (in vector blocks: element by element the column-wise reads made
  // the mirror 4.4 % of a DRLE step, N = 1000 float32, 1 thread); on the diagonal, which the copy would
  // overwrite as it reads, scalar.
  for_each_piece(n, n * n, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t i0 = r0; i0 < r1; i0 += piece_rows) {
      const std::size_t i1 = std::min(i0 + piece_rows, r1);
      gemm_detail::transpose_copy(p + i0, n, i0, i1 - i0, p + i0 * n, n);
      for (std::size_t i = i0; i < i1; ++i)
        for (std::size_t j = i0; j < i; ++j) p[i * n + j] = p[j * n + i];
    }
  });
}

// The N x M matrix of d^2(x_i, y_j) for points as they are.
template <class T>
Tensor<T> squared_distances(const Tensor<T>& X, const Tensor<T>& Y, DistanceConvention convention) {
  detail::check_same_dimension("squared_distances", X, Y);
  const CentredPoints<T> x = centred(X, convention);
  Tensor<T> D;
  squared_distances_into(x, centred_like(Y, x), D);
  return D;
}

// The N x N matrix of d^2(x_i, x_j) within one set of points as they are.
template <class T>
Tensor<T> pairwise_squared_distances(const Tensor<T>& X, DistanceConvention convention) {
  Tensor<T> D;
  pairwise_squared_distances_into(centred(X, convention), D);
  return D;
}

}  // namespace wgflow::flows
