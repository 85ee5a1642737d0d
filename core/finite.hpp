#pragma once
// Refusing non-finite input where it enters: a NaN in a user's training inputs or targets would
// otherwise pass every shape check and surface steps later as a "diverging" flow that blames the flow,
// and one in prediction inputs would come back as NaN predictions with no error at all. The checks scan
// once, at the boundary (a potential's data when it is built, predict's inputs), never inside a step.
#include <array>
#include <cmath>
#include <cstddef>
#include <optional>
#include <sstream>
#include <string>

#include "errors.hpp"
#include "tensor.hpp"

namespace wgflow {

// (row, column) of A's first non-finite entry in row-major order, if any.
template <class T>
std::optional<std::array<std::size_t, 2>> first_non_finite(const Tensor<T>& A) {
  const std::size_t cols = A.shape()[1];
  const T* a = A.data();
  for (std::size_t k = 0; k < A.size(); ++k)
    if (!std::isfinite(a[k])) return std::array<std::size_t, 2>{k / cols, k % cols};
  return std::nullopt;
}

// Throws DataError naming `what`, its shape and its first non-finite entry, e.g. "NetworkPotential:
// inputs X (100x1) has a non-finite entry at row 3, column 0 (nan)".
template <class T>
void require_finite(const Tensor<T>& A, const std::string& what) {
  if (const auto at = first_non_finite(A)) {
    std::ostringstream msg;
    msg << what << " (" << shape_string({A.shape()[0], A.shape()[1]}) << ") has a non-finite entry at row " << (*at)[0]
        << ", column " << (*at)[1] << " (" << A((*at)[0], (*at)[1]) << ")";
    throw DataError(msg.str());
  }
}

// Throws Error for N x J particles with a non-finite coordinate, in the words of the flows' own check of
// their particles: "predict: particle 2 is not finite (coordinate 1 = inf)".
template <class T>
void require_finite_particles(const Tensor<T>& particles, const std::string& who) {
  if (const auto at = first_non_finite(particles)) {
    std::ostringstream msg;
    msg << who << ": particle " << (*at)[0] << " is not finite (coordinate " << (*at)[1] << " = "
        << particles((*at)[0], (*at)[1]) << ")";
    throw Error(msg.str());
  }
}

}  // namespace wgflow
