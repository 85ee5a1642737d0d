#pragma once
// The "two moons" data set (scikit-learn's make_moons): two interleaving half circles, one per class,
// with Gaussian noise on each coordinate, centred on the origin. Row i is a pure function of (seed, split,
// i), so the training and test sets are fixed by the seed and do not depend on each other's size.
//
//   class 0:  (cos t, sin t) - (1/2, 1/4)            t ~ U(0, pi)
//   class 1:  (1 - cos t, 1/2 - sin t) - (1/2, 1/4)
//
// Classes alternate (row i has class i mod 2), so any n is balanced to within one row. With label_noise
// > 0 each row's label is flipped with that probability (the inputs stay where their true class put them):
// what the robust likelihood (robust_softmax.hpp) models.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>

#include "core/errors.hpp"
#include "core/random.hpp"
#include "core/tensor.hpp"

namespace wgflow::experiments::classification {

struct LabelledPoints {
  Tensor<double> X;  // n x 2
  Tensor<double> y;  // n x 1, class indices 0 and 1 (as given, flipped or not)
  std::size_t flipped = 0;
};

// `split` keys the rows' random streams: 0 for the training set, 1 for the test set.
inline LabelledPoints two_moons(std::size_t n, double noise, double label_noise, std::uint64_t seed,
                                std::uint64_t split) {
  if (!(noise >= 0) || !(label_noise >= 0 && label_noise <= 1))
    throw Error("two_moons: need noise >= 0 and a label-flip rate in [0, 1], got " + std::to_string(noise) +
                " and " + std::to_string(label_noise));
  LabelledPoints out{Tensor<double>::from_shape({n, 2}), Tensor<double>::from_shape({n, 1})};
  for (std::size_t i = 0; i < n; ++i) {
    Rng rng = Rng::stream(seed, i, 100 + split);
    const double t = rng.uniform(0, std::numbers::pi);
    const bool upper = i % 2 == 0;
    out.X(i, 0) = (upper ? std::cos(t) : 1 - std::cos(t)) - 0.5 + noise * rng.normal();
    out.X(i, 1) = (upper ? std::sin(t) : 0.5 - std::sin(t)) - 0.25 + noise * rng.normal();
    const bool flip = rng.uniform() < label_noise;
    out.y(i, 0) = (upper != flip) ? 0.0 : 1.0;
    out.flipped += flip;
  }
  return out;
}

}  // namespace wgflow::experiments::classification
