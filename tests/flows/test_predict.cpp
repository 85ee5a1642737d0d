// Ensemble predictions through the likelihood (flows/predict.hpp), against values computed by hand: a
// classifier's members' probabilities are averaged, a regression's outputs and noise variances.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "analysis/classification_metrics.hpp"
#include "autodiff/ops/matmul.hpp"
#include "core/random.hpp"
#include "flows/predict.hpp"
#include "flows/presets.hpp"
#include "models/likelihoods.hpp"
#include "models/mlp.hpp"
#include "models/model.hpp"
#include "models/network_potential.hpp"

using namespace wgflow;

// A named namespace: with unity builds this file shares a translation unit with other suites.
namespace predict_test {

// f(theta, x) = x theta: one input, K outputs; at x = 1 the outputs are theta itself.
class Scaled final : public models::Model<double> {
 public:
  explicit Scaled(std::size_t k) : k_(k) { layout_.add("theta", Shape{1, k}); }
  std::size_t num_inputs() const override { return 1; }
  std::size_t num_outputs() const override { return k_; }
  const models::ParameterLayout& layout() const override { return layout_; }
  ad::Var<double> forward(std::span<const ad::Var<double>> p, const ad::Var<double>& X) const override {
    return ad::matmul(X, p[0]);
  }

 private:
  std::size_t k_;
  models::ParameterLayout layout_;
};

const Tensor<double> unit_input{{1.0}};

}  // namespace predict_test

using predict_test::Scaled;
using predict_test::unit_input;

TEST_CASE("a classifier's ensemble averages its members' probabilities, not their logits") {
  // Logits (0, 0) and (0, log 9): probabilities (1/2, 1/2) and (1/10, 9/10), mean (0.3, 0.7). Averaging
  // the logits first would give softmax(0, log 3) = (0.25, 0.75).
  const Tensor<double> particles{{0.0, 0.0}, {0.0, std::log(9.0)}};
  const auto pred = flows::predict(Scaled(2), models::SoftmaxCrossEntropy<double>(), particles, unit_input);
  CHECK(pred.task == models::Task::classification);
  REQUIRE(pred.members.size() == 2);
  CHECK(pred.members[1](0, 1) == doctest::Approx(0.9).epsilon(1e-15));
  CHECK(pred.mean(0, 0) == doctest::Approx(0.3).epsilon(1e-15));
  CHECK(pred.mean(0, 1) == doctest::Approx(0.7).epsilon(1e-15));
  CHECK(pred.variance(0, 0) == doctest::Approx(0.04).epsilon(1e-14));  // ((0.2)^2 + (0.2)^2) / 2
  CHECK(pred.noise.size() == 0);
}

TEST_CASE("regression: without a likelihood the raw outputs are averaged, as with SquaredError, bit for bit") {
  const models::Mlp<double> net({.widths = {2, 6, 3}, .hidden = models::Activation::tanh()});
  const Tensor<double> particles = models::GaussianPrior<double>::isotropic(net.num_params(), 1.0).sample(5, 1);
  const Tensor<double> X = models::GaussianPrior<double>::isotropic(2, 1.0).sample(7, 2);
  const auto raw = flows::predict(net, particles, X);
  const auto through = flows::predict(net, models::SquaredError<double>(), particles, X);
  CHECK(raw.mean == through.mean);
  CHECK(raw.variance == through.variance);
  CHECK(through.noise == Tensor<double>(xt::zeros<double>({7, 3})));
  // By hand, one output: members 1 and 2 give mean 1.5 and variance ((0.5)^2 + (0.5)^2) / 2.
  const auto small = flows::predict(Scaled(1), Tensor<double>{{1.0}, {2.0}}, unit_input);
  CHECK(small.mean(0, 0) == 1.5);
  CHECK(small.variance(0, 0) == 0.25);
}

TEST_CASE("regression: the observation noise of each member's likelihood, averaged") {
  // Means 1 and 2, noise scales 0.5 and 1: noise (0.25 + 1) / 2, spread 0.25.
  const Tensor<double> particles{{1.0, std::log(0.5)}, {2.0, 0.0}};
  const auto learned = flows::predict(Scaled(1), models::GaussianNllLearnedNoise<double>(), particles, unit_input);
  CHECK(learned.task == models::Task::regression);
  CHECK(learned.mean(0, 0) == 1.5);
  CHECK(learned.variance(0, 0) == 0.25);
  CHECK(learned.noise(0, 0) == doctest::Approx(0.625).epsilon(1e-15));
  const auto fixed =
      flows::predict(Scaled(1), models::GaussianNll<double>(0.3), Tensor<double>{{1.0}, {2.0}}, unit_input);
  CHECK(fixed.noise(0, 0) == doctest::Approx(0.09).epsilon(1e-15));
}

TEST_CASE("predict refuses particles without the likelihood's own parameters, naming the shapes") {
  CHECK_THROWS_WITH_AS(
      flows::predict(Scaled(1), models::GaussianNllLearnedNoise<double>(), Tensor<double>{{1.0}}, unit_input),
                       doctest::Contains("particles are 1x1; the model has 1 parameters and the likelihood 1"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(flows::predict(Scaled(1), Tensor<double>{{1.0}}, Tensor<double>{{1.0, 2.0}}),
                       doctest::Contains("inputs are 1x2; the model takes 1 inputs"), ShapeError);
}

TEST_CASE("predict refuses non-finite inputs and particles, naming the entry, rather than predicting NaN") {
  const Tensor<double> particles{{0.5, 1.0}, {0.0, 2.0}, {1.0, -1.0}};
  const Tensor<double> X{{1.0}, {std::nan("")}};
  CHECK_THROWS_WITH_AS(flows::predict(Scaled(2), models::SoftmaxCrossEntropy<double>(), particles, X),
                       "predict: inputs X (2x1) has a non-finite entry at row 1, column 0 (nan)", DataError);
  CHECK_THROWS_WITH_AS(flows::predict(Scaled(2), particles, X), doctest::Contains("inputs X (2x1)"), DataError);
  Tensor<double> diverged = particles;
  diverged(2, 1) = INFINITY;
  CHECK_THROWS_WITH_AS(flows::predict(Scaled(2), models::SoftmaxCrossEntropy<double>(), diverged, unit_input),
                       "predict: particle 2 is not finite (coordinate 1 = inf)", Error);
  CHECK(flows::predict(Scaled(2), particles, unit_input).mean(0, 1) == doctest::Approx(2.0 / 3));
}

TEST_CASE("a deep ensemble of linear softmax classifiers fits separable data; its averaged probabilities score it") {
  // Two Gaussian blobs at (-2, -2) and (2, 2), sd 0.5: a linear boundary separates them.
  const std::size_t n = 60;
  Tensor<double> X = Tensor<double>::from_shape({n, 2}), Y = Tensor<double>::from_shape({n, 1});
  for (std::size_t i = 0; i < n; ++i) {
    Rng rng = Rng::stream(5, i);
    const double side = i % 2 == 0 ? -2.0 : 2.0;
    X(i, 0) = side + 0.5 * rng.normal();
    X(i, 1) = side + 0.5 * rng.normal();
    Y(i, 0) = i % 2 == 0 ? 0.0 : 1.0;
  }
  const models::Mlp<double> net({.widths = {2, 2}});
  models::NetworkPotential<double> potential(net, models::SoftmaxCrossEntropy<double>(), X, Y, {.batch_size = 20});
  const Tensor<double> init = models::GaussianPrior<double>::isotropic(potential.dim(), 1.0).sample(4, 3);
  auto de = flows::deep_ensemble(potential, init, {.eta = 0.5, .seed = 7});
  de.run(300);
  const auto pred = flows::predict(net, models::SoftmaxCrossEntropy<double>(), de.particles(), X);
  const auto m = analysis::classification_metrics(pred.mean, Y);
  CHECK(m.accuracy == 1.0);
  CHECK(m.nll < 0.05);
  CHECK(m.ece < 0.05);
  for (std::size_t i = 0; i < n; ++i) CHECK(pred.mean(i, 0) + pred.mean(i, 1) == doctest::Approx(1.0).epsilon(1e-14));
}
