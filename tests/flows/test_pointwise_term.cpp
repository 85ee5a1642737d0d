// Pointwise terms (flows/pointwise_term.hpp): a flow computes their gradient row by row in its moving pass
// rather than through a buffer; the particles move the same, bit for bit, and their faults are reported
// as any term's, naming the term, the step and the first particle, whatever the threads.
#include <doctest/doctest.h>

#include <cmath>
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

}  // namespace

TEST_CASE("a pointwise term moves the particles as its gradient matrix would, bit for bit") {
  // DLE on a network potential: the KL term in the flow's pass against the same term behind a buffer.
  const wgtest::SinRegression data(16);
  auto potential = data.potential;
  const Tensor<double> init = data.particles(12, 3);
  for (const double scale : {1.0, 0.0}) {  // 0: the reference code's GMM setting, noise without the score
    CAPTURE(scale);
    auto pointwise = flows::deep_langevin_ensemble(potential, data.prior, init,
                                                   {.lambda = 0.3, .prior_gradient_scale = scale, .eta = 1e-2, .seed = 4});
    flows::ParticleFlow<double> buffered("DLE", init, flows::Sgd<double>{1e-2}, 4);
    buffered.add(std::make_unique<flows::PotentialEnergy<double>>(potential));
    buffered.add(std::make_unique<Buffered>(std::make_unique<flows::KlDivergence<double>>(data.prior, 0.3, scale)));
    for (int t = 0; t < 25; ++t) {
      pointwise.step();
      buffered.step();
    }
    CHECK(pointwise.particles() == buffered.particles());
    CHECK(pointwise.gradient() == buffered.gradient());
    CHECK(xt::amax(xt::abs(pointwise.particles() - init))() > 1e-3);  // they moved
  }
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
