#pragma once
// Elementwise functions. Each op: forward value, then the vector-Jacobian product
// da += d_out * f'(a), with f' written in the comment above it.
//
// Every forward and backward is one xtensor expression assigned through xt::noalias into tape memory:
// a plain `view = expr` or `view += expr` would first evaluate into a heap-allocated temporary, and
// these ops run in every training step. The expressions use only functions that xsimd vectorises
// (exp, log, log1p, sqrt, pow, abs, sin, cos, and xt::where as a branch-free select).
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xoperation.hpp>

#include "arithmetic.hpp"
#include "broadcast.hpp"
#include "../tape.hpp"

namespace wgflow::ad {

// d/da e^a = e^a = out
template <class T>
Var<T> exp(const Var<T>& a) {
  Var<T> out = make_output(a.shape(), {a});
  xt::noalias(out.val()) = xt::exp(a.val());
  out.on_backward([a, out] { xt::noalias(a.adj()) += out.adj() * out.val(); });
  return out;
}

// d/da log a = 1 / a
template <class T>
Var<T> log(const Var<T>& a) {
  Var<T> out = make_output(a.shape(), {a});
  xt::noalias(out.val()) = xt::log(a.val());
  out.on_backward([a, out] { xt::noalias(a.adj()) += out.adj() / a.val(); });
  return out;
}

// log(1 + a), accurate for small |a| where 1 + a would round.
// d/da log(1 + a) = 1 / (1 + a)
template <class T>
Var<T> log1p(const Var<T>& a) {
  Var<T> out = make_output(a.shape(), {a});
  xt::noalias(out.val()) = xt::log1p(a.val());
  out.on_backward([a, out] { xt::noalias(a.adj()) += out.adj() / (T(1) + a.val()); });
  return out;
}

// d/da sqrt(a) = 1 / (2 sqrt(a)) = 1 / (2 out); infinite at a = 0, like the function's slope.
template <class T>
Var<T> sqrt(const Var<T>& a) {
  Var<T> out = make_output(a.shape(), {a});
  xt::noalias(out.val()) = xt::sqrt(a.val());
  out.on_backward([a, out] { xt::noalias(a.adj()) += out.adj() * T(0.5) / out.val(); });
  return out;
}

// d/da a^2 = 2a
template <class T>
Var<T> square(const Var<T>& a) {
  Var<T> out = make_output(a.shape(), {a});
  xt::noalias(out.val()) = a.val() * a.val();
  out.on_backward([a, out] { xt::noalias(a.adj()) += T(2) * out.adj() * a.val(); });
  return out;
}

// a^p for a scalar exponent p. Negative a is allowed when p is an integer (as for std::pow).
// d/da a^p = p a^(p-1). Written with pow(a, p - 1) rather than p out / a so that a = 0 gives the
// right slope (0 for p > 1); p = 0 contributes nothing, avoiding 0 * 0^-1 = NaN at a = 0.
template <class T>
Var<T> pow(const Var<T>& a, Scalar<T> p) {
  Var<T> out = make_output(a.shape(), {a});
  xt::noalias(out.val()) = xt::pow(a.val(), p);
  if (p != T(0))
    out.on_backward([a, out, p] { xt::noalias(a.adj()) += out.adj() * p * xt::pow(a.val(), p - T(1)); });
  return out;
}

// a^b elementwise, with a and b broadcast against each other as in operator*.
//   d/da a^b = b a^(b-1)
//   d/db a^b = a^b log a = out log a, defined for a > 0. At a = 0 it is taken as 0, the limit for
//   b > 0 (0^b is constant there), instead of 0 * log 0 = NaN; for a < 0 it is NaN.
template <class T>
Var<T> pow(const Var<T>& a, const Var<T>& b) {
  Var<T> out = make_output(broadcast_shape("pow", a.shape(), b.shape()), {a, b});
  xt::noalias(out.val()) = xt::pow(a.val(), b.val());
  out.on_backward([a, b, out] {
    if (a.needs_grad())
      add_unbroadcast(a, out.adj() * b.val() * xt::pow(a.val(), b.val() - T(1)), out.shape());
    if (b.needs_grad())
      add_unbroadcast(b, xt::where(xt::equal(a.val(), T(0)), T(0), out.adj() * out.val() * xt::log(a.val())),
                      out.shape());
  });
  return out;
}

// d/da |a| = sign(a), taken as 0 at the kink a = 0 (the midpoint of the subdifferential [-1, 1], as
// in PyTorch and JAX). Written as a select because xt::sign has no vectorised kernel.
template <class T>
Var<T> abs(const Var<T>& a) {
  Var<T> out = make_output(a.shape(), {a});
  xt::noalias(out.val()) = xt::abs(a.val());
  out.on_backward([a, out] {
    xt::noalias(a.adj()) +=
        xt::where(a.val() > T(0), out.adj(), xt::where(a.val() < T(0), -out.adj(), T(0)));
  });
  return out;
}

// d/da sin a = cos a
template <class T>
Var<T> sin(const Var<T>& a) {
  Var<T> out = make_output(a.shape(), {a});
  xt::noalias(out.val()) = xt::sin(a.val());
  out.on_backward([a, out] { xt::noalias(a.adj()) += out.adj() * xt::cos(a.val()); });
  return out;
}

// d/da cos a = -sin a
template <class T>
Var<T> cos(const Var<T>& a) {
  Var<T> out = make_output(a.shape(), {a});
  xt::noalias(out.val()) = xt::cos(a.val());
  out.on_backward([a, out] { xt::noalias(a.adj()) -= out.adj() * xt::sin(a.val()); });
  return out;
}

}  // namespace wgflow::ad
