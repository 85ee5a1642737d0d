#pragma once
// Matrix product with optionally transposed operands: out = op(a) op(b), op(x) = x or x^T.
// A transposed operand is read in place by the GEMM kernel, never materialised.
#include <string>

#include "../../core/gemm.hpp"
#include "../tape.hpp"

namespace wgflow::ad {

enum class Trans : bool { no = false, yes = true };

// With G = d out, C = op(a) op(b):
//   d op(a) = G op(b)^T   so  da = G op(b)^T  (a not transposed)  or  op(b) G^T  (a transposed);
//   d op(b) = op(a)^T G   so  db = op(a)^T G  (b not transposed)  or  G^T op(a)  (b transposed).
template <class T>
Var<T> matmul(const Var<T>& a, const Var<T>& b, Trans ta = Trans::no, Trans tb = Trans::no) {
  const bool at = ta == Trans::yes, bt = tb == Trans::yes;
  const std::size_t m = at ? a.cols() : a.rows(), k = at ? a.rows() : a.cols();
  const std::size_t kb = bt ? b.cols() : b.rows(), n = bt ? b.rows() : b.cols();
  if (k != kb)
    throw ShapeError(std::string("matmul: inner dimensions differ: op(a) is ") + shape_string({m, k}) +
                     " (a is " + shape_string(a.shape()) + (at ? ", transposed" : "") + "), op(b) is " +
                     shape_string({kb, n}) + " (b is " + shape_string(b.shape()) + (bt ? ", transposed" : "") + ")");
  Var<T> out = make_output(Shape{m, n}, {a, b});
  gemm<T>(at, bt, m, n, k, T(1), a.data(), a.cols(), b.data(), b.cols(), T(0), out.data(), n);
  out.on_backward([a, b, out, at, bt, m, n, k] {
    const T* g = out.adj().data();
    if (a.needs_grad()) {
      T* da = a.adj().data();
      if (!at) gemm<T>(false, !bt, m, k, n, T(1), g, n, b.data(), b.cols(), T(1), da, a.cols());
      else gemm<T>(bt, true, k, m, n, T(1), b.data(), b.cols(), g, n, T(1), da, a.cols());
    }
    if (b.needs_grad()) {
      T* db = b.adj().data();
      if (!bt) gemm<T>(!at, false, k, n, m, T(1), a.data(), a.cols(), g, n, T(1), db, b.cols());
      else gemm<T>(true, at, n, k, m, T(1), g, n, a.data(), a.cols(), T(1), db, b.cols());
    }
  });
  return out;
}

}  // namespace wgflow::ad
