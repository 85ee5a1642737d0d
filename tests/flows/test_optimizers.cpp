// Optimisers (flows/optimizers.hpp): each update against its textbook recursion written out by hand.
#include <doctest/doctest.h>

#include <cmath>

#include "flows/optimizers.hpp"

using wgflow::flows::Adam;
using wgflow::flows::Momentum;
using wgflow::flows::Optimizer;
using wgflow::flows::Sgd;
using wgflow::Tensor;

TEST_CASE("SGD moves against the gradient by eta") {
  Sgd<double> sgd{0.1};
  auto state = sgd.init(Tensor<double>{{0.0, 0.0}});
  Tensor<double> delta;
  sgd.update(Tensor<double>{{2.0, -4.0}}, state, delta);
  CHECK(delta(0, 0) == doctest::Approx(-0.2));
  CHECK(delta(0, 1) == doctest::Approx(0.4));
}

TEST_CASE("momentum accumulates v <- mu v + g and moves by -eta v") {
  Momentum<double> opt{0.1, 0.5};
  auto state = opt.init(Tensor<double>{{0.0}});
  Tensor<double> delta;
  double v = 0;
  for (double g : {1.0, 2.0, -3.0}) {
    opt.update(Tensor<double>{{g}}, state, delta);
    v = 0.5 * v + g;
    CHECK(delta(0, 0) == doctest::Approx(-0.1 * v));
  }
}

TEST_CASE("Adam follows Kingma & Ba's Algorithm 1, bias correction included") {
  Adam<double> opt{.eta = 0.01, .beta1 = 0.9, .beta2 = 0.99, .epsilon = 1e-8};
  auto state = opt.init(Tensor<double>{{0.0, 0.0}});
  Tensor<double> delta;
  double m = 0, v = 0;
  int t = 0;
  for (double g : {1.0, -0.5, 0.25, 4.0}) {
    opt.update(Tensor<double>{{g, 0.0}}, state, delta);
    ++t;
    m = 0.9 * m + 0.1 * g;
    v = 0.99 * v + 0.01 * g * g;
    const double mh = m / (1 - std::pow(0.9, t)), vh = v / (1 - std::pow(0.99, t));
    CHECK(delta(0, 0) == doctest::Approx(-0.01 * mh / (std::sqrt(vh) + 1e-8)));
    CHECK(delta(0, 1) == 0.0);
  }
  CHECK(state.t == 4);
  // The first step of Adam has magnitude eta whatever the gradient's scale.
  auto fresh = opt.init(Tensor<double>{{0.0}});
  opt.update(Tensor<double>{{1e6}}, fresh, delta);
  CHECK(delta(0, 0) == doctest::Approx(-0.01).epsilon(1e-6));
}

TEST_CASE("Optimizer pairs an optimiser with its state; copies carry the state") {
  Optimizer<double> opt = Momentum<double>{1.0, 0.5};
  opt.init(Tensor<double>{{0.0}});
  Tensor<double> delta;
  opt.update(Tensor<double>{{1.0}}, delta);  // v = 1
  Optimizer<double> copy = opt;
  opt.update(Tensor<double>{{1.0}}, delta);  // v = 1.5
  CHECK(delta(0, 0) == doctest::Approx(-1.5));
  copy.update(Tensor<double>{{0.0}}, delta);  // the copy continues from v = 1, unaffected by opt
  CHECK(delta(0, 0) == doctest::Approx(-0.5));
  CHECK(opt.learning_rate() == 1.0);
  REQUIRE(opt.state_if<Momentum<double>>() != nullptr);
  CHECK(opt.state_if<Momentum<double>>()->velocity(0, 0) == doctest::Approx(1.5));
  CHECK(opt.state_if<Adam<double>>() == nullptr);
}

TEST_CASE("optimiser errors: bad hyper-parameters, update before init, shape mismatch") {
  Optimizer<double> bad = Sgd<double>{-1.0};
  CHECK_THROWS_WITH_AS(bad.init(Tensor<double>{{0.0}}), doctest::Contains("Sgd: learning rate"), wgflow::Error);
  Optimizer<double> early = Adam<double>{};
  Tensor<double> delta;
  CHECK_THROWS_WITH_AS(early.update(Tensor<double>{{1.0}}, delta), doctest::Contains("before init"), wgflow::Error);
  early.init(Tensor<double>{{0.0, 0.0}});
  CHECK_THROWS_WITH_AS(early.update(Tensor<double>{{1.0}}, delta), doctest::Contains("Adam::update: state is 1x2"),
                       wgflow::ShapeError);
}
