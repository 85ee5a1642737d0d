#pragma once
// Synthetic data of the UCI regression shape for the benchmarks: the timing of a step does not depend on
// what the numbers are, only on their shapes, so no data set needs to be downloaded. And the arithmetic
// of that shape's networks, which bench/compare.py sets against the cores' peak (bench_peak).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "core/tensor.hpp"
#include "core/random.hpp"

namespace wgflow::bench {

// rows x inputs inputs ~ N(0, 1) and targets y = sin(sum_j x_j / 2) + 0.1 noise (rows x 1).
template <class T>
std::pair<Tensor<T>, Tensor<T>> synthetic_regression(std::size_t rows, std::size_t inputs, std::uint64_t seed) {
  Tensor<T> X = Tensor<T>::from_shape({rows, inputs}), Y = Tensor<T>::from_shape({rows, 1});
  Rng rng = Rng::stream(seed, 0);
  for (std::size_t i = 0; i < rows; ++i) {
    double s = 0;
    for (std::size_t j = 0; j < inputs; ++j) s += (X(i, j) = static_cast<T>(rng.normal()));
    Y(i, 0) = static_cast<T>(std::sin(s / 2) + 0.1 * rng.normal());
  }
  return {X, Y};
}

// The multiply-adds of one in-H-1 network's forward and backward pass over B rows: X W1 and X^T P
// (B in H each), and H w2, H^T g and P = g w2^T .* act'(H) (B H each). PyTorch's step does the same
// arithmetic; a flow's noise, kernel, loss and update come on top and are not counted, so that a count
// times steps per second is a floor under the rate the step's arithmetic ran at.
constexpr double network_fmas(std::size_t B, std::size_t inputs, std::size_t hidden) {
  return 2.0 * B * inputs * hidden + 3.0 * B * hidden;
}

// The multiply-adds of DRLE's interaction among N particles of E features with M prior samples: the N x N
// distances as one symmetric product (N^2 E / 2), the kernel-weighted sums of features (N^2 E), and the
// distances to and sums over the prior samples (2 N M E). Kernels, centring and the bandwidth's median
// come on top. In function space E is the kernel inputs times the outputs: at N = 1000, 100 kernel inputs
// and M = 200 it is 190 M, as much as the networks' two passes, so a DRLE step does 4.0 times a DE step's
// multiply-adds.
constexpr double interaction_fmas(std::size_t N, std::size_t E, std::size_t M) {
  return 1.5 * N * N * E + 2.0 * N * M * E;
}

}  // namespace wgflow::bench
