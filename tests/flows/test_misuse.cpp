// Errors a user can trigger, and what they say: API misuse (mismatched dimensions, too few particles,
// non-positive step sizes and bandwidths, weights out of range, kernels on empty sets) is refused with a
// wgflow::Error naming the culprit; a NaN or Inf produced by a term (the prior's, the interaction's, or
// the potential's under DE, SVGD and mean-field VI alike) names the step, the particle and that term, and
// leaves the particles as they were.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>

#include "autodiff/ops/elementwise.hpp"
#include "autodiff/ops/matmul.hpp"
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
// predict and pullback in closed form, beside the forward on the tape that defines it.
struct ExpModel final : models::Model<double> {
  models::ParameterLayout layout_ = [] {
    models::ParameterLayout layout;
    layout.add("theta", Shape{1, 1});
    return layout;
  }();
  const models::ParameterLayout& layout() const override { return layout_; }
  std::size_t num_inputs() const override { return 1; }
  std::size_t num_outputs() const override { return 1; }
  ad::Var<double> forward(std::span<const ad::Var<double>> params, const ad::Var<double>& X) const override {
    return ad::exp(ad::matmul(X, params[0]));
  }
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
  CHECK_THROWS_WITH_AS(flows::deep_langevin_ensemble(loss, prior2, normal_particles(4, 3, 1), {.lambda = 0.1, .eta = 0.01}),
                       doctest::Contains("KlDivergence: particles are 4x3 but the prior is on R^2"), ShapeError);
  CHECK_THROWS_WITH_AS(flows::svgd(loss, prior2, normal_particles(4, 3, 1), {.optimizer = flows::Sgd<double>{0.1}}),
                       doctest::Contains("SVGD: particles are 4x3 but the prior has 2 parameters"), ShapeError);
  CHECK_THROWS_WITH_AS(flows::svgd(loss, prior3, normal_particles(4, 2, 1), {.optimizer = flows::Sgd<double>{0.1}}),
                       doctest::Contains("particles are 4x2"), ShapeError);
  CHECK_THROWS_WITH_AS(flows::mean_field_vi(loss, prior3, normal_particles(4, 2, 1)),
                       doctest::Contains("mean-field VI: the members' rows are 4x4 but the potential has 3 parameters"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(flows::mean_field_vi(loss, prior2, normal_particles(4, 3, 1)),
                       doctest::Contains("and the prior 2"), ShapeError);
  const ExpModel model;  // one parameter, the particles have three
  CHECK_THROWS_WITH_AS(flows::deep_repulsive_langevin_ensemble(loss, prior3, normal_particles(4, 3, 1),
                                                               {.model = &model, .kernel_inputs = Tensor<double>{{1.0}}}),
                       doctest::Contains("particles are 200x3 but the model has 1 parameters"), ShapeError);
  CHECK_THROWS_WITH_AS(flows::squared_distances<double>(normal_particles(4, 3, 1), normal_particles(5, 2, 1),
                                                        flows::DistanceConvention::sum),
                       doctest::Contains("X is 4x3, Y is 5x2"), ShapeError);
}

TEST_CASE("too few particles are refused") {
  auto loss = bowl(3);
  const auto prior = models::GaussianPrior<double>::isotropic(3, 1.0);
  CHECK_THROWS_WITH_AS(flows::deep_ensemble(loss, Tensor<double>::from_shape({0, 3}), {.eta = 0.1}),
                       doctest::Contains("DE: need at least one particle of positive dimension, got 0x3"), ShapeError);
  CHECK_THROWS_WITH_AS(flows::svgd(loss, prior, normal_particles(1, 3, 1), {.optimizer = flows::Sgd<double>{0.1}}),
                       doctest::Contains("need N >= 2"), ShapeError);
  CHECK_THROWS_WITH_AS(flows::mean_field_vi(loss, prior, Tensor<double>::from_shape({0, 3})),
                       doctest::Contains("MFVI: need at least one particle of positive dimension, got 0x6"), ShapeError);
  const ExpModel model;
  CHECK_THROWS_WITH_AS(flows::predict<double>(model, Tensor<double>::from_shape({0, 1}), Tensor<double>{{1.0}}),
                       doctest::Contains("at least one particle"), ShapeError);
}

TEST_CASE("step sizes must be positive and finite, and a refused optimiser leaves the flow's in place") {
  auto loss = bowl(3);
  CHECK_THROWS_WITH_AS(flows::deep_ensemble(loss, normal_particles(4, 3, 1), {.eta = -0.1}),
                       doctest::Contains("Sgd: learning rate must be positive and finite"), Error);
  CHECK_THROWS_AS(flows::deep_ensemble(loss, normal_particles(4, 3, 1), {.eta = 0.0}), Error);
  CHECK_THROWS_AS(flows::deep_ensemble(loss, normal_particles(4, 3, 1), {.eta = std::nan("")}), Error);
  const auto prior = models::GaussianPrior<double>::isotropic(3, 1.0);
  CHECK_THROWS_WITH_AS(flows::svgd(loss, prior, normal_particles(4, 3, 1), {.optimizer = flows::Adam<double>{.eta = -1}}),
                       doctest::Contains("Adam: learning rate must be positive and finite"), Error);
  CHECK_THROWS_WITH_AS(flows::mean_field_vi(loss, prior, normal_particles(4, 3, 1), {.optimizer = flows::Sgd<double>{0}}),
                       doctest::Contains("Sgd: learning rate must be positive and finite"), Error);
  auto de = flows::deep_ensemble(loss, normal_particles(4, 3, 1), {.eta = 0.1});
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
  // log(4 - 10) is not a number
  auto drle = flows::deep_repulsive_langevin_ensemble(loss, prior, normal_particles(4, 3, 1),
                                                      {.bandwidth = flows::Bandwidth<double>::median(5, -10.0)});
  CHECK_THROWS_WITH_AS(drle.step(), doctest::Contains("median_bandwidth: log(N + offset)"), Error);
  CHECK(drle.steps_taken() == 0);
  auto svgd = flows::svgd(loss, prior, normal_particles(4, 3, 1), {.bandwidth = flows::Bandwidth<double>::median(5, -10.0)});
  CHECK_THROWS_WITH_AS(svgd.step(), doctest::Contains("median_bandwidth: log(N + offset)"), Error);
  CHECK(svgd.steps_taken() == 0);
}

TEST_CASE("weights and sample counts out of range are refused") {
  auto loss = bowl(3);
  const auto prior = models::GaussianPrior<double>::isotropic(3, 1.0);
  CHECK_THROWS_WITH_AS(flows::deep_langevin_ensemble(loss, prior, normal_particles(4, 3, 1), {.lambda = -0.1}),
                       doctest::Contains("KlDivergence: the weight lambda must be finite and >= 0"), Error);
  CHECK_THROWS_WITH_AS(flows::deep_repulsive_langevin_ensemble(loss, prior, normal_particles(4, 3, 1), {.lambda1 = -1}),
                       doctest::Contains("InteractionEnergy: lambda1 must be finite and >= 0"), Error);
  CHECK_THROWS_WITH_AS(flows::deep_repulsive_langevin_ensemble(loss, prior, normal_particles(4, 3, 1), {.prior_samples = 0}),
                       doctest::Contains("no prior samples were given"), Error);
  CHECK_THROWS_WITH_AS(flows::svgd(loss, prior, normal_particles(4, 3, 1), {.lambda = 0}),
                       doctest::Contains("SVGD: lambda must be positive and finite, got 0"), Error);
  CHECK_THROWS_WITH_AS(flows::mean_field_vi(loss, prior, normal_particles(2, 3, 1), {.samples = 0}),
                       doctest::Contains("samples >= 1"), Error);
  CHECK_THROWS_WITH_AS(flows::mean_field_vi(loss, prior, normal_particles(2, 3, 1), {.lambda = -1}),
                       doctest::Contains("mean-field VI: need a finite lambda >= 0"), Error);
  CHECK_THROWS_WITH_AS(flows::mean_field_vi(loss, prior, normal_particles(2, 3, 1), {.initial_sd = 0}),
                       doctest::Contains("mean-field VI: initial_sd must be positive and finite"), Error);
  auto de = flows::deep_ensemble(loss, normal_particles(4, 3, 1), {.eta = 0.1});
  CHECK_THROWS_WITH_AS(de.run(10, [](const flows::ParticleFlow<double>&) { return true; }, 0),
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
  const Tensor<double> no_sums = flows::kernel_gradient_sums<double>(km.slope, none, some, flows::DistanceConvention::sum);
  CHECK(no_sums.shape()[0] == 0);
  CHECK(no_sums.shape()[1] == 3);
  CHECK(flows::squared_distances<double>(some, none, flows::DistanceConvention::sum).shape()[1] == 0);
  // No reference points: the sums are zero, and adding them changes nothing.
  const Tensor<double> no_slope = Tensor<double>::from_shape({5, 0});
  CHECK(flows::kernel_gradient_sums<double>(no_slope, some, none, flows::DistanceConvention::sum) ==
        Tensor<double>(xt::zeros<double>({5, 3})));
  const flows::CentredPoints<double> x = flows::centred<double>(some, flows::DistanceConvention::sum);
  Tensor<double> untouched = xt::ones<double>({5, 3});
  flows::add_kernel_gradient_sums<double>(no_slope, x, flows::centred_like<double>(none, x), 1.0, untouched);
  CHECK(untouched == Tensor<double>(xt::ones<double>({5, 3})));
  CHECK_THROWS_WITH_AS(flows::median<double>(Tensor<double>::from_shape({0, 0})), doctest::Contains("median: no values"),
                       Error);
  CHECK_THROWS_WITH_AS(flows::median_bandwidth<double>(Tensor<double>::from_shape({0, 0})),
                       doctest::Contains("needs N + offset > 1"), Error);
}

TEST_CASE("a NaN from the KL term names the step, the particle and the term") {
  auto loss = bowl(2);
  const Tensor<double> init{{0.1, 0.2}, {-0.3, 0.4}, {10.0, 0.0}, {0.5, -0.6}};  // particle 2 is where the prior breaks
  auto dle = flows::deep_langevin_ensemble(loss, BrokenPrior{2}, init, {.lambda = 0.1, .eta = 0.01, .seed = 3});
  CHECK_THROWS_WITH_AS(dle.step(), doctest::Contains("DLE: step 0, particle 2: the gradient of term 'KL divergence"), Error);
  CHECK(dle.steps_taken() == 0);
  CHECK(dle.particles() == init);
}

TEST_CASE("an Inf from the interaction term's function-space embedding names the step, a particle and the term") {
  // Particle 3's network output exp(800) overflows; the interaction gradient of every particle involves it.
  auto loss = bowl(1);
  const ExpModel model;
  const Tensor<double> init{{0.1}, {-0.2}, {0.3}, {800.0}};
  auto drle = flows::deep_repulsive_langevin_ensemble(
      loss, models::GaussianPrior<double>::isotropic(1, 1.0), init,
      {.bandwidth = flows::Bandwidth<double>::fixed(1.0), .model = &model, .kernel_inputs = Tensor<double>{{1.0}},
       .eta = 0.01, .seed = 3});
  try {
    drle.step();
    FAIL("no error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("DRLE: step 0, particle ") != std::string::npos);
    CHECK(msg.find("the gradient of term 'interaction energy") != std::string::npos);
    CHECK(msg.find("function space") != std::string::npos);
  }
  CHECK(drle.steps_taken() == 0);
  CHECK(drle.particles() == init);
}

namespace {

// l(t) = |t|^2 / 2 on R^d, except that at step `trap_step` (as begin_step announced it) the gradient's
// first coordinate, or the value where `in_value`, is `bad` (NaN or an infinity) wherever t_0 > threshold:
// a potential that fails for one particle at one step, whichever flow evaluates it.
class TrapPotential final : public models::Potential<double> {
 public:
  TrapPotential(std::size_t d, std::uint64_t trap_step, double threshold, double bad, bool in_value = false)
      : d_(d), trap_step_(trap_step), threshold_(threshold), bad_(bad), in_value_(in_value) {}
  std::size_t dim() const override { return d_; }
  void begin_step(std::uint64_t step) override { step_ = step; }
  double value_and_gradient(std::span<const double> t, std::span<double> g) const override {
    double l = 0;
    for (std::size_t j = 0; j < d_; ++j) l += t[j] * t[j] / 2, g[j] = t[j];
    if (step_ != trap_step_ || t[0] <= threshold_) return l;
    if (in_value_) return bad_;
    g[0] = bad_;
    return l;
  }

 private:
  std::size_t d_;
  std::uint64_t trap_step_;
  double threshold_, bad_;
  bool in_value_;
  std::uint64_t step_ = 0;
};

enum class Diverging { de, svgd, mfvi };

const char* diverging_name(Diverging m) { return m == Diverging::de ? "DE" : m == Diverging::svgd ? "SVGD" : "MFVI"; }

// The method on `loss` from the particles (SVGD, DE) or means (mean-field VI, sd 1e-3) `init`, with
// Sgd(eta): each runs the one integrator with one term.
flows::ParticleFlow<double> diverging_flow(Diverging m, models::Potential<double>& loss, const Tensor<double>& init, double eta) {
  const auto prior = models::GaussianPrior<double>::isotropic(init.shape()[1], 1.0);
  switch (m) {
    case Diverging::de: return flows::deep_ensemble(loss, init, {.eta = eta});
    case Diverging::svgd:
      return flows::svgd(loss, prior, init, {.bandwidth = flows::Bandwidth<double>::fixed(1.0), .optimizer = flows::Sgd<double>{eta}});
    case Diverging::mfvi:
      return flows::mean_field_vi(loss, prior, init, {.initial_sd = 1e-3, .optimizer = flows::Sgd<double>{eta}, .seed = 4});
  }
  throw Error("unknown method");
}

// Steps `flow` until a step throws (at most 200 steps) and returns the message, or "" if none did;
// checks that the failed step left the particles and the step count as they were.
std::string first_error(flows::ParticleFlow<double>& flow) {
  for (int t = 0; t < 200; ++t) {
    const Tensor<double> before = flow.particles();
    try {
      flow.step();
    } catch (const Error& e) {
      CHECK(flow.steps_taken() == static_cast<std::uint64_t>(t));
      CHECK(flow.particles() == before);
      return e.what();
    }
  }
  return "";
}

}  // namespace

TEST_CASE("DE, SVGD and mean-field VI name the step, the particle and the term when a potential's gradient is NaN or infinite") {
  // Particle (member) 3 starts at t_0 = 9, the others below 1; the potential fails for t_0 > 5 at step 2.
  const Tensor<double> init{{0.1, 0.2}, {-0.3, 0.4}, {0.5, -0.6}, {9.0, 0.0}, {-0.7, 0.1}};
  for (const double bad : {std::nan(""), std::numeric_limits<double>::infinity()}) {
    for (const Diverging m : {Diverging::de, Diverging::svgd, Diverging::mfvi}) {
      CAPTURE(bad);
      CAPTURE(std::string(diverging_name(m)));
      TrapPotential loss(2, 2, 5.0, bad);
      auto flow = diverging_flow(m, loss, init, 1e-3);
      flow.run(2);
      const Tensor<double> before = flow.particles();
      const std::string term = flow.term(0).name();
      const std::string value = std::isnan(bad) ? "nan" : "inf";
      std::string expected;
      if (m == Diverging::svgd)  // named where the particle at fault is known, before K G spreads it to all
        expected = term + ": step 2, particle 3: the gradient of the potential and of the prior is not finite "
                          "(coordinate 0 = " + value + ")";
      else
        expected = std::string(diverging_name(m)) + ": step 2, particle 3: the gradient of term '" + term +
                   "' is not finite (coordinate 0 = " + value + ")";
      CHECK_THROWS_WITH_AS(flow.step(), expected.c_str(), Error);
      CHECK(flow.steps_taken() == 2);
      CHECK(flow.particles() == before);
    }
  }
}

TEST_CASE("DE, SVGD and mean-field VI name the step, the particle and the term when a potential's value is NaN or infinite and its gradient finite") {
  // Before, the flow went on and mean_loss() was NaN or infinite with no error.
  const Tensor<double> init{{0.1, 0.2}, {-0.3, 0.4}, {0.5, -0.6}, {9.0, 0.0}, {-0.7, 0.1}};
  for (const double bad : {std::nan(""), std::numeric_limits<double>::infinity()}) {
    for (const Diverging m : {Diverging::de, Diverging::svgd, Diverging::mfvi}) {
      CAPTURE(bad);
      CAPTURE(std::string(diverging_name(m)));
      TrapPotential loss(2, 2, 5.0, bad, true);
      auto flow = diverging_flow(m, loss, init, 1e-3);
      flow.run(2);
      const std::optional<double> reported = m == Diverging::mfvi ? flow.free_energy() : flow.mean_loss();
      REQUIRE(reported);
      CHECK(std::isfinite(*reported));
      const Tensor<double> before = flow.particles();
      const std::string expected = std::string(diverging_name(m)) + ": step 2, particle 3: the value of term '" +
                                   flow.term(0).name() + "' is not finite (" + (std::isnan(bad) ? "nan" : "inf") +
                                   "), its gradient finite";
      CHECK_THROWS_WITH_AS(flow.step(), expected.c_str(), Error);
      CHECK(flow.steps_taken() == 2);
      CHECK(flow.particles() == before);
    }
  }
}

TEST_CASE("DE, SVGD and mean-field VI name the step, the particle and the term behind an update that overflows") {
  // A finite gradient of 1e300 times a step of 1e10: every particle's first coordinate becomes -inf.
  models::AnalyticPotential<double> steep(
      2, [](std::span<const double> t) { return 1e300 * t[0]; },
      [](std::span<const double>, std::span<double> g) { g[0] = 1e300, g[1] = 0; }, "steep");
  const Tensor<double> init{{0.0, 0.1}, {1.0, -0.2}, {0.5, 0.3}};
  for (const Diverging m : {Diverging::de, Diverging::svgd, Diverging::mfvi}) {
    CAPTURE(std::string(diverging_name(m)));
    auto flow = diverging_flow(m, steep, init, 1e10);
    const Tensor<double> before = flow.particles();
    const std::string expected = std::string(diverging_name(m)) +
                                 ": step 0, particle 0: the particle is not finite after the update (coordinate 0 = "
                                 "-inf; gradient finite, largest contribution ";
    const std::string blamed = "from term '" + flow.term(0).name() + "', optimiser sgd(eta=10000000000.000000))";
    try {
      flow.step();
      FAIL("no error");
    } catch (const Error& e) {
      const std::string msg = e.what();
      CHECK_MESSAGE(msg.rfind(expected, 0) == 0, msg);
      CHECK_MESSAGE(msg.find(blamed) != std::string::npos, msg);
    }
    CHECK(flow.steps_taken() == 0);
    CHECK(flow.particles() == before);
  }
}

TEST_CASE("DE, SVGD and mean-field VI stop with an error naming the step, the particle and the term when they diverge") {
  // A steep bowl and a step far past its stability limit: |theta| grows by a factor of ~1e4 per step
  // until it overflows, so the flows must stop at a step naming where, not run on in NaNs.
  auto loss = models::quadratic<double>(std::vector<double>(2, 0.0), 1e4 * xt::eye<double>(2));
  for (const Diverging m : {Diverging::de, Diverging::svgd, Diverging::mfvi}) {
    CAPTURE(std::string(diverging_name(m)));
    auto flow = diverging_flow(m, loss, normal_particles(4, 2, 1), 1.0);
    const std::string error = first_error(flow);
    CHECK_MESSAGE(!error.empty(), "no error in 200 steps");
    CHECK_MESSAGE(flow.steps_taken() > 0, error);  // it did diverge over steps, not at once
    CHECK_MESSAGE(error.find(": step " + std::to_string(flow.steps_taken()) + ", particle ") != std::string::npos, error);
    CHECK_MESSAGE(error.find(flow.term(0).name()) != std::string::npos, error);
    // the loss |theta|^2 / 2 overflows before its gradient (DE, SVGD), or a gradient first (MFVI)
    CHECK_MESSAGE(error.find("is not finite (") != std::string::npos, error);
  }
}

TEST_CASE("the median bandwidth blames diverged particles for non-finite distances, coinciding ones for a zero median") {
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor<double> diverged{{0, inf, inf}, {inf, 0, inf}, {inf, inf, 0}};
  CHECK_THROWS_WITH_AS(flows::median_bandwidth<double>(diverged), doctest::Contains("the particles have diverged"), Error);
  const Tensor<double> same = xt::zeros<double>({3, 3});
  CHECK_THROWS_WITH_AS(flows::median_bandwidth<double>(same), doctest::Contains("more than half of the pairs coincide"),
                       Error);
}
