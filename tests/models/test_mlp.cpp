#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "models/mlp.hpp"
#include "tests/models/network_fixture.hpp"

using namespace wgtest;
using wgflow::models::ParameterLayout;

namespace {

const std::vector<MlpSpec> specs = {
    {{3, 2}, Activation::tanh(), Activation::identity(), true},                   // one layer: affine
    {{3, 2}, Activation::tanh(), Activation::sigmoid(), false},                   // one layer, no bias
    {{4, 6, 2}, Activation::tanh(), Activation::identity(), true},                // the UCI shape, smaller
    {{4, 6, 2}, Activation::softplus(), Activation::identity(), false},           // hidden, no biases
    {{2, 5, 4, 3}, Activation::sigmoid(), Activation::tanh(), true},              // two hidden layers
    {{3, 4, 4, 4, 1}, Activation::leaky_relu(0.2), Activation::identity(), true}, // three hidden layers
    {{3, 7, 2}, Activation::relu(), Activation::softplus(), true},                // ReLU
    {{3, 9, 1}, Activation::relu(), Activation::identity(), true},                // the UCI shape: one fused node
    {{2, 6, 1}, Activation::relu(), Activation::identity(), false},               // ... without biases
    {{3, 6, 1}, Activation::tanh(), Activation::identity(), true},                // scalar output, two nodes
};

std::string describe(const MlpSpec& s) {
  std::string out;
  for (auto w : s.widths) out += std::to_string(w) + "-";
  return out + s.hidden.name() + "/" + s.output.name() + (s.bias ? " with bias" : " without bias");
}

}  // namespace

TEST_CASE("Mlp lays out weights (in x out) then biases (1 x out) per layer") {
  const Mlp<double> net({{3, 5, 2}});
  const ParameterLayout& L = net.layout();
  REQUIRE(L.num_blocks() == 4);
  CHECK(L.block(0).name == "layer0.weight");
  CHECK(L.block(0).offset == 0);
  CHECK(L.block(0).shape == Shape{3, 5});
  CHECK(L.block(1).name == "layer0.bias");
  CHECK(L.block(1).offset == 15);
  CHECK(L.block(1).shape == Shape{1, 5});
  CHECK(L.block("layer1.weight").offset == 20);
  CHECK(L.block("layer1.weight").fan_in == 5);
  CHECK(L.block("layer1.bias").offset == 30);
  CHECK(net.num_params() == 32);

  const Mlp<double> no_bias({{3, 5, 2}, Activation::relu(), Activation::identity(), false});
  CHECK(no_bias.num_params() == 25);
  CHECK(no_bias.layout().find("layer0.bias") == ParameterLayout::npos);

  // view() writes through into theta at the block's offset.
  std::vector<double> theta(32, 0.0);
  L.view(std::span<double>(theta), "layer1.bias")(0, 1) = 7;
  CHECK(theta[31] == 7);

  CHECK_THROWS_AS(Mlp<double>({{3}}), wgflow::Error);
  CHECK_THROWS_AS(Mlp<double>({{3, 0, 1}}), wgflow::Error);
  CHECK_THROWS_WITH_AS(L.block("layer9.weight"), doctest::Contains("layer9.weight"), wgflow::Error);
}

TEST_CASE("Mlp::predict equals a direct computation for any depth, activation and bias setting") {
  std::uint64_t seed = 100;
  for (const MlpSpec& spec : specs) {
    CAPTURE(describe(spec));
    const Mlp<double> net(spec);
    const std::vector<double> theta = random_theta(net.num_params(), seed++);
    const Tensor<double> X = random_tensor(Shape{5, spec.widths.front()}, seed++);
    const Tensor<double> got = net.predict(theta, X);
    const Tensor<double> want = reference_forward(spec, theta, X);
    REQUIRE(got.shape() == want.shape());
    CHECK(xt::allclose(got, want, 1e-12, 1e-12));
    // predict_into, which function-space repulsion uses, writes the same values row-major.
    std::vector<double> into(got.size(), std::nan(""));
    net.predict_into(theta, X, into);
    CHECK(std::equal(into.begin(), into.end(), got.begin()));
  }
}

TEST_CASE("the network's vector-Jacobian product w.r.t. the flat theta and the inputs passes the gradient check") {
  std::uint64_t seed = 200;
  for (const MlpSpec& spec : specs) {
    CAPTURE(describe(spec));
    const Mlp<double> net(spec);
    // Points whose finite differences (in theta or X) would cross a ReLU kink are redrawn.
    Tensor<double> theta, X;
    do {
      theta = random_tensor(Shape{net.num_params(), 1}, seed++, Domain{-1, 1});
      X = random_tensor(Shape{4, spec.widths.front()}, seed++);
    } while (!stencil_avoids_kinks(spec, std::span<const double>(theta.data(), theta.size()), X,
                                   wgflow::ad::GradCheckOptions{}.step, /*inputs_too=*/true));
    // A non-scalar output: the checker contracts it with a random cotangent, i.e. checks the pullback.
    auto report = wgflow::ad::check_gradient([&](Tape<double>&, const Vars& v) { return net.forward(v[0], v[1]); },
                                             {theta, X});
    CHECK_MESSAGE(report.ok(), report.message());
  }
}

TEST_CASE("Mlp::pullback equals finite differences of <U, predict(theta, X)> and accumulates into grad") {
  std::uint64_t seed = 300;
  for (const MlpSpec& spec : specs) {
    CAPTURE(describe(spec));
    const Mlp<double> net(spec);
    // Fourth-order central differences of the tape-free prediction: error O(h^4) ~ 1e-12 at h = 1e-3, plus
    // rounding ~ 1e-16 / h; 1e-8 leaves room for both and still catches any wrong entry. Points whose
    // differences would cross a ReLU kink are redrawn (|theta_j| <= 1, so the step is h itself).
    const double h = 1e-3;
    std::vector<double> theta;
    Tensor<double> X;
    do {
      theta = random_theta(net.num_params(), seed++);
      X = random_tensor(Shape{6, spec.widths.front()}, seed++);
    } while (!stencil_avoids_kinks(spec, theta, X, h));
    const Tensor<double> U = random_tensor(Shape{6, spec.widths.back()}, seed++);
    std::vector<double> grad(net.num_params(), 0.0);
    net.pullback(theta, X, U, grad);

    for (std::size_t j = 0; j < theta.size(); ++j) {
      auto at = [&](double dx) {
        std::vector<double> t = theta;
        t[j] += dx;
        return xt::sum(U * reference_forward(spec, t, X))();
      };
      const double numeric = (at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h);
      CHECK_MESSAGE(std::abs(grad[j] - numeric) <= 1e-8 * std::max(1.0, std::abs(numeric)),
                    "parameter " << j << ": pullback " << grad[j] << " vs finite difference " << numeric);
    }

    // grad += ...: a second call doubles it.
    std::vector<double> twice = grad;
    net.pullback(theta, X, U, twice);
    for (std::size_t j = 0; j < grad.size(); ++j) CHECK(twice[j] == doctest::Approx(2 * grad[j]).epsilon(1e-14));
  }
}

TEST_CASE("ParameterLayout::leaves with a gradient buffer: blocks over theta, d L / d theta written into grad") {
  // Against the copying path (leaves, backward, add_adjoints into a zeroed gradient): the same loss and
  // the same gradient, bit for bit; theta is read in place and grad's old contents do not leak in.
  const Mlp<double> net({{3, 7, 2}, Activation::relu(), Activation::identity(), true});
  const ParameterLayout& layout = net.layout();
  REQUIRE(net.num_params() == 44);
  const Tensor<double> theta0 = random_tensor(Shape{net.num_params(), 1}, 41);
  const std::vector<double> theta(theta0.begin(), theta0.end());
  const Tensor<double> X = random_tensor({6, 3}, 42);
  auto loss_of = [&](std::span<Var<double>> blocks, Tape<double>& tape) {
    return mean(square(net.forward(std::span<const Var<double>>(blocks), tape.constant(X))));
  };

  Tape<double> copying;
  const auto copies = layout.leaves(copying, std::span<const double>(theta), /*needs_grad=*/true);
  const Var<double> L_copy = loss_of(copies, copying);
  copying.backward(L_copy);
  std::vector<double> want(theta.size(), 0.0);
  layout.add_adjoints(std::span<const Var<double>>(copies), std::span<double>(want));

  Tape<double> tape;
  std::vector<double> grad(theta.size(), -7.0);
  const auto blocks = layout.leaves(tape, std::span<const double>(theta), std::span<double>(grad));
  REQUIRE(blocks.size() == layout.num_blocks());
  for (std::size_t k = 0; k < blocks.size(); ++k) CHECK(blocks[k].data() == theta.data() + layout.block(k).offset);
  const Var<double> L = loss_of(blocks, tape);
  CHECK(L.item() == L_copy.item());
  tape.backward(L);
  CHECK(grad == want);

  std::vector<double> short_grad(theta.size() - 1);
  CHECK_THROWS_WITH_AS(layout.leaves(tape, std::span<const double>(theta), std::span<double>(short_grad)),
                       doctest::Contains("leaves (gradient): parameter vector has 43 entries, the layout 44"),
                       wgflow::ShapeError);
  std::vector<double> both(2 * theta.size());
  CHECK_THROWS_WITH_AS(layout.leaves(tape, std::span<const double>(both).first(theta.size()),
                                     std::span<double>(both).subspan(3, theta.size())),
                       doctest::Contains("overlaps theta"), wgflow::Error);
}

TEST_CASE("Mlp rejects inputs and cotangents of the wrong shape, naming them") {
  const Mlp<double> net({{3, 4, 2}});
  const std::vector<double> theta(net.num_params(), 0.1);
  CHECK_THROWS_WITH_AS(net.predict(theta, Tensor<double>::from_shape({5, 4})),
                       doctest::Contains("predict: X is 5x4, the model expects B x 3"), wgflow::ShapeError);
  std::vector<double> grad(net.num_params());
  CHECK_THROWS_WITH_AS(net.pullback(theta, Tensor<double>::from_shape({5, 3}), Tensor<double>::from_shape({5, 1}), grad),
                       doctest::Contains("cotangent U is 5x1, the outputs are 5x2"), wgflow::ShapeError);
  std::vector<double> out(9);
  CHECK_THROWS_WITH_AS(net.predict_into(theta, Tensor<double>::from_shape({5, 3}), out),
                       doctest::Contains("predict_into: out has 9 values, the outputs are 5x2"), wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(net.predict(std::vector<double>(7, 0.0), Tensor<double>::from_shape({5, 3})),
                       doctest::Contains("7 entries, the layout 26"), wgflow::ShapeError);
  Tape<double> tape;
  auto flat = tape.variable(Tensor<double>::from_shape({25, 1}));
  CHECK_THROWS_WITH_AS(net.forward(flat, tape.constant(Tensor<double>::from_shape({2, 3}))),
                       doctest::Contains("expected a 26x1 or 1x26 parameter vector, got 25x1"), wgflow::ShapeError);
}

TEST_CASE("a float Mlp matches the double one to float precision") {
  const MlpSpec spec{{4, 16, 16, 2}, Activation::tanh(), Activation::identity(), true};
  const Mlp<double> net_d(spec);
  const Mlp<float> net_f(spec);
  const std::vector<double> theta = random_theta(net_d.num_params(), 7);
  const std::vector<float> theta_f(theta.begin(), theta.end());
  const Tensor<double> X = random_tensor(Shape{8, 4}, 8);
  const Tensor<float> X_f = xt::cast<float>(X);
  const Tensor<double> y_d = net_d.predict(theta, X);
  const Tensor<float> y_f = net_f.predict(theta_f, X_f);
  // Each output sums ~16 products of O(1) terms per layer: float rounding ~ 16 * 6e-8 * O(1) per layer.
  CHECK(xt::allclose(xt::cast<double>(y_f), y_d, 1e-5, 1e-5));
}
