// NetworkPotential's batched path (models/network_lanes.hpp): the networks of a group run in SIMD lanes,
// off the tape. Each particle's value and gradient must be the tape's up to rounding, for every activation
// and likelihood the path takes; must not depend, bit for bit, on which particles share the batch; and the
// path must be taken exactly for the networks it runs.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "models/network_lanes.hpp"
#include "models/network_potential.hpp"
#include "tests/models/network_fixture.hpp"

using namespace wgtest;
using wgflow::models::GaussianNll;
using wgflow::models::GaussianNllLearnedNoise;
using wgflow::models::Likelihood;
using wgflow::models::NetworkLanes;
using wgflow::models::NetworkPotential;
using wgflow::models::SquaredError;

namespace {

template <class T>
wgflow::Tensor<T> as(const Tensor<double>& a) {
  wgflow::Tensor<T> out = wgflow::Tensor<T>::from_shape(a.shape());
  std::copy(a.begin(), a.end(), out.begin());
  return out;
}

// values_and_gradients of all N rows against value_and_gradient (the tape) row by row: max relative error.
template <class T>
double batched_vs_tape(const NetworkPotential<T>& p, const wgflow::Tensor<T>& thetas) {
  const std::size_t n = thetas.shape()[0], J = thetas.shape()[1];
  std::vector<T> values(n);
  wgflow::Tensor<T> grads = wgflow::Tensor<T>::from_shape({n, J});
  p.values_and_gradients(thetas, values, grads);
  double worst = 0;
  std::vector<T> g(J);
  for (std::size_t i = 0; i < n; ++i) {
    const T v = p.value_and_gradient(std::span<const T>(thetas.data() + i * J, J), g);
    double scale = std::abs(double(v));
    for (std::size_t j = 0; j < J; ++j) scale = std::max(scale, std::abs(double(g[j])));
    worst = std::max(worst, std::abs(double(values[i]) - double(v)) / (1 + scale));
    for (std::size_t j = 0; j < J; ++j)
      worst = std::max(worst, std::abs(double(grads(i, j)) - double(g[j])) / (1 + scale));
  }
  return worst;
}

template <class T>
void check_against_tape(double tolerance) {
  constexpr std::size_t W = NetworkLanes<T>::lanes;
  const std::vector<std::shared_ptr<const Likelihood<T>>> likelihoods = {
      std::make_shared<SquaredError<T>>(), std::make_shared<GaussianNll<T>>(T(0.7)),
      std::make_shared<GaussianNllLearnedNoise<T>>()};
  // 13 inputs: a whole tile of inputs in the backward and a partial one; 10 rows: whole and partial row tiles.
  const std::vector<std::vector<std::size_t>> shapes = {{8, 50, 1}, {3, 5, 1}, {13, 7, 1}, {1, 1, 1}};
  const std::vector<Activation> activations = {Activation::relu(), Activation::leaky_relu(0.1), Activation::identity()};
  std::uint64_t seed = 1;
  for (const auto& widths : shapes)
    for (const Activation& act : activations)
      for (const bool bias : {true, false})
        for (const auto& likelihood : likelihoods) {
          CAPTURE(widths[0]);
          CAPTURE(widths[1]);
          CAPTURE(act.name());
          CAPTURE(bias);
          CAPTURE(likelihood->name());
          const Mlp<T> net({.widths = widths, .hidden = act, .bias = bias});
          const auto X = as<T>(random_tensor(Shape{23, widths[0]}, ++seed));
          const auto Y = as<T>(random_tensor(Shape{23, 1}, ++seed));
          NetworkPotential<T> p(net, likelihood, X, Y, {.batch_size = 10, .seed = 3});
          REQUIRE(p.prefers_batches());
          p.begin_step(2);  // the epoch's last batch: 3 rows
          const std::size_t n = 2 * W + 3;  // two whole groups and a partial one
          const auto thetas = as<T>(random_tensor(Shape{n, p.dim()}, ++seed, Domain{-1, 1}));
          CHECK(batched_vs_tape(p, thetas) < tolerance);
          p.begin_step(0);  // a full batch of 10
          CHECK(batched_vs_tape(p, thetas) < tolerance);
        }
}

}  // namespace

TEST_CASE("NetworkPotential in SIMD lanes: each particle's value and gradient are the tape's, up to rounding") {
  SUBCASE("float64") { check_against_tape<double>(1e-13); }
  SUBCASE("float32") { check_against_tape<float>(2e-5); }
}

TEST_CASE("NetworkPotential in SIMD lanes: gradients match central differences of the batched values") {
  const Mlp<double> net({.widths = {4, 6, 1}, .hidden = Activation::leaky_relu(0.2)});
  const Tensor<double> X = random_tensor(Shape{12, 4}, 5), Y = random_tensor(Shape{12, 1}, 6);
  NetworkPotential<double> p(net, GaussianNllLearnedNoise<double>(), X, Y, {.batch_size = 12});
  const std::size_t n = 5, J = p.dim();
  Tensor<double> thetas = random_tensor(Shape{n, J}, 7, Domain{-1, 1});
  std::vector<double> values(n);
  Tensor<double> grads = Tensor<double>::from_shape({n, J});
  p.values_and_gradients(thetas, values, grads);
  const double h = 1e-6;
  std::size_t compared = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::vector<double> row(thetas.data() + i * J, thetas.data() + (i + 1) * J);
    if (!stencil_avoids_kinks(net.spec(), row, X, h)) continue;  // a difference across a kink says nothing
    ++compared;
    for (std::size_t j = 0; j < J; ++j) {
      const double x0 = thetas(i, j);
      std::vector<double> up(n), down(n);
      Tensor<double> unused = Tensor<double>::from_shape({n, J});
      thetas(i, j) = x0 + h;
      p.values_and_gradients(thetas, up, unused);
      thetas(i, j) = x0 - h;
      p.values_and_gradients(thetas, down, unused);
      thetas(i, j) = x0;
      CAPTURE(i);
      CAPTURE(j);
      CHECK(grads(i, j) == doctest::Approx((up[i] - down[i]) / (2 * h)).epsilon(1e-6).scale(1));
    }
  }
  CHECK(compared >= 3);
}

// Group sizes 1 to W + 7 at four offsets into the particles: on AVX-512 a group of at most a quarter or a
// third of a vector runs in the replicated kernel (models/lanes_replicated_kernel.hpp, four or three copies
// a vector), of at most half in the paired kernel (lanes_paired_kernel.hpp), the rest in whole vectors;
// rows or hidden units that are not a multiple of 2, 3 or 4 leave those kernels' upper halves or slots short.
namespace {
template <class T>
void check_independent_of_group(const MlpSpec& spec, std::size_t rows) {
  const Mlp<T> net(spec);
  const auto X = as<T>(random_tensor(Shape{rows, spec.widths[0]}, 11)), Y = as<T>(random_tensor(Shape{rows, 1}, 12));
  NetworkPotential<T> p(net, SquaredError<T>(), X, Y, {.batch_size = rows});
  REQUIRE(p.prefers_batches());
  constexpr std::size_t W = NetworkLanes<T>::lanes;
  const std::size_t n = 2 * W + 9, J = p.dim();
  const auto thetas = as<T>(random_tensor(Shape{n, J}, 13, Domain{-1, 1}));
  std::vector<T> values(n);
  wgflow::Tensor<T> grads = wgflow::Tensor<T>::from_shape({n, J});
  p.values_and_gradients(thetas, values, grads);
  for (const std::size_t first : {std::size_t{0}, std::size_t{3}, W + 1, n - 1})
    for (std::size_t count = 1; count <= W + 7; ++count) {
      if (first + count > n) continue;
      CAPTURE(first);
      CAPTURE(count);
      const wgflow::Tensor<T> some = xt::view(thetas, xt::range(first, first + count), xt::all());
      std::vector<T> v(count);
      wgflow::Tensor<T> g = wgflow::Tensor<T>::from_shape({count, J});
      p.values_and_gradients(some, v, g);
      for (std::size_t i = 0; i < count; ++i) {
        CHECK(v[i] == values[first + i]);
        CHECK(std::equal(g.data() + i * J, g.data() + (i + 1) * J, grads.data() + (first + i) * J));
      }
    }
}
}  // namespace

TEST_CASE("NetworkPotential in SIMD lanes: a particle's bits do not depend on which particles share the call") {
  SUBCASE("8-50-1, 100 rows (the UCI networks), float32") { check_independent_of_group<float>({.widths = {8, 50, 1}}, 100); }
  SUBCASE("8-50-1, 100 rows, float64") { check_independent_of_group<double>({.widths = {8, 50, 1}}, 100); }
  SUBCASE("13-7-1, 23 rows: odd rows and units, a partial input tile") {
    check_independent_of_group<float>({.widths = {13, 7, 1}, .hidden = Activation::leaky_relu(0.1)}, 23);
    check_independent_of_group<double>({.widths = {13, 7, 1}, .hidden = Activation::leaky_relu(0.1)}, 23);
  }
  SUBCASE("3-1-1 without biases, 1 row") {
    check_independent_of_group<float>({.widths = {3, 1, 1}, .bias = false}, 1);
    check_independent_of_group<double>({.widths = {3, 1, 1}, .hidden = Activation::identity(), .bias = false}, 1);
  }
}

TEST_CASE("NetworkPotential takes the lanes exactly for one hidden layer, a piecewise-linear activation, one output") {
  const Tensor<double> X = random_tensor(Shape{9, 3}, 1), Y = random_tensor(Shape{9, 2}, 2);
  const auto batches = [&](MlpSpec spec) {
    const std::size_t outputs = spec.widths.back();
    const Mlp<double> net(std::move(spec));
    return NetworkPotential<double>(net, SquaredError<double>(), X, xt::view(Y, xt::all(), xt::range(0, outputs)))
        .prefers_batches();
  };
  CHECK(batches({.widths = {3, 5, 1}}));
  CHECK(batches({.widths = {3, 5, 1}, .hidden = Activation::leaky_relu(), .bias = false}));
  CHECK_FALSE(batches({.widths = {3, 5, 1}, .hidden = Activation::tanh()}));
  CHECK_FALSE(batches({.widths = {3, 5, 4, 1}}));
  CHECK_FALSE(batches({.widths = {3, 5, 2}}));
  CHECK_FALSE(batches({.widths = {3, 1}}));
  CHECK_FALSE(batches({.widths = {3, 5, 1}, .output = Activation::relu()}));
}

// The kernels' ReLU and its slope in one instruction each (models/lanes_kernel.hpp) keep the bits of the
// selects they replace, at every class of value: signed zeros, NaN, infinities, +1, subnormals.
template <class T>
void check_relu_bits() {
  using Batch = xsimd::batch<T>;
  constexpr std::size_t W = Batch::size;
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  const T tiny = std::numeric_limits<T>::denorm_min();
  const std::vector<T> specials{T(0), -T(0), T(1), T(-1), T(2.5), T(-2.5), inf, -inf, nan, -nan, tiny, -tiny,
                                std::numeric_limits<T>::max(), std::numeric_limits<T>::lowest(), T(1e-30), T(-1e-30)};
  const wgflow::models::lanes_detail::Relu<Batch> relu;
  const Batch zero(T(0));
  for (std::size_t s = 0; s < specials.size(); ++s) {
    alignas(64) T v[W], g[W], got[W], want[W];
    for (std::size_t l = 0; l < W; ++l) {
      v[l] = specials[(s + l) % specials.size()];
      g[l] = specials[(s + 3 * l + 1) % specials.size()];
    }
    const Batch vb = Batch::load_aligned(v), gb = Batch::load_aligned(g);
    relu(vb).store_aligned(got);
    xsimd::select(vb < zero, zero, vb).store_aligned(want);
    for (std::size_t l = 0; l < W; ++l) CHECK_MESSAGE(bits_of(got[l]) == bits_of(want[l]), "relu(", v[l], ")");
    relu.slope(vb, gb).store_aligned(got);
    xsimd::select(vb > zero, gb, zero).store_aligned(want);
    for (std::size_t l = 0; l < W; ++l) CHECK_MESSAGE(bits_of(got[l]) == bits_of(want[l]), "slope(", v[l], ", ", g[l], ")");
  }
}

TEST_CASE("lanes kernels: ReLU and its slope have the selects' bits at zeros, NaN, infinities and subnormals") {
  check_relu_bits<float>();
  check_relu_bits<double>();
}
