// The integrator (flows/particle_flow.hpp) and its DE / DLE / DRLE presets: convergence of DE, the split of
// DE on the double well, divergence errors, reproducibility across thread counts, the free-energy estimate,
// the total gradient, and the concurrency rule of flows/term.hpp (prepare() serially, then every term's
// add_gradient at once; two terms sharing one potential do not race).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>
#include <tbb/global_control.h>
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
  auto de = flows::deep_ensemble(loss, normal_particles(20, 3, 1, 3.0), {.eta = 0.1});
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
  auto de = flows::deep_ensemble(loss, init, {.eta = 0.01});
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

TEST_CASE("a non-finite gradient throws, naming the step, the particle and the term, and leaves the state") {
  // l(t) = -t^2 / 2 pushes particles outward by 10 % per step; beyond |t| = 10 the loss is NaN.
  models::AnalyticPotential<double> bad(
      1, [](std::span<const double> t) { return std::abs(t[0]) > 10 ? std::nan("") : -t[0] * t[0] / 2; },
      [](std::span<const double> t, std::span<double> g) { g[0] = std::abs(t[0]) > 10 ? std::nan("") : -t[0]; },
      "outward");
  const Tensor<double> init{{0.1}, {-0.2}, {0.3}, {9.0}};  // particle 3: 9, 9.9, 10.89 -> NaN at step 2
  auto de = flows::deep_ensemble(bad, init, {.eta = 0.1});
  de.run(2);
  const Tensor<double> before = de.particles();
  CHECK_THROWS_WITH_AS(de.step(), doctest::Contains("DE: step 2, particle 3: the gradient of term 'potential energy' is not finite (coordinate 0 = nan)"),
                       wgflow::Error);
  CHECK(de.steps_taken() == 2);
  CHECK(de.particles() == before);
}

namespace {
// A term whose gradient at one particle is NaN, or that throws, from a given step on: to see which of several
// failing terms a step reports when the terms run concurrently.
class FailingTerm final : public flows::Term<double> {
 public:
  FailingTerm(std::string name, std::size_t particle, bool throws) : name_(std::move(name)), particle_(particle), throws_(throws) {}
  std::string name() const override { return name_; }
  void add_gradient(const flows::StepContext<double>& context, Tensor<double>& gradient) override {
    if (context.step < 1) return;
    if (throws_) throw wgflow::Error("term " + name_ + " failed");
    gradient(particle_, 0) = std::nan("");
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
        auto nan_flow = flows::deep_ensemble(loss, normal_particles(6, 3, 1, 1.0), {.eta = 0.1});
        nan_flow.add(std::make_unique<FailingTerm>("late", 1, false));
        nan_flow.add(std::make_unique<FailingTerm>("later", 0, false));
        nan_flow.step();
        CHECK_THROWS_WITH_AS(nan_flow.step(), doctest::Contains("step 1, particle 1: the gradient of term 'late' is not finite"),
                             wgflow::Error);
        CHECK(nan_flow.steps_taken() == 1);

        auto throwing_flow = flows::deep_ensemble(loss, normal_particles(6, 3, 1, 1.0), {.eta = 0.1});
        throwing_flow.add(std::make_unique<FailingTerm>("first", 0, true));
        throwing_flow.add(std::make_unique<FailingTerm>("second", 0, true));
        throwing_flow.step();
        CHECK_THROWS_WITH_AS(throwing_flow.step(), "term first failed", wgflow::Error);
      }
    });
  }
}

TEST_CASE("an update that overflows throws, naming the particle and the term behind the largest gradient") {
  models::AnalyticPotential<double> steep(
      1, [](std::span<const double> t) { return 1e300 * t[0]; },
      [](std::span<const double>, std::span<double> g) { g[0] = 1e300; }, "steep");
  const Tensor<double> init{{0.0}, {1.0}};
  auto de = flows::deep_ensemble(steep, init, {.eta = 1e10});  // delta = -1e310 = -inf
  CHECK_THROWS_WITH_AS(de.step(),
                       doctest::Contains("DE: step 0, particle 0: the particle is not finite after the update (coordinate "
                                         "0 = -inf; gradient finite, largest contribution 1e+300 from term 'potential "
                                         "energy', optimiser sgd(eta="),
                       wgflow::Error);
  CHECK(de.steps_taken() == 0);
  CHECK(de.particles() == init);
}

TEST_CASE("DRLE is bit-identical with 1 and 2 threads, and reproducible by seed") {
  auto loss = diagonal_quadratic();
  const auto prior = models::GaussianPrior<double>::isotropic(3, 1.0);
  auto run = [&](int threads, std::uint64_t seed) {
    tbb::task_arena arena(threads);
    Tensor<double> out;
    arena.execute([&] {
      // Median bandwidth, 200 prior samples.
      auto drle = flows::deep_repulsive_langevin_ensemble(loss, prior, normal_particles(64, 3, 3),
                                                          {.lambda1 = 0.5, .lambda2 = 0.1, .eta = 0.01, .seed = seed});
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
  // DE is gradient descent of each l(theta_i); with lambda2 = 0, DRLE's gradient at theta_i is N times the
  // gradient of F_N = (1/N) sum_i l(theta_i) + (lambda1/2) MMD^2 between the empirical measures, so it
  // is gradient descent on F_N with step N eta, which decreases F_N at every step when N eta is below
  // 2 / (the Lipschitz constant of grad F_N) (here N eta = 0.32: l'' <= 4, and the kernel part with
  // h = 1 adds at most ~ lambda1 / h = 1).
  auto loss = diagonal_quadratic();
  const auto prior = models::GaussianPrior<double>::isotropic(3, 1.0);
  auto de = flows::deep_ensemble(loss, normal_particles(32, 3, 4, 2.0), {.eta = 0.01});
  auto drle = flows::deep_repulsive_langevin_ensemble(
      loss, prior, normal_particles(32, 3, 4, 2.0),
      {.lambda1 = 1.0, .lambda2 = 0.0, .bandwidth = flows::Bandwidth<double>::fixed(1.0), .eta = 0.01, .seed = 9});
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
    // The potential energy's estimate is the flow's mean loss.
    REQUIRE(flow->mean_loss());
    const auto& potential = dynamic_cast<const flows::PotentialEnergy<double>&>(flow->term(0));
    CHECK(*flow->mean_loss() == *potential.energy());
  }
  // With lambda > 0 the KL term's entropy has no particle estimate: no free energy is claimed.
  auto dle = flows::deep_langevin_ensemble(loss, prior, normal_particles(8, 3, 4), {.lambda = 0.5, .eta = 0.01, .seed = 1});
  dle.step();
  CHECK(!dle.free_energy());
}

TEST_CASE("the flow's configuration errors name the flow and the shapes") {
  auto loss = diagonal_quadratic();
  CHECK_THROWS_WITH_AS(flows::deep_ensemble(loss, normal_particles(4, 2, 1), {.eta = 0.1}),
                       doctest::Contains("potential energy: particles are 4x2 but the potential has 3 parameters"),
                       wgflow::ShapeError);
  Tensor<double> init = normal_particles(4, 3, 1);
  init(2, 1) = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(flows::deep_ensemble(loss, init, {.eta = 0.1}),
                       doctest::Contains("DE: initial particle 2 is not finite"), wgflow::Error);
  CHECK_THROWS_AS(flows::deep_ensemble(loss, normal_particles(4, 3, 1), {.eta = -0.1}), wgflow::Error);
}

TEST_CASE("the optimiser is plugged in: DE with Adam also reaches the minimiser") {
  auto loss = diagonal_quadratic();
  auto de = flows::deep_ensemble(loss, normal_particles(10, 3, 6), {.eta = 0.1});
  de.set_optimizer(flows::Adam<double>{.eta = 0.05});
  de.run(2000);
  // Adam's steps shrink with its averaged gradient; on this quadratic it settles within ~1e-4 of the
  // minimiser (step eta m^/sqrt(v^) around the optimum decays geometrically once the sign stabilises).
  CHECK(xt::amax(xt::abs(de.particles() - Tensor<double>{{1.0, -2.0, 0.5}}))() < 1e-3);
  CHECK(de.optimizer().name().rfind("adam", 0) == 0);
}

TEST_CASE("gradient() is the last step's total gradient, summed over the terms; Sgd moved the particles along -eta g") {
  auto loss = diagonal_quadratic();
  const Tensor<double> init = normal_particles(5, 3, 2);
  const Tensor<double> a{{1.0, 2.0, 4.0}}, m{{1.0, -2.0, 0.5}};
  auto de = flows::deep_ensemble(loss, init, {.eta = 0.125});
  de.step();
  CHECK(de.gradient() == Tensor<double>(a * (init - m)));  // grad l
  CHECK(de.particles() == Tensor<double>(init + (-0.125) * de.gradient()));
  CHECK(de.diffusion() == 0);
  // DLE adds -lambda grad log p = lambda theta / s^2 (here 0.5 theta / 2) and the diffusion lambda.
  const auto prior = models::GaussianPrior<double>::isotropic(3, 2.0);
  auto dle = flows::deep_langevin_ensemble(loss, prior, init, {.lambda = 0.5, .eta = 0.125, .seed = 3});
  CHECK(dle.diffusion() == 0.5);
  dle.step();
  CHECK(xt::amax(xt::abs(dle.gradient() - (a * (init - m) + 0.25 * init)))() < 1e-15);
  CHECK(dle.particles() != Tensor<double>(init + (-0.125) * dle.gradient()));  // the noise moved them too
}

namespace {

// Records every prepare() and add_gradient() call, with the thread it ran on, into a log shared by
// several terms; add_gradient also adds 0.1 times the particles, so that it does something.
struct CallLog {
  std::mutex mutex;
  std::vector<std::string> calls;
  std::vector<std::thread::id> prepare_threads;
  void add(std::string call, bool prepare) {
    const std::lock_guard<std::mutex> lock(mutex);
    calls.push_back(std::move(call));
    if (prepare) prepare_threads.push_back(std::this_thread::get_id());
  }
};

class RecordingTerm final : public flows::Term<double> {
 public:
  RecordingTerm(std::string label, CallLog& log) : label_(std::move(label)), log_(log) {}
  std::string name() const override { return label_; }
  void prepare(std::uint64_t step) override { log_.add("prepare " + label_ + " " + std::to_string(step), true); }
  void add_gradient(const flows::StepContext<double>& context, Tensor<double>& gradient) override {
    log_.add("gradient " + label_ + " " + std::to_string(context.step), false);
    // Long enough for the other terms' tasks to start meanwhile when there are threads for them.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    gradient += 0.1 * context.particles;
  }

 private:
  std::string label_;
  CallLog& log_;
};

}  // namespace

TEST_CASE("prepare() runs serially, on the stepping thread and in term order, before any term's add_gradient") {
  for (const int threads : {1, 2, 4}) {
    CAPTURE(threads);
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
    tbb::task_arena arena(threads);
    arena.execute([&] {
      auto loss = diagonal_quadratic();
      CallLog log;
      auto flow = flows::deep_ensemble(loss, normal_particles(8, 3, 1), {.eta = 0.01});
      flow.add(std::make_unique<RecordingTerm>("a", log));
      flow.add(std::make_unique<RecordingTerm>("b", log));
      flow.add(std::make_unique<RecordingTerm>("c", log));
      const std::thread::id stepping = std::this_thread::get_id();
      flow.run(3);
      REQUIRE(log.calls.size() == 3 * 6);
      for (std::size_t t = 0; t < 3; ++t) {
        CAPTURE(t);
        const std::string step = std::string(" ").append(std::to_string(t));  // not " " + ...: GCC 12's false -Wrestrict
        // The step's first three calls are the prepares, in the order the terms were added ...
        CHECK(log.calls[6 * t + 0] == "prepare a" + step);
        CHECK(log.calls[6 * t + 1] == "prepare b" + step);
        CHECK(log.calls[6 * t + 2] == "prepare c" + step);
        // ... then the three gradients, in whatever order the threads took them.
        std::vector<std::string> gradients(log.calls.begin() + 6 * t + 3, log.calls.begin() + 6 * t + 6);
        std::sort(gradients.begin(), gradients.end());
        CHECK(gradients == std::vector<std::string>{"gradient a" + step, "gradient b" + step, "gradient c" + step});
      }
      for (const std::thread::id id : log.prepare_threads) CHECK(id == stepping);
    });
  }
}

namespace {

// `terms` potential-energy terms on one minibatched network potential (so their gradients add up to
// terms x the gradient), stepped by Sgd(eta) for `steps` steps with `threads` threads.
Tensor<double> shared_potential_run(std::size_t terms, double eta, std::size_t threads, std::size_t steps) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
  tbb::task_arena arena(static_cast<int>(threads));
  Tensor<double> out;
  arena.execute([&] {
    wgtest::SinRegression data(16, 40, 10);  // 4 minibatches per epoch: the batch changes every step
    auto flow = flows::deep_ensemble(data.potential, data.particles(64, 3), {.eta = eta});
    for (std::size_t k = 1; k < terms; ++k)
      flow.add(std::make_unique<flows::PotentialEnergy<double>>(data.potential, "potential energy, again"));
    REQUIRE(flow.num_terms() == terms);
    flow.run(steps);
    out = flow.particles();
  });
  return out;
}

}  // namespace

TEST_CASE("two terms on one minibatched potential do not race: twice the gradient, bit for bit, at any thread count") {
  // g + g = 2 g and eta (2 g) = (2 eta) g exactly in floating point, so two potential-energy terms on one
  // NetworkPotential with step eta must give the bits of one such term with step 2 eta, if the two terms
  // see the same minibatch at every step and neither disturbs the other's evaluation: each term's
  // prepare() selects the step's batch before either evaluates (flows/term.hpp's rule).
  const double eta = 0.01;
  const std::size_t steps = 200;  // 50 epochs of 4 minibatches
  const Tensor<double> reference = shared_potential_run(1, 2 * eta, 1, steps);
  REQUIRE(xt::all(xt::isfinite(reference)));
  for (const std::size_t threads : {1, 2, 4}) {
    CAPTURE(threads);
    CHECK(shared_potential_run(2, eta, threads, steps) == reference);  // bitwise
    CHECK(shared_potential_run(1, 2 * eta, threads, steps) == reference);
  }
  // Not vacuous: the second term moves the particles (one term at step eta ends elsewhere) ...
  CHECK(shared_potential_run(1, eta, 2, steps) != reference);
  // ... and the reference is plain SGD on the step's minibatch, batch t selected before step t's gradients.
  wgtest::SinRegression data(16, 40, 10);
  Tensor<double> theta = data.particles(64, 3), g = xt::zeros_like(theta), delta = g;
  const std::size_t J = data.dim();
  for (std::size_t t = 0; t < steps; ++t) {
    data.potential.begin_step(t);
    for (std::size_t i = 0; i < theta.shape()[0]; ++i)
      data.potential.value_and_gradient(std::span<const double>(&theta(i, 0), J), std::span<double>(&g(i, 0), J));
    delta = (-2 * eta) * g;  // two passes, as the flow makes them: one pass might fuse into an FMA
    theta = theta + delta;
  }
  CHECK(theta == reference);
}

namespace {

// l(t) = |t - c|^2 / 2 with the centre c chosen in begin_step(step) (c_j = (-1)^step (j + 1)), written
// as a data potential writes its minibatch: the old centre overwritten by NaN first, then by the new one.
// A value_and_gradient that overlapped a begin_step, of its own term or of another on the same potential,
// would see NaN, or a centre of the wrong step. Each evaluation sleeps a little, so that one term's
// evaluations span the other's begin_step if they overlap at all: a term that called begin_step in
// add_gradient instead of prepare fails this test on 2 threads.
class StagedPotential final : public models::Potential<double> {
 public:
  explicit StagedPotential(std::size_t d) : centre_(d) {}
  std::size_t dim() const override { return centre_.size(); }
  void begin_step(std::uint64_t step) override {
    std::fill(centre_.begin(), centre_.end(), std::nan(""));
    std::this_thread::sleep_for(std::chrono::microseconds(200));  // a slow gather
    for (std::size_t j = 0; j < centre_.size(); ++j) centre_[j] = (step % 2 == 0 ? 1.0 : -1.0) * double(j + 1);
  }
  double value_and_gradient(std::span<const double> t, std::span<double> g) const override {
    std::this_thread::sleep_for(std::chrono::microseconds(5));
    double l = 0;
    for (std::size_t j = 0; j < centre_.size(); ++j) g[j] = t[j] - centre_[j], l += g[j] * g[j] / 2;
    return l;
  }

 private:
  std::vector<double> centre_;
};

}  // namespace

TEST_CASE("two terms on a potential whose begin_step passes through NaN never see it, at any thread count") {
  const double eta = 0.01;
  for (const int threads : {1, 2, 4}) {
    CAPTURE(threads);
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
    tbb::task_arena arena(threads);
    arena.execute([&] {
      StagedPotential shared(3), alone(3);
      const Tensor<double> init = normal_particles(20, 3, 8);
      auto two = flows::deep_ensemble(shared, init, {.eta = eta});
      two.add(std::make_unique<flows::PotentialEnergy<double>>(shared, "potential energy, again"));
      auto one = flows::deep_ensemble(alone, init, {.eta = 2 * eta});
      for (int t = 0; t < 50; ++t) {
        CAPTURE(t);
        REQUIRE_NOTHROW(two.step());  // a NaN gradient would throw, naming the term that saw it
        one.step();
        REQUIRE(two.particles() == one.particles());  // bitwise, so both terms saw step t's centre
      }
    });
  }
}

TEST_CASE("every term adds its gradient to the buffer it is given (Term's contract), whatever the buffer holds") {
  // ParticleFlow hands each term a zeroed buffer, so a term that overwrote it, or scaled what it held,
  // would go unnoticed there; a term used on its own, or a future integrator, relies on the +=. Told that
  // the buffer is its own (StepContext::may_write, as the flow does), a term may write instead: the same
  // values. A term that writes_gradient() must then write every entry, since the flow no longer zeroes
  // its buffer (and takes it as the total gradient where the term is alone): into a buffer of NaNs, the
  // same values again. The potential appears three times, on the per-particle path and as networks in
  // SIMD lanes with a likelihood without and with a parameter of its own (the learned noise); the
  // interaction in parameter space and in function space, through lanes and through the tape.
  auto loss = diagonal_quadratic();
  const wgtest::SinRegression data(8);
  models::NetworkPotential<double> network(models::Mlp<double>({.widths = {1, 8, 1}, .hidden = models::Activation::relu()}),
                                           models::SquaredError<double>(), data.X, data.Y, {.batch_size = 20});
  models::NetworkPotential<double> noisy(models::Mlp<double>({.widths = {1, 8, 1}, .hidden = models::Activation::relu()}),
                                         models::GaussianNllLearnedNoise<double>(), data.X, data.Y, {.batch_size = 20});
  REQUIRE(network.prefers_batches());
  REQUIRE(noisy.prefers_batches());
  const auto prior = models::GaussianPrior<double>::isotropic(3, 2.0);
  const Tensor<double> theta = normal_particles(6, 3, 4);
  const Tensor<double> state = flows::mean_field_initial_state(theta, 0.3);  // mean-field VI's rows
  std::vector<std::pair<std::unique_ptr<flows::Term<double>>, const Tensor<double>*>> terms;
  terms.emplace_back(std::make_unique<flows::PotentialEnergy<double>>(loss), &theta);
  const Tensor<double> weights = normal_particles(20, network.dim(), 5, 0.5);
  terms.emplace_back(std::make_unique<flows::PotentialEnergy<double>>(network), &weights);
  const Tensor<double> noisy_weights = normal_particles(20, noisy.dim(), 6, 0.5);
  terms.emplace_back(std::make_unique<flows::PotentialEnergy<double>>(noisy), &noisy_weights);
  terms.emplace_back(std::make_unique<flows::KlDivergence<double>>(prior, 0.5, 1.0), &theta);
  terms.emplace_back(std::make_unique<flows::InteractionEnergy<double>>(
                         flows::InteractionSettings<double>{}, std::make_unique<flows::ParameterSpace<double>>(),
                         prior.sample(20, 1)),
                     &theta);
  // In function space: a ReLU network's pullback in SIMD lanes, a tanh network's on the tape.
  const models::Mlp<double> relu_net({.widths = {1, 8, 1}, .hidden = models::Activation::relu()});
  const models::Mlp<double> tanh_net({.widths = {1, 8, 1}, .hidden = models::Activation::tanh()});
  REQUIRE(relu_net.num_params() == network.dim());
  REQUIRE(tanh_net.num_params() == network.dim());
  REQUIRE(models::NetworkLanes<double>::of(relu_net));
  REQUIRE(!models::NetworkLanes<double>::of(tanh_net));
  const Tensor<double> kernel_inputs = normal_particles(5, 1, 8);
  for (const models::Mlp<double>* net : {&relu_net, &tanh_net})
    terms.emplace_back(std::make_unique<flows::InteractionEnergy<double>>(
                           flows::InteractionSettings<double>{.lambda1 = 0.7},
                           std::make_unique<flows::FunctionSpace<double>>(*net, kernel_inputs),
                           normal_particles(7, network.dim(), 10, 0.5)),
                       &weights);
  terms.emplace_back(std::make_unique<flows::SvgdDirection<double>>(loss, prior, 0.5), &theta);
  terms.emplace_back(std::make_unique<flows::MeanFieldGaussian<double>>(loss, prior, 0.5, 3), &state);
  std::size_t writers = 0;
  for (auto& [term, particles] : terms) {
    CAPTURE(term->name());
    term->attach(*particles);
    term->prepare(0);
    const flows::StepContext<double> context{0, *particles, 7};
    Tensor<double> alone = xt::zeros_like(*particles);
    term->add_gradient(context, alone);
    REQUIRE(xt::amax(xt::abs(alone))() > 0);
    const Tensor<double> held = normal_particles(particles->shape()[0], particles->shape()[1], 9, 10.0);
    Tensor<double> added = held;
    term->add_gradient(context, added);
    CHECK(xt::amax(xt::abs(added - (held + alone)))() < 1e-12 * (1 + xt::amax(xt::abs(held))()));
    Tensor<double> written = xt::zeros_like(*particles);
    const flows::StepContext<double> own{0, *particles, 7, 0, nullptr, 0, /*may_write=*/true};
    term->add_gradient(own, written);
    CHECK(written == alone);
    if (term->writes_gradient()) {
      ++writers;
      Tensor<double> stale = xt::full_like(*particles, std::numeric_limits<double>::quiet_NaN());
      term->add_gradient(own, stale);
      CHECK(stale == alone);
    }
  }
  CHECK(writers == 6);  // the potential energies and the interactions
}
