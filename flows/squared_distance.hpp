#pragma once
// Squared distances between two sets of points, as one matrix: the input of every radial kernel.
//
// Convention. Points are the rows of X (N x D) and Y (M x D). The squared distance is
//   d^2(x, y) = c ||x - y||^2,   c = 1 (DistanceConvention::sum) or c = 1 / D (DistanceConvention::mean).
// `sum` is the textbook choice (SVGD, Liu & Wang 2016). `mean` is what the reference code of Wild et al.
// uses (paper.md §6): the mean of squared coordinate differences, in parameter space ||theta - theta'||^2 / J
// and in function space the average over kernel inputs and outputs. The convention only rescales the
// bandwidth, but the paper's bandwidths (e.g. h = 1 for the double well, 0.1 for "sin") refer to `mean`.
//
// Algorithm. D^2 = c (|x_i|^2 + |y_j|^2 - 2 x_i . y_j): one GEMM (N M D multiply-adds) instead of a loop
// over pairs, so N = 1000 particles with D = 500 parameters costs one 1000 x 1000 x 500 product (about
// half of it within one set, whose distances are symmetric: pairwise_squared_distances_into). The
// expansion cancels catastrophically when the points lie far from the origin compared with their
// separations (particles spread around theta ~ 1000 pi in the "sin" experiment), so both sets are first
// shifted by a common centre (the mean of X), which leaves every distance unchanged. Rounding can still
// make an entry slightly negative; entries are clamped at 0.
#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "core/buffer_sums.hpp"
#include "core/errors.hpp"
#include "core/gemm.hpp"
#include "core/tensor.hpp"
#include "core/parallel.hpp"

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

// Scratch space of the "_into" forms below and of add_gradient_sum (flows/kernels.hpp): the centre, the
// centred point sets and their squared norms. A caller that evaluates distances every step keeps one, so
// that steady-state steps allocate nothing (the buffers are resized only when the shapes change). After
// squared_distances_into(X, Y, ...), Xc and Yc are X and Y shifted by X's mean row; after
// pairwise_squared_distances_into(X, ...), Xc is (Yc is left alone): add_centred_gradient_sum's operands.
template <class T>
struct DistanceWorkspace {
  Tensor<T> centre;  // 1 x D
  Tensor<T> Xc, Yc;  // X and Y shifted by the centre
  std::vector<T> x2, y2;
};

namespace detail {

// Resizes a matrix only when its shape differs (xtensor's resize keeps the buffer otherwise).
template <class T>
void ensure_shape(Tensor<T>& A, std::size_t rows, std::size_t cols) {
  if (A.shape()[0] != rows || A.shape()[1] != cols) A.resize({rows, cols});
}

// The passes over N x D and N x N matrices below run in parallel pieces of rows (or columns) when the
// matrix is large (core/parallel.hpp's for_each_piece): with N = 1000 particles they are a tenth of an
// interaction step, and serial they would hold a second thread idle.

// The mean row of X (1 x D), the common centre by which both point sets are shifted, into `centre`.
// Column sums (wgflow::add_column_sums), then one division, in pieces of columns (in parallel when large).
template <class T>
void mean_row_into(const Tensor<T>& X, Tensor<T>& centre) {
  const std::size_t n = X.shape()[0], d = X.shape()[1];
  ensure_shape(centre, 1, d);
  T* c = centre.data();
  std::fill_n(c, d, T(0));
  // An empty set's centre is the origin.
  if (n == 0) return;
  const T count = static_cast<T>(n);
  for_each_piece(d, n * d, [&](std::size_t k0, std::size_t k1) {
    wgflow::add_column_sums(X.data() + k0, n, k1 - k0, d, c + k0);
    for (std::size_t k = k0; k < k1; ++k) c[k] /= count;
  });
}

template <class T>
Tensor<T> mean_row(const Tensor<T>& X) {
  Tensor<T> centre;
  mean_row_into(X, centre);
  return centre;
}

// out = X - centre (row-wise), out resized to X's shape.
template <class T>
void centred_into(const Tensor<T>& X, const Tensor<T>& centre, Tensor<T>& out) {
  const std::size_t n = X.shape()[0], d = X.shape()[1];
  ensure_shape(out, n, d);
  const T* c = centre.data();
  for_each_piece(n, n * d, [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      const T* row = X.data() + i * d;
      T* o = out.data() + i * d;
      for (std::size_t k = 0; k < d; ++k) o[k] = row[k] - c[k];
    }
  });
}

template <class T>
void check_same_dimension(const char* who, const Tensor<T>& X, const Tensor<T>& Y) {
  if (X.shape()[1] != Y.shape()[1])
    throw ShapeError(std::string(who) + ": point sets of different dimension: X is " +
                     shape_string({X.shape()[0], X.shape()[1]}) + ", Y is " +
                     shape_string({Y.shape()[0], Y.shape()[1]}) + " (points are rows)");
}

// out(i) = c |x_i|^2 for the rows x_i of X (xtensor's axis-1 reducer is a scalar stepper loop, several
// times slower: see autodiff/ops/reduce.hpp).
template <class T>
void scaled_squared_norms_into(const Tensor<T>& X, T c, std::vector<T>& out) {
  const std::size_t n = X.shape()[0], d = X.shape()[1];
  out.resize(n);
  for_each_piece(n, n * d, [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) out[i] = c * wgflow::row_sum(X.data() + i * d, d, [](auto v) { return v * v; });
  });
}

// D(i, j) = c (|x_i|^2 + |y_j|^2 - 2 x_i . y_j), clamped at 0, for already centred X and Y; D is
// resized to N x M, x2 and y2 hold the scaled squared norms.
template <class T>
void expanded_squared_distances_into(const Tensor<T>& X, const Tensor<T>& Y, T c, Tensor<T>& D, std::vector<T>& x2,
                                     std::vector<T>& y2) {
  const std::size_t n = X.shape()[0], m = Y.shape()[0], d = X.shape()[1];
  ensure_shape(D, n, m);
  if (n == 0 || m == 0) return;
  wgflow::gemm<T>(false, true, n, m, d, T(-2) * c, X.data(), d, Y.data(), d, T(0), D.data(), m);
  scaled_squared_norms_into(X, c, x2);
  scaled_squared_norms_into(Y, c, y2);
  for_each_piece(n, n * m, [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      T* row = D.data() + i * m;
      for (std::size_t j = 0; j < m; ++j) row[j] = std::max(T(0), (x2[i] + y2[j]) + row[j]);
    }
  });
}

template <class T>
Tensor<T> expanded_squared_distances(const Tensor<T>& X, const Tensor<T>& Y, T c) {
  Tensor<T> D;
  std::vector<T> x2, y2;
  expanded_squared_distances_into(X, Y, c, D, x2, y2);
  return D;
}

}  // namespace detail

// D = the N x M matrix of d^2(x_i, y_j); D is resized only when its shape changes.
template <class T>
void squared_distances_into(const Tensor<T>& X, const Tensor<T>& Y, DistanceConvention convention, Tensor<T>& D,
                            DistanceWorkspace<T>& ws) {
  detail::check_same_dimension("squared_distances", X, Y);
  if (X.shape()[0] == 0 || Y.shape()[0] == 0) {
    detail::ensure_shape(D, X.shape()[0], Y.shape()[0]);
    detail::ensure_shape(ws.Xc, X.shape()[0], X.shape()[1]);  // empty, and so correctly centred
    detail::ensure_shape(ws.Yc, Y.shape()[0], Y.shape()[1]);
    return;
  }
  detail::mean_row_into(X, ws.centre);
  detail::centred_into(X, ws.centre, ws.Xc);
  detail::centred_into(Y, ws.centre, ws.Yc);
  detail::expanded_squared_distances_into(ws.Xc, ws.Yc, distance_scale<T>(convention, X.shape()[1]), D, ws.x2, ws.y2);
}

// N x M matrix of d^2(x_i, y_j).
template <class T>
Tensor<T> squared_distances(const Tensor<T>& X, const Tensor<T>& Y, DistanceConvention convention) {
  Tensor<T> D;
  DistanceWorkspace<T> ws;
  squared_distances_into(X, Y, convention, D, ws);
  return D;
}

// D = the N x N matrix of d^2(x_i, x_j) within one set: exactly symmetric, with an exactly zero diagonal.
template <class T>
void pairwise_squared_distances_into(const Tensor<T>& X, DistanceConvention convention, Tensor<T>& D,
                                     DistanceWorkspace<T>& ws) {
  const std::size_t n = X.shape()[0], d = X.shape()[1];
  detail::ensure_shape(D, n, n);
  if (n == 0) {
    detail::ensure_shape(ws.Xc, 0, d);  // empty, and so correctly centred
    return;
  }
  detail::mean_row_into(X, ws.centre);
  detail::centred_into(X, ws.centre, ws.Xc);
  const T c = distance_scale<T>(convention, d);
  const T* x = ws.Xc.data();
  // Only the upper triangle is computed (wgflow::gemm_upper): about half of the N^2 D multiply-adds.
  wgflow::gemm_upper<T>(false, true, n, d, T(-2) * c, x, d, x, d, T(0), D.data(), n);
  std::vector<T>& x2 = ws.x2;
  detail::scaled_squared_norms_into(ws.Xc, c, x2);
  T* p = D.data();
  for_each_piece(n, n * n, [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      T* row = p + i * n;
      row[i] = T(0);  // rounding would leave ~eps |x_i|^2
      for (std::size_t j = i + 1; j < n; ++j) row[j] = std::max(T(0), (x2[i] + x2[j]) + row[j]);
    }
  });
  // The lower triangle mirrors the upper one (so symmetric kernels give symmetric matrices), tile by
  // tile so that the column-wise reads stay in cache; a piece of rows writes only its own rows, and
  // reads rows above it, which the pass above has finished.
  constexpr std::size_t tile = piece_rows;
  for_each_piece(n, n * n, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t i0 = r0; i0 < r1; i0 += tile)
      for (std::size_t j0 = 0; j0 <= i0; j0 += tile)
        for (std::size_t i = i0; i < std::min(i0 + tile, r1); ++i)
          for (std::size_t j = j0; j < std::min(j0 + tile, i); ++j) p[i * n + j] = p[j * n + i];
  });
}

// N x N matrix of d^2(x_i, x_j) within one set.
template <class T>
Tensor<T> pairwise_squared_distances(const Tensor<T>& X, DistanceConvention convention) {
  Tensor<T> D;
  DistanceWorkspace<T> ws;
  pairwise_squared_distances_into(X, convention, D, ws);
  return D;
}

}  // namespace wgflow::flows
