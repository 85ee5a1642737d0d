#pragma once
// The fused loss nodes on the tape: the per-minibatch l(theta) whose gradient drives the flows. The
// likelihoods of models/likelihoods.hpp record these; they are also free functions of Vars for direct use.
//
// Conventions (paper.md §2, the authors' mse_loss): sums over a sample's outputs, means over the B samples
// of the minibatch, so the loss does not grow with the batch size. With outputs F (B x k) and targets Y:
//   squared_error(F, Y)             = (1/B) sum_i sum_c (F_ic - Y_ic)^2
//   gaussian_nll(F, Y, sigma)       = (1/B) sum_i sum_c [(F_ic - Y_ic)^2 / (2 sigma^2) + log sigma + log(2 pi)/2]
//   gaussian_nll(F, Y, log_sigma)   the same with sigma = exp(log_sigma) a 1x1 Var (a learned noise scale)
//   softmax_cross_entropy(Z, y)     = -(1/B) sum_i log_softmax(Z_i)[y_i], labels y_i in {0, ..., k-1}
// The Gaussian NLL is the exact negative log-density (constants included), so its values compare with
// published test NLLs.
//
// The squared error and both Gaussian NLLs are one fused node each, with plain scalar arithmetic inside
// (no B x k intermediates, and no xtensor expression temporaries: these run for every particle at every
// step, and NetworkPotential's steady state must not touch the heap); the cross-entropy uses the AD core's
// stable log_softmax (autodiff/ops/softmax.hpp) and one fused node that picks each row's label entry.
#include <cmath>
#include <cstddef>
#include <numbers>
#include <string>
#include <type_traits>

#include "../autodiff/ops/arithmetic.hpp"
#include "../autodiff/ops/elementwise.hpp"
#include "../autodiff/ops/softmax.hpp"
#include "../autodiff/tape.hpp"
#include "../core/lane_fma.hpp"

namespace wgflow::models {

namespace detail {

inline void check_residual_shapes(const Shape& F, const Shape& Y) {
  if (F != Y)
    throw ShapeError("squared residual: outputs are " + shape_string(F) + ", targets " + shape_string(Y) +
                     "; they must match");
}

// sum_i (f_i - y_i)^2 over n entries: entry i goes into partial sum i mod 8, and the eight are added
// pairwise at the end. A fixed order (so every caller gets the same bits) that vectorises, where one
// chain of n dependent adds cost about 4 cycles an entry (4 % of a DE step at N = 1000, commit 0a3984e).
// Each square is added by lane_fma (fused where the target has FMA): left to GCC's contraction it was
// fused in 256-bit vectors but not where GCC put two rounds of the loop in one 512-bit vector
// (-mprefer-vector-width=512), so the sum's bits depended on a vectorisation choice.
template <class T>
T residual_sum(const T* f, const T* y, std::size_t n) {
  constexpr std::size_t L = 8;
  T part[L] = {};
  std::size_t i = 0;
  const auto add = [&](std::size_t l, std::size_t k) { part[l] = lane_fma(f[k] - y[k], f[k] - y[k], part[l]); };
  for (; i + L <= n; i += L)
    for (std::size_t l = 0; l < L; ++l) add(l, i + l);
  for (std::size_t l = 0; i + l < n; ++l) add(l, i + l);
  return ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
}

// residual_sum of each of `count` columns side by side, sums[l] = sum_b (F[b ld + l] - y[b])^2 over b < n,
// with residual_sum's bits (its eight partial sums, the same pairwise end), a vector of columns at a time;
// and dF[b ld + l] = 0 + c_l (F[b ld + l] - y[b]), the residual nodes' adjoint, beside it: c the same for
// every column (a T) or c[l] (a pointer to count of them). SquaredError's loss_and_gradient_in_lanes: where
// each network's column was gathered, its loss taken and its dF scattered back, a DE step took 159 -> 154 us
// at N = 100 and 1806 -> 1699 us at N = 1000 (float32, 1 thread, medians of 8 alternating runs, Intel Xeon).
template <class T, class C>
void residual_sums_in_lanes(const T* F, T* dF, std::size_t ld, std::size_t count, const T* y, std::size_t n, C c,
                            T* sums) {
  using V = xsimd::batch<T>;
  constexpr std::size_t L = 8;
  const auto columns = [&]<class U>(std::size_t l0, U zero, const auto& load, const auto& store, const auto& fma) {
    U part[L];
    for (U& p : part) p = zero;
    U factor;
    if constexpr (std::is_pointer_v<C>) factor = load(c + l0);
    else factor = U(c);
    for (std::size_t b = 0; b < n; ++b) {
      const U r = load(F + b * ld + l0) - U(y[b]);
      part[b % L] = fma(r, r, part[b % L]);
      store(U(T(0)) + factor * r, dF + b * ld + l0);
    }
    return ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
  };
  const auto fused = [](V a, V b, V acc) { return vector_fma(a, b, acc); };
  std::size_t l = 0;
  for (; l + V::size <= count; l += V::size)
    columns(l, V(T(0)), [](const T* p) { return V::load_unaligned(p); }, [](V v, T* p) { v.store_unaligned(p); }, fused)
        .store_unaligned(sums + l);
#if XSIMD_WITH_AVX512F
  // The last count mod W columns of a 512-bit vector in one, the lanes past them neither read nor written:
  // column by column they took 5 % of a DE step at N = 5 (float32, 1 thread, medians of 6 alternating runs
  // 12.3 -> 11.7 us on a loaded Intel Xeon).
  if constexpr (sizeof(V) == 64) {
    if (l == count) return;
    constexpr bool is_float = std::is_same_v<T, float>;
    using Mask = std::conditional_t<is_float, __mmask16, __mmask8>;
    const Mask m = static_cast<Mask>((1u << (count - l)) - 1);
    const auto load = [m](const T* p) -> V {
      if constexpr (is_float) return _mm512_maskz_loadu_ps(m, p);
      else return _mm512_maskz_loadu_pd(m, p);
    };
    const auto store = [m](V v, T* p) {
      if constexpr (is_float) _mm512_mask_storeu_ps(p, m, v);
      else _mm512_mask_storeu_pd(p, m, v);
    };
    return store(columns(l, V(T(0)), load, store, fused), sums + l);
  }
#endif
  for (; l < count; ++l)
    sums[l] = columns(l, T(0), [](const T* p) { return *p; }, [](T v, T* p) { *p = v; },
                      [](T a, T b, T acc) { return lane_fma(a, b, acc); });
}

// The Gaussian NLLs' arithmetic past the residual sum, written once for the nodes below and the
// likelihoods' closed forms (models/likelihoods.hpp), which must agree bit for bit: k outputs a row, each
// product that feeds a sum fused explicitly (lane_fma): GCC contracts a * b + c in some inlined copies and
// not in others (as core/box_muller.hpp found), and the closed form and the node, each written out, came
// out one rounding apart.
template <class T>
T gaussian_constant(T k) {  // k log(2 pi) / 2
  return k * T(0.5) * std::log(T(2) * std::numbers::pi_v<T>);
}
template <class T>
T gaussian_constant(T k, T sigma) {  // k (log sigma + log(2 pi) / 2)
  return k * lane_fma(T(0.5), std::log(T(2) * std::numbers::pi_v<T>), std::log(sigma));
}
template <class T>
T gaussian_scale(T rows, T sigma) {  // 1 / (B sigma^2)
  return T(1) / (rows * sigma * sigma);
}
template <class T>
T gaussian_value(T residual_sum, T scale, T constant) {  // (1/2) sum (f - y)^2 / (B sigma^2) + constant
  return lane_fma(T(0.5) * residual_sum, scale, constant);
}
template <class T>
T gaussian_value(T R, T precision, T k, T s, T constant) {  // (1/2) R e^{-2s} + k s + constant
  return lane_fma(T(0.5) * R, precision, k * s) + constant;
}
template <class T>
T gaussian_log_sigma_gradient(T R, T precision, T k) {  // k - R e^{-2s}
  return lane_fma(-R, precision, k);
}

// dF = 0 + c (F - Y) over n entries: the residual nodes' adjoint into a zero gradient, as their backward
// writes it (the likelihoods' closed forms, models/likelihoods.hpp, which must match it bit for bit).
template <class T>
void residual_adjoints(const T* F, const T* Y, std::size_t n, T c, T* dF) {
  for (std::size_t i = 0; i < n; ++i) dF[i] = T(0) + c * (F[i] - Y[i]);
}

// dF += c (F - Y) and dY -= c (F - Y), for those of F and Y that carry a gradient.
template <class T>
void add_residual_adjoints(const ad::Var<T>& F, const ad::Var<T>& Y, T c) {
  const std::size_t n = F.size();
  const T* f = F.data();
  const T* y = Y.data();
  if (F.needs_grad()) {
    T* df = F.adj().data();
    for (std::size_t i = 0; i < n; ++i) df[i] += c * (f[i] - y[i]);
  }
  if (Y.needs_grad()) {
    T* dy = Y.adj().data();
    for (std::size_t i = 0; i < n; ++i) dy[i] -= c * (f[i] - y[i]);
  }
}

}  // namespace detail

// R = (1/B) sum_ic (F_ic - Y_ic)^2 as one node.  d/dF = (2/B)(F - Y),  d/dY = -(2/B)(F - Y).
template <class T>
ad::Var<T> mean_squared_residual(const ad::Var<T>& F, const ad::Var<T>& Y) {
  detail::check_residual_shapes(F.shape(), Y.shape());
  const T scale = T(1) / static_cast<T>(F.rows());
  ad::Var<T> out = ad::make_output(Shape{1, 1}, {F, Y});
  out.data()[0] = detail::residual_sum(F.data(), Y.data(), F.size()) * scale;
  out.on_backward([F, Y, out, scale] { detail::add_residual_adjoints(F, Y, T(2) * scale * out.adj()(0, 0)); });
  return out;
}

template <class T>
ad::Var<T> squared_error(const ad::Var<T>& F, const ad::Var<T>& Y) {
  return mean_squared_residual(F, Y);
}

// R / (2 sigma^2) + k log sigma + k log(2 pi)/2 as one node.  d/dF = (F - Y) / (B sigma^2) = -d/dY.
template <class T>
ad::Var<T> gaussian_nll(const ad::Var<T>& F, const ad::Var<T>& Y, std::type_identity_t<T> sigma) {
  if (!(sigma > 0) || !std::isfinite(sigma))
    throw Error("gaussian_nll: noise scale sigma must be positive and finite, got " + std::to_string(sigma));
  detail::check_residual_shapes(F.shape(), Y.shape());
  const T k = static_cast<T>(F.cols());
  const T constant = detail::gaussian_constant(k, T(sigma));
  const T scale = detail::gaussian_scale(static_cast<T>(F.rows()), T(sigma));
  ad::Var<T> out = ad::make_output(Shape{1, 1}, {F, Y});
  out.data()[0] = detail::gaussian_value(detail::residual_sum(F.data(), Y.data(), F.size()), scale, constant);
  out.on_backward([F, Y, out, scale] { detail::add_residual_adjoints(F, Y, scale * out.adj()(0, 0)); });
  return out;
}

// With sigma = exp(s), as one node:  (1/2) R e^{-2s} + k s + k log(2 pi)/2,  R the mean squared residual.
//   d/dF = e^{-2s} (F - Y) / B = -d/dY,   d/ds = k - R e^{-2s}.
template <class T>
ad::Var<T> gaussian_nll(const ad::Var<T>& F, const ad::Var<T>& Y, const ad::Var<T>& log_sigma) {
  if (log_sigma.shape() != Shape{1, 1})
    throw ShapeError("gaussian_nll: log_sigma must be 1x1, got " + shape_string(log_sigma.shape()));
  detail::check_residual_shapes(F.shape(), Y.shape());
  const T k = static_cast<T>(F.cols());
  const T constant = detail::gaussian_constant(k);
  const T s = log_sigma.data()[0];
  const T precision = std::exp(T(-2) * s);  // 1 / sigma^2
  const T inv_B = T(1) / static_cast<T>(F.rows());
  const T R = detail::residual_sum(F.data(), Y.data(), F.size()) * inv_B;
  ad::Var<T> out = ad::make_output(Shape{1, 1}, {F, Y, log_sigma});
  out.data()[0] = detail::gaussian_value(R, precision, k, s, constant);
  out.on_backward([F, Y, log_sigma, out, k, R, precision, inv_B] {
    const T g = out.adj()(0, 0);
    detail::add_residual_adjoints(F, Y, g * precision * inv_B);
    if (log_sigma.needs_grad()) log_sigma.adj().data()[0] += g * detail::gaussian_log_sigma_gradient(R, precision, k);
  });
  return out;
}

// -(1/B) sum_i L_{i, y_i} for log-probabilities L (B x k) and labels y (B x 1, integer values stored as T).
// d/dL_ic = -(1/B) [c == y_i]. Labels are checked and converted once, into tape memory.
template <class T>
ad::Var<T> mean_label_nll(const ad::Var<T>& L, const ad::Var<T>& labels) {
  const std::size_t B = L.rows(), k = L.cols();
  if (labels.shape() != Shape{B, 1})
    throw ShapeError("softmax_cross_entropy: labels are " + shape_string(labels.shape()) + ", expected " +
                     shape_string(Shape{B, 1}) + " (one class index per row of the " + shape_string(L.shape()) +
                     " logits)");
  std::size_t* index = L.tape().template allocate<std::size_t>(B);
  T total = 0;
  for (std::size_t i = 0; i < B; ++i) {
    const T y = labels.data()[i];
    if (!(y >= 0) || y >= static_cast<T>(k) || y != std::floor(y))
      throw Error("softmax_cross_entropy: label in row " + std::to_string(i) + " is " + std::to_string(y) +
                  "; expected an integer class index in [0, " + std::to_string(k) + ")");
    index[i] = static_cast<std::size_t>(y);
    total += L.data()[i * k + index[i]];
  }
  ad::Var<T> out = ad::make_output(Shape{1, 1}, {L});
  const T scale = T(1) / static_cast<T>(B);
  out.data()[0] = -total * scale;
  out.on_backward([L, out, index, B, k, scale] {
    const T g = -scale * out.adj()(0, 0);
    T* dl = L.adj().data();
    for (std::size_t i = 0; i < B; ++i) dl[i * k + index[i]] += g;
  });
  return out;
}

template <class T>
ad::Var<T> softmax_cross_entropy(const ad::Var<T>& logits, const ad::Var<T>& labels) {
  return mean_label_nll(ad::log_softmax(logits, 1), labels);
}

}  // namespace wgflow::models
