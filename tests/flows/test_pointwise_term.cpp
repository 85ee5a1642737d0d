// Pointwise terms (flows/pointwise_term.hpp): a flow computes their gradient row by row in its moving pass
// rather than through a buffer; the particles move the same, bit for bit, and their faults are reported
// as any term's, naming the term, the step and the first particle, whatever the threads.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

#include <tbb/task_arena.h>

#include "flows/flows.hpp"
#include "tests/flows/flow_fixture.hpp"

using namespace wgflow;
using wgtest::diagonal_quadratic;
using wgtest::normal_particles;

namespace {

// A term that hands the flow `inner`'s whole gradient matrix, as a term that is not pointwise does.
class Buffered final : public flows::Term<double> {
 public:
  explicit Buffered(std::unique_ptr<flows::Term<double>> inner) : inner_(std::move(inner)) {}
  std::string name() const override { return inner_->name(); }
  void attach(const Tensor<double>& particles) override { inner_->attach(particles); }
  void prepare(std::uint64_t step) override { inner_->prepare(step); }
  flows::Reach reach() const override { return inner_->reach(); }
  void add_gradient(const flows::StepContext<double>& context, Tensor<double>& gradient) override {
    inner_->add_gradient(context, gradient);
  }
  double diffusion() const override { return inner_->diffusion(); }

 private:
  std::unique_ptr<flows::Term<double>> inner_;
};

// Gradient theta - c on the particles with global index >= `from`, where it instead returns NaN or throws.
class Faulty final : public flows::PointwiseTerm<double> {
 public:
  Faulty(std::string label, std::size_t from, bool throws) : label_(std::move(label)), from_(from), throws_(throws) {}
  std::string name() const override { return label_; }
  void row_gradient(std::uint64_t step, std::size_t row, std::span<const double> theta,
                    std::span<double> out) const override {
    for (std::size_t j = 0; j < theta.size(); ++j) out[j] = theta[j] - 1.0;
    if (step == 0 || row < from_) return;
    if (throws_) throw wgflow::Error(label_ + " failed at particle " + std::to_string(row));
    out[0] = std::nan("");
  }

 private:
  std::string label_;
  std::size_t from_;
  bool throws_;
};

// A prior as a researcher may write one, without the optional precisions(): the KL term's score then
// goes through row_gradient and is added after.
struct WithoutPrecisions {
  models::GaussianPrior<double> p;
  std::size_t dim() const { return p.dim(); }
  void grad_log_density(std::span<const double> t, std::span<double> out) const { p.grad_log_density(t, out); }
  double log_density(std::span<const double> t) const { return p.log_density(t); }
  void sample_into(std::uint64_t seed, std::uint64_t row, std::span<double> out) const { p.sample_into(seed, row, out); }
};

// A prior whose precisions() do not match its dimension.
struct ShortPrecisions : WithoutPrecisions {
  std::span<const double> precisions() const { return p.precisions().first(1); }
};

}  // namespace

TEST_CASE("a pointwise term moves the particles as its gradient matrix would, bit for bit") {
  // DLE on a network potential: the KL term in the flow's pass (its one-pass add where the prior gives its
  // precisions, row_gradient and an add where it does not) against the same term behind a buffer.
  const wgtest::SinRegression data(16);
  auto potential = data.potential;
  const Tensor<double> init = data.particles(12, 3);
  const flows::Prior<double> one_pass = data.prior, two_passes = WithoutPrecisions{data.prior};
  REQUIRE(one_pass.precisions().size() == init.shape()[1]);
  REQUIRE(two_passes.precisions().empty());
  for (const flows::Prior<double>& prior : {one_pass, two_passes})
    for (const double scale : {1.0, 0.0}) {  // 0: the reference code's GMM setting, noise without the score
      CAPTURE(prior.precisions().size());
      CAPTURE(scale);
      auto pointwise = flows::deep_langevin_ensemble(potential, prior, init,
                                                     {.lambda = 0.3, .prior_gradient_scale = scale, .eta = 1e-2, .seed = 4});
      flows::ParticleFlow<double> buffered("DLE", init, flows::Sgd<double>{1e-2}, 4);
      buffered.add(std::make_unique<flows::PotentialEnergy<double>>(potential));
      buffered.add(std::make_unique<Buffered>(std::make_unique<flows::KlDivergence<double>>(prior, 0.3, scale)));
      for (int t = 0; t < 25; ++t) {
        pointwise.step();
        buffered.step();
      }
      CHECK(pointwise.particles() == buffered.particles());
      CHECK(pointwise.gradient() == buffered.gradient());
      CHECK(xt::amax(xt::abs(pointwise.particles() - init))() > 1e-3);  // they moved
    }
}

TEST_CASE("the KL term's one-pass add reports its faults and its largest entries as the two-pass one does") {
  auto loss = diagonal_quadratic();
  // Precision 1e300: the score overflows at |theta_j| > ~1e8, where the potential's gradient is still finite.
  const auto tight = models::GaussianPrior<double>::isotropic(3, 1e-300);
  const Tensor<double> init{{0.1, 0.2, 0.3}, {1.0, 1e10, -1e10}, {2.0, 3.0, 4.0}, {1e10, 1e10, 0.0}};
  for (const int threads : {1, 2}) {
    CAPTURE(threads);
    tbb::task_arena arena(threads);
    arena.execute([&] {
      for (const flows::Prior<double>& prior : {flows::Prior<double>(tight), flows::Prior<double>(WithoutPrecisions{tight})}) {
        CAPTURE(prior.precisions().size());
        auto dle = flows::deep_langevin_ensemble(loss, prior, init, {.lambda = 0.1, .eta = 1e-3, .seed = 3});
        CHECK_THROWS_WITH_AS(dle.step(),
                             doctest::Contains("DLE: step 0, particle 1: the gradient of term 'KL divergence (lambda = "
                                               "0.100000, prior gradient x 1.000000)' is not finite (coordinate 1 = inf)"),
                             Error);
        CHECK(dle.particles() == init);
      }
      // Coordinate 0's sum overflows (8e307 + 1.6e308), finite as both parts are: the fault is the score's
      // coordinate 1, not the sum's first infinity.
      const auto mixed = models::GaussianPrior<double>::per_parameter({0.5, 1e-300, 1.0});
      for (const flows::Prior<double>& prior : {flows::Prior<double>(mixed), flows::Prior<double>(WithoutPrecisions{mixed})}) {
        CAPTURE(prior.precisions().size());
        const Tensor<double> start{{0.1, 0.2, 0.3}, {8e307, 1e10, 0.0}};
        auto dle = flows::deep_langevin_ensemble(loss, prior, start, {.lambda = 1.0, .eta = 1e-3, .seed = 3});
        CHECK_THROWS_WITH_AS(dle.step(),
                             doctest::Contains("DLE: step 0, particle 1: the gradient of term 'KL divergence (lambda = "
                                               "1.000000, prior gradient x 1.000000)' is not finite (coordinate 1 = inf)"),
                             Error);
      }
      // A finite score of 1e300 times a step of 1e10: the update overflows, and the KL term's entry is the
      // largest the particle received.
      const auto steep = models::GaussianPrior<double>::isotropic(3, 1e-290);
      for (const flows::Prior<double>& prior : {flows::Prior<double>(steep), flows::Prior<double>(WithoutPrecisions{steep})}) {
        CAPTURE(prior.precisions().size());
        const Tensor<double> start{{0.1, 0.2, 0.3}, {-0.1, 0.0, 0.2}, {1e10, 0.0, 0.0}};
        auto dle = flows::deep_langevin_ensemble(loss, prior, start, {.lambda = 1.0, .eta = 1e10, .seed = 3});
        CHECK_THROWS_WITH_AS(dle.step(),
                             doctest::Contains("DLE: step 0, particle 2: the particle is not finite after the update "
                                               "(coordinate 0 = -inf; gradient finite, largest contribution 1e+300 from "
                                               "term 'KL divergence"),
                             Error);
      }
    });
  }
  CHECK_THROWS_WITH_AS(flows::KlDivergence<double>(ShortPrecisions{{tight}}, 0.1),
                       doctest::Contains("KlDivergence: the prior gives 1 precisions for R^3"), ShapeError);
}

TEST_CASE("a pointwise term's non-finite gradient or exception names it, the step and the first particle") {
  auto loss = diagonal_quadratic();
  for (const int threads : {1, 2}) {
    CAPTURE(threads);
    tbb::task_arena arena(threads);
    arena.execute([&] {
      for (int round = 0; round < 10; ++round) {
        auto nan_flow = flows::deep_ensemble(loss, normal_particles(40, 3, 1), {.eta = 0.1});
        nan_flow.add(std::make_unique<Faulty>("bad prior", 17, false));
        nan_flow.step();
        const Tensor<double> before = nan_flow.particles();
        CHECK_THROWS_WITH_AS(nan_flow.step(),
                             doctest::Contains("step 1, particle 17: the gradient of term 'bad prior' is not finite (coordinate 0 = nan)"),
                             wgflow::Error);
        CHECK(nan_flow.steps_taken() == 1);
        CHECK(nan_flow.particles() == before);

        // A throwing one: the first particle's exception, and before a later term's NaN at an earlier particle.
        auto throwing_flow = flows::deep_ensemble(loss, normal_particles(40, 3, 1), {.eta = 0.1});
        throwing_flow.add(std::make_unique<Faulty>("thrower", 23, true));
        throwing_flow.add(std::make_unique<Faulty>("nan", 2, false));
        throwing_flow.step();
        CHECK_THROWS_WITH_AS(throwing_flow.step(), "thrower failed at particle 23", wgflow::Error);
        CHECK(throwing_flow.steps_taken() == 1);
      }
    });
  }
}
