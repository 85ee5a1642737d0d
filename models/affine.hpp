#pragma once
// The dense layer's pre-activation as one tape node: out = X W + 1 b, X is B x in, W in x out, b a
// 1 x out row broadcast over the B rows.
//
// Why fused rather than matmul(X, W) + b: one node instead of two, no B x out intermediate, and the
// bias gradient is a plain column sum instead of the generic broadcasting reducer. Dense layers run for
// every particle at every step, so the saving is paid back many times.
#include <string>

#include "autodiff/gemm.hpp"
#include "autodiff/tape.hpp"

namespace wgflow::models {

// With G = d out:  dX = G W^T,  dW = X^T G,  db = 1^T G (the column sums of G).
template <class T>
ad::Var<T> affine(const ad::Var<T>& X, const ad::Var<T>& W, const ad::Var<T>& b) {
  const std::size_t B = X.rows(), in = X.cols(), out_cols = W.cols();
  if (W.rows() != in || b.rows() != 1 || b.cols() != out_cols)
    throw ShapeError("affine: X is " + shape_string(X.shape()) + ", W is " + shape_string(W.shape()) + ", b is " +
                     shape_string(b.shape()) + "; expected X B x in, W in x out, b 1 x out");
  ad::Var<T> out = ad::make_output(ad::Shape{B, out_cols}, {X, W, b});
  T* o = out.data();
  const T* bias = b.data();
  for (std::size_t i = 0; i < B; ++i)
    for (std::size_t j = 0; j < out_cols; ++j) o[i * out_cols + j] = bias[j];
  ad::gemm<T>(false, false, B, out_cols, in, T(1), X.data(), in, W.data(), out_cols, T(1), o, out_cols);
  out.on_backward([X, W, b, out, B, in, out_cols] {
    const T* g = out.adj().data();
    if (X.needs_grad())
      ad::gemm<T>(false, true, B, in, out_cols, T(1), g, out_cols, W.data(), out_cols, T(1), X.adj().data(), in);
    if (W.needs_grad())
      ad::gemm<T>(true, false, in, out_cols, B, T(1), X.data(), in, g, out_cols, T(1), W.adj().data(), out_cols);
    if (b.needs_grad()) {
      T* db = b.adj().data();
      for (std::size_t i = 0; i < B; ++i)
        for (std::size_t j = 0; j < out_cols; ++j) db[j] += g[i * out_cols + j];
    }
  });
  return out;
}

}  // namespace wgflow::models
