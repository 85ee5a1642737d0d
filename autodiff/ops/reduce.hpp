#pragma once
// Reductions: sum and mean over every entry (a 1x1 result) or along one axis with keep-dims semantics
// (axis 0 sums down each column, giving 1 x cols; axis 1 sums along each row, giving rows x 1), so the
// result broadcasts back against its input.
//
// Performance note, which also shapes softmax.hpp and distance.hpp: xtensor 0.24 vectorises a 2-D
// expression in which a 1 x cols operand is broadcast down the rows, but one in which a rows x 1
// operand is broadcast across the columns falls back to a scalar stepper loop (about 5x slower at
// 1000 x 1000). Axis-0 ops are therefore written as 2-D expressions, and axis-1 ops as a loop over
// rows, each row a contiguous 1-D view combined with a scalar.
#include <array>
#include <cstddef>
#include <string>

#include <xtensor/xadapt.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xreducer.hpp>

#include "../tape.hpp"

namespace wgflow::ad {

namespace detail {

// Row i of a row-major buffer with `cols` columns, as a contiguous 1-D view.
template <class T>
auto row_view(T* data, std::size_t cols, std::size_t i) {
  return xt::adapt(data + i * cols, cols, xt::no_ownership(), std::array<std::size_t, 1>{cols});
}

// A rows x cols 2-D view of a row-major buffer (a block of whole rows, or a scratch buffer).
template <class T>
View<T> matrix_view(T* data, std::size_t rows, std::size_t cols) {
  return xt::adapt(static_cast<T*>(data), rows * cols, xt::no_ownership(), Shape{rows, cols});
}

inline void check_axis(const char* op, int axis, const Shape& shape) {
  if (axis != 0 && axis != 1)
    throw ShapeError(std::string(op) + ": axis " + std::to_string(axis) + " is invalid for a " + shape_string(shape) +
                     " input (a rank-2 value has axes 0 and 1)");
}

inline void check_not_empty(const char* op, const Shape& shape) {
  if (shape[0] == 0 || shape[1] == 0)
    throw ShapeError(std::string(op) + ": the input is empty (" + shape_string(shape) + ")");
}

// The shape of a keep-dims reduction of `shape` along `axis`.
inline Shape reduced_shape(const Shape& shape, int axis) {
  return axis == 0 ? Shape{1, shape[1]} : Shape{shape[0], 1};
}

}  // namespace detail

// s = sum_ij a_ij;  ds/da_ij = 1, so da += g (the 1x1 adjoint, broadcast).
template <class T>
Var<T> sum(const Var<T>& a) {
  Var<T> out = make_output(Shape{1, 1}, {a});
  out.data()[0] = xt::sum(a.val())();
  out.on_backward([a, out] { xt::noalias(a.adj()) += out.adj()(0, 0); });
  return out;
}

// Axis 0: s_j = sum_i a_ij, da_ij += g_j.   Axis 1: s_i = sum_j a_ij, da_ij += g_i.
template <class T>
Var<T> sum(const Var<T>& a, int axis) {
  detail::check_axis("sum", axis, a.shape());
  Var<T> out = make_output(detail::reduced_shape(a.shape(), axis), {a});
  const std::size_t rows = a.rows(), cols = a.cols();
  if (axis == 0) {
    xt::noalias(out.val()) = xt::sum(a.val(), {0}, xt::keep_dims);
  } else {
    for (std::size_t i = 0; i < rows; ++i) out.data()[i] = xt::sum(detail::row_view(a.data(), cols, i))();
  }
  out.on_backward([a, out, axis, rows, cols] {
    if (axis == 0) {
      xt::noalias(a.adj()) += out.adj();
    } else {
      T* da = a.adj().data();
      const T* g = out.adj().data();
      for (std::size_t i = 0; i < rows; ++i) xt::noalias(detail::row_view(da, cols, i)) += g[i];
    }
  });
  return out;
}

// m = sum(a) / n with n = rows x cols;  da += g / n.
template <class T>
Var<T> mean(const Var<T>& a) {
  detail::check_not_empty("mean", a.shape());
  Var<T> out = make_output(Shape{1, 1}, {a});
  const T inv_n = T(1) / static_cast<T>(a.size());
  out.data()[0] = xt::sum(a.val())() * inv_n;
  out.on_backward([a, out, inv_n] { xt::noalias(a.adj()) += out.adj()(0, 0) * inv_n; });
  return out;
}

// Axis 0: m_j = sum_i a_ij / rows, da_ij += g_j / rows.   Axis 1: m_i = sum_j a_ij / cols, da_ij += g_i / cols.
template <class T>
Var<T> mean(const Var<T>& a, int axis) {
  detail::check_axis("mean", axis, a.shape());
  detail::check_not_empty("mean", a.shape());
  Var<T> out = make_output(detail::reduced_shape(a.shape(), axis), {a});
  const std::size_t rows = a.rows(), cols = a.cols();
  const T inv_n = T(1) / static_cast<T>(axis == 0 ? rows : cols);
  if (axis == 0) {
    xt::noalias(out.val()) = xt::sum(a.val(), {0}, xt::keep_dims) * inv_n;
  } else {
    for (std::size_t i = 0; i < rows; ++i) out.data()[i] = xt::sum(detail::row_view(a.data(), cols, i))() * inv_n;
  }
  out.on_backward([a, out, axis, rows, cols, inv_n] {
    if (axis == 0) {
      xt::noalias(a.adj()) += out.adj() * inv_n;
    } else {
      T* da = a.adj().data();
      const T* g = out.adj().data();
      for (std::size_t i = 0; i < rows; ++i) xt::noalias(detail::row_view(da, cols, i)) += g[i] * inv_n;
    }
  });
  return out;
}

}  // namespace wgflow::ad
