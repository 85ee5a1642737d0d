#pragma once
// The softmax family, numerically stable for any finite input:
//
//   logsumexp(a)          log sum_ij exp(a_ij)                      (1x1)
//   logsumexp(a, axis)    log sum exp(a) along axis, keep-dims      (1 x cols for axis 0, rows x 1 for axis 1)
//   softmax(a, axis)      exp(a - logsumexp(a, axis))               (a's shape)
//   log_softmax(a, axis)  a - logsumexp(a, axis)                    (a's shape)
//
// Stability: log sum exp(a) = m + log sum exp(a - m) with m = max(a), so every exponent is <= 0 and
// the sum lies in [1, n]: nothing overflows for a = 1000 or underflows to log(0) for a = -1000. When
// m is infinite the shift is 0 instead (a - m would be inf - inf = nan), and the sum is exactly 0 or
// inf, so logsumexp returns -inf for an all -inf slice and +inf for a slice containing +inf.
//
// Layout (see reduce.hpp): exponentials are written into a buffer as a vectorised 1-D or row-
// broadcast 2-D expression and then summed; xt::sum(xt::exp(...)) would evaluate exp one scalar at a
// time (10x slower). Axis 1 runs row by row; axis 0 uses 2-D expressions with a 1 x cols operand.
// Scratch of one row (cols entries) comes from the tape, so a repeated step allocates nothing.
// Empty inputs are rejected: their max, and hence logsumexp, is undefined.
#include <cmath>
#include <cstddef>

#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xreducer.hpp>

#include "reduce.hpp"
#include "../tape.hpp"

namespace wgflow::ad {

namespace detail {

// The shift m of the stable sum: the max, or 0 when the max is infinite (see above).
template <class T>
T stable_shift(T max) {
  return std::isfinite(max) ? max : T(0);
}

// The per-column shifts of an axis-0 reduction, into the 1 x cols buffer m.
template <class T>
void column_shifts(const Var<T>& a, View<T> m) {
  xt::noalias(m) = xt::amax(a.val(), {0}, xt::keep_dims);
  for (T& v : m) v = stable_shift(v);
}

}  // namespace detail

// L = log sum_ij exp(a_ij);  dL/da_ij = exp(a_ij - L) = softmax(a)_ij, so da += g exp(a - L).
template <class T>
Var<T> logsumexp(const Var<T>& a) {
  detail::check_not_empty("logsumexp", a.shape());
  Var<T> out = make_output(Shape{1, 1}, {a});
  const std::size_t rows = a.rows(), cols = a.cols();
  auto e = detail::row_view(a.tape().template allocate<T>(cols), cols, 0);
  const T m = detail::stable_shift(xt::amax(a.val())());
  T s = 0;
  for (std::size_t i = 0; i < rows; ++i) {
    xt::noalias(e) = xt::exp(detail::row_view(a.data(), cols, i) - m);
    s += xt::sum(e)();
  }
  out.data()[0] = m + std::log(s);
  out.on_backward([a, out] {
    const T g = out.adj()(0, 0), lse = out.data()[0];
    xt::noalias(a.adj()) += g * xt::exp(a.val() - lse);
  });
  return out;
}

// Axis 1: L_i = log sum_j exp(a_ij), da_ij += g_i exp(a_ij - L_i).
// Axis 0: L_j = log sum_i exp(a_ij), da_ij += g_j exp(a_ij - L_j).
template <class T>
Var<T> logsumexp(const Var<T>& a, int axis) {
  detail::check_axis("logsumexp", axis, a.shape());
  detail::check_not_empty("logsumexp", a.shape());
  Var<T> out = make_output(detail::reduced_shape(a.shape(), axis), {a});
  const std::size_t rows = a.rows(), cols = a.cols();
  T* buffer = a.tape().template allocate<T>(cols);
  if (axis == 1) {
    auto e = detail::row_view(buffer, cols, 0);
    for (std::size_t i = 0; i < rows; ++i) {
      auto r = detail::row_view(a.data(), cols, i);
      const T m = detail::stable_shift(xt::amax(r)());
      xt::noalias(e) = xt::exp(r - m);
      out.data()[i] = m + std::log(xt::sum(e)());
    }
  } else {
    // out holds the shifts m_j while the buffer accumulates sum_i exp(a_ij - m_j).
    View<T> m = out.val();
    detail::column_shifts(a, m);
    auto s = detail::row_view(buffer, cols, 0);
    auto m_row = detail::row_view(out.data(), cols, 0);
    s.fill(T(0));
    for (std::size_t i = 0; i < rows; ++i) xt::noalias(s) += xt::exp(detail::row_view(a.data(), cols, i) - m_row);
    xt::noalias(m_row) += xt::log(s);
  }
  out.on_backward([a, out, axis, rows, cols] {
    if (axis == 1) {
      T* da = a.adj().data();
      const T* g = out.adj().data();
      const T* lse = out.data();
      for (std::size_t i = 0; i < rows; ++i)
        xt::noalias(detail::row_view(da, cols, i)) += g[i] * xt::exp(detail::row_view(a.data(), cols, i) - lse[i]);
    } else {
      xt::noalias(a.adj()) += out.adj() * xt::exp(a.val() - out.val());
    }
  });
  return out;
}

// y = exp(a - L) with L = logsumexp(a, axis). The Jacobian is dy_k/da_l = y_k (delta_kl - y_l) within
// each slice, so da = y * (g - sum(g * y, axis)).
template <class T>
Var<T> softmax(const Var<T>& a, int axis) {
  detail::check_axis("softmax", axis, a.shape());
  detail::check_not_empty("softmax", a.shape());
  Var<T> out = make_output(a.shape(), {a});
  const std::size_t rows = a.rows(), cols = a.cols();
  // Axis 0 needs a 1 x cols buffer: the shifts and sums in the forward pass, sum(g * y, 0) in the backward.
  T* buffer = axis == 0 ? a.tape().template allocate<T>(cols) : nullptr;
  if (axis == 1) {
    for (std::size_t i = 0; i < rows; ++i) {
      auto r = detail::row_view(a.data(), cols, i);
      auto y = detail::row_view(out.data(), cols, i);
      xt::noalias(y) = xt::exp(r - detail::stable_shift(xt::amax(r)()));
      xt::noalias(y) *= T(1) / xt::sum(y)();
    }
  } else {
    View<T> b = detail::matrix_view(buffer, 1, cols);
    detail::column_shifts(a, b);
    xt::noalias(out.val()) = xt::exp(a.val() - b);
    xt::noalias(b) = xt::sum(out.val(), {0}, xt::keep_dims);
    xt::noalias(out.val()) /= b;
  }
  out.on_backward([a, out, axis, rows, cols, buffer] {
    if (axis == 1) {
      T* da = a.adj().data();
      T* g = out.adj().data();
      for (std::size_t i = 0; i < rows; ++i) {
        auto gi = detail::row_view(g, cols, i);
        auto y = detail::row_view(out.data(), cols, i);
        const T gy = xt::sum(gi * y)();
        xt::noalias(detail::row_view(da, cols, i)) += y * (gi - gy);
      }
    } else {
      View<T> gy = detail::matrix_view(buffer, 1, cols);
      xt::noalias(gy) = xt::sum(out.adj() * out.val(), {0}, xt::keep_dims);
      xt::noalias(a.adj()) += out.val() * (out.adj() - gy);
    }
  });
  return out;
}

// z = a - L with L = logsumexp(a, axis). dz_k/da_l = delta_kl - softmax_l within each slice, so
// da = g - softmax(a) * sum(g, axis), with softmax(a) = exp(z).
template <class T>
Var<T> log_softmax(const Var<T>& a, int axis) {
  detail::check_axis("log_softmax", axis, a.shape());
  detail::check_not_empty("log_softmax", a.shape());
  Var<T> out = make_output(a.shape(), {a});
  const std::size_t rows = a.rows(), cols = a.cols();
  // Axis 0 needs a 1 x cols buffer: the column logsumexp in the forward pass, sum(g, 0) in the backward.
  T* buffer = axis == 0 ? a.tape().template allocate<T>(cols) : nullptr;
  if (axis == 1) {
    // The exponentials go into the output row first, then the row is overwritten with a - L.
    for (std::size_t i = 0; i < rows; ++i) {
      auto r = detail::row_view(a.data(), cols, i);
      auto z = detail::row_view(out.data(), cols, i);
      const T m = detail::stable_shift(xt::amax(r)());
      xt::noalias(z) = xt::exp(r - m);
      xt::noalias(z) = r - (m + std::log(xt::sum(z)()));
    }
  } else {
    View<T> lse = detail::matrix_view(buffer, 1, cols);
    detail::column_shifts(a, lse);
    xt::noalias(out.val()) = xt::exp(a.val() - lse);
    xt::noalias(lse) += xt::log(xt::sum(out.val(), {0}, xt::keep_dims));
    xt::noalias(out.val()) = a.val() - lse;
  }
  out.on_backward([a, out, axis, rows, cols, buffer] {
    if (axis == 1) {
      T* da = a.adj().data();
      T* g = out.adj().data();
      for (std::size_t i = 0; i < rows; ++i) {
        auto gi = detail::row_view(g, cols, i);
        const T s = xt::sum(gi)();
        xt::noalias(detail::row_view(da, cols, i)) += gi - xt::exp(detail::row_view(out.data(), cols, i)) * s;
      }
    } else {
      View<T> s = detail::matrix_view(buffer, 1, cols);
      xt::noalias(s) = xt::sum(out.adj(), {0}, xt::keep_dims);
      xt::noalias(a.adj()) += out.adj() - xt::exp(out.val()) * s;
    }
  });
  return out;
}

}  // namespace wgflow::ad
