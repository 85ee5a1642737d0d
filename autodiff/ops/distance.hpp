#pragma once
// Pairwise squared Euclidean distances between the rows of two point sets: the kernel-matrix
// workhorse of the particle flows (x = y = the N particles, N ~ 1000).
//
//   sq_dist(x, y)_ij = ||x_i - y_j||^2,   x: N x D, y: M x D, result N x M.
//
// Forward: ||x_i||^2 + ||y_j||^2 - 2 x_i . y_j, the cross term as one GEMM -2 x y^T (the kernel that
// matmul(x, y, Trans::no, Trans::yes) runs, with y^T read in place), so the cost is that of one
// N x M x D matrix product rather than N M D scalar differences. The expansion cancels when x_i ~ y_j
// and can round to a tiny negative number; it is clamped at 0 (the exact value is >= 0).
//
// Backward, with G = d out (N x M), r = G 1 (row sums) and c = G^T 1 (column sums):
//   d/dx_i sum_j G_ij ||x_i - y_j||^2 = 2 sum_j G_ij (x_i - y_j)   =>  dx = 2 (diag(r) x - G y),
//   d/dy_j sum_i G_ij ||x_i - y_j||^2 = 2 sum_i G_ij (y_j - x_i)   =>  dy = 2 (diag(c) y - G^T x),
// each one row scaling plus one GEMM. This is the gradient of the exact distance, which is smooth
// (zero at x_i = y_j, where the clamp acts), so the clamp, a correction of round-off only, has no
// backward. sq_dist(x, x) is fine: both terms accumulate into x's adjoint.
#include <cstddef>
#include <string>

#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xreducer.hpp>

#include "../../core/gemm.hpp"
#include "reduce.hpp"
#include "../tape.hpp"

namespace wgflow::ad {

template <class T>
Var<T> sq_dist(const Var<T>& x, const Var<T>& y) {
  if (x.cols() != y.cols())
    throw ShapeError("sq_dist: x is " + shape_string(x.shape()) + " and y is " + shape_string(y.shape()) +
                     "; both need the same number of columns (the dimension of the points)");
  const std::size_t n = x.rows(), m = y.rows(), d = x.cols();
  Var<T> out = make_output(Shape{n, m}, {x, y});
  // n + m entries of scratch: the squared norms of x's and y's rows in the forward pass, the row and
  // column sums of G in the backward pass.
  T* scratch = x.tape().template allocate<T>(n + m);
  T* x_norms = scratch;
  T* y_norms = scratch + n;
  for (std::size_t i = 0; i < n; ++i) x_norms[i] = xt::sum(xt::square(detail::row_view(x.data(), d, i)))();
  for (std::size_t j = 0; j < m; ++j) y_norms[j] = xt::sum(xt::square(detail::row_view(y.data(), d, j)))();
  gemm<T>(false, true, n, m, d, T(-2), x.data(), d, y.data(), d, T(0), out.data(), m);
  const auto y_norm_row = detail::row_view(y_norms, m, 0);
  for (std::size_t i = 0; i < n; ++i) {
    auto row = detail::row_view(out.data(), m, i);
    xt::noalias(row) = xt::fmax(row + (y_norm_row + x_norms[i]), T(0));
  }
  out.on_backward([x, y, out, scratch, n, m, d] {
    const T* g = out.adj().data();
    if (x.needs_grad()) {
      T* dx = x.adj().data();
      for (std::size_t i = 0; i < n; ++i) {
        const T r = xt::sum(detail::row_view(g, m, i))();
        xt::noalias(detail::row_view(dx, d, i)) += (T(2) * r) * detail::row_view(x.data(), d, i);
      }
      gemm<T>(false, false, n, d, m, T(-2), g, m, y.data(), d, T(1), dx, d);
    }
    if (y.needs_grad()) {
      T* dy = y.adj().data();
      View<T> c = detail::matrix_view(scratch, 1, m);
      xt::noalias(c) = xt::sum(out.adj(), {0}, xt::keep_dims);
      for (std::size_t j = 0; j < m; ++j)
        xt::noalias(detail::row_view(dy, d, j)) += (T(2) * scratch[j]) * detail::row_view(y.data(), d, j);
      gemm<T>(true, false, m, d, n, T(-2), g, m, x.data(), d, T(1), dy, d);
    }
  });
  return out;
}

}  // namespace wgflow::ad
