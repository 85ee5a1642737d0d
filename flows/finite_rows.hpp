#pragma once
// The divergence check of the flows that run their own update (Svgd, MeanFieldVI): the first row and
// coordinate of a matrix that is not finite, reported as ParticleFlow reports its own ("<flow>: step t,
// particle i: <what> is not finite (coordinate j = v)"), so that every method names the step, the particle
// and the quantity at fault. Rows are scanned in order, so the row named is the first one whatever the
// thread count.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <utility>

#include "core/errors.hpp"
#include "core/tensor.hpp"

namespace wgflow::flows {

// Throws wgflow::Error if x (rows x cols, row-major) holds a NaN or an infinity. `row_name` names a row
// ("particle", "member"); describe() returns the pair {flow name, quantity at fault} and is called only on
// failure, so that a healthy step builds no string (steady-state steps allocate nothing).
template <class T, class Describe>
void require_finite_rows(const Tensor<T>& x, std::uint64_t step, const char* row_name, const Describe& describe) {
  const std::size_t rows = x.shape()[0], cols = x.shape()[1];
  const T* p = x.data();
  T sum = 0;  // one branch-free pass: a NaN or an infinity anywhere makes the sum non-finite
  for (std::size_t k = 0; k < rows * cols; ++k) sum += p[k] * T(0);
  if (std::isfinite(sum)) return;
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j)
      if (!std::isfinite(p[i * cols + j])) {
        const auto [flow, what] = describe();
        std::ostringstream msg;
        msg << flow << ": step " << step << ", " << row_name << " " << i << ": " << what
            << " is not finite (coordinate " << j << " = " << p[i * cols + j] << ")";
        throw Error(msg.str());
      }
}

}  // namespace wgflow::flows
