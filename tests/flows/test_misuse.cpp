// Errors a user can trigger, and what they say: API misuse (mismatched dimensions, too few particles,
// non-positive step sizes and bandwidths, weights out of range, kernels on empty sets) is refused with a
// wgflow::Error naming the culprit; a NaN or Inf produced by a term other than the potential (the one
// tests/flows/test_particle_flow.cpp covers) names the step, the particle and that term.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>

#include "flows/flows.hpp"
#include "flows/mean_field_vi.hpp"
#include "flows/svgd.hpp"
#include "models/model.hpp"
#include "models/prior.hpp"
#include "models/toy_potentials.hpp"
#include "tests/flows/flow_fixture.hpp"

using namespace wgflow;
using wgflow::Tensor;
using wgtest::normal_particles;

namespace {

// l(t) = |t|^2 / 2 on R^d.
models::AnalyticPotential<double> bowl(std::size_t d) {
  return models::quadratic<double>(std::vector<double>(d, 0.0), xt::eye<double>(d));
}

// N(0, I) on R^d whose score is NaN beyond |t_0| > 5: a prior with a bug.
struct BrokenPrior {
  std::size_t d;
  std::size_t dim() const { return d; }
  void grad_log_density(std::span<const double> t, std::span<double> out) const {
    for (std::size_t j = 0; j < d; ++j) out[j] = std::abs(t[0]) > 5 ? std::nan("") : -t[j];
  }
  double log_density(std::span<const double> t) const { return -0.5 * t[0] * t[0]; }
  void sample_into(std::uint64_t seed, std::uint64_t row, std::span<double> out) const {
    models::GaussianPrior<double>::isotropic(d, 1.0).sample_into(seed, row, out);
  }
};

// f(theta, x) = exp(theta x), one parameter, input and output: overflows to +inf for theta x > 709.
struct ExpModel final : models::Model<double> {
  std::size_t num_params() const override { return 1; }
  std::size_t num_inputs() const override { return 1; }
  std::size_t num_outputs() const override { return 1; }
  Tensor<double> predict(std::span<const double> theta, const Tensor<double>& X) const override {
    return xt::exp(theta[0] * X);
  }
  void pullback(std::span<const double> theta, const Tensor<double>& X, const Tensor<double>& U,
                std::span<double> grad) const override {
    grad[0] += xt::sum(U * X * xt::exp(theta[0] * X))();
  }
};

}  // namespace

TEST_CASE("mismatched dimensions are refused, naming both shapes") {
  auto loss = bowl(3);
  const auto prior2 = models::GaussianPrior<double>::isotropic(2, 1.0);
  const auto prior3 = models::GaussianPrior<double>::isotropic(3, 1.0);
  CHECK_THROWS_WITH_AS(flows::deep_langevin_ensemble<double>(loss, prior2, 0.1, normal_particles(4, 3, 1), 0.01, 0),
                       doctest::Contains("KlDivergence: particles are 4x3 but the prior is on R^2"), ShapeError);
  CHECK_THROWS_WITH_AS(flows::Svgd<double>(loss, prior2, normal_particles(4, 3, 1), flows::Sgd<double>{0.1}),
                       doctest::Contains("Svgd: particles are 4x3"), ShapeError);
  CHECK_THROWS_WITH_AS(flows::MeanFieldVI<double>(loss, prior3, normal_particles(4, 2, 1)),
                       doctest::Contains("MeanFieldVI: initial means are 4x2"), ShapeError);
  const ExpModel model;  // one parameter, the particles have three
  flows::RepulsiveSettings<double> settings;
  settings.model = &model;
  settings.kernel_inputs = Tensor<double>{{1.0}};
  CHECK_THROWS_WITH_AS(
      flows::deep_repulsive_langevin_ensemble<double>(loss, prior3, settings, normal_particles(4, 3, 1), 0.01, 0),
      doctest::Contains("particles are 200x3 but the model has 1 parameters"), ShapeError);
  CHECK_THROWS_WITH_AS(flows::squared_distances<double>(normal_particles(4, 3, 1), normal_particles(5, 2, 1),
                                                        flows::DistanceConvention::sum),
                       doctest::Contains("X is 4x3, Y is 5x2"), ShapeError);
}

TEST_CASE("too few particles are refused") {
  auto loss = bowl(3);
  const auto prior = models::GaussianPrior<double>::isotropic(3, 1.0);
  CHECK_THROWS_WITH_AS(flows::deep_ensemble<double>(loss, Tensor<double>::from_shape({0, 3}), 0.1),
                       doctest::Contains("DE: need at least one particle of positive dimension, got 0x3"), ShapeError);
  CHECK_THROWS_WITH_AS(flows::Svgd<double>(loss, prior, normal_particles(1, 3, 1), flows::Sgd<double>{0.1}),
                       doctest::Contains("need N >= 2"), ShapeError);
  CHECK_THROWS_WITH_AS(flows::MeanFieldVI<double>(loss, prior, Tensor<double>::from_shape({0, 3})),
                       doctest::Contains("need N >= 1"), ShapeError);
  const ExpModel model;
  CHECK_THROWS_WITH_AS(flows::predict<double>(model, Tensor<double>::from_shape({0, 1}), Tensor<double>{{1.0}}),
                       doctest::Contains("at least one particle"), ShapeError);
}

TEST_CASE("step sizes must be positive and finite, and a refused optimiser leaves the flow's in place") {
  auto loss = bowl(3);
  CHECK_THROWS_WITH_AS(flows::deep_ensemble<double>(loss, normal_particles(4, 3, 1), -0.1),
                       doctest::Contains("Sgd: learning rate must be positive and finite"), Error);
  CHECK_THROWS_AS(flows::deep_ensemble<double>(loss, normal_particles(4, 3, 1), 0.0), Error);
  CHECK_THROWS_AS(flows::deep_ensemble<double>(loss, normal_particles(4, 3, 1), std::nan("")), Error);
  auto de = flows::deep_ensemble<double>(loss, normal_particles(4, 3, 1), 0.1);
  CHECK_THROWS_WITH_AS(de.set_optimizer(flows::Momentum<double>{.eta = -1}), doctest::Contains("Momentum: learning rate"),
                       Error);
  CHECK_THROWS_WITH_AS(de.set_optimizer(flows::Adam<double>{.eta = INFINITY}), doctest::Contains("Adam: learning rate"),
                       Error);
  CHECK(de.optimizer().name().rfind("sgd", 0) == 0);
  de.step();  // still usable
  CHECK(de.steps_taken() == 1);
}

TEST_CASE("bandwidths must be positive and finite; the median heuristic needs log(N + offset) > 0") {
  CHECK_THROWS_WITH_AS(flows::Bandwidth<double>::fixed(-1.0), doctest::Contains("must be positive and finite, got -1"),
                       Error);
  CHECK_THROWS_AS(flows::Bandwidth<double>::fixed(0.0), Error);
  CHECK_THROWS_AS(flows::Bandwidth<double>::fixed(std::nan("")), Error);
  const auto kernel = flows::RadialKernel<double>::rbf();
  CHECK_THROWS_WITH_AS(kernel.evaluate(Tensor<double>{{0.0, 1.0}}, -2.0),
                       doctest::Contains("RadialKernel::evaluate (rbf): bandwidth must be positive"), Error);

  auto loss = bowl(3);
  const auto prior = models::GaussianPrior<double>::isotropic(3, 1.0);
  flows::RepulsiveSettings<double> settings;
  settings.bandwidth = flows::Bandwidth<double>::median(5, -10.0);  // log(4 - 10) is not a number
  auto drle = flows::deep_repulsive_langevin_ensemble<double>(loss, prior, settings, normal_particles(4, 3, 1), 0.01, 0);
  CHECK_THROWS_WITH_AS(drle.step(), doctest::Contains("median_bandwidth: log(N + offset)"), Error);
  CHECK(drle.steps_taken() == 0);
}

TEST_CASE("weights and sample counts out of range are refused") {
  auto loss = bowl(3);
  const auto prior = models::GaussianPrior<double>::isotropic(3, 1.0);
  CHECK_THROWS_WITH_AS(flows::deep_langevin_ensemble<double>(loss, prior, -0.1, normal_particles(4, 3, 1), 0.01, 0),
                       doctest::Contains("KlDivergence: the weight lambda must be finite and >= 0"), Error);
  flows::RepulsiveSettings<double> negative{.lambda1 = -1};
  CHECK_THROWS_WITH_AS(
      flows::deep_repulsive_langevin_ensemble<double>(loss, prior, negative, normal_particles(4, 3, 1), 0.01, 0),
      doctest::Contains("InteractionEnergy: lambda1 must be finite and >= 0"), Error);
  flows::RepulsiveSettings<double> no_samples{.prior_samples = 0};
  CHECK_THROWS_WITH_AS(
      flows::deep_repulsive_langevin_ensemble<double>(loss, prior, no_samples, normal_particles(4, 3, 1), 0.01, 0),
      doctest::Contains("no prior samples were given"), Error);
  CHECK_THROWS_WITH_AS(flows::MeanFieldVI<double>(loss, prior, normal_particles(2, 3, 1),
                                                  flows::MeanFieldVIConfig<double>{.samples = 0}),
                       doctest::Contains("samples >= 1"), Error);
  auto de = flows::deep_ensemble<double>(loss, normal_particles(4, 3, 1), 0.1);
  CHECK_THROWS_WITH_AS(de.run(10, [](const flows::Flow<double>&) { return true; }, 0),
                       doctest::Contains("DE: run(): the callback interval `every` must be at least 1"), Error);
  CHECK(de.steps_taken() == 0);
}

TEST_CASE("kernels and distances on empty point sets give empty results, and the median needs a point") {
  const Tensor<double> none = Tensor<double>::from_shape({0, 3});
  const Tensor<double> some = normal_particles(5, 3, 1);
  const Tensor<double> d = flows::squared_distances<double>(none, some, flows::DistanceConvention::mean);
  CHECK(d.shape()[0] == 0);
  CHECK(d.shape()[1] == 5);
  CHECK(flows::pairwise_squared_distances<double>(none, flows::DistanceConvention::sum).size() == 0);
  const auto km = flows::RadialKernel<double>::rbf().evaluate(Tensor<double>::from_shape({0, 5}), 1.0);
  CHECK(km.k.size() == 0);
  Tensor<double> out = Tensor<double>::from_shape({0, 3});
  CHECK_NOTHROW(flows::add_gradient_sum<double>(km.slope, none, some, 1.0, 1.0, out));
  CHECK(flows::squared_distances<double>(some, none, flows::DistanceConvention::sum).shape()[1] == 0);
  Tensor<double> untouched = xt::ones<double>({5, 3});  // no reference points: nothing to add
  flows::add_gradient_sum<double>(Tensor<double>::from_shape({5, 0}), some, none, 1.0, 1.0, untouched);
  CHECK(untouched == Tensor<double>(xt::ones<double>({5, 3})));
  CHECK_THROWS_WITH_AS(flows::median<double>(Tensor<double>::from_shape({0, 0})), doctest::Contains("median: empty input"),
                       Error);
  CHECK_THROWS_WITH_AS(flows::median_bandwidth<double>(Tensor<double>::from_shape({0, 0})),
                       doctest::Contains("needs N + offset > 1"), Error);
}

TEST_CASE("a NaN from the KL term names the step, the particle and the term") {
  auto loss = bowl(2);
  const Tensor<double> init{{0.1, 0.2}, {-0.3, 0.4}, {10.0, 0.0}, {0.5, -0.6}};  // particle 2 is where the prior breaks
  auto dle = flows::deep_langevin_ensemble<double>(loss, flows::Prior<double>(BrokenPrior{2}), 0.1, init, 0.01, 3);
  CHECK_THROWS_WITH_AS(dle.step(), doctest::Contains("DLE: step 0, particle 2: the drift of term 'KL divergence"), Error);
  CHECK(dle.steps_taken() == 0);
  CHECK(dle.particles() == init);
}

TEST_CASE("an Inf from the interaction term's function-space embedding names the step, a particle and the term") {
  // Particle 3's network output exp(800) overflows; the interaction drift of every particle involves it.
  auto loss = bowl(1);
  const ExpModel model;
  flows::RepulsiveSettings<double> settings;
  settings.model = &model;
  settings.kernel_inputs = Tensor<double>{{1.0}};
  settings.bandwidth = flows::Bandwidth<double>::fixed(1.0);
  const Tensor<double> init{{0.1}, {-0.2}, {0.3}, {800.0}};
  auto drle = flows::deep_repulsive_langevin_ensemble<double>(
      loss, models::GaussianPrior<double>::isotropic(1, 1.0), settings, init, 0.01, 3);
  try {
    drle.step();
    FAIL("no error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("DRLE: step 0, particle ") != std::string::npos);
    CHECK(msg.find("the drift of term 'interaction energy") != std::string::npos);
    CHECK(msg.find("function space") != std::string::npos);
  }
  CHECK(drle.steps_taken() == 0);
  CHECK(drle.particles() == init);
}

namespace {

// Steps `flow` until a step throws (at most 200 steps) and returns the message, or "" if none did.
std::string first_error(flows::Flow<double>& flow) {
  for (int t = 0; t < 200; ++t) {
    try {
      flow.step();
    } catch (const Error& e) {
      return e.what();
    }
  }
  return "";
}

}  // namespace

TEST_CASE("SVGD and mean-field VI name the step, the particle (member) and the quantity when they diverge") {
  // A steep bowl and a step far past its stability limit: |theta| grows by a factor of ~1e4 per step
  // until it overflows, so the flows must stop at a step naming where, not run on in NaNs.
  auto loss = models::quadratic<double>(std::vector<double>(2, 0.0), 1e4 * xt::eye<double>(2));
  const auto prior = models::GaussianPrior<double>::isotropic(2, 1.0);
  flows::SvgdConfig<double> fixed;
  fixed.bandwidth = flows::Bandwidth<double>::fixed(1.0);
  flows::Svgd<double> svgd(loss, prior, normal_particles(4, 2, 1), flows::Sgd<double>{1.0}, fixed);
  const std::string svgd_error = first_error(svgd);
  CHECK_MESSAGE(svgd_error.find("svgd") != std::string::npos, svgd_error);
  CHECK_MESSAGE(svgd_error.find(": step " + std::to_string(svgd.steps_taken()) + ", particle ") != std::string::npos,
                svgd_error);
  CHECK_MESSAGE(svgd_error.find("is not finite (coordinate ") != std::string::npos, svgd_error);

  flows::MeanFieldVI<double> mfvi(loss, prior, normal_particles(3, 2, 2), {}, flows::Sgd<double>{1.0});
  const std::string mfvi_error = first_error(mfvi);
  CHECK_MESSAGE(mfvi_error.find("mean_field_vi(") == 0, mfvi_error);
  CHECK_MESSAGE(mfvi_error.find(": step " + std::to_string(mfvi.steps_taken()) + ", member ") != std::string::npos,
                mfvi_error);
  CHECK_MESSAGE(mfvi_error.find("is not finite (coordinate ") != std::string::npos, mfvi_error);
}

TEST_CASE("the median bandwidth blames diverged particles for non-finite distances, coinciding ones for a zero median") {
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor<double> diverged{{0, inf, inf}, {inf, 0, inf}, {inf, inf, 0}};
  CHECK_THROWS_WITH_AS(flows::median_bandwidth<double>(diverged), doctest::Contains("the particles have diverged"), Error);
  const Tensor<double> same = xt::zeros<double>({3, 3});
  CHECK_THROWS_WITH_AS(flows::median_bandwidth<double>(same), doctest::Contains("more than half of the pairs coincide"),
                       Error);
}
