#pragma once
// NumPy broadcasting for rank-2 values, and its adjoint.
//
// Two shapes broadcast when each dimension is equal or one of them is 1. The forward pass lets xtensor
// broadcast; the backward pass must undo it: an input that was repeated along an axis receives the sum
// of the output adjoint along that axis.
#include <string>

#include <xtensor/xnoalias.hpp>
#include <xtensor/xreducer.hpp>

#include "../tape.hpp"

namespace wgflow::ad {

inline Shape broadcast_shape(const char* op, const Shape& a, const Shape& b) {
  Shape out{};
  for (int d = 0; d < 2; ++d) {
    if (a[d] != b[d] && a[d] != 1 && b[d] != 1)
      throw ShapeError(std::string(op) + ": shapes " + shape_string(a) + " and " + shape_string(b) +
                       " do not broadcast (each dimension must match or be 1)");
    out[d] = a[d] == 1 ? b[d] : a[d];
  }
  return out;
}

// x.adj() += g, summing g over the axes along which x was broadcast to g's shape.
template <class T, class E>
void add_unbroadcast(const Var<T>& x, const E& g, const Shape& g_shape) {
  if (!x.needs_grad()) return;
  const bool rows = x.rows() == 1 && g_shape[0] != 1;
  const bool cols = x.cols() == 1 && g_shape[1] != 1;
  auto adj = x.adj();
  if (rows && cols)
    adj(0, 0) += xt::sum(g)();
  else if (rows)
    xt::noalias(adj) += xt::sum(g, {0}, xt::keep_dims);
  else if (cols)
    xt::noalias(adj) += xt::sum(g, {1}, xt::keep_dims);
  else
    xt::noalias(adj) += g;
}

}  // namespace wgflow::ad
