#include <cmath>
#include <cstdint>
#include <memory>
#include <numbers>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/lane_fma.hpp"
#include "models/likelihoods.hpp"
#include "models/loss.hpp"
#include "models/mlp.hpp"
#include "tests/models/network_fixture.hpp"

using namespace wgtest;
using wgflow::models::Likelihood;
using wgflow::models::ParameterLayout;
using wgflow::models::Task;

namespace {

// Labels in {0, ..., k-1}, one per row, stored as doubles.
Tensor<double> random_labels(std::size_t B, std::size_t k, std::uint64_t seed) {
  Tensor<double> y = random_tensor(Shape{B, 1}, seed, Domain{0, static_cast<double>(k)});
  for (auto& v : y) v = std::min(std::floor(v), static_cast<double>(k - 1));
  return y;
}

Tensor<double> targets_for(const Likelihood<double>& likelihood, std::size_t B, std::size_t k, std::uint64_t seed) {
  return likelihood.task() == Task::classification ? random_labels(B, k, seed) : random_tensor(Shape{B, k}, seed);
}

// residual_sum's documented arithmetic, one entry at a time: entry i's square fused into partial sum
// i mod 8 (lane_fma: one rounding where the target has FMA), the eight added pairwise.
template <class T>
T residual_sum_as_documented(const T* f, const T* y, std::size_t n) {
  T part[8] = {};
  for (std::size_t i = 0; i < n; ++i) part[i % 8] = wgflow::lane_fma(f[i] - y[i], f[i] - y[i], part[i % 8]);
  return ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
}

// Every length 0 - 300 from one pool of normals of scale 10: counts the lengths whose sum differs in any
// bit from the documented one.
template <class T>
int residual_sums_off_documented() {
  std::mt19937_64 gen(11);
  std::normal_distribution<double> normal(0, 10);
  std::vector<T> f(300), y(300);
  for (std::size_t i = 0; i < f.size(); ++i) f[i] = static_cast<T>(normal(gen)), y[i] = static_cast<T>(normal(gen));
  int off = 0;
  for (std::size_t n = 0; n <= f.size(); ++n)
    off += bits_of(wgflow::models::detail::residual_sum(f.data(), y.data(), n)) !=
           bits_of(residual_sum_as_documented(f.data(), y.data(), n));
  return off;
}

}  // namespace

// The squared losses' sum runs in vectors, its order fixed so that every caller gets the same bits; this
// pins the rounding too: whether a square is fused into its sum must not depend on how the compiler
// vectorised the loop (it did, at 512-bit vectors, before lane_fma made the fusion explicit).
TEST_CASE("the squared residual sum has its documented bits at every length") {
  CHECK(residual_sums_off_documented<float>() == 0);
  CHECK(residual_sums_off_documented<double>() == 0);
}

TEST_CASE("loss values equal their closed forms") {
  const Tensor<double> F{{0.5, -1.0}, {2.0, 0.25}, {-0.5, 1.5}};
  const Tensor<double> Y{{0.0, -2.0}, {1.0, 1.25}, {0.5, 1.0}};
  const double B = 3, k = 2;
  double sum_sq = 0;
  for (std::size_t i = 0; i < F.size(); ++i) sum_sq += (F.data()[i] - Y.data()[i]) * (F.data()[i] - Y.data()[i]);
  Tape<double> tape;
  const auto f = tape.constant(F), y = tape.constant(Y);

  CHECK(wgflow::models::squared_error(f, y).item() == doctest::Approx(sum_sq / B).epsilon(1e-15));

  const double sigma = 0.7, half_log_2pi = 0.5 * std::log(2 * std::numbers::pi);
  const double nll = sum_sq / B / (2 * sigma * sigma) + k * (std::log(sigma) + half_log_2pi);
  CHECK(wgflow::models::gaussian_nll(f, y, sigma).item() == doctest::Approx(nll).epsilon(1e-14));
  CHECK(wgflow::models::gaussian_nll(f, y, tape.constant(std::log(sigma))).item() == doctest::Approx(nll).epsilon(1e-14));

  // Cross-entropy, including logits of +-1000 where a naive softmax overflows.
  const Tensor<double> Z{{1000.0, -1000.0, 0.0}, {0.1, 0.2, 0.3}};
  const Tensor<double> labels{{1.0}, {2.0}};
  const double row0 = -(-1000.0 - 1000.0);  // log_softmax(Z_0)[1] = -2000 to double precision
  const double row1 = -(0.3 - std::log(std::exp(0.1) + std::exp(0.2) + std::exp(0.3)));
  const double ce = wgflow::models::softmax_cross_entropy(tape.constant(Z), tape.constant(labels)).item();
  CHECK(std::isfinite(ce));
  CHECK(ce == doctest::Approx((row0 + row1) / 2).epsilon(1e-14));
}

TEST_CASE("loss gradients w.r.t. outputs, targets and log sigma pass the gradient check") {
  const Tensor<double> F = random_tensor(Shape{5, 3}, 1), Y = random_tensor(Shape{5, 3}, 2);
  auto se = wgflow::ad::check_gradient(
      [](Tape<double>&, const Vars& v) { return wgflow::models::squared_error(v[0], v[1]); }, {F, Y});
  CHECK_MESSAGE(se.ok(), se.message());
  auto fixed = wgflow::ad::check_gradient(
      [](Tape<double>&, const Vars& v) { return wgflow::models::gaussian_nll(v[0], v[1], 0.3); }, {F, Y});
  CHECK_MESSAGE(fixed.ok(), fixed.message());
  auto learned = wgflow::ad::check_gradient(
      [](Tape<double>&, const Vars& v) { return wgflow::models::gaussian_nll(v[0], v[1], v[2]); },
      {F, Y, Tensor<double>{{-0.4}}});
  CHECK_MESSAGE(learned.ok(), learned.message());
  const Tensor<double> labels = random_labels(5, 3, 3);
  auto ce = wgflow::ad::check_gradient(
      [&](Tape<double>& tape, const Vars& v) {
        return wgflow::models::softmax_cross_entropy(v[0], tape.constant(labels));
      },
      {F});
  CHECK_MESSAGE(ce.ok(), ce.message());
}

// The loss of the network as a function of one flat theta leaf: the network's blocks, then the loss's own
// parameters (log sigma), split from theta on the tape, so the checker differentiates w.r.t. theta itself.
TEST_CASE("every likelihood through the network, gradient w.r.t. the flat theta (depths 1-3, biases on and off)") {
  const std::vector<MlpSpec> nets = {
      {{3, 2}, Activation::tanh(), Activation::identity(), true},
      {{3, 2}, Activation::tanh(), Activation::identity(), false},
      {{3, 5, 2}, Activation::tanh(), Activation::identity(), true},
      {{3, 5, 2}, Activation::softplus(), Activation::identity(), false},
      {{3, 4, 4, 2}, Activation::sigmoid(), Activation::identity(), true},
      {{3, 4, 4, 2}, Activation::leaky_relu(0.1), Activation::identity(), false},
  };
  const std::vector<std::shared_ptr<const Likelihood<double>>> likelihoods = wgtest::all_likelihoods(0.5);
  std::uint64_t seed = 500;
  for (const MlpSpec& spec : nets)
    for (const auto& likelihood : likelihoods) {
      const Mlp<double> net(spec);
      CAPTURE(likelihood->name());
      CAPTURE(net.num_params());
      CAPTURE(spec.bias);
      ParameterLayout layout = net.layout();
      for (const auto& b : likelihood->parameters().blocks()) layout.add(b.name, b.shape);
      // A finite difference across a kink of leaky_relu is wrong whatever the gradient: such points
      // (e.g. a pre-activation of 8e-4 moved by 2e-3 by the stencil) are redrawn.
      Tensor<double> theta, X;
      do {
        theta = random_tensor(Shape{layout.size(), 1}, seed++, Domain{-1, 1});
        X = random_tensor(Shape{6, 3}, seed++);
      } while (!stencil_avoids_kinks(spec, std::span<const double>(theta.data(), theta.size()), X,
                                     wgflow::ad::GradCheckOptions{}.step));
      const Tensor<double> Y = targets_for(*likelihood, 6, 2, seed++);
      auto f = [&](Tape<double>& tape, const Vars& v) {
        const std::span<Var<double>> blocks = layout.split(v[0]);
        const std::span<const Var<double>> all(blocks);
        const std::size_t n = net.layout().num_blocks();
        return likelihood->loss(net.forward(all.first(n), tape.constant(X)), tape.constant(Y), all.subspan(n));
      };
      auto report = wgflow::ad::check_gradient(f, {theta});
      CHECK_MESSAGE(report.ok(), report.message());
    }
}

TEST_CASE("stencil_avoids_kinks tells points beside a kink from points away from it") {
  // 1-1-1 leaky ReLU without biases: pre-activation theta_0 x. At theta_0 = 1e-4 the stencil's 2e-3 steps
  // cross 0; at 0.5 they do not; the second weight feeds the identity output and moves no kink.
  const MlpSpec spec{{1, 1, 1}, Activation::leaky_relu(0.1), Activation::identity(), false};
  const Tensor<double> X{{1.0}};
  CHECK_FALSE(stencil_avoids_kinks(spec, std::vector<double>{1e-4, 1.0}, X, 1e-3));
  CHECK(stencil_avoids_kinks(spec, std::vector<double>{0.5, 1.0}, X, 1e-3));
  CHECK(stencil_avoids_kinks(spec, std::vector<double>{0.5, 1e-4}, X, 1e-3));
  // Perturbing the input moves the pre-activation by theta_0 times the step: 2e-3 against 1e-3.
  CHECK_FALSE(stencil_avoids_kinks(spec, std::vector<double>{1.0, 1.0}, Tensor<double>{{1e-3}}, 1e-3, true));
  CHECK(stencil_avoids_kinks(spec, std::vector<double>{1.0, 1.0}, Tensor<double>{{1e-3}}, 1e-3, false));
}

TEST_CASE("losses and likelihoods reject mismatched shapes, bad labels and bad noise scales, naming them") {
  Tape<double> tape;
  const auto F = tape.constant(Tensor<double>::from_shape({4, 3}));
  CHECK_THROWS_WITH_AS(wgflow::models::squared_error(F, tape.constant(Tensor<double>::from_shape({4, 2}))),
                       doctest::Contains("outputs are 4x3, targets 4x2"), wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(wgflow::models::softmax_cross_entropy(F, tape.constant(Tensor<double>{{0}, {1}, {3}, {2}})),
                       doctest::Contains("label in row 2 is 3"), wgflow::Error);
  CHECK_THROWS_WITH_AS(wgflow::models::softmax_cross_entropy(F, tape.constant(Tensor<double>{{0}, {1.5}, {1}, {2}})),
                       doctest::Contains("label in row 1 is 1.5"), wgflow::Error);
  CHECK_THROWS_WITH_AS(wgflow::models::softmax_cross_entropy(F, tape.constant(Tensor<double>::from_shape({4, 3}))),
                       doctest::Contains("labels are 4x3, expected 4x1"), wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(wgflow::models::GaussianNll<double>(0.0), doctest::Contains("sigma must be positive"),
                       wgflow::Error);
  CHECK_THROWS_AS(wgflow::models::GaussianNll<double>(std::nan("")), wgflow::Error);
  CHECK_THROWS_WITH_AS(wgflow::models::GaussianNllLearnedNoise<double>().loss(F, F, {}),
                       doctest::Contains("expected 1 own parameter block(s), got 0"), wgflow::Error);
  const std::vector<double> two = {0.1, 0.2};
  CHECK_THROWS_WITH_AS(wgflow::models::SquaredError<double>().predictive_mean(Tensor<double>::from_shape({4, 3}), two),
                       doctest::Contains("expected 0 own parameter value(s), got 2"), wgflow::Error);
  CHECK(wgflow::models::GaussianNllLearnedNoise<double>().num_params() == 1);
  CHECK(wgflow::models::GaussianNllLearnedNoise<double>().parameters().block(0).name == "noise.log_sigma");
  CHECK(wgflow::models::SquaredError<double>().num_params() == 0);
  CHECK(wgflow::models::SoftmaxCrossEntropy<double>().target_cols(10) == 1);
  CHECK(wgflow::models::SquaredError<double>().target_cols(10) == 10);
}
