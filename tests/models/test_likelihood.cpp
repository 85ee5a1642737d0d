// The likelihoods (models/likelihood.hpp, models/likelihoods.hpp): each records the library's fused loss
// node, bit for bit; each loss passes the public gradient checker in the outputs, the targets and its own
// parameters; each predicts what its p(y | x, theta) says; and one written outside the library works in a
// NetworkPotential as the library's do.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>
#include <numbers>
#include <span>
#include <string>
#include <vector>

#include "autodiff/ops/arithmetic.hpp"
#include "autodiff/ops/elementwise.hpp"
#include "autodiff/ops/reduce.hpp"
#include "models/likelihoods.hpp"
#include "models/network_potential.hpp"
#include "tests/models/network_fixture.hpp"

using namespace wgtest;
using wgflow::models::GaussianNll;
using wgflow::models::GaussianNllLearnedNoise;
using wgflow::models::Likelihood;
using wgflow::models::SoftmaxCrossEntropy;
using wgflow::models::SquaredError;
using wgflow::models::Task;

// A named namespace: with unity builds this file shares a translation unit with other suites.
namespace likelihood_test {

// Labels in {0, ..., k-1}, one per row, stored as doubles.
Tensor<double> labels_for(std::size_t B, std::size_t k, std::uint64_t seed) {
  Tensor<double> y = random_tensor(Shape{B, 1}, seed, Domain{0, static_cast<double>(k)});
  for (auto& v : y) v = std::min(std::floor(v), static_cast<double>(k - 1));
  return y;
}

// A likelihood written as a user would, from the AD core's ops (no hand-written backward): Cauchy noise of
// scale 1, -log p(y | f) = log(pi) + log(1 + (y - f)^2) per output, averaged over rows.
class Cauchy final : public Likelihood<double> {
 public:
  std::string name() const override { return "cauchy"; }
  Task task() const override { return Task::regression; }
  std::size_t target_cols(std::size_t outputs) const override { return outputs; }
  Var<double> loss(const Var<double>& F, const Var<double>& Y, std::span<const Var<double>> own) const override {
    check_own(own, "loss");
    using namespace wgflow::ad;
    const double k = static_cast<double>(F.cols());
    return sum(log(square(F - Y) + 1.0)) * (1.0 / static_cast<double>(F.rows())) + k * std::log(std::numbers::pi);
  }
  Tensor<double> predictive_mean(const Tensor<double>& F, std::span<const double> own) const override {
    check_own(own, "predictive_mean");
    return F;  // the location: a Cauchy has no mean, but the ensemble's centre is still f
  }
};

}  // namespace likelihood_test

using likelihood_test::labels_for;
using likelihood_test::Cauchy;

TEST_CASE("the library's likelihoods record exactly the fused loss nodes, bit for bit") {
  const Tensor<double> F = random_tensor(Shape{7, 3}, 1), Y = random_tensor(Shape{7, 3}, 2);
  const Tensor<double> labels = labels_for(7, 3, 3);
  Tape<double> tape;
  const auto f = tape.constant(F), y = tape.constant(Y), c = tape.constant(labels);
  const auto s = tape.constant(-0.3);
  const std::vector<Var<double>> own{s};
  CHECK(SquaredError<double>().loss(f, y, {}).item() == wgflow::models::squared_error(f, y).item());
  CHECK(GaussianNll<double>(0.7).loss(f, y, {}).item() == wgflow::models::gaussian_nll(f, y, 0.7).item());
  CHECK(GaussianNllLearnedNoise<double>().loss(f, y, own).item() == wgflow::models::gaussian_nll(f, y, s).item());
  CHECK(SoftmaxCrossEntropy<double>().loss(f, c, {}).item() == wgflow::models::softmax_cross_entropy(f, c).item());
}

TEST_CASE("loss_and_gradient: loss() and its backward off the caller's tape, bit for bit, for every likelihood") {
  const std::size_t B = 9, k = 3;
  const Tensor<double> F = random_tensor(Shape{B, k}, 4), Y = random_tensor(Shape{B, k}, 5);
  const Tensor<double> labels = labels_for(B, k, 6);
  std::vector<std::shared_ptr<const Likelihood<double>>> all = all_likelihoods(0.7);
  all.push_back(std::make_shared<Cauchy>());
  for (const auto& likelihood : all) {
    CAPTURE(likelihood->name());
    const Tensor<double>& targets = likelihood->task() == Task::classification ? labels : Y;
    const std::vector<double> own(likelihood->num_params(), -0.3);
    // The reference: loss() recorded on a tape of its own, gradients by backward.
    Tape<double> tape;
    const auto f = tape.variable(F), y = tape.constant(targets);
    std::vector<Var<double>> own_vars;
    for (double v : own) own_vars.push_back(tape.variable(v));
    const auto l = likelihood->loss(f, y, own_vars);
    tape.backward(l);
    std::vector<double> dF(B * k), own_grad(own.size());
    const double value = likelihood->loss_and_gradient(std::span<const double>(F.data(), B * k),
                                                       std::span<const double>(targets.data(), targets.size()), B,
                                                       own, dF, own_grad);
    CHECK(value == l.item());
    CHECK(std::equal(dF.begin(), dF.end(), f.adj().data()));
    for (std::size_t p = 0; p < own.size(); ++p) CHECK(own_grad[p] == own_vars[p].adj()(0, 0));
  }
}

// Members side by side, ld apart (the lanes' layout), against loss_and_gradient member by member: every count
// from one member to two vectors of them and a tail, so that the vector and scalar columns both run.
template <class T>
void check_in_lanes(const Likelihood<T>& likelihood, const std::vector<T>& targets, std::size_t B) {
  CAPTURE(likelihood.name());
  const std::size_t p = likelihood.num_params(), stride = p + 2;
  for (std::size_t count = 1; count <= 2 * xsimd::batch<T>::size + 3; ++count) {
    CAPTURE(count);
    const std::size_t ld = count + 3;
    std::vector<T> F(B * ld), own(count * stride), values(count);
    for (std::size_t i = 0; i < F.size(); ++i) F[i] = static_cast<T>(std::sin(0.37 * static_cast<double>(i + count)));
    for (std::size_t i = 0; i < own.size(); ++i) own[i] = static_cast<T>(-0.1 * static_cast<double>(i % 5));
    std::vector<T> dF(B * ld, T(-7)), own_grad(count * stride, T(-7));
    likelihood.loss_and_gradient_in_lanes(F.data(), dF.data(), ld, count, targets, B, own.data(), own_grad.data(),
                                          stride, values.data());
    for (std::size_t l = 0; l < count; ++l) {
      std::vector<T> f(B), df(B), grad(p);
      for (std::size_t b = 0; b < B; ++b) f[b] = F[b * ld + l];
      const std::span<const T> own_l(own.data() + l * stride, p);
      const T value = likelihood.loss_and_gradient(f, targets, B, own_l, df, grad);
      CHECK(values[l] == value);
      for (std::size_t b = 0; b < B; ++b) CHECK(dF[b * ld + l] == df[b]);
      for (std::size_t j = 0; j < p; ++j) CHECK(own_grad[l * stride + j] == grad[j]);
    }
    for (std::size_t b = 0; b < B; ++b)  // the columns past count are left alone
      for (std::size_t l = count; l < ld; ++l) CHECK(dF[b * ld + l] == T(-7));
  }
}

TEST_CASE("loss_and_gradient_in_lanes: loss_and_gradient member by member, bit for bit, for every likelihood") {
  const std::size_t B = 13;  // not a multiple of the residual sums' eight partial sums
  std::vector<double> Y(B), labels(B);
  for (std::size_t b = 0; b < B; ++b) Y[b] = std::cos(1.3 * static_cast<double>(b)), labels[b] = 0;
  std::vector<std::shared_ptr<const Likelihood<double>>> all = all_likelihoods(0.7);
  all.push_back(std::make_shared<Cauchy>());
  for (const auto& likelihood : all)
    check_in_lanes(*likelihood, likelihood->task() == Task::classification ? labels : Y, B);
  std::vector<float> Yf(B);
  for (std::size_t b = 0; b < B; ++b) Yf[b] = static_cast<float>(Y[b]);
  check_in_lanes(SquaredError<float>(), Yf, B);
}

TEST_CASE("every likelihood's loss passes the gradient check in the outputs, the targets and its own parameters") {
  const Tensor<double> F = random_tensor(Shape{5, 3}, 11), Y = random_tensor(Shape{5, 3}, 12);
  const Tensor<double> labels = labels_for(5, 3, 13);
  const std::vector<std::shared_ptr<const Likelihood<double>>> likelihoods = {
      std::make_shared<SquaredError<double>>(), std::make_shared<GaussianNll<double>>(0.3),
      std::make_shared<GaussianNllLearnedNoise<double>>(), std::make_shared<SoftmaxCrossEntropy<double>>(),
      std::make_shared<Cauchy>()};
  for (const auto& likelihood : likelihoods) {
    CAPTURE(likelihood->name());
    const bool classes = likelihood->task() == Task::classification;
    // Inputs: F, then Y for a regression (labels are not differentiable), then one 1x1 per own parameter.
    std::vector<Tensor<double>> inputs{F};
    if (!classes) inputs.push_back(Y);
    for (std::size_t j = 0; j < likelihood->num_params(); ++j) inputs.push_back(Tensor<double>{{-0.4}});
    auto f = [&](Tape<double>& tape, const Vars& v) {
      const Var<double> targets = classes ? tape.constant(labels) : v[1];
      const std::span<const Var<double>> own(v.data() + (classes ? 1 : 2), likelihood->num_params());
      return likelihood->loss(v[0], targets, own);
    };
    const auto report = wgflow::ad::check_gradient(f, inputs);
    CHECK_MESSAGE(report.ok(), report.message());
  }
}

TEST_CASE("predictive means and noise: outputs for a regression, softmax probabilities for a classification") {
  const Tensor<double> F{{0.0, std::log(3.0)}, {1000.0, -1000.0}, {-2.0, -2.0}};
  const std::vector<double> none;
  CHECK(SquaredError<double>().predictive_mean(F, none) == F);
  CHECK(SquaredError<double>().noise_variance(F, none) == Tensor<double>(xt::zeros<double>({3, 2})));
  CHECK(GaussianNll<double>(0.5).predictive_mean(F, none) == F);
  CHECK(GaussianNll<double>(0.5).noise_variance(F, none) == Tensor<double>(xt::full_like(F, 0.25)));
  const std::vector<double> log_sigma = {std::log(0.2)};
  CHECK(GaussianNllLearnedNoise<double>().predictive_mean(F, log_sigma) == F);
  const Tensor<double> noise = GaussianNllLearnedNoise<double>().noise_variance(F, log_sigma);
  for (double v : noise) CHECK(v == doctest::Approx(0.04).epsilon(1e-14));

  // softmax(0, log 3) = (1/4, 3/4); logits of +-1000 give (1, 0), not NaN; equal logits give (1/2, 1/2).
  const SoftmaxCrossEntropy<double> categorical;
  CHECK(categorical.task() == Task::classification);
  const Tensor<double> P = categorical.predictive_mean(F, none);
  REQUIRE(P.shape() == F.shape());
  CHECK(P(0, 0) == doctest::Approx(0.25).epsilon(1e-15));
  CHECK(P(0, 1) == doctest::Approx(0.75).epsilon(1e-15));
  CHECK(P(1, 0) == 1.0);
  CHECK(P(1, 1) == 0.0);
  CHECK(P(2, 0) == 0.5);
  CHECK(P(2, 1) == 0.5);
}

TEST_CASE("a likelihood written outside the library backs a NetworkPotential: its loss on the batch, its gradient") {
  const Mlp<double> net({{2, 5, 2}, Activation::tanh()});
  const Tensor<double> X = random_tensor(Shape{30, 2}, 21), Y = random_tensor(Shape{30, 2}, 22);
  wgflow::models::NetworkPotential<double> p(net, Cauchy(), X, Y, {.batch_size = 30, .seed = 1});
  CHECK(p.likelihood().name() == "cauchy");
  const std::vector<double> theta = random_theta(p.dim(), 23);
  std::vector<double> grad(p.dim());
  const double value = p.value_and_gradient(theta, grad);
  // The value by hand: (1/B) sum_ic log(pi (1 + (y - f)^2)).
  const Tensor<double> out = net.predict(theta, X);
  double want = 0;
  for (std::size_t i = 0; i < out.size(); ++i)
    want += std::log(std::numbers::pi * (1 + (Y.data()[i] - out.data()[i]) * (Y.data()[i] - out.data()[i])));
  CHECK(value == doctest::Approx(want / 30).epsilon(1e-13));
  // The gradient against fourth-order differences of loss_on.
  const double h = 1e-4;
  for (std::size_t j = 0; j < theta.size(); ++j) {
    auto at = [&](double dx) {
      std::vector<double> t = theta;
      t[j] += dx;
      return p.loss_on(t, X, Y);
    };
    const double numeric = (at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h);
    CHECK_MESSAGE(std::abs(grad[j] - numeric) <= 1e-8 * std::max(1.0, std::abs(numeric)),
                  "parameter " << j << ": " << grad[j] << " vs " << numeric);
  }
}
