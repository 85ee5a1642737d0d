#pragma once
// + - * / and negation, between variables (with broadcasting of rows and columns) and with scalars.
// Results are assigned with xt::noalias: without it xtensor evaluates into a heap temporary first.
#include <type_traits>

#include <xtensor/xnoalias.hpp>

#include "broadcast.hpp"

namespace wgflow::ad {

// Scalars are taken as std::type_identity_t<T> so that `x * 2.0` works for Var<float> too.
template <class T>
using Scalar = std::type_identity_t<T>;

// d(a + b) = da + db
template <class T>
Var<T> operator+(const Var<T>& a, const Var<T>& b) {
  Var<T> out = make_output(broadcast_shape("add", a.shape(), b.shape()), {a, b});
  xt::noalias(out.val()) = a.val() + b.val();
  out.on_backward([a, b, out] {
    add_unbroadcast(a, out.adj(), out.shape());
    add_unbroadcast(b, out.adj(), out.shape());
  });
  return out;
}

// d(a - b) = da - db
template <class T>
Var<T> operator-(const Var<T>& a, const Var<T>& b) {
  Var<T> out = make_output(broadcast_shape("subtract", a.shape(), b.shape()), {a, b});
  xt::noalias(out.val()) = a.val() - b.val();
  out.on_backward([a, b, out] {
    add_unbroadcast(a, out.adj(), out.shape());
    add_unbroadcast(b, -out.adj(), out.shape());
  });
  return out;
}

// d(a b) = b da + a db
template <class T>
Var<T> operator*(const Var<T>& a, const Var<T>& b) {
  Var<T> out = make_output(broadcast_shape("multiply", a.shape(), b.shape()), {a, b});
  xt::noalias(out.val()) = a.val() * b.val();
  out.on_backward([a, b, out] {
    add_unbroadcast(a, out.adj() * b.val(), out.shape());
    add_unbroadcast(b, out.adj() * a.val(), out.shape());
  });
  return out;
}

// d(a / b) = da / b - (a / b^2) db = da / b - (out / b) db
template <class T>
Var<T> operator/(const Var<T>& a, const Var<T>& b) {
  Var<T> out = make_output(broadcast_shape("divide", a.shape(), b.shape()), {a, b});
  xt::noalias(out.val()) = a.val() / b.val();
  out.on_backward([a, b, out] {
    add_unbroadcast(a, out.adj() / b.val(), out.shape());
    add_unbroadcast(b, -out.adj() * out.val() / b.val(), out.shape());
  });
  return out;
}

// d(-a) = -da
template <class T>
Var<T> operator-(const Var<T>& a) {
  Var<T> out = make_output(a.shape(), {a});
  xt::noalias(out.val()) = -a.val();
  out.on_backward([a, out] { xt::noalias(a.adj()) -= out.adj(); });
  return out;
}

// With a scalar s: d(a + s) = da, d(a s) = s da, d(s / a) = -s / a^2 da = -(out / a) da.
template <class T>
Var<T> operator+(const Var<T>& a, Scalar<T> s) {
  Var<T> out = make_output(a.shape(), {a});
  xt::noalias(out.val()) = a.val() + s;
  out.on_backward([a, out] { xt::noalias(a.adj()) += out.adj(); });
  return out;
}
template <class T>
Var<T> operator+(Scalar<T> s, const Var<T>& a) { return a + s; }
template <class T>
Var<T> operator-(const Var<T>& a, Scalar<T> s) { return a + (-s); }
template <class T>
Var<T> operator-(Scalar<T> s, const Var<T>& a) {
  Var<T> out = make_output(a.shape(), {a});
  xt::noalias(out.val()) = s - a.val();
  out.on_backward([a, out] { xt::noalias(a.adj()) -= out.adj(); });
  return out;
}
template <class T>
Var<T> operator*(const Var<T>& a, Scalar<T> s) {
  Var<T> out = make_output(a.shape(), {a});
  xt::noalias(out.val()) = a.val() * s;
  out.on_backward([a, out, s] { xt::noalias(a.adj()) += out.adj() * s; });
  return out;
}
template <class T>
Var<T> operator*(Scalar<T> s, const Var<T>& a) { return a * s; }
template <class T>
Var<T> operator/(const Var<T>& a, Scalar<T> s) { return a * (T(1) / s); }
template <class T>
Var<T> operator/(Scalar<T> s, const Var<T>& a) {
  Var<T> out = make_output(a.shape(), {a});
  xt::noalias(out.val()) = s / a.val();
  out.on_backward([a, out] { xt::noalias(a.adj()) -= out.adj() * out.val() / a.val(); });
  return out;
}

}  // namespace wgflow::ad
