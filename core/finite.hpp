#pragma once
// Refusing non-finite input where it enters: a NaN in a user's training inputs or targets would
// otherwise pass every shape check and surface steps later as a "diverging" flow that blames the flow,
// and one in prediction inputs would come back as NaN predictions with no error at all. The require_*
// checks scan once, at the boundary (a potential's data when it is built, predict's inputs), never inside
// a step.
// first_non_finite is also the tape's anomaly check (autodiff/anomaly.hpp) and the flows' check of their
// terms' per-particle values (flows/free_energy.hpp): N values a step.
#include <cmath>
#include <cstddef>
#include <optional>
#include <sstream>
#include <string>

#include "errors.hpp"
#include "tensor.hpp"

namespace wgflow {

// The index of the first non-finite entry of data[0, n), if any (none for null data).
template <class T>
std::optional<std::size_t> first_non_finite(const T* data, std::size_t n) {
  if (data == nullptr) return std::nullopt;
  for (std::size_t k = 0; k < n; ++k)
    if (!std::isfinite(data[k])) return k;
  return std::nullopt;
}

// Throws DataError naming `what`, its shape and its first non-finite entry, e.g. "NetworkPotential:
// inputs X (100x1) has a non-finite entry at row 3, column 0 (nan)". data: shape[0] x shape[1], row-major.
template <class T>
void require_finite(const T* data, const Shape& shape, const std::string& what) {
  if (const auto k = first_non_finite(data, shape[0] * shape[1])) {
    std::ostringstream msg;
    msg << what << " (" << shape_string(shape) << ") has a non-finite entry at row " << *k / shape[1] << ", column "
        << *k % shape[1] << " (" << data[*k] << ")";
    throw DataError(msg.str());
  }
}
template <class T>
void require_finite(const Tensor<T>& A, const std::string& what) {
  require_finite(A.data(), Shape{A.shape()[0], A.shape()[1]}, what);
}

// Throws Error for N x J particles with a non-finite coordinate, in the words of the flows' own check of
// their particles: "predict: particle 2 is not finite (coordinate 1 = inf)"; `row` names a row where
// "particle" would not say enough ("initial particle").
template <class T>
void require_finite_particles(const Tensor<T>& particles, const std::string& who, const char* row = "particle") {
  if (const auto k = first_non_finite(particles.data(), particles.size())) {
    const std::size_t J = particles.shape()[1];
    std::ostringstream msg;
    msg << who << ": " << row << " " << *k / J << " is not finite (coordinate " << *k % J << " = " << particles.data()[*k]
        << ")";
    throw Error(msg.str());
  }
}

}  // namespace wgflow
