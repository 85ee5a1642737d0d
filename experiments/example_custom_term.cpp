// Adding a free-energy term of your own (flows/term.hpp), checking its gradient against its energy
// (flows/term_check.hpp), then running a flow with it.
//
// The new term is a confinement F_c(Q) = (c/2) int |theta|^2 dQ. Its first variation is c |theta|^2 / 2, so
// its gradient at every particle is c theta. Added to DLE on the double well of paper §3.1, the free
// energy int l dQ + F_c + KL(Q || N(0, 1)) has the Gibbs minimiser q* ∝ exp(-l(t) - (1 + c) t^2 / 2): the
// paper's DLE optimum with the prior variance 1 / (1 + c). The program checks the particles against it.
//
// Run: build/experiments/example_custom_term
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <xtensor/xmath.hpp>

#include "experiments/common/command_line.hpp"
#include "experiments/common/run_main.hpp"

#include "flows/flows.hpp"
#include "analysis/ks.hpp"
#include "analysis/optimal_density.hpp"
#include "models/prior.hpp"
#include "models/toy_potentials.hpp"

using namespace wgflow;

// The whole term: a name, its gradient, and (optionally) its energy at the particles.
class Confinement final : public flows::Term<double> {
 public:
  explicit Confinement(double c) : c_(c) {}
  std::string name() const override { return "confinement"; }
  void add_gradient(const flows::StepContext<double>& ctx, Tensor<double>& gradient) override {
    gradient += c_ * ctx.particles;                                             // grad (c/2)|theta|^2
    energy_ = c_ / 2 * xt::mean(xt::sum(xt::square(ctx.particles), {1}))();  // (c/2) mean_i |theta_i|^2
  }
  std::optional<double> energy() const override { return energy_; }

 private:
  double c_;
  double energy_ = 0;
};

namespace {

int example() {
  const double c = 1.5, eta = 1e-2;
  const std::size_t N = 1000, steps = 1000;
  auto loss = models::double_well<double>();
  const auto prior = models::GaussianPrior<double>::isotropic(1, 1.0);

  // First the term's gradient against its own energy (flows/term_check.hpp).
  Confinement probe(c);
  const auto check = flows::check_term_gradient(probe, prior.sample(20, 2));
  std::printf("%s\n", check.message().c_str());
  if (!check.ok()) throw Error(check.message());

  auto flow = flows::deep_langevin_ensemble(loss, prior, prior.sample(N, 1), {.lambda = 1.0, .eta = eta, .seed = 7});
  flow.add(std::make_unique<Confinement>(c));
  flow.run(steps);

  // The analytic optimum on a grid, and the particles' distance to it.
  const analysis::Grid<double> grid(-5.0, 5.0, 1001);
  const auto q = analysis::gibbs_density(grid, analysis::loss_of(loss), 1.0, /*prior_variance=*/1 / (1 + c));
  const Tensor<double>& theta = flow.particles();
  const double mean = xt::mean(theta)(), variance = xt::variance(theta)();
  std::printf("DLE + confinement (c = %.2f): %zu particles, %zu steps of eta = %.0e\n", c, N, steps, eta);
  std::printf("  particles: mean %+.4f  variance %.4f\n", mean, variance);
  std::printf("  q*:        mean %+.4f  variance %.4f\n", q.mean(), q.variance());
  const double ks = analysis::ks_distance(theta, q), bound = analysis::ks_critical_value_95(N) + 0.01;
  std::printf("  Kolmogorov-Smirnov distance %.4f (95 %% bound with the eta bias: %.4f)\n", ks, bound);
  if (ks >= bound) throw Error("the particles do not follow q*: KS distance " + std::to_string(ks) + " >= " + std::to_string(bound));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  namespace ex = wgflow::experiments;
  return ex::run_main("example_custom_term", [&] {
    CLI::App app("DLE on the double well plus a free-energy term of one's own, checked against its q*",
                 "example_custom_term");
    app.footer("Outputs: no files; prints the term's gradient check and the particles against q* on stdout.\n\n"
               "Exit status: 0 the particles match q*; 1 they do not (or an error); 2 usage error.");
    if (const int rc = ex::parse_command_line(app, argc, argv); rc >= 0) return rc;
    return example();
  });
}
