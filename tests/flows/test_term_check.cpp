// flows/term_check.hpp: a term's gradient against N times the finite difference of its own energy, for the
// library's terms that estimate one and a term written here, and a wrong gradient caught and located.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include <xtensor/xmath.hpp>

#include "core/random.hpp"
#include "flows/embedding.hpp"
#include "flows/interaction_energy.hpp"
#include "flows/kl_divergence.hpp"
#include "flows/potential_energy.hpp"
#include "flows/term_check.hpp"
#include "models/prior.hpp"
#include "models/toy_potentials.hpp"

using namespace wgflow;

namespace {

Tensor<double> scaled_normals(std::size_t n, std::size_t d, std::uint64_t seed, double scale = 1.0) {
  Tensor<double> x = Tensor<double>::from_shape({n, d});
  Rng rng(seed);
  for (double& v : x) v = scale * rng.normal();
  return x;
}

// F = (c/2) mean_i |theta_i|^2, gradient c theta_i; `factor` != 1 makes the gradient wrong on purpose.
class Confinement final : public flows::Term<double> {
 public:
  Confinement(double c, double factor = 1) : c_(c), factor_(factor) {}
  std::string name() const override { return "confinement"; }
  void add_gradient(const flows::StepContext<double>& ctx, Tensor<double>& gradient) override {
    gradient += factor_ * c_ * ctx.particles;
    energy_ = c_ / 2 * xt::mean(xt::sum(xt::square(ctx.particles), {1}))();
  }
  std::optional<double> energy() const override { return energy_; }

 private:
  double c_, factor_;
  double energy_ = 0;
};

}  // namespace

TEST_CASE("the potential energy's gradient is N times the derivative of its mean loss") {
  auto loss = models::double_well<double>(3);
  flows::PotentialEnergy<double> term(loss);
  const auto report = flows::check_term_gradient(term, scaled_normals(6, 3, 1));
  CHECK_MESSAGE(report.ok(), report.message());
  CHECK(report.max_error < 1e-8);
}

TEST_CASE("the interaction energy's gradient matches its MMD estimate, RBF and IMQ, both conventions") {
  for (const auto& kernel : {flows::RadialKernel<double>::rbf(), flows::RadialKernel<double>::imq()})
    for (const auto distance : {flows::DistanceConvention::mean, flows::DistanceConvention::sum})
      for (const double psi : {1.0, 0.0}) {
        flows::InteractionEnergy<double> term({.lambda1 = 0.7, .prior_attraction_scale = psi, .kernel = kernel,
                                               .bandwidth = flows::Bandwidth<double>::fixed(0.8),
                                               .distance = distance},
                                              std::make_unique<flows::ParameterSpace<double>>(),
                                              scaled_normals(psi == 0 ? 0 : 5, 4, 2));
        const auto report = flows::check_term_gradient(term, scaled_normals(7, 4, 3, 0.7));
        CAPTURE(kernel.name());
        CAPTURE(psi);
        CHECK_MESSAGE(report.ok(), report.message());
      }
}

TEST_CASE("a term written in a test is checked the same way, and a wrong gradient is caught and located") {
  Confinement right(1.5);
  CHECK(flows::check_term_gradient(right, scaled_normals(5, 2, 4)).ok());

  Confinement wrong(1.5, /*factor=*/1.01);  // 1 % too large everywhere
  const auto report = flows::check_term_gradient(wrong, scaled_normals(5, 2, 4));
  CHECK_FALSE(report.ok());
  CHECK(report.max_error > 1e-3);
  CHECK(report.analytic == doctest::Approx(1.01 * report.numeric).epsilon(1e-6));
  CHECK(report.message().find("term 'confinement': gradient does not match") != std::string::npos);
}

TEST_CASE("a term that estimates no energy is refused with a message naming it") {
  flows::KlDivergence<double> kl(models::GaussianPrior<double>::isotropic(2, 1.0), /*lambda=*/0.5);
  CHECK_THROWS_WITH_AS(flows::check_term_gradient(kl, scaled_normals(3, 2, 5)),
                       doctest::Contains("estimates no energy"), Error);
}

TEST_CASE("a term is checked at finite particles only: a non-finite one is refused, naming it") {
  Confinement term(2.0);
  Tensor<double> particles = scaled_normals(4, 3, 8);
  CHECK(flows::check_term_gradient(term, particles).ok());
  particles(1, 2) = std::nan("");
  CHECK_THROWS_WITH_AS(flows::check_term_gradient(term, particles),
                       "check_term_gradient: particle 1 is not finite (coordinate 2 = nan)", Error);
}
