#pragma once
// The ground floor's value type: every matrix wgflow passes between layers (particles, data, gradients,
// kernel matrices) is a rank-2 xtensor, row-major, rows x cols. A scalar is 1x1, a vector n x 1 or 1 x n.
// Fixing the rank keeps xtensor on its fast fixed-rank path and makes NumPy-style broadcasting of rows
// and columns exactly the 2-D case.
//
// This header is what a layer includes for Tensor; the AD tape (autodiff/tape.hpp) builds on it.
#include <array>
#include <cstddef>

#include "intrinsics.hpp"  // before xsimd: GCC 12 repairs, see there
#include <xtensor/xtensor.hpp>

// Without it xtensor's own loops (the ops' forward and backward expressions) run scalar, several times
// slower, and nothing else would say so. The flags come with the dependency: pkg-config --cflags wgflow,
// or meson's dependency('wgflow').
#ifndef XTENSOR_USE_XSIMD
#warning "wgflow compiled without -DXTENSOR_USE_XSIMD: xtensor's loops run scalar (slow); take the flags from pkg-config --cflags wgflow"
#endif

#include "errors.hpp"

namespace wgflow {

// rows x cols.
using Shape = std::array<std::size_t, 2>;

// An owning rank-2 tensor: what users pass in and get out.
template <class T>
using Tensor = xt::xtensor<T, 2>;

}  // namespace wgflow
