// DRLE's interaction term (flows/interaction_energy.hpp) against reverse-mode AD and finite differences,
// in parameter space and in function space (flows/embedding.hpp, through an MLP).
//
// The term's gradient at particle i is
//   lambda1 ((1/N) sum_j grad_1 k(x_i, x_j) - psi (1/M) sum_m grad_1 k(x_i, p_m))
// with x_i = f(theta_i) the embedded particle and p_m = f(phi_m) the embedded prior sample: the kernel
// differentiated in its first argument only, the other point held fixed (paper.md §6). The AD objective with
// exactly that gradient is
//   G(theta) = lambda1 [ (1/N) sum_i sum_j k(f(theta_i), stopgrad f(theta_j)) - psi (1/M) sum_i sum_m k(f(theta_i), p_m) ]:
// d G / d theta_i collects only the terms where theta_i is the first argument. For a symmetric kernel it
// equals N times the gradient of the energy (lambda1/2) [mean k(x, x) - 2 psi mean k(x, p) + psi mean k(p, p)]
// (the V-statistic (lambda1/2) MMD^2 at psi = 1), whose d/dtheta_i picks up both arguments of k(x_i, x_j), a
// factor 2 that the 1/2 cancels. Both identities are checked, the second also by central differences of the
// term's own energy() estimate. All in double, tolerance 1e-10 relative for AD (the same sums in another
// order) and 1e-6 for differences (step 1e-5: truncation ~1e-10, rounding ~1e-11 / 1e-5).
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/autodiff.hpp"
#include "flows/embedding.hpp"
#include "flows/interaction_energy.hpp"
#include "models/mlp.hpp"
#include "models/prior.hpp"

using namespace wgflow;
using ad::Tape;
using ad::Var;
using flows::DistanceConvention;
using wgflow::Tensor;

namespace {

struct Config {
  std::string label;
  flows::RadialKernel<double> kernel;
  DistanceConvention distance;
  double psi;  // prior-attraction scale
};

std::vector<Config> configs() {
  return {{"rbf, mean of squares, psi = 1", flows::RadialKernel<double>::rbf(), DistanceConvention::mean, 1.0},
          {"imq(-1/2), sum of squares, psi = 0.5", flows::RadialKernel<double>::imq(), DistanceConvention::sum, 0.5},
          {"imq(-0.3), mean of squares, psi = 1", flows::RadialKernel<double>::imq(-0.3), DistanceConvention::mean, 1.0}};
}

// k(d^2) entrywise on the tape: d2 = c ||x - y||^2 from sq_dist.
Var<double> kernel_on_tape(const Config& cfg, const Var<double>& sq, double c, double h) {
  if (cfg.kernel.profile() == flows::RadialKernel<double>::Profile::rbf) return ad::exp(sq * (-c / (2 * h)));
  return ad::pow(1.0 + sq * (c / h), cfg.kernel.beta());
}

// The first-argument objective G and the energy (lambda1/2) MMD^2-type V-statistic, for embedded
// particles F (N x E, on the tape, depending on theta) and embedded prior samples P (constants).
struct Objectives {
  Var<double> first_argument, energy;
};
Objectives objectives(const Config& cfg, const Var<double>& F, const Var<double>& P, double lambda1, double h) {
  Tape<double>& tape = F.tape();
  const double n = static_cast<double>(F.rows()), m = static_cast<double>(P.rows());
  const double c = flows::distance_scale<double>(cfg.distance, F.cols());
  const Var<double> held = tape.constant(Tensor<double>(F.val()));  // stopgrad f(theta_j)
  const Var<double> k_prior = kernel_on_tape(cfg, ad::sq_dist(F, P), c, h);
  const Var<double> G = lambda1 * (ad::sum(kernel_on_tape(cfg, ad::sq_dist(F, held), c, h)) / n -
                                   cfg.psi * ad::sum(k_prior) / m);
  const double prior_mean = ad::mean(kernel_on_tape(cfg, ad::sq_dist(P, P), c, h)).item();
  const Var<double> E = (lambda1 / 2) * (ad::mean(kernel_on_tape(cfg, ad::sq_dist(F, F), c, h)) -
                                         2 * cfg.psi * ad::mean(k_prior) + cfg.psi * prior_mean);
  return {G, E};
}

flows::InteractionEnergy<double> make_term(const Config& cfg, double lambda1, double h,
                                           std::unique_ptr<flows::Embedding<double>> space, const Tensor<double>& phi) {
  flows::InteractionSettings<double> s{lambda1, cfg.psi, cfg.kernel, flows::Bandwidth<double>::fixed(h), cfg.distance};
  return flows::InteractionEnergy<double>(s, std::move(space), phi);
}

Tensor<double> gradient_of(flows::InteractionEnergy<double>& term, const Tensor<double>& theta) {
  Tensor<double> gradient = xt::zeros<double>(theta.shape());
  term.add_gradient(flows::StepContext<double>{.step = 0, .particles = theta, .seed = 0}, gradient);
  return gradient;
}

// Checks gradient == dG/dtheta == N dE/dtheta (AD) and gradient == N dE/dtheta by central differences of the
// term's energy(); `embed_on_tape` maps the theta Var (N x J) to the embedded particles (N x E).
template <class Embed>
void check_against_ad(const Config& cfg, flows::InteractionEnergy<double>& term, const Tensor<double>& theta,
                      const Tensor<double>& prior_features, double lambda1, double h, const Embed& embed_on_tape) {
  CAPTURE(cfg.label);
  const std::size_t n = theta.shape()[0], J = theta.shape()[1];
  term.attach(theta);
  const Tensor<double> gradient = gradient_of(term, theta);
  const double energy = *term.energy();

  Tensor<double> grad_first, grad_energy;
  double energy_ad = 0;
  for (int which = 0; which < 2; ++which) {
    Tape<double> tape;
    const Var<double> X = tape.variable(theta);
    const Objectives o = objectives(cfg, embed_on_tape(X), tape.constant(prior_features), lambda1, h);
    tape.backward(which == 0 ? o.first_argument : o.energy);
    (which == 0 ? grad_first : grad_energy) = Tensor<double>(X.adj());
    energy_ad = o.energy.item();
  }
  CHECK(energy == doctest::Approx(energy_ad).epsilon(1e-12));
  double scale = 0;
  for (double v : gradient) scale = std::max(scale, std::abs(v));
  REQUIRE(scale > 1e-3);  // a gradient worth comparing
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t a = 0; a < J; ++a) {
      CAPTURE(i);
      CAPTURE(a);
      CHECK(gradient(i, a) == doctest::Approx(grad_first(i, a)).epsilon(1e-10).scale(scale));
      CHECK(gradient(i, a) == doctest::Approx(n * grad_energy(i, a)).epsilon(1e-10).scale(scale));
    }

  // Central differences of the term's energy estimate (a few coordinates per particle).
  const double step = 1e-5;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t a = i % 3; a < J; a += 7) {
      Tensor<double> plus = theta, minus = theta;
      plus(i, a) += step;
      minus(i, a) -= step;
      gradient_of(term, plus);
      const double e_plus = *term.energy();
      gradient_of(term, minus);
      const double e_minus = *term.energy();
      CAPTURE(i);
      CAPTURE(a);
      CHECK(gradient(i, a) == doctest::Approx(n * (e_plus - e_minus) / (2 * step)).epsilon(1e-6).scale(scale));
    }
}

}  // namespace

TEST_CASE("interaction gradient in parameter space: the AD gradient of the first-argument objective and of MMD^2") {
  const std::size_t N = 7, M = 5, J = 4;
  const auto prior = models::GaussianPrior<double>::isotropic(J, 1.0);
  const Tensor<double> theta = prior.sample(N, 31), phi = prior.sample(M, 32);
  const double lambda1 = 0.8, h = 0.7;
  for (const Config& cfg : configs()) {
    auto term = make_term(cfg, lambda1, h, std::make_unique<flows::ParameterSpace<double>>(), phi);
    check_against_ad(cfg, term, theta, phi, lambda1, h, [](const Var<double>& X) { return X; });
  }
}

TEST_CASE("interaction gradient in function space equals the AD gradient through the MLP") {
  // A 2-5-3 tanh network (J = 33) compared at K = 4 kernel inputs: features are the 12 outputs, in the
  // embedding's order (input-major, then output).
  const models::Mlp<double> net({.widths = {2, 5, 3}, .hidden = models::Activation::tanh()});
  const std::size_t N = 5, M = 4, J = net.num_params(), K = 4, E = K * net.num_outputs();
  const auto prior = models::GaussianPrior<double>::isotropic(J, 0.5);
  const Tensor<double> theta = prior.sample(N, 41), phi = prior.sample(M, 42);
  const Tensor<double> inputs = models::GaussianPrior<double>::isotropic(2, 1.0).sample(K, 43);
  const flows::FunctionSpace<double> space(net, inputs);
  const Tensor<double> prior_features = space.embed(phi);
  REQUIRE(prior_features.shape()[1] == E);

  auto embed_on_tape = [&](const Var<double>& X) {
    Tape<double>& tape = X.tape();
    const Var<double> x_in = tape.constant(inputs);
    std::vector<Var<double>> rows;
    for (std::size_t i = 0; i < N; ++i)
      rows.push_back(ad::reshape(net.forward(ad::rows(X, i, i + 1), x_in), ad::Shape{1, E}));
    return ad::concat(rows, 0);
  };
  const double lambda1 = 1.3, h = 0.4;
  for (const Config& cfg : configs()) {
    auto term = make_term(cfg, lambda1, h, std::make_unique<flows::FunctionSpace<double>>(net, inputs), phi);
    check_against_ad(cfg, term, theta, prior_features, lambda1, h, embed_on_tape);
  }
}

TEST_CASE("interaction gradient with the prior attraction off: the pure repulsion of (lambda1/2) mean k(x, x)") {
  const std::size_t N = 6, J = 3;
  const Tensor<double> theta = models::GaussianPrior<double>::isotropic(J, 1.0).sample(N, 51);
  const Config cfg{"rbf, psi = 0, no prior samples", flows::RadialKernel<double>::rbf(), DistanceConvention::mean, 0.0};
  auto term = make_term(cfg, 0.6, 0.5, std::make_unique<flows::ParameterSpace<double>>(), Tensor<double>::from_shape({0, J}));
  // With psi = 0 the prior features only enter multiplied by 0; any finite set keeps the AD objective defined.
  check_against_ad(cfg, term, theta, theta, 0.6, 0.5, [](const Var<double>& X) { return X; });
}
