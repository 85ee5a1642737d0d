// The integrator (flows/particle_flow.hpp) and its DE / DRLE presets: convergence of DE, the split of DE
// on the double well, divergence errors, reproducibility across thread counts, the free-energy estimate.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <tbb/task_arena.h>

#include "flows/flows.hpp"
#include "models/prior.hpp"
#include "models/toy_potentials.hpp"
#include "tests/flows/flow_fixture.hpp"

using namespace wgflow;
using wgflow::Tensor;
using wgtest::diagonal_quadratic;
using wgtest::normal_particles;

TEST_CASE("DE on a convex quadratic converges to the minimiser") {
  auto loss = diagonal_quadratic();
  auto de = flows::deep_ensemble(loss, normal_particles(20, 3, 1, 3.0), 0.1);
  de.run(300);
  // Each coordinate contracts by |1 - eta a_j| <= 0.9 per step, so after 300 steps the error is at most
  // 0.9^300 ~ 2e-14 times the initial distance (< 20 for N(0, 9) starts): far below 1e-9.
  const Tensor<double> target{{1.0, -2.0, 0.5}};
  CHECK(xt::amax(xt::abs(de.particles() - target))() < 1e-9);
  CHECK(de.steps_taken() == 300);
  CHECK(de.name() == "DE");
}

TEST_CASE("DE on the double well: every particle ends at -2 or 1, on the side it started") {
  auto loss = models::double_well<double>();
  const Tensor<double> init = normal_particles(60, 1, 2, 1.5);
  auto de = flows::deep_ensemble(loss, init, 0.01);
  de.run(3000);
  // l'(t) = (3/2) t (t + 2)(t - 1): descent with eta l'' < 2 keeps each particle in its basin (t < 0 -> -2,
  // t > 0 -> 1). Near a minimum the error contracts by 1 - eta l'' (l''(-2) = 9, l''(1) = 4.5) per step,
  // so 3000 steps leave far less than 1e-6 of it; the slowest starts (near the maximum at 0, |t| ~ 0.01)
  // need ~ log(100) / (eta 3) ~ 150 steps to leave it.
  std::size_t left = 0, right = 0;
  for (std::size_t i = 0; i < 60; ++i) {
    const double end = de.particles()(i, 0), start = init(i, 0);
    CAPTURE(start);
    if (start < 0) {
      CHECK(end == doctest::Approx(-2.0).epsilon(1e-6));
      ++left;
    } else {
      CHECK(end == doctest::Approx(1.0).epsilon(1e-6));
      ++right;
    }
  }
  CHECK(left > 0);  // both minima are populated: no unique optimum for DE
  CHECK(right > 0);
}

TEST_CASE("a non-finite drift throws, naming the step, the particle and the term, and leaves the state") {
  // l(t) = -t^2 / 2 pushes particles outward by 10 % per step; beyond |t| = 10 the loss is NaN.
  models::AnalyticPotential<double> bad(
      1, [](std::span<const double> t) { return std::abs(t[0]) > 10 ? std::nan("") : -t[0] * t[0] / 2; },
      [](std::span<const double> t, std::span<double> g) { g[0] = std::abs(t[0]) > 10 ? std::nan("") : -t[0]; },
      "outward");
  const Tensor<double> init{{0.1}, {-0.2}, {0.3}, {9.0}};  // particle 3: 9, 9.9, 10.89 -> NaN at step 2
  auto de = flows::deep_ensemble(bad, init, 0.1);
  de.run(2);
  const Tensor<double> before = de.particles();
  CHECK_THROWS_WITH_AS(de.step(), doctest::Contains("DE: step 2, particle 3: the drift of term 'potential energy' is not finite"),
                       wgflow::Error);
  CHECK(de.steps_taken() == 2);
  CHECK(de.particles() == before);
}

namespace {
// A term whose drift at one particle is NaN, or that throws, from a given step on: to see which of several
// failing terms a step reports when the terms run concurrently.
class FailingTerm final : public flows::Term<double> {
 public:
  FailingTerm(std::string name, std::size_t particle, bool throws) : name_(std::move(name)), particle_(particle), throws_(throws) {}
  std::string name() const override { return name_; }
  void add_drift(const flows::StepContext<double>& context, Tensor<double>& drift) override {
    if (context.step < 1) return;
    if (throws_) throw wgflow::Error("term " + name_ + " failed");
    drift(particle_, 0) = std::nan("");
  }

 private:
  std::string name_;
  std::size_t particle_;
  bool throws_;
};
}  // namespace

TEST_CASE("with several failing terms a step reports the first one added, whatever the threads") {
  // The terms run concurrently; each step must still name the first term (in the order added) and, in it,
  // the first particle, as a serial evaluation would.
  for (const int threads : {1, 2}) {
    CAPTURE(threads);
    tbb::task_arena arena(threads);
    arena.execute([&] {
      auto loss = diagonal_quadratic();
      for (int round = 0; round < 20; ++round) {
        auto nan_flow = flows::deep_ensemble(loss, normal_particles(6, 3, 1, 1.0), 0.1);
        nan_flow.add(std::make_unique<FailingTerm>("late", 1, false));
        nan_flow.add(std::make_unique<FailingTerm>("later", 0, false));
        nan_flow.step();
        CHECK_THROWS_WITH_AS(nan_flow.step(), doctest::Contains("step 1, particle 1: the drift of term 'late' is not finite"),
                             wgflow::Error);
        CHECK(nan_flow.steps_taken() == 1);

        auto throwing_flow = flows::deep_ensemble(loss, normal_particles(6, 3, 1, 1.0), 0.1);
        throwing_flow.add(std::make_unique<FailingTerm>("first", 0, true));
        throwing_flow.add(std::make_unique<FailingTerm>("second", 0, true));
        throwing_flow.step();
        CHECK_THROWS_WITH_AS(throwing_flow.step(), "term first failed", wgflow::Error);
      }
    });
  }
}

TEST_CASE("an update that overflows throws, naming the particle and the term behind the largest drift") {
  models::AnalyticPotential<double> steep(
      1, [](std::span<const double> t) { return 1e300 * t[0]; },
      [](std::span<const double>, std::span<double> g) { g[0] = 1e300; }, "steep");
  auto de = flows::deep_ensemble(steep, Tensor<double>{{0.0}, {1.0}}, 1e10);  // delta = -1e310 = -inf
  CHECK_THROWS_WITH_AS(de.step(), doctest::Contains("DE: step 0, particle 0: the particle is not finite after the update"),
                       wgflow::Error);
  CHECK_THROWS_WITH_AS(de.step(), doctest::Contains("from term 'potential energy'"), wgflow::Error);
}

TEST_CASE("DRLE is bit-identical with 1 and 2 threads, and reproducible by seed") {
  auto loss = diagonal_quadratic();
  const auto prior = models::GaussianPrior<double>::isotropic(3, 1.0);
  flows::RepulsiveSettings<double> settings{.lambda1 = 0.5, .lambda2 = 0.1};  // median bandwidth, 200 prior samples
  auto run = [&](int threads, std::uint64_t seed) {
    tbb::task_arena arena(threads);
    Tensor<double> out;
    arena.execute([&] {
      auto drle = flows::deep_repulsive_langevin_ensemble<double>(loss, prior, settings,
                                                                  normal_particles(64, 3, 3), 0.01, seed);
      drle.run(100);
      out = drle.particles();
    });
    return out;
  };
  const Tensor<double> one = run(1, 5), two = run(2, 5), other_seed = run(2, 6);
  CHECK(xt::all(xt::isfinite(one)));
  CHECK(one == two);  // bitwise
  CHECK(one != other_seed);
}

TEST_CASE("the free-energy estimate decreases along DE and along noise-free DRLE") {
  // DE is gradient descent of each l(theta_i); with lambda2 = 0, DRLE's drift at theta_i is N times the
  // gradient of F_N = (1/N) sum_i l(theta_i) + (lambda1/2) MMD^2 between the empirical measures, so it
  // is gradient descent on F_N with step N eta, which decreases F_N at every step when N eta is below
  // 2 / (the Lipschitz constant of grad F_N) (here N eta = 0.32: l'' <= 4, and the kernel part with
  // h = 1 adds at most ~ lambda1 / h = 1).
  auto loss = diagonal_quadratic();
  const auto prior = models::GaussianPrior<double>::isotropic(3, 1.0);
  auto de = flows::deep_ensemble(loss, normal_particles(32, 3, 4, 2.0), 0.01);
  flows::RepulsiveSettings<double> settings{.lambda1 = 1.0, .lambda2 = 0.0,
                                            .bandwidth = flows::Bandwidth<double>::fixed(1.0)};
  auto drle = flows::deep_repulsive_langevin_ensemble<double>(loss, prior, settings, normal_particles(32, 3, 4, 2.0),
                                                              0.01, 9);
  for (auto* flow : {&de, &drle}) {
    CAPTURE(flow->name());
    CHECK(!flow->free_energy());  // no estimate before the first step
    double previous = std::numeric_limits<double>::infinity();
    for (int t = 0; t < 200; ++t) {
      flow->step();
      REQUIRE(flow->free_energy());
      CHECK(*flow->free_energy() < previous);
      previous = *flow->free_energy();
    }
  }
  // With lambda > 0 the KL term's entropy has no particle estimate: no free energy is claimed.
  auto dle = flows::deep_langevin_ensemble<double>(loss, prior, 0.5, normal_particles(8, 3, 4), 0.01, 1);
  dle.step();
  CHECK(!dle.free_energy());
}

TEST_CASE("the flow's configuration errors name the flow and the shapes") {
  auto loss = diagonal_quadratic();
  CHECK_THROWS_WITH_AS(flows::deep_ensemble(loss, normal_particles(4, 2, 1), 0.1),
                       doctest::Contains("potential energy: particles are 4x2 but the potential has 3 parameters"),
                       wgflow::ShapeError);
  Tensor<double> init = normal_particles(4, 3, 1);
  init(2, 1) = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(flows::deep_ensemble(loss, init, 0.1), doctest::Contains("DE: initial particle 2 is not finite"),
                       wgflow::Error);
  CHECK_THROWS_AS(flows::deep_ensemble(loss, normal_particles(4, 3, 1), -0.1), wgflow::Error);
}

TEST_CASE("the optimiser is plugged in: DE with Adam also reaches the minimiser") {
  auto loss = diagonal_quadratic();
  auto de = flows::deep_ensemble(loss, normal_particles(10, 3, 6), 0.1);
  de.set_optimizer(flows::Adam<double>{.eta = 0.05});
  de.run(2000);
  // Adam's steps shrink with its averaged gradient; on this quadratic it settles within ~1e-4 of the
  // minimiser (step eta m^/sqrt(v^) around the optimum decays geometrically once the sign stabilises).
  CHECK(xt::amax(xt::abs(de.particles() - Tensor<double>{{1.0, -2.0, 0.5}}))() < 1e-3);
  CHECK(de.optimizer().name().rfind("adam", 0) == 0);
}
