#pragma once
// A dense layer as one tape node: out = act(X W + 1 b), X is B x in, W in x out, b a 1 x out row
// broadcast over the B rows (or no bias).
//
// Why one node: dense layers run for every particle at every step, on small matrices where passes
// over memory cost as much as the products. Fused, the pre-activation X W + b has no node of its own
// (no B x out value and adjoint buffers, no zeroing of that adjoint before each backward), the
// bias and activation are applied in one pass over the product, and the backward forms
// P = d out * act'(out) in one pass for the products and the bias gradient. One DE step of 5 networks 8-50-1 went
// from 55.6 to 49.6 us in float32 and from 84.2 to 81.6 us in float64 (AMD EPYC Zen 3, AVX2, medians of 7
// alternating runs).
//
// The fusion covers the piecewise-linear activations (identity, relu, leaky relu with a slope >= 0),
// whose derivative is a select on the sign of the output: out > 0 exactly where X W + b > 0. The
// others (tanh, sigmoid, softplus) are applied as their own node (autodiff/ops/activations.hpp) after
// the affine one; the values and derivatives are the same either way, relu's conventions included
// (derivative 0 at the kink, NaN passed through).
#include <cstddef>
#include <string>

#include "../core/buffer_sums.hpp"
#include "../core/gemm.hpp"
#include "../autodiff/tape.hpp"
#include "activation.hpp"

namespace wgflow::models {

namespace dense_detail {

// The activations a dense node applies itself: piecewise-linear, so that act'(pre-activation) is a select
// on the sign of the output (models/dense_head.hpp fuses the same ones).
inline bool fusable(const Activation& act) {
  using Kind = Activation::Kind;
  return act.kind() == Kind::identity || act.kind() == Kind::relu ||
         (act.kind() == Kind::leaky_relu && act.slope() >= 0);
}

// o = f(o + 1 b) in place on a rows x cols matrix; o = f(o) without a bias row.
template <class T, class F>
void add_bias_and_apply(T* __restrict o, std::size_t rows, std::size_t cols, const T* __restrict bias, F f) {
  if (!bias) {
    for (std::size_t i = 0; i < rows * cols; ++i) o[i] = f(o[i]);
    return;
  }
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) o[i * cols + j] = f(o[i * cols + j] + bias[j]);
}

// With P = d out * act'(out):  dX = P W^T,  dW = X^T P,  db = 1^T P (the column sums of P).
template <class T>
ad::Var<T> node(const ad::Var<T>& X, const ad::Var<T>& W, const ad::Var<T>* b, const Activation& act) {
  const std::size_t B = X.rows(), in = X.cols(), n = W.cols();
  if (W.rows() != in || (b && (b->rows() != 1 || b->cols() != n)))
    throw ShapeError("dense: X is " + shape_string(X.shape()) + ", W is " + shape_string(W.shape()) +
                     (b ? ", b is " + shape_string(b->shape()) : std::string()) +
                     "; expected X B x in, W in x out" + (b ? ", b 1 x out" : ""));
  using Kind = Activation::Kind;
  if (!fusable(act)) return act(node(X, W, b, Activation::identity()));

  ad::Var<T> out = b ? ad::make_output(Shape{B, n}, {X, W, *b}) : ad::make_output(Shape{B, n}, {X, W});
  T* __restrict o = out.data();
  wgflow::gemm<T>(false, false, B, n, in, T(1), X.data(), in, W.data(), n, T(0), o, n);
  // Then bias and activation in one pass over the product (a bias copied into C first, for a beta = 1
  // product, would cost a pass of its own). The selects are those of ad::relu and ad::leaky_relu.
  const Kind kind = act.kind();
  const T slope = static_cast<T>(act.slope());
  const T* bias_row = b ? b->data() : nullptr;
  if (kind == Kind::relu)
    add_bias_and_apply(o, B, n, bias_row, [](T v) { return v < T(0) ? T(0) : v; });
  else if (kind == Kind::leaky_relu)
    add_bias_and_apply(o, B, n, bias_row, [slope](T v) { return v > T(0) ? v : slope * v; });
  else if (b)
    add_bias_and_apply(o, B, n, bias_row, [](T v) { return v; });

  if (!out.needs_grad()) return out;
  // P's buffer; the identity's P is d out itself.
  T* scratch = kind == Kind::identity ? nullptr : out.tape().template allocate<T>(B * n);
  const ad::Var<T> bias = b ? *b : ad::Var<T>();
  const bool bias_grad = b && b->needs_grad();
  out.on_backward([X, W, bias, bias_grad, out, B, in, n, kind, slope, scratch] {
    const T* __restrict g = out.adj().data();
    const T* __restrict y = out.data();
    T* __restrict p = scratch;
    // g[i] is read unconditionally: written as `y > 0 ? g[i] : 0`, GCC loads g under a mask
    // (vmaskmovps), the slowest part of this loop on AMD Zen 3.
    if (kind == Kind::relu)
      for (std::size_t i = 0; i < B * n; ++i) {
        const T gi = g[i];
        p[i] = y[i] > T(0) ? gi : T(0);
      }
    else if (kind == Kind::leaky_relu)
      for (std::size_t i = 0; i < B * n; ++i) {
        const T gi = g[i];
        p[i] = y[i] > T(0) ? gi : slope * gi;
      }
    const T* P = kind == Kind::identity ? g : p;
    if (X.needs_grad()) wgflow::gemm<T>(false, true, B, in, n, T(1), P, n, W.data(), n, T(1), X.adj().data(), in);
    if (W.needs_grad()) wgflow::gemm<T>(true, false, in, n, B, T(1), X.data(), in, P, n, T(1), W.adj().data(), n);
    if (bias_grad) wgflow::add_column_sums(P, B, n, n, bias.adj().data());
  });
  return out;
}

}  // namespace dense_detail

// act(X W + 1 b) with b a 1 x out row.
template <class T>
ad::Var<T> dense(const ad::Var<T>& X, const ad::Var<T>& W, const ad::Var<T>& b, const Activation& act) {
  return dense_detail::node(X, W, &b, act);
}

// act(X W), a layer without bias.
template <class T>
ad::Var<T> dense(const ad::Var<T>& X, const ad::Var<T>& W, const Activation& act) {
  return dense_detail::node<T>(X, W, nullptr, act);
}

}  // namespace wgflow::models
