// A two-hidden-layer perceptron written out op by op (matmul, bias added by row broadcasting, tanh, relu)
// with two losses: the mean squared error and the softmax cross-entropy through log_softmax. Its value
// is compared with a plain xtensor computation and its full gradient, with respect to every weight and
// bias, with finite differences.
#include <cstddef>
#include <vector>

#include <xtensor/xmath.hpp>
#include <xtensor/xsort.hpp>

#include "tests/support/op_check.hpp"

using namespace wgtest;
using wgflow::ad::check_gradient;
using wgflow::ad::GradCheckOptions;

namespace {

constexpr std::size_t n = 8, d = 3, h1 = 6, h2 = 5;

// The parameters in the order the checker receives them: W1, b1, W2, b2, W3, b3.
Values parameters(std::size_t outputs) {
  return {random_tensor({d, h1}, 1), random_tensor({1, h1}, 2), random_tensor({h1, h2}, 3),
          random_tensor({1, h2}, 4), random_tensor({h2, outputs}, 5), random_tensor({1, outputs}, 6)};
}

// x -> relu(tanh(x W1 + b1) W2 + b2) W3 + b3, each bias a 1 x width row added to every row of the batch.
Var<double> network(const Var<double>& x, const Vars& p) {
  auto z1 = tanh(matmul(x, p[0]) + p[1]);
  auto z2 = relu(matmul(z1, p[2]) + p[3]);
  return matmul(z2, p[4]) + p[5];
}

// The same network in plain xtensor, and its relu pre-activations.
Tensor<double> relu_input(const Tensor<double>& x, const Values& p) {
  return dot(xt::tanh(dot(x, p[0]) + p[1]), p[2]) + p[3];
}
Tensor<double> reference_network(const Tensor<double>& x, const Values& p) {
  return dot(xt::fmax(relu_input(x, p), 0.0), p[4]) + p[5];
}

// A finite difference across relu's kink is meaningless, so the test point keeps every relu input at
// least 1e-3 from 0. The stencil moves one parameter theta by at most 2h = 2 * 1e-5 * max(1, |theta|)
// <= 4e-5 (all entries lie in [-2, 2]); a relu input moves by at most that times the factor through
// which theta enters it: 1 for W2 and b2 (|tanh| <= 1), |W2| <= 2 for b1, |x| |W2| <= 4 for W1. So it
// moves by at most 1.6e-4, well inside the margin. With h = 1e-5 the fourth-order stencil's truncation
// error is O(h^4) and its rounding error about 1e-16 |f| / h < 1e-9, far below the tolerance 1e-6.
GradCheckOptions away_from_kinks(const Tensor<double>& x, const Values& p) {
  REQUIRE(xt::amin(xt::abs(relu_input(x, p)))() > 1e-3);
  GradCheckOptions opt;
  opt.step = 1e-5;
  return opt;
}

}  // namespace

TEST_CASE("MLP by hand: mean squared error, gradient with respect to all weights and biases") {
  const Tensor<double> x = random_tensor({n, d}, 7), y = random_tensor({n, 2}, 8);
  const Values p = parameters(2);

  Tape<double> tape;
  Vars vars;
  for (const auto& t : p) vars.push_back(tape.variable(t));
  const double loss = mean(square(network(tape.constant(x), vars) - tape.constant(y))).item();
  CHECK(loss == doctest::Approx(xt::mean(xt::square(reference_network(x, p) - y))()).epsilon(1e-13));

  auto report = check_gradient(
      [&](Tape<double>& t, const Vars& v) { return mean(square(network(t.constant(x), v) - t.constant(y))); }, p,
      away_from_kinks(x, p));
  CHECK_MESSAGE(report.ok(), report.message());
  CHECK(report.inputs.size() == 6);
}

TEST_CASE("MLP by hand: softmax cross-entropy through log_softmax") {
  constexpr std::size_t classes = 4;
  const Tensor<double> x = random_tensor({n, d}, 9);
  Tensor<double> one_hot = xt::zeros<double>({n, classes});
  for (std::size_t i = 0; i < n; ++i) one_hot(i, (3 * i + 1) % classes) = 1;
  const Values p = parameters(classes);

  // -(1/n) sum_i log softmax(logits_i)[label_i]
  const auto cross_entropy = [&](Tape<double>& t, const Vars& v) {
    return -mean(sum(t.constant(one_hot) * log_softmax(network(t.constant(x), v), 1), 1));
  };

  const Tensor<double> logits = reference_network(x, p);
  const Tensor<double> log_z = xt::log(xt::sum(xt::exp(logits), {1}, xt::keep_dims));
  const double want = -xt::sum(one_hot * (logits - log_z))() / double(n);
  Tape<double> tape;
  Vars vars;
  for (const auto& t : p) vars.push_back(tape.variable(t));
  CHECK(cross_entropy(tape, vars).item() == doctest::Approx(want).epsilon(1e-13));

  auto report = check_gradient(cross_entropy, p, away_from_kinks(x, p));
  CHECK_MESSAGE(report.ok(), report.message());
  CHECK(report.inputs.size() == 6);
}
