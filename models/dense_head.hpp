#pragma once
// A network's last hidden layer and its scalar output as one tape node:
//
//   out = act(X W1 + 1 b1) w2 + b2        X: B x in, W1: in x H, b1: 1 x H, w2: H x 1, b2: 1 x 1
//
// (either bias may be absent): the whole of the paper's UCI networks (8-50-1). models::Mlp records its
// last two layers so whenever the output is one identity unit and the hidden activation is
// piecewise-linear (identity, relu, leaky relu with slope >= 0, as models/dense.hpp fuses).
//
// Why one node: with a scalar output, the second layer's products are matrix-vector products and an
// outer product, each a pass over the B x H hidden values for a few FMAs per entry, and the hidden
// layer's node then makes its own passes over that matrix and its adjoint. Here the hidden values H have
// no node (no adjoint buffer to zero and fill), the forward computes each output as its row of H is
// written, and the backward makes one pass over H for all of
//
//   dw2 = H^T g,   db2 = 1^T g,   P = (g w2^T) .* act'(H),   db1 = 1^T P,
//
// then the two products dW1 = X^T P and dX = P W1^T. act'(H) is a select on the sign of H, as in
// models/dense.hpp (H > 0 exactly where the pre-activation is). Measured: BENCHMARKS.md, "the fused head".
#include <cstddef>
#include <initializer_list>
#include <string>
#include <type_traits>

#include "../core/intrinsics.hpp"  // before xsimd: GCC 12 repairs, see there
#include <xsimd/xsimd.hpp>

#include "../core/buffer_sums.hpp"
#include "../core/gemm.hpp"
#include "../core/in_register.hpp"
#include "../core/lane_fma.hpp"
#include "../autodiff/tape.hpp"
#include "activation.hpp"
#include "dense.hpp"

namespace wgflow::models {

namespace dense_head_detail {

// The last, partial vector of a row of n values (n % W != 0, n >= W) is handled as the whole vector
// ending at n, overlapping the one before: its values are computed again, the same, and stored again,
// and a mask keeps the overlapped lanes out of every sum. Element by element, the 2 leftover columns of a
// width of 50 (8 floats per AVX2 vector) cost as much as the 48 before them.
template <class T>
struct RowTail {
  using Batch = xsimd::batch<T>;
  static constexpr std::size_t W = Batch::size;
  std::size_t full;  // columns in whole vectors
  bool overlap;      // a partial vector handled by the overlapping one at n - W
  xsimd::batch_bool<T> fresh;  // the overlapping vector's lanes past `full`

  explicit RowTail(std::size_t n) : full(n - n % W), overlap(n % W != 0 && n >= W) {
    alignas(64) T lane[W];
    for (std::size_t l = 0; l < W; ++l) lane[l] = static_cast<T>(l);
    fresh = Batch::load_aligned(lane) >= Batch(static_cast<T>(W - n % W));
  }
  Batch only_fresh(Batch v) const { return xsimd::select(fresh, v, Batch(T(0))); }
};

// Row by row: h = act(h + b1) in place and out_i = h . w2 + b2, the dot product in two vector
// accumulators (so the value depends on H's width alone).
template <class T, class F, class G>
void forward_rows(T* __restrict h, std::size_t B, std::size_t n, const T* __restrict b1, const T* __restrict w2, T b2,
                  T* __restrict out, F act, G act_scalar) {
  using Batch = xsimd::batch<T>;
  constexpr std::size_t W = Batch::size;
  const RowTail<T> tail(n);
  auto activate = [&](std::size_t k) {
    Batch v = Batch::load_unaligned(h + k);
    if (b1) v += Batch::load_unaligned(b1 + k);
    return act(v);
  };
  for (std::size_t i = 0; i < B; ++i, h += n) {
    // The overlapping vector first, from h's values before any of them is overwritten; stored last.
    const Batch last = tail.overlap ? activate(n - W) : Batch(T(0));
    Batch even(T(0)), odd(T(0));
    std::size_t j = 0;
    for (; j + 2 * W <= tail.full; j += 2 * W) {
      const Batch v0 = activate(j), v1 = activate(j + W);
      v0.store_unaligned(h + j);
      v1.store_unaligned(h + j + W);
      even = vector_fma(v0, Batch::load_unaligned(w2 + j), even);
      odd = vector_fma(v1, Batch::load_unaligned(w2 + j + W), odd);
    }
    if (j < tail.full) {
      const Batch v = activate(j);
      v.store_unaligned(h + j);
      even = vector_fma(v, Batch::load_unaligned(w2 + j), even);
    }
    if (tail.overlap) {
      last.store_unaligned(h + n - W);
      odd += tail.only_fresh(last * Batch::load_unaligned(w2 + n - W));
    }
    T s = xsimd::hadd(even + odd);
    if (!tail.overlap)
      for (j = tail.full; j < n; ++j) {  // n < W: the row is shorter than a vector
        const T v = act_scalar(b1 ? h[j] + b1[j] : h[j]);
        h[j] = v;
        s += v * w2[j];
      }
    out[i] = s + b2;
  }
}

// The forward of a small head in one pass, for the products whose GEMM would be mostly overhead (an
// 8-input layer: k = 8 steps per register tile, against the tile's set-up and write-back). W1, b1 and w2
// are first copied into aligned vectors of h's columns (PackedHead, a few KB); then each row's hidden
// values are accumulated in registers, activated, stored and dotted with w2 while still there, and the
// row sums are reduced W rows at a time (wgflow::lane_sums). Every value is the one gemm + forward_rows
// give, bit for bit: an entry of H is the same FMA chain over the inputs, a row's dot product the same
// even/odd accumulators in the same order. A DE step's forward of 100 x 8 x 50, AMD EPYC Zen 3: 2.7 ->
// 1.8 us (float32), 5.2 -> 3.2 us (float64).
template <class T>
struct PackedHead {
  using Batch = xsimd::batch<T>;
  static constexpr std::size_t W = Batch::size;
  // Vectors of h per pass over a row's inputs: their accumulators and two rows' broadcasts fit 16
  // registers (2 rows x 4), and two rows' chains hide the FMA latency.
  static constexpr std::size_t chunk = 4;

  std::size_t in, n, full, vectors;  // full: columns in whole vectors; vectors: those + the overlapping one
  const T* w1;                       // vector v of W1's row p at w1 + (p * vectors + v) * W, aligned
  const T* b1;                       // vector v at b1 + v * W, or null
  const T* w2;                       // vector v at w2 + v * W

  // Worth it where the packed W1 stays in L1 and k is small enough for the GEMM's overhead to dominate:
  // 100 rows x 50 columns took 0.55-0.7 of the GEMM path's time at 4-8 inputs, 0.95-1.0 at 32 (AMD EPYC).
  static bool fits(std::size_t in, std::size_t n) {
    const std::size_t v = (n + W - 1) / W;
    return n >= W && in <= 32 && in * v * W * sizeof(T) <= 16384;
  }
  // The column where vector v starts: the last one overlaps the one before (RowTail).
  std::size_t offset(std::size_t v) const { return v * W < full ? v * W : n - W; }

  PackedHead(const T* W1, const T* bias1, const T* w2_, std::size_t in_, std::size_t n_, T* buffer)
      : in(in_), n(n_), full(n_ - n_ % W), vectors(full / W + (n_ % W != 0)) {
    T* p = buffer;
    for (std::size_t r = 0; r < in; ++r)
      for (std::size_t v = 0; v < vectors; ++v, p += W) Batch::load_unaligned(W1 + r * n + offset(v)).store_aligned(p);
    w1 = buffer;
    w2 = p;
    for (std::size_t v = 0; v < vectors; ++v, p += W) Batch::load_unaligned(w2_ + offset(v)).store_aligned(p);
    b1 = bias1 ? p : nullptr;
    if (bias1)
      for (std::size_t v = 0; v < vectors; ++v, p += W) Batch::load_unaligned(bias1 + offset(v)).store_aligned(p);
  }
  static std::size_t buffer_size(std::size_t in, std::size_t n) { return (in + 2) * ((n + W - 1) / W) * W; }
};

// Vectors v0 .. v0 + CN - 1 of two rows (x0 -> h0, x1 -> h1; the same row twice for a lone last row):
// h = act(x W1 + b1) stored, and its products with w2 added to the rows' even and odd accumulators as
// forward_rows adds them (whole vectors alternately, the overlapping one masked into odd).
template <class T, std::size_t CN, class F>
inline void forward_chunk(const PackedHead<T>& head, const RowTail<T>& tail, std::size_t v0, const T* x0,
                          const T* x1, T* h0, T* h1, xsimd::batch<T> (&even)[2], xsimd::batch<T> (&odd)[2], F act) {
  using Batch = xsimd::batch<T>;
  constexpr std::size_t W = Batch::size;
  Batch acc0[CN], acc1[CN];
  for (std::size_t c = 0; c < CN; ++c) acc0[c] = acc1[c] = Batch(T(0));
  const T* w = head.w1 + v0 * W;
  for (std::size_t p = 0; p < head.in; ++p, w += head.vectors * W) {
    const Batch a0(x0[p]), a1(x1[p]);
    for (std::size_t c = 0; c < CN; ++c) {
      const Batch wv = wgflow::in_register(Batch::load_aligned(w + c * W));
      acc0[c] = vector_fma(a0, wv, acc0[c]);
      acc1[c] = vector_fma(a1, wv, acc1[c]);
    }
  }
  for (std::size_t c = 0; c < CN; ++c) {
    const std::size_t v = v0 + c, at = head.offset(v);
    Batch y0 = acc0[c], y1 = acc1[c];
    if (head.b1) {
      const Batch b = Batch::load_aligned(head.b1 + v * W);
      y0 += b;
      y1 += b;
    }
    y0 = act(y0);
    y1 = act(y1);
    y0.store_unaligned(h0 + at);
    y1.store_unaligned(h1 + at);
    const Batch u = Batch::load_aligned(head.w2 + v * W);
    if (v * W >= head.full) {
      odd[0] += tail.only_fresh(y0 * u);
      odd[1] += tail.only_fresh(y1 * u);
    } else if (v % 2 == 0) {
      even[0] = vector_fma(y0, u, even[0]);
      even[1] = vector_fma(y1, u, even[1]);
    } else {
      odd[0] = vector_fma(y0, u, odd[0]);
      odd[1] = vector_fma(y1, u, odd[1]);
    }
  }
}

// H = act(X W1 + 1 b1) (B x n) and out = H w2 + b2 for a head that PackedHead::fits; `spare` is a row of
// n values that a lone last row's twin writes to.
template <class T, class F>
void forward_small(const T* X, std::size_t B, const PackedHead<T>& head, T b2, T* H, T* out, T* spare, F act) {
  using Batch = xsimd::batch<T>;
  constexpr std::size_t W = Batch::size, C = PackedHead<T>::chunk;
  static_assert(W % 2 == 0);
  const RowTail<T> tail(head.n);
  const std::size_t in = head.in, n = head.n;
  Batch sums[W];
  for (std::size_t i0 = 0; i0 < B; i0 += W) {
    const std::size_t rows = std::min(W, B - i0);
    for (std::size_t r = 0; r < W; r += 2) {
      if (r >= rows) {
        sums[r] = sums[r + 1] = Batch(T(0));
        continue;
      }
      const std::size_t i = i0 + r;
      const bool pair = r + 1 < rows;
      const T* x0 = X + i * in;
      const T* x1 = pair ? x0 + in : x0;
      T* h0 = H + i * n;
      T* h1 = pair ? h0 + n : spare;
      Batch even[2] = {Batch(T(0)), Batch(T(0))}, odd[2] = {Batch(T(0)), Batch(T(0))};
      std::size_t v0 = 0;
      for (; v0 + C <= head.vectors; v0 += C) forward_chunk<T, C>(head, tail, v0, x0, x1, h0, h1, even, odd, act);
      switch (head.vectors - v0) {
        case 1: forward_chunk<T, 1>(head, tail, v0, x0, x1, h0, h1, even, odd, act); break;
        case 2: forward_chunk<T, 2>(head, tail, v0, x0, x1, h0, h1, even, odd, act); break;
        case 3: forward_chunk<T, 3>(head, tail, v0, x0, x1, h0, h1, even, odd, act); break;
        default: break;
      }
      sums[r] = even[0] + odd[0];
      sums[r + 1] = even[1] + odd[1];
    }
    const Batch s = wgflow::lane_sums<T>(sums) + Batch(b2);
    if (rows == W) {
      s.store_unaligned(out + i0);
    } else {
      alignas(64) T lanes[W];
      s.store_aligned(lanes);
      for (std::size_t r = 0; r < rows; ++r) out[i0 + r] = lanes[r];
    }
  }
}

// One pass over H, four rows at a time (so that each update of dw2 and db1 serves four rows, not one:
// the store-forwarding chain of models/dense.hpp's bias sums): dw2 += H^T g, P = (g w2^T) .* d(H),
// db1 += 1^T P, with d(h) = 1 where h > 0 and `negative` elsewhere (0 for relu, the slope for leaky
// relu, 1 for the identity). dw2 or db1 may be null (no gradient wanted). Written in SIMD batches: as
// plain loops GCC neither vectorised the four rows (it cannot tell P's rows apart) nor turned the select
// into a blend, and the mispredicted branches made the pass 3x slower than the unfused layers.
template <class T>
void backward_rows(const T* __restrict h, std::size_t B, std::size_t n, const T* __restrict g, const T* __restrict w2,
                   T negative, T* __restrict P, T* __restrict dw2, T* __restrict db1) {
  using Batch = xsimd::batch<T>;
  constexpr std::size_t W = Batch::size;
  const RowTail<T> tail(n);
  const Batch zero(T(0)), neg(negative);
  auto p_of = [&](Batch gw, Batch hv) { return xsimd::select(hv > zero, gw, neg * gw); };
  auto p_of_scalar = [negative](T gw, T hv) { return hv > T(0) ? gw : negative * gw; };
  // dw2 += dw and db1 += db at columns j .. j + W - 1, the overlapped lanes masked out of the last vector.
  auto add_sums = [&](std::size_t j, Batch dw, Batch db, bool fresh_only) {
    if (fresh_only) {
      dw = tail.only_fresh(dw);
      db = tail.only_fresh(db);
    }
    if (dw2) (Batch::load_unaligned(dw2 + j) + dw).store_unaligned(dw2 + j);
    if (db1) (Batch::load_unaligned(db1 + j) + db).store_unaligned(db1 + j);
  };
  std::size_t i = 0;
  for (; i + 4 <= B; i += 4) {
    const T *h0 = h + i * n, *h1 = h0 + n, *h2 = h1 + n, *h3 = h2 + n;
    T *p0 = P + i * n, *p1 = p0 + n, *p2 = p1 + n, *p3 = p2 + n;
    const T g0 = g[i], g1 = g[i + 1], g2 = g[i + 2], g3 = g[i + 3];
    const Batch G0(g0), G1(g1), G2(g2), G3(g3);
    // Columns j .. j + W - 1; `fresh_only` for the overlapping last vector.
    auto block = [&](std::size_t j, bool fresh_only) {
      const Batch w = Batch::load_unaligned(w2 + j);
      const Batch x0 = Batch::load_unaligned(h0 + j), x1 = Batch::load_unaligned(h1 + j);
      const Batch x2 = Batch::load_unaligned(h2 + j), x3 = Batch::load_unaligned(h3 + j);
      const Batch q0 = p_of(G0 * w, x0), q1 = p_of(G1 * w, x1), q2 = p_of(G2 * w, x2), q3 = p_of(G3 * w, x3);
      q0.store_unaligned(p0 + j);
      q1.store_unaligned(p1 + j);
      q2.store_unaligned(p2 + j);
      q3.store_unaligned(p3 + j);
      add_sums(j, (G0 * x0 + G1 * x1) + (G2 * x2 + G3 * x3), (q0 + q1) + (q2 + q3), fresh_only);
    };
    for (std::size_t j = 0; j < tail.full; j += W) block(j, false);
    if (tail.overlap) block(n - W, true);
    if (!tail.overlap)
      for (std::size_t j = tail.full; j < n; ++j) {  // n < W
        const T w = w2[j];
        const T q0 = p_of_scalar(g0 * w, h0[j]), q1 = p_of_scalar(g1 * w, h1[j]);
        const T q2 = p_of_scalar(g2 * w, h2[j]), q3 = p_of_scalar(g3 * w, h3[j]);
        p0[j] = q0;
        p1[j] = q1;
        p2[j] = q2;
        p3[j] = q3;
        if (dw2) dw2[j] += (g0 * h0[j] + g1 * h1[j]) + (g2 * h2[j] + g3 * h3[j]);
        if (db1) db1[j] += (q0 + q1) + (q2 + q3);
      }
  }
  for (; i < B; ++i) {  // the last B mod 4 rows, one at a time
    const T* hi = h + i * n;
    T* pi = P + i * n;
    const Batch G(g[i]);
    auto block = [&](std::size_t j, bool fresh_only) {
      const Batch x = Batch::load_unaligned(hi + j);
      const Batch q = p_of(G * Batch::load_unaligned(w2 + j), x);
      q.store_unaligned(pi + j);
      add_sums(j, G * x, q, fresh_only);
    };
    for (std::size_t j = 0; j < tail.full; j += W) block(j, false);
    if (tail.overlap) block(n - W, true);
    if (!tail.overlap)
      for (std::size_t j = tail.full; j < n; ++j) {
        const T q = p_of_scalar(g[i] * w2[j], hi[j]);
        pi[j] = q;
        if (dw2) dw2[j] += g[i] * hi[j];
        if (db1) db1[j] += q;
      }
  }
}

}  // namespace dense_head_detail

// act(X W1 + 1 b1) w2 + b2; b1 (1 x H) and b2 (1 x 1) may be null. Any other activation is recorded as
// two dense layers (models/dense.hpp), with the same values and derivatives.
// (The bias pointers do not take part in deducing T, so that nullptr can be passed for them.)
template <class T>
ad::Var<T> dense_head(const ad::Var<T>& X, const ad::Var<T>& W1, std::type_identity_t<const ad::Var<T>*> b1,
                      const Activation& act, const ad::Var<T>& w2, std::type_identity_t<const ad::Var<T>*> b2) {
  namespace d = dense_head_detail;
  const std::size_t B = X.rows(), in = X.cols(), n = W1.cols();
  if (W1.rows() != in || (b1 && (b1->rows() != 1 || b1->cols() != n)) || w2.rows() != n || w2.cols() != 1 ||
      (b2 && (b2->rows() != 1 || b2->cols() != 1)))
    throw ShapeError("dense_head: X is " + shape_string(X.shape()) + ", W1 is " + shape_string(W1.shape()) +
                     (b1 ? ", b1 is " + shape_string(b1->shape()) : std::string()) + ", w2 is " +
                     shape_string(w2.shape()) + (b2 ? ", b2 is " + shape_string(b2->shape()) : std::string()) +
                     "; expected X B x in, W1 in x H" + (b1 ? ", b1 1 x H" : "") + ", w2 H x 1" +
                     (b2 ? ", b2 1 x 1" : ""));
  if (!dense_detail::fusable(act)) {
    const ad::Var<T> hidden = b1 ? dense(X, W1, *b1, act) : dense(X, W1, act);
    return b2 ? dense(hidden, w2, *b2, Activation::identity()) : dense(hidden, w2, Activation::identity());
  }

  auto make = [B](std::initializer_list<ad::Var<T>> inputs) { return ad::make_output(Shape{B, 1}, inputs); };
  ad::Var<T> out = b1 ? (b2 ? make({X, W1, *b1, w2, *b2}) : make({X, W1, *b1, w2}))
                      : (b2 ? make({X, W1, w2, *b2}) : make({X, W1, w2}));
  ad::Tape<T>& tape = out.tape();
  T* H = tape.template allocate<T>(B * n);
  using Kind = Activation::Kind;
  const Kind kind = act.kind();
  const T slope = static_cast<T>(act.slope());
  const T* bias1 = b1 ? b1->data() : nullptr;
  const T bias2 = b2 ? b2->data()[0] : T(0);
  // Small heads in one pass (forward_small); others as a GEMM, then a pass over its rows.
  auto forward = [&](auto act_batch, auto act_scalar) {
    if (d::PackedHead<T>::fits(in, n)) {
      const std::size_t packed = d::PackedHead<T>::buffer_size(in, n);
      T* buffer = tape.template allocate<T>(packed + n);  // the packed operands, then the spare row
      const d::PackedHead<T> head(W1.data(), bias1, w2.data(), in, n, buffer);
      d::forward_small(X.data(), B, head, bias2, H, out.data(), buffer + packed, act_batch);
    } else {
      wgflow::gemm<T>(false, false, B, n, in, T(1), X.data(), in, W1.data(), n, T(0), H, n);
      d::forward_rows(H, B, n, bias1, w2.data(), bias2, out.data(), act_batch, act_scalar);
    }
  };
  using Batch = xsimd::batch<T>;
  // The selects of ad::relu and ad::leaky_relu: NaN passes through both.
  if (kind == Kind::relu)
    forward([](Batch v) { return xsimd::select(v < Batch(T(0)), Batch(T(0)), v); },
            [](T v) { return v < T(0) ? T(0) : v; });
  else if (kind == Kind::leaky_relu)
    forward([slope](Batch v) { return xsimd::select(v > Batch(T(0)), v, Batch(slope) * v); },
            [slope](T v) { return v > T(0) ? v : slope * v; });
  else
    forward([](Batch v) { return v; }, [](T v) { return v; });

  if (!out.needs_grad()) return out;
  T* P = tape.template allocate<T>(B * n);
  const T negative = kind == Kind::relu ? T(0) : kind == Kind::leaky_relu ? slope : T(1);
  const ad::Var<T> bias1_var = b1 ? *b1 : ad::Var<T>(), bias2_var = b2 ? *b2 : ad::Var<T>();
  const bool grad_b1 = b1 && b1->needs_grad(), grad_b2 = b2 && b2->needs_grad();
  out.on_backward([X, W1, w2, bias1_var, bias2_var, grad_b1, grad_b2, out, H, P, B, in, n, negative] {
    const T* g = out.adj().data();
    d::backward_rows<T>(H, B, n, g, w2.data(), negative, P, w2.needs_grad() ? w2.adj().data() : nullptr,
                        grad_b1 ? bias1_var.adj().data() : nullptr);
    if (grad_b2) {
      T s = 0;
      for (std::size_t i = 0; i < B; ++i) s += g[i];
      bias2_var.adj().data()[0] += s;
    }
    if (X.needs_grad()) wgflow::gemm<T>(false, true, B, in, n, T(1), P, n, W1.data(), n, T(1), X.adj().data(), in);
    if (W1.needs_grad()) wgflow::gemm<T>(true, false, in, n, B, T(1), X.data(), in, P, n, T(1), W1.adj().data(), n);
  });
  return out;
}

}  // namespace wgflow::models
