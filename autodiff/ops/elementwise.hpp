#pragma once
// Elementwise functions. Each op: forward value, then the vector-Jacobian product
// da += d_out * f'(a), with f' written in the comment above it.
#include <xtensor/xmath.hpp>

#include "autodiff/tape.hpp"

namespace wgflow::ad {

// d/da e^a = e^a
template <class T>
Var<T> exp(const Var<T>& a) {
  Var<T> out = make_output(a.shape(), {a});
  out.val() = xt::exp(a.val());
  out.on_backward([a, out] { a.adj() += out.adj() * out.val(); });
  return out;
}

// d/da log a = 1 / a
template <class T>
Var<T> log(const Var<T>& a) {
  Var<T> out = make_output(a.shape(), {a});
  out.val() = xt::log(a.val());
  out.on_backward([a, out] { a.adj() += out.adj() / a.val(); });
  return out;
}

}  // namespace wgflow::ad
