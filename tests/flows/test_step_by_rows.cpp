// The integrator's shortcuts against its plain passes. A flow with one term that is not pointwise (DE, DLE)
// moves each particle as soon as that term hands its row over (Term::add_gradient_by_rows;
// flows/particle_flow.hpp's step_by_rows); a flow whose first term writes its buffer (the potential energy,
// Term::writes_gradient) sums the gradient in that buffer rather than in a matrix of its own. The particles are
// those of the separate passes, bit for bit, whatever pieces the rows come in and in whatever order.
#include <doctest/doctest.h>

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "flows/flows.hpp"
#include "tests/flows/flow_fixture.hpp"

using namespace wgflow;

namespace {

// Adds nothing; a second term with a buffer, so that the flow takes its separate passes.
class Nothing final : public flows::Term<double> {
 public:
  std::string name() const override { return "nothing"; }
  void add_gradient(const flows::StepContext<double>&, Tensor<double>&) override {}
};

// `inner`'s gradient, its rows handed over one at a time from the last.
class Backwards final : public flows::Term<double> {
 public:
  explicit Backwards(std::unique_ptr<flows::Term<double>> inner, std::size_t* calls) : inner_(std::move(inner)), calls_(calls) {}
  std::string name() const override { return inner_->name(); }
  void prepare(std::uint64_t step) override { inner_->prepare(step); }
  flows::Reach reach() const override { return inner_->reach(); }
  void add_gradient(const flows::StepContext<double>& context, Tensor<double>& gradient) override {
    inner_->add_gradient(context, gradient);
  }
  void add_gradient_by_rows(const flows::StepContext<double>& context, Tensor<double>& gradient,
                            RowsDone rows_done) override {
    ++*calls_;
    inner_->add_gradient(context, gradient);
    for (std::size_t i = gradient.shape()[0]; i-- > 0;) rows_done(i, i + 1);
  }

 private:
  std::unique_ptr<flows::Term<double>> inner_;
  std::size_t* calls_;
};

// f(data, potential, initial particles) for a network of one hidden layer one particle at a time on the tape
// (tanh) and 8 or 4 at a time in SIMD lanes (relu; 37 particles, so a partial group too).
template <class F>
void for_each_network(const F& f) {
  for (const auto hidden : {models::Activation::tanh(), models::Activation::relu()}) {
    CAPTURE(hidden.name());
    const wgtest::SinRegression data(12);
    const models::Mlp<double> net({.widths = {1, 12, 1}, .hidden = hidden});
    models::NetworkPotential<double> potential(net, models::SquaredError<double>(), data.X, data.Y,
                                               {.batch_size = 20, .seed = 7});
    CHECK(potential.prefers_batches() == (hidden.kind() == models::Activation::Kind::relu));
    f(data, potential, data.init.sample<double>(potential.layout(), 37, 3));
  }
}

}  // namespace

TEST_CASE("moving each particle as its gradient is done gives the separate passes' particles, bit for bit") {
  for_each_network([](const wgtest::SinRegression& data, models::NetworkPotential<double>& potential,
                      const Tensor<double>& init) {
    const flows::DleSettings<double> s{.lambda = 0.3, .eta = 1e-2, .seed = 4};
    auto by_rows = flows::deep_langevin_ensemble(potential, data.prior, init, s);  // the potential's own pieces
    auto passes = flows::deep_langevin_ensemble(potential, data.prior, init, s);
    passes.add(std::make_unique<Nothing>());
    std::size_t calls = 0;
    flows::ParticleFlow<double> backwards("DLE", init, flows::Sgd<double>{s.eta}, s.seed);
    backwards.add(std::make_unique<Backwards>(std::make_unique<flows::PotentialEnergy<double>>(potential), &calls));
    backwards.add(std::make_unique<flows::KlDivergence<double>>(data.prior, s.lambda));
    for (int t = 0; t < 20; ++t) {
      by_rows.step();
      passes.step();
      backwards.step();
    }
    CHECK(calls == 20);  // the flow took the pieces
    CHECK(by_rows.particles() == passes.particles());
    CHECK(backwards.particles() == passes.particles());
    CHECK(by_rows.gradient() == passes.gradient());
    CHECK(*by_rows.mean_loss() == *passes.mean_loss());
    CHECK(xt::amax(xt::abs(by_rows.particles() - init))() > 1e-3);  // they moved
  });
}

TEST_CASE("the gradient summed in the first term's buffer gives the particles of a separate sum, bit for bit") {
  // DE and DLE: their potential energy comes first and writes its buffer (Term::writes_gradient), so the
  // flow sums in that buffer (DE: only checks it), each particle as its row is done; beside them the same
  // terms after one that adds nothing, so that the sum goes into a matrix of its own in separate passes.
  for_each_network([](const wgtest::SinRegression& data, models::NetworkPotential<double>& potential,
                      const Tensor<double>& init) {
    for (const bool langevin : {false, true}) {
      CAPTURE(langevin);
      const double eta = 1e-2, lambda = 0.3;
      auto in_place = langevin ? flows::deep_langevin_ensemble(potential, data.prior, init,
                                                               {.lambda = lambda, .eta = eta, .seed = 4})
                               : flows::deep_ensemble(potential, init, {.eta = eta, .seed = 4});
      flows::ParticleFlow<double> summed(in_place.name(), init, flows::Sgd<double>{eta}, 4);
      summed.add(std::make_unique<Nothing>());
      summed.add(std::make_unique<flows::PotentialEnergy<double>>(potential));
      if (langevin) summed.add(std::make_unique<flows::KlDivergence<double>>(data.prior, lambda));
      for (int t = 0; t < 20; ++t) {
        in_place.step();
        summed.step();
      }
      CHECK(in_place.particles() == summed.particles());
      CHECK(in_place.gradient() == summed.gradient());
      CHECK(xt::amax(xt::abs(in_place.gradient()))() > 0);
      CHECK(xt::amax(xt::abs(in_place.particles() - init))() > 1e-3);  // they moved
    }
  });
}
