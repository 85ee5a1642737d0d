// The random-batch interaction (flows/random_batch_interaction.hpp): DRLE's interaction gradient estimated
// within random batches of B particles and random subsets of B_p prior samples, O(N B) per step.
//
// (a) Unbiasedness at fixed particles: over S steps (each its own batches and subsets) the mean estimate of
//     every gradient coordinate and of the energy is compared with the exact InteractionEnergy's by its
//     z-score, mean error over its standard error. The bound 4.5 holds for a normal z with probability
//     1 - 7e-6 per coordinate, so, by the union bound, for all of a case's coordinates with probability
//     > 0.999 whatever their correlation; the seeds are fixed, so the test is deterministic. It can fail:
//     the same statistic rejects a 10 % bias (a check of its power, below), whereas a wrong weight is a
//     bias of 20 % to 60 % here ((N-1)/(N(c-1)) against 1/B, or B for the last batch's c).
// (b) Convergence of the measure on the double well of test_double_well.cpp (paper §3.1): the exact DRLE
//     run and random-batch runs share the initial particles, the prior samples and the Langevin noise
//     (streams (seed, i, t)), so the runs differ only by the batch estimate's error. At t = 1 (100 steps)
//     the root-mean-square distance between the runs' particle i, which bounds the W2 distance between
//     their empirical measures, shrinks as B grows: the force error's variance goes as 1 / (B - 1), so
//     from B = 2 to 8 to 32 the distance should fall by about sqrt(7) and sqrt(31 / 7), 2.6 and 2.1
//     (measured 2.2 to 2.7 for three seeds; asserted: 1.5). The W2 distance itself (1-D: sorted particles)
//     falls too. B > N / 2 (one batch) is the exact term, bit for bit. At t = 10 every run passes
//     test_double_well's KS bound against q*.
// (c) The four-mode mixture of paper §3.2 (experiments/toy_gmm.cpp with lambda1 = 3, five times its
//     0.6, so that the repulsion visibly spreads the modes: mean squared distance to the nearest centre
//     0.52 against DLE's 0.36 at the same noise): every mode populated, and the spread the exact DRLE's.
// (d) Bit-identical particles for 1, 2 and 4 threads; (e) checkpoints resume bit-identically.
// Besides: fewer than 2B particles (one batch) with all M prior samples is the exact term bit for bit,
// and the median rules' h estimated from random pairs is the exact rules' h up to its sampling error.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <tbb/global_control.h>
#include <tbb/task_arena.h>
#include <xtensor/xview.hpp>

#include "analysis/ks.hpp"
#include "analysis/optimal_density.hpp"
#include "flows/checkpoint.hpp"
#include "flows/flows.hpp"
#include "flows/random_batch_interaction.hpp"
#include "models/mlp.hpp"
#include "models/prior.hpp"
#include "models/toy_potentials.hpp"
#include "tests/flows/flow_fixture.hpp"
#include "tests/support/temp_folder.hpp"

using namespace wgflow;
using wgflow::Tensor;

namespace {

using RbDistance = flows::DistanceConvention;

Tensor<double> rb_gradient(flows::Term<double>& term, const Tensor<double>& theta, std::uint64_t step) {
  Tensor<double> g = xt::zeros<double>(theta.shape());
  term.add_gradient(flows::StepContext<double>{.step = step, .particles = theta, .seed = 11}, g);
  return g;
}

struct RbCase {
  std::string label;
  flows::InteractionSettings<double> settings;
  flows::RandomBatchSettings batches;
  bool function_space;
};

// The largest |z| over the gradient's coordinates (and the energy) of the mean of S estimates against
// `target` (the exact gradient times `scale`).
struct RbZ {
  double gradient = 0, energy = 0;
};
RbZ rb_z_scores(const std::vector<Tensor<double>>& draws, const std::vector<double>& energies,
                const Tensor<double>& target, double target_energy, double scale) {
  const double s = static_cast<double>(draws.size());
  RbZ z;
  for (std::size_t a = 0; a < target.size(); ++a) {
    double sum = 0, sum2 = 0;
    for (const Tensor<double>& d : draws) sum += d.data()[a], sum2 += d.data()[a] * d.data()[a];
    const double mean = sum / s, var = (sum2 - s * mean * mean) / (s - 1);
    z.gradient = std::max(z.gradient, std::abs(mean - scale * target.data()[a]) / std::sqrt(var / s));
  }
  double sum = 0, sum2 = 0;
  for (double e : energies) sum += e, sum2 += e * e;
  const double mean = sum / s, var = (sum2 - s * mean * mean) / (s - 1);
  z.energy = std::abs(mean - target_energy) / std::sqrt(var / s);
  return z;
}

}  // namespace

TEST_CASE("random-batch interaction: the gradient and energy estimates are unbiased for the exact term's") {
  const models::Mlp<double> net({.widths = {2, 5, 3}, .hidden = models::Activation::tanh()});
  const Tensor<double> kernel_inputs = wgtest::normal_particles(4, 2, 43);
  const auto rbf = flows::RadialKernel<double>::rbf();
  const auto fixed = flows::Bandwidth<double>::fixed(0.7);
  // N = 22: B = 4 leaves 2 for the last batch (6), B = 3 leaves 1 (the last holds 4), B = 2 divides N.
  const std::vector<RbCase> cases{
      {"parameter space, rbf, B = 4, B_p = 5 of 30", {0.8, 1.0, rbf, fixed, RbDistance::mean}, {.batch = 4, .prior_batch = 5}, false},
      {"parameter space, imq, psi = 0.5, B = 2, B_p = 1", {0.8, 0.5, flows::RadialKernel<double>::imq(), fixed, RbDistance::sum},
       {.batch = 2, .prior_batch = 1}, false},
      {"function space, rbf, B = 3, B_p = 7", {1.3, 1.0, rbf, fixed, RbDistance::mean}, {.batch = 3, .prior_batch = 7}, true}};
  const std::size_t N = 22, M = 30, S = 6000;
  for (const RbCase& c : cases) {
    CAPTURE(c.label);
    const std::size_t J = c.function_space ? net.num_params() : 3;
    const auto prior = models::GaussianPrior<double>::isotropic(J, c.function_space ? 0.5 : 1.0);
    const Tensor<double> theta = prior.sample(N, 31), phi = prior.sample(M, 32);
    const auto space = [&]() -> std::unique_ptr<flows::Embedding<double>> {
      if (c.function_space) return std::make_unique<flows::FunctionSpace<double>>(net, kernel_inputs);
      return std::make_unique<flows::ParameterSpace<double>>();
    };
    flows::InteractionEnergy<double> exact(c.settings, space(), phi);
    flows::RandomBatchInteraction<double> estimate(c.settings, c.batches, space(), phi);
    exact.attach(theta);
    estimate.attach(theta);
    const Tensor<double> target = rb_gradient(exact, theta, 0);
    const double target_energy = *exact.energy();
    std::vector<Tensor<double>> draws;
    std::vector<double> energies;
    for (std::uint64_t t = 0; t < S; ++t) {
      draws.push_back(rb_gradient(estimate, theta, t));
      energies.push_back(*estimate.energy());
    }
    CHECK(draws[0] != draws[1]);  // the batches change with the step
    const RbZ z = rb_z_scores(draws, energies, target, target_energy, 1.0);
    MESSAGE(c.label << ": largest |z| of the gradient " << z.gradient << ", of the energy " << z.energy);
    CHECK(z.gradient < 4.5);
    CHECK(z.energy < 4.5);
    // Power: the statistic rejects the exact gradient biased by 10 %.
    const RbZ biased = rb_z_scores(draws, energies, target, target_energy, 1.1);
    MESSAGE(c.label << ": against a 10 % bias " << biased.gradient);
    CHECK(biased.gradient > 4.5);
  }
}

TEST_CASE("random-batch interaction: fewer than 2B particles (one batch) with all prior samples is the exact term, bitwise") {
  const models::Mlp<double> net({.widths = {2, 5, 3}, .hidden = models::Activation::tanh()});
  const Tensor<double> kernel_inputs = wgtest::normal_particles(4, 2, 44);
  for (const bool function_space : {false, true}) {
    CAPTURE(function_space);
    const std::size_t N = 9, J = function_space ? net.num_params() : 4;
    const auto prior = models::GaussianPrior<double>::isotropic(J, 0.5);
    const Tensor<double> theta = prior.sample(N, 51), phi = prior.sample(12, 52);
    const auto space = [&]() -> std::unique_ptr<flows::Embedding<double>> {
      if (function_space) return std::make_unique<flows::FunctionSpace<double>>(net, kernel_inputs);
      return std::make_unique<flows::ParameterSpace<double>>();
    };
    const flows::InteractionSettings<double> s{.lambda1 = 0.9, .bandwidth = flows::Bandwidth<double>::median(3)};
    flows::InteractionEnergy<double> exact(s, space(), phi);
    flows::RandomBatchInteraction<double> one_batch(s, {.batch = 5, .prior_batch = 12}, space(), phi);
    exact.attach(theta);
    one_batch.attach(theta);
    for (std::uint64_t t = 0; t < 4; ++t) {  // the median rule's estimating steps and a frozen one
      CHECK(rb_gradient(exact, theta, t) == rb_gradient(one_batch, theta, t));
      CHECK(exact.bandwidth() == one_batch.bandwidth());
      CHECK(*one_batch.energy() == doctest::Approx(*exact.energy()).epsilon(1e-12));
    }
    CHECK_THROWS_AS(flows::RandomBatchInteraction<double>(s, {.batch = 1}, space(), phi), Error);
  }
}

TEST_CASE("random-batch interaction: the median rules' h from random pairs estimates the exact rules' h") {
  const std::size_t N = 2000;
  const Tensor<double> theta = wgtest::normal_particles(N, 5, 61);
  const Tensor<double> phi = wgtest::normal_particles(50, 5, 62);
  for (const double offset : {1.0, 0.0}) {
    CAPTURE(offset);
    const flows::InteractionSettings<double> s{.bandwidth = flows::Bandwidth<double>::median(5, offset)};
    flows::InteractionEnergy<double> exact(s, std::make_unique<flows::ParameterSpace<double>>(), phi);
    exact.attach(theta);
    rb_gradient(exact, theta, 0);
    // N / 2 = 1000 disjoint pairs, and a sample capped at 100. Here d^2 ~ (2/5) chi^2_5, whose median
    // from n independent draws has a relative standard error of 0.77 / sqrt(n): 2.4 % and 7.7 %; the
    // bounds are 4 of them. log(B + offset) in place of log(N + offset) would be off by a factor of 2.
    for (const std::size_t cap : {std::size_t{1} << 16, std::size_t{100}}) {
      CAPTURE(cap);
      flows::RandomBatchInteraction<double> estimate(s, {.batch = 32, .bandwidth_pairs = cap},
                                                     std::make_unique<flows::ParameterSpace<double>>(), phi);
      estimate.attach(theta);
      rb_gradient(estimate, theta, 0);
      const double ratio = estimate.bandwidth() / exact.bandwidth();
      MESSAGE("offset " << offset << ", cap " << cap << ": h " << estimate.bandwidth() << ", exact " << exact.bandwidth());
      CHECK(std::abs(ratio - 1) < (cap > N ? 0.1 : 0.3));
    }
  }
}

namespace {

// W2 between two 1-D empirical measures of equal size: the sorted samples matched in order.
double rb_w2_1d(const Tensor<double>& a, const Tensor<double>& b) {
  std::vector<double> x(a.begin(), a.end()), y(b.begin(), b.end());
  std::sort(x.begin(), x.end());
  std::sort(y.begin(), y.end());
  double sum = 0;
  for (std::size_t i = 0; i < x.size(); ++i) sum += (x[i] - y[i]) * (x[i] - y[i]);
  return std::sqrt(sum / static_cast<double>(x.size()));
}

// sqrt((1/N) sum_i |a_i - b_i|^2): particle i of one run against particle i of the other.
double rb_rms_distance(const Tensor<double>& a, const Tensor<double>& b) {
  return std::sqrt(xt::mean(xt::square(a - b))());
}

struct RbRun {
  Tensor<double> early, end;  // the particles at t = 1 and t = 10
};

}  // namespace

TEST_CASE("random-batch DRLE on the double well: the measure converges to the exact flow's as B grows") {
  auto loss = models::double_well<double>();
  const auto prior = models::GaussianPrior<double>::isotropic(1, 1.0);
  const analysis::Grid<double> grid(-5.0, 5.0, 1001);
  const analysis::DrleObjective<double> objective{.lambda1 = 1, .lambda2 = 1, .bandwidth = 1, .prior_variance = 1};
  const analysis::GridDensity<double> q = analysis::drle_fixed_point(grid, analysis::loss_of(loss), objective).density;
  // test_double_well.cpp's DRLE run: N = 300, M = 200, h = 1, eta = 1e-2, 1000 steps.
  const std::size_t N = 300;
  const auto run = [&](std::size_t batch, std::size_t prior_batch = 0) {
    auto flow = flows::deep_repulsive_langevin_ensemble(
        loss, prior, prior.sample(N, 22),
        {.lambda1 = 1, .lambda2 = 1, .bandwidth = flows::Bandwidth<double>::fixed(1.0), .prior_samples = 200,
         .eta = 1e-2, .seed = 5, .interaction_batch = batch, .interaction_prior_batch = prior_batch});
    RbRun r;
    flow.run(1000, [&](const flows::ParticleFlow<double>& f) {
      if (f.steps_taken() == 100) r.early = f.particles();
      return true;
    }, 100);
    r.end = flow.particles();
    return r;
  };
  const RbRun exact = run(0);
  // One batch and all M prior samples: bit for bit; fewer than 2B particles make one batch too.
  CHECK(run(N, 200).end == exact.end);
  CHECK(run(N / 2 + 1, 200).end == exact.end);
  CHECK(run(N / 2, 200).end != exact.end);  // two batches
  CHECK(run(N, 100).end != exact.end);      // half the prior samples per step
  const double bound = analysis::ks_critical_value_95(N) + 0.015;  // test_double_well.cpp's
  std::vector<double> coupled, w2;
  for (const std::size_t batch : {2, 8, 32}) {
    const RbRun r = run(batch);
    coupled.push_back(rb_rms_distance(r.early, exact.early));
    w2.push_back(rb_w2_1d(r.early, exact.early));
    const double ks = analysis::ks_distance(r.end, q);
    MESSAGE("B = " << batch << ": at t = 1, RMS distance to the exact run " << coupled.back() << ", W2 " << w2.back()
                   << "; at t = 10, KS to q* " << ks << " (bound " << bound << ")");
    CHECK(ks < bound);
  }
  CHECK(coupled[0] > 1.5 * coupled[1]);
  CHECK(coupled[1] > 1.5 * coupled[2]);
  CHECK(w2[0] > w2[1]);
  CHECK(w2[1] > w2[2]);
  CHECK(w2[2] > 0);
}

namespace {

// Per mode of the mixture (centres (+-3, +-3)): the fraction of particles nearest to it; and the mean
// squared distance to the nearest centre.
struct RbSpread {
  std::array<double, 4> share{};
  double msd = 0;
};
RbSpread rb_spread(const Tensor<double>& p) {
  constexpr std::array<std::array<double, 2>, 4> centres{{{-3, -3}, {-3, 3}, {3, -3}, {3, 3}}};
  const std::size_t n = p.shape()[0];
  RbSpread s;
  for (std::size_t i = 0; i < n; ++i) {
    double best = INFINITY;
    std::size_t k_best = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const double d = (p(i, 0) - centres[k][0]) * (p(i, 0) - centres[k][0]) + (p(i, 1) - centres[k][1]) * (p(i, 1) - centres[k][1]);
      if (d < best) best = d, k_best = k;
    }
    s.msd += best / static_cast<double>(n);
    s.share[k_best] += 1.0 / static_cast<double>(n);
  }
  return s;
}

}  // namespace

TEST_CASE("random-batch DRLE on the four-mode mixture: every mode populated, the exact flow's spread") {
  auto loss = models::four_gaussian_mixture<double>();
  const auto prior = models::GaussianPrior<double>::isotropic(2, 1.0);
  const std::size_t N = 300;
  const Tensor<double> init = prior.sample(N, 3);
  // experiments/toy_gmm.cpp's DRLE (median bandwidth, M = 200, prior gradient off) with lambda1 = 3, for
  // 1000 steps (t = 10), and DLE with its noise (lambda = lambda2): the same particles and noise streams.
  const auto run = [&](std::size_t batch) {
    auto flow = flows::deep_repulsive_langevin_ensemble(
        loss, prior, init,
        {.lambda1 = 3, .lambda2 = 0.2, .prior_gradient_scale = 0, .bandwidth = flows::Bandwidth<double>::median(),
         .prior_samples = 200, .eta = 1e-2, .seed = 9, .interaction_batch = batch});
    flow.run(1000);
    return rb_spread(flow.particles());
  };
  auto dle = flows::deep_langevin_ensemble(loss, prior, init, {.lambda = 0.2, .prior_gradient_scale = 0, .eta = 1e-2, .seed = 9});
  dle.run(1000);
  const RbSpread exact = run(0), without = rb_spread(dle.particles());
  REQUIRE(exact.msd > without.msd + 0.1);  // what the interaction does here
  for (const std::size_t batch : {2, 8}) {
    CAPTURE(batch);
    const RbSpread batched = run(batch);
    MESSAGE("B = " << batch << ": mean squared distance to the nearest centre " << batched.msd << ", exact "
                   << exact.msd << ", DLE " << without.msd);
    for (std::size_t k = 0; k < 4; ++k) {
      CAPTURE(k);
      CHECK(batched.share[k] > 0.15);  // a quarter each, up to the start's draw
    }
    // Within a tenth of the interaction's effect (measured: 2 % and 1 % of it).
    CHECK(std::abs(batched.msd - exact.msd) < 0.1 * (exact.msd - without.msd));
  }
}

namespace {

// DRLE with the random-batch term on SinRegression's 1-64-1 network (J = 193), after 60 steps at
// `threads` threads: parameter space with the median rule, or function space with the rolling median
// estimated from a capped sample of pairs (every step's estimate then from the first batch alone).
Tensor<double> rb_threaded(bool function_space, std::size_t threads, std::uint64_t seed) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
  tbb::task_arena arena(static_cast<int>(threads));
  Tensor<double> out;
  arena.execute([&] {
    wgtest::SinRegression data;
    auto flow = flows::ParticleFlow<double>("DRLE", data.particles(128, 3), flows::Sgd<double>{1e-2}, seed);
    flow.add(std::make_unique<flows::PotentialEnergy<double>>(data.potential));
    flows::InteractionSettings<double> s{.lambda1 = 1e-2};
    std::unique_ptr<flows::Embedding<double>> space = std::make_unique<flows::ParameterSpace<double>>();
    if (function_space) {
      s.bandwidth = flows::Bandwidth<double>::rolling_median();
      space = std::make_unique<flows::FunctionSpace<double>>(data.net, Tensor<double>(xt::view(data.X, xt::range(0, 10), xt::all())));
    }
    flow.add(std::make_unique<flows::RandomBatchInteraction<double>>(
        s, flows::RandomBatchSettings{.batch = 8, .prior_batch = 16, .bandwidth_pairs = function_space ? 50u : 1000u},
        std::move(space), data.prior.sample(200, 4)));
    flow.add(std::make_unique<flows::KlDivergence<double>>(data.prior, 1e-4));
    flow.run(60);
    out = flow.particles();
  });
  return out;
}

}  // namespace

TEST_CASE("random-batch DRLE on an MLP is bit-identical with 1, 2 and 4 threads") {
  for (const bool function_space : {false, true}) {
    CAPTURE(function_space);
    const Tensor<double> one = rb_threaded(function_space, 1, 5);
    CHECK(xt::all(xt::isfinite(one)));
    CHECK(one == rb_threaded(function_space, 2, 5));
    CHECK(one == rb_threaded(function_space, 4, 5));
    CHECK(one != rb_threaded(function_space, 2, 6));  // the seed draws other batches and noise
  }
}

TEST_CASE("random-batch DRLE resumed from a checkpoint is bitwise the uninterrupted run") {
  const wgtest::TempFolder folder("random-batch");
  const std::filesystem::path& dir = folder.path();
  auto loss = wgtest::diagonal_quadratic();
  const auto prior = models::GaussianPrior<double>::isotropic(3, 1.0);
  // Median bandwidth frozen after 5 steps, estimated from the batches: h is state, as for the exact term.
  const auto make = [&](std::uint64_t seed, std::size_t batch = 8) {
    return flows::deep_repulsive_langevin_ensemble(loss, prior, wgtest::normal_particles(40, 3, 3),
                                                   {.lambda1 = 0.5, .lambda2 = 0.1, .eta = 0.01, .seed = seed,
                                                    .interaction_batch = batch, .interaction_prior_batch = 20});
  };
  auto whole = make(5);
  REQUIRE(dynamic_cast<const flows::RandomBatchInteraction<double>*>(&whole.term(1)) != nullptr);
  whole.run(60);
  auto first = make(5);
  first.run(20);
  flows::save_checkpoint(first, dir / "ckpt");
  auto resumed = make(77);  // the checkpoint's seed, which draws the batches, must win
  flows::load_checkpoint(resumed, dir / "ckpt");
  resumed.run(40);
  CHECK(resumed.particles() == whole.particles());
  auto other = make(77);
  other.run(60);
  CHECK(other.particles() != whole.particles());
  // The exact term's checkpoint is another flow's.
  auto exact = make(5, 0);
  REQUIRE(dynamic_cast<const flows::InteractionEnergy<double>*>(&exact.term(1)) != nullptr);
  CHECK_THROWS_AS(flows::load_checkpoint(exact, dir / "ckpt"), Error);
}
