// Optimisers (flows/optimizers.hpp): each update against its textbook recursion written out by hand; an
// entrywise optimiser's step in pieces against its whole step; an optimiser of the whole gradient.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <span>
#include <vector>

#include "flows/optimizers.hpp"
#include "flows/particle_flow.hpp"
#include "flows/potential_energy.hpp"
#include "models/toy_potentials.hpp"

using wgflow::flows::Adam;
using wgflow::flows::Momentum;
using wgflow::flows::Optimizer;
using wgflow::flows::Sgd;
using wgflow::Tensor;

TEST_CASE("SGD moves against the gradient by eta") {
  Optimizer<double> sgd = Sgd<double>{0.1};
  sgd.init(Tensor<double>{{0.0, 0.0}});
  Tensor<double> delta;
  sgd.update(Tensor<double>{{2.0, -4.0}}, delta);
  CHECK(delta(0, 0) == doctest::Approx(-0.2));
  CHECK(delta(0, 1) == doctest::Approx(0.4));
}

TEST_CASE("momentum accumulates v <- mu v + g and moves by -eta v") {
  Optimizer<double> opt = Momentum<double>{0.1, 0.5};
  opt.init(Tensor<double>{{0.0}});
  Tensor<double> delta;
  double v = 0;
  for (double g : {1.0, 2.0, -3.0}) {
    opt.update(Tensor<double>{{g}}, delta);
    v = 0.5 * v + g;
    CHECK(delta(0, 0) == doctest::Approx(-0.1 * v));
  }
}

TEST_CASE("Adam follows Kingma & Ba's Algorithm 1, bias correction included") {
  Optimizer<double> opt = Adam<double>{.eta = 0.01, .beta1 = 0.9, .beta2 = 0.99, .epsilon = 1e-8};
  opt.init(Tensor<double>{{0.0, 0.0}});
  Tensor<double> delta;
  double m = 0, v = 0;
  int t = 0;
  for (double g : {1.0, -0.5, 0.25, 4.0}) {
    opt.update(Tensor<double>{{g, 0.0}}, delta);
    ++t;
    m = 0.9 * m + 0.1 * g;
    v = 0.99 * v + 0.01 * g * g;
    const double mh = m / (1 - std::pow(0.9, t)), vh = v / (1 - std::pow(0.99, t));
    CHECK(delta(0, 0) == doctest::Approx(-0.01 * mh / (std::sqrt(vh) + 1e-8)));
    CHECK(delta(0, 1) == 0.0);
  }
  CHECK(opt.state_if<Adam<double>>()->t == 4);
  // The first step of Adam has magnitude eta whatever the gradient's scale.
  opt.init(Tensor<double>{{0.0}});
  opt.update(Tensor<double>{{1e6}}, delta);
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

TEST_CASE("optimiser errors: bad hyper-parameters (where the optimiser is made), update before init, shape mismatch") {
  // Refused when wrapped, not at a flow's first step; init() still refuses a bare optimiser's.
  const auto refused = [](auto optimizer, const char* message) {
    CHECK_THROWS_WITH_AS(Optimizer<double>{optimizer}, doctest::Contains(message), wgflow::Error);
    CHECK_THROWS_WITH_AS(optimizer.init(Tensor<double>{{0.0}}), doctest::Contains(message), wgflow::Error);
  };
  refused(Sgd<double>{-1.0}, "Sgd: learning rate must be positive and finite, got -1");
  refused(Sgd<double>{std::nan("")}, "Sgd: learning rate must be positive and finite, got nan");
  refused(Momentum<double>{.eta = 0.1, .mu = 2}, "Momentum: mu must lie in [0, 1), got 2");
  refused(Adam<double>{.eta = -1}, "Adam: learning rate must be positive and finite");
  refused(Adam<double>{.beta2 = 1}, "Adam: need beta1, beta2 in [0, 1)");
  refused(Adam<double>{.epsilon = INFINITY}, "epsilon positive and finite, got beta1 = 0.900000, beta2 = 0.999000, epsilon = inf");
  CHECK(Optimizer<double>{Momentum<double>{.eta = 0.1, .mu = 0}}.name() == "momentum(eta=0.100000, mu=0.000000)");
  Optimizer<double> early = Adam<double>{};
  Tensor<double> delta;
  CHECK_THROWS_WITH_AS(early.update(Tensor<double>{{1.0}}, delta), doctest::Contains("before init"), wgflow::Error);
  early.init(Tensor<double>{{0.0, 0.0}});
  CHECK_THROWS_WITH_AS(early.update(Tensor<double>{{1.0}}, delta),
                       doctest::Contains("Adam: state is 1x2 (2 entries) but the gradient has 1 entries"), wgflow::ShapeError);
}

// The flow updates each particle's row in the pass that sums its gradient (flows/particle_flow.hpp): the
// pieces, in any order, must give the whole update's bits and leave the same state.
TEST_CASE_TEMPLATE("an entrywise optimiser's step in pieces is its whole step, bit for bit", O, Sgd<double>,
                   Momentum<double>, Adam<double>) {
  const O kind{.eta = 0.05};
  Optimizer<double> whole = kind, pieces = kind;
  REQUIRE(pieces.entrywise());
  Tensor<double> params = Tensor<double>::from_shape({3, 7}), gradient = params, delta, by_piece = params;
  whole.init(params);
  pieces.init(params);
  for (int step = 0; step < 3; ++step) {
    for (std::size_t k = 0; k < gradient.size(); ++k) gradient.data()[k] = std::sin(1.7 * k + step + 0.3) * (k % 3 + 1);
    whole.update(gradient, delta);
    pieces.begin_step(gradient.size());
    for (const auto& [first, len] : std::vector<std::pair<std::size_t, std::size_t>>{{15, 6}, {0, 4}, {4, 11}})
      pieces.update(first, std::span<const double>(gradient.data() + first, len), std::span<double>(by_piece.data() + first, len));
    for (std::size_t k = 0; k < delta.size(); ++k) {
      CAPTURE(k);
      CHECK(by_piece.data()[k] == delta.data()[k]);
      CHECK(delta.data()[k] != 0.0);
    }
  }
}

// An optimiser of the whole gradient: SGD on the gradient clipped to a global norm (a common guard in
// training), which no entrywise form can express. It plugs into Optimizer and into a flow.
struct ClippedSgd {
  double eta, max_norm;
  struct State {};
  State init(const Tensor<double>& /*params*/) const { return {}; }
  void update(const Tensor<double>& gradient, State& /*state*/, Tensor<double>& delta) const {
    double norm2 = 0;
    for (double g : gradient) norm2 += g * g;
    const double scale = std::min(1.0, max_norm / std::sqrt(norm2));
    delta = -eta * scale * gradient;
  }
  double learning_rate() const { return eta; }
  std::string name() const { return "clipped_sgd"; }
};

TEST_CASE("an optimiser of the whole gradient plugs in: a flow with it moves by its clipped steps") {
  Optimizer<double> opt = ClippedSgd{0.5, 1.0};
  CHECK_FALSE(opt.entrywise());
  opt.init(Tensor<double>{{0.0, 0.0}});
  CHECK_THROWS_WITH_AS(opt.begin_step(2), doctest::Contains("clipped_sgd: not entrywise"), wgflow::Error);
  // DE on l(theta) = |theta|^2 / 2 from (3, 4) and (0, 0.5): the total gradient's norm is 5.02, so every
  // particle moves by -0.5 g / 5.02 in the first step.
  auto bowl = wgflow::models::quadratic<double>({0.0, 0.0}, Tensor<double>{{1.0, 0.0}, {0.0, 1.0}});
  wgflow::flows::ParticleFlow<double> flow("clipped DE", Tensor<double>{{3.0, 4.0}, {0.0, 0.5}}, opt, 0);
  flow.add(std::make_unique<wgflow::flows::PotentialEnergy<double>>(bowl));
  flow.step();
  const double norm = std::sqrt(9.0 + 16.0 + 0.25);
  CHECK(flow.particles()(0, 0) == doctest::Approx(3.0 - 0.5 * 3.0 / norm));
  CHECK(flow.particles()(0, 1) == doctest::Approx(4.0 - 0.5 * 4.0 / norm));
  CHECK(flow.particles()(1, 1) == doctest::Approx(0.5 - 0.5 * 0.5 / norm));
  CHECK(flow.particles()(1, 0) == 0.0);
}
