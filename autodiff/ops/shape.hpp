#pragma once
// Structural ops: they move entries around without arithmetic, so each backward routes the output
// adjoint back to where each entry came from (and adds, where one entry was used several times).
//
//   transpose(a)                 a^T
//   reshape(a, {r, c})           the same entries in row-major order, read as r x c
//   rows(a, b, e), cols(a, b, e) the half-open slices a[b:e, :] and a[:, b:e]
//   gather_rows(a, idx)          the rows a[idx[0]], a[idx[1]], ... (an index may repeat)
//   concat({a, b, ...}, axis)    stacked down the rows (axis 0) or side by side (axis 1)
//
// Values are row-major, so a block of whole rows is contiguous: rows, gather_rows and concat along
// axis 0 copy rows, and their backward adds rows, as contiguous vectorised 1-D or 2-D expressions.
#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <xtensor/xnoalias.hpp>
#include <xtensor/xview.hpp>

#include "reduce.hpp"
#include "../tape.hpp"

namespace wgflow::ad {

namespace detail {

// dst (cols x rows) = src^T, or += when Accumulate, for a row-major rows x cols src. Works in 32 x 32
// tiles so that the rows of dst being written stay in L1 while src is read row by row; a plain
// double loop (or xt::transpose, which walks dst with a stepper) misses the cache on every write
// once a row of dst exceeds a page: at 1000 x 1007 doubles the tiled loop assigns 2.6x and
// accumulates 15x faster than xt::transpose.
template <bool Accumulate, class T>
void transpose_into(const T* src, std::size_t rows, std::size_t cols, T* dst) {
  constexpr std::size_t tile = 32;
  for (std::size_t i0 = 0; i0 < rows; i0 += tile) {
    const std::size_t i1 = std::min(i0 + tile, rows);
    for (std::size_t j0 = 0; j0 < cols; j0 += tile) {
      const std::size_t j1 = std::min(j0 + tile, cols);
      for (std::size_t j = j0; j < j1; ++j)
        for (std::size_t i = i0; i < i1; ++i) {
          if constexpr (Accumulate) dst[j * rows + i] += src[i * cols + j];
          else dst[j * rows + i] = src[i * cols + j];
        }
    }
  }
}

// Appended piece by piece: GCC 12 reports a false -Wrestrict for "literal" + std::string&& (its bug 105329).
inline std::string slice_string(std::size_t begin, std::size_t end) {
  std::string s = "[";
  s.append(std::to_string(begin)).append(", ").append(std::to_string(end)).append(")");
  return s;
}

}  // namespace detail

// out = a^T;  da += g^T.
template <class T>
Var<T> transpose(const Var<T>& a) {
  Var<T> out = make_output(Shape{a.cols(), a.rows()}, {a});
  detail::transpose_into<false>(a.data(), a.rows(), a.cols(), out.data());
  out.on_backward([a, out] { detail::transpose_into<true>(out.adj().data(), out.rows(), out.cols(), a.adj().data()); });
  return out;
}

// out holds a's entries in row-major order with the given shape (the same count);
// da += g read back in a's shape.
template <class T>
Var<T> reshape(const Var<T>& a, const Shape& shape) {
  if (shape[0] * shape[1] != a.size())
    throw ShapeError("reshape: cannot reshape " + shape_string(a.shape()) + " (" + std::to_string(a.size()) +
                     " entries) to " + shape_string(shape) + " (" + std::to_string(shape[0] * shape[1]) + " entries)");
  Var<T> out = make_output(shape, {a});
  std::copy_n(a.data(), a.size(), out.data());
  out.on_backward([a, out] {
    xt::noalias(a.adj()) += detail::matrix_view(out.adj().data(), a.rows(), a.cols());
  });
  return out;
}

// out = a[begin:end, :];  da[begin:end, :] += g. The rows are one contiguous block.
template <class T>
Var<T> rows(const Var<T>& a, std::size_t begin, std::size_t end) {
  if (begin > end || end > a.rows())
    throw ShapeError("rows: slice " + detail::slice_string(begin, end) + " is out of range for a " +
                     shape_string(a.shape()) + " input (need begin <= end <= " + std::to_string(a.rows()) + ")");
  const std::size_t n = end - begin, cols = a.cols();
  Var<T> out = make_output(Shape{n, cols}, {a});
  std::copy_n(a.data() + begin * cols, n * cols, out.data());
  out.on_backward([a, out, begin, n, cols] {
    xt::noalias(detail::matrix_view(a.adj().data() + begin * cols, n, cols)) += out.adj();
  });
  return out;
}

// out = a[:, begin:end];  da[:, begin:end] += g.
template <class T>
Var<T> cols(const Var<T>& a, std::size_t begin, std::size_t end) {
  if (begin > end || end > a.cols())
    throw ShapeError("cols: slice " + detail::slice_string(begin, end) + " is out of range for a " +
                     shape_string(a.shape()) + " input (need begin <= end <= " + std::to_string(a.cols()) + ")");
  Var<T> out = make_output(Shape{a.rows(), end - begin}, {a});
  xt::noalias(out.val()) = xt::view(a.val(), xt::all(), xt::range(begin, end));
  out.on_backward([a, out, begin, end] {
    xt::noalias(xt::view(a.adj(), xt::all(), xt::range(begin, end))) += out.adj();
  });
  return out;
}

// out_k = a[idx_k] (row k of the output is row idx_k of a);  da[idx_k] += g_k for each k, so a row
// gathered several times receives the sum of the adjoints of its copies. The indices are copied
// into tape memory: the caller's span may not outlive the op, and a std::vector captured in the
// closure would heap-allocate on every training step.
template <class T>
Var<T> gather_rows(const Var<T>& a, std::span<const std::size_t> indices) {
  for (std::size_t k = 0; k < indices.size(); ++k)
    if (indices[k] >= a.rows())
      throw ShapeError("gather_rows: index " + std::to_string(indices[k]) + " (at position " + std::to_string(k) +
                       ") is out of range for a " + shape_string(a.shape()) + " input");
  const std::size_t n = indices.size(), cols = a.cols();
  Var<T> out = make_output(Shape{n, cols}, {a});
  for (std::size_t k = 0; k < n; ++k) std::copy_n(a.data() + indices[k] * cols, cols, out.data() + k * cols);
  if (!out.needs_grad()) return out;
  std::size_t* idx = a.tape().template allocate<std::size_t>(n);
  std::uninitialized_copy(indices.begin(), indices.end(), idx);
  out.on_backward([a, out, idx, n, cols] {
    T* da = a.adj().data();
    const T* g = out.adj().data();
    for (std::size_t k = 0; k < n; ++k)
      xt::noalias(detail::row_view(da, cols, idx[k])) += detail::row_view(g, cols, k);
  });
  return out;
}

// Axis 0 stacks the parts down the rows (they need equal column counts); axis 1 places them side by
// side (they need equal row counts). The backward hands each part its block of the output adjoint.
// The parts are copied into tape memory for the backward pass (Var is trivially copyable).
template <class T>
Var<T> concat(std::span<const Var<T>> parts, int axis) {
  if (parts.empty()) throw ShapeError("concat: no parts to concatenate");
  detail::check_axis("concat", axis, parts[0].shape());
  const std::size_t along = axis == 0 ? 0 : 1, across = 1 - along;
  Shape shape = parts[0].shape();
  shape[along] = 0;
  bool needs_grad = false;
  Tape<T>& tape = parts[0].tape();
  for (std::size_t p = 0; p < parts.size(); ++p) {
    const Var<T>& part = parts[p];
    if (&part.tape() != &tape) throw TapeError("concat: part " + std::to_string(p) + " is on a different tape than part 0");
    if (part.shape()[across] != shape[across])
      throw ShapeError("concat: along axis " + std::to_string(axis) + " every part needs " +
                       std::to_string(shape[across]) + (axis == 0 ? " columns" : " rows") + " (as part 0, " +
                       shape_string(parts[0].shape()) + "), but part " + std::to_string(p) + " is " +
                       shape_string(part.shape()));
    shape[along] += part.shape()[along];
    needs_grad = needs_grad || part.needs_grad();
  }
  Var<T> out = tape.make(shape, needs_grad);
  const std::size_t out_cols = shape[1];
  // Axis 0: part p is the contiguous block that starts at row `offset`. Axis 1: part p fills columns
  // [offset, offset + part.cols()) of every row.
  std::size_t offset = 0;
  for (const Var<T>& part : parts) {
    if (axis == 0) {
      std::copy_n(part.data(), part.size(), out.data() + offset * out_cols);
    } else {
      for (std::size_t i = 0; i < part.rows(); ++i)
        std::copy_n(part.data() + i * part.cols(), part.cols(), out.data() + i * out_cols + offset);
    }
    offset += part.shape()[along];
  }
  if (!needs_grad) return out;
  Var<T>* saved = tape.template allocate<Var<T>>(parts.size());
  std::uninitialized_copy(parts.begin(), parts.end(), saved);
  out.on_backward([out, saved, n_parts = parts.size(), axis, out_cols] {
    const T* g = out.adj().data();
    std::size_t offset = 0;
    for (std::size_t p = 0; p < n_parts; ++p) {
      const Var<T>& part = saved[p];
      if (part.needs_grad()) {
        if (axis == 0) {
          xt::noalias(part.adj()) += detail::matrix_view(g + offset * out_cols, part.rows(), part.cols());
        } else {
          T* dp = part.adj().data();
          for (std::size_t i = 0; i < part.rows(); ++i)
            xt::noalias(detail::row_view(dp, part.cols(), i)) +=
                detail::row_view(g + i * out_cols + offset, part.cols(), 0);
        }
      }
      offset += axis == 0 ? part.rows() : part.cols();
    }
  });
  return out;
}

template <class T>
Var<T> concat(std::initializer_list<Var<T>> parts, int axis) {
  return concat(std::span<const Var<T>>(parts.begin(), parts.size()), axis);
}

// A span does not take part in template argument deduction, so a vector of parts gets its own overload.
template <class T>
Var<T> concat(const std::vector<Var<T>>& parts, int axis) {
  return concat(std::span<const Var<T>>(parts), axis);
}

}  // namespace wgflow::ad
