// Paper §3.2 ("toy_gmm"): particles on l(t) = -log of an equal mixture of four unit Gaussians at (+-3, +-3).
// DE settles on the four centres; DLE samples q* ∝ exp(-l/lambda), which near each centre is N(mu_k,
// lambda I), so its spread grows with lambda: the mean squared distance to the nearest centre is 2 lambda in
// R^2. DRLE (repulsion in parameter space, median bandwidth, 200 prior samples) spreads further. As in the
// reference code the prior gradient is off and the noise on; the barriers between modes (~19 in units of
// lambda = 0.2) keep every particle in the mode its start chose.
//
//   toy_gmm            the paper's settings: N = 300, eta = 1e-2, 10 000 steps
//   toy_gmm --quick    2 000 steps (time 20: still many relaxation times of each mode, rate 1)
//
// Writes to --out the files listed in ex.outputs() below (also in --help); meta.json's results hold, per
// setting, the mean squared distance to the nearest centre and the number of modes holding at least 5 %
// of the particles.
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "experiments/common/checkpointing.hpp"
#include "experiments/common/csv.hpp"
#include "experiments/common/experiment.hpp"
#include "experiments/common/particles_file.hpp"
#include "experiments/common/progress.hpp"
#include "flows/flows.hpp"
#include "models/prior.hpp"
#include "models/toy_potentials.hpp"

using namespace wgflow;

namespace {

constexpr std::array<std::array<double, 2>, 4> centres{{{-3, -3}, {-3, 3}, {3, -3}, {3, 3}}};

struct Spread {
  double mean_squared_distance = 0;  // to the nearest centre
  int modes_covered = 0;             // centres nearest to >= 5 % of the particles
};

Spread spread(const Tensor<double>& p) {
  const std::size_t n = p.shape()[0];
  std::array<std::size_t, 4> count{};
  Spread s;
  for (std::size_t i = 0; i < n; ++i) {
    double best = INFINITY;
    std::size_t k_best = 0;
    for (std::size_t k = 0; k < centres.size(); ++k) {
      const double dx = p(i, 0) - centres[k][0], dy = p(i, 1) - centres[k][1];
      if (dx * dx + dy * dy < best) best = dx * dx + dy * dy, k_best = k;
    }
    s.mean_squared_distance += best / static_cast<double>(n);
    ++count[k_best];
  }
  for (std::size_t c : count) s.modes_covered += static_cast<double>(c) >= 0.05 * static_cast<double>(n);
  return s;
}

int run(int argc, char** argv) {
  using namespace experiments;
  Experiment ex("toy_gmm", "Paper §3.2: DE, DLE and DRLE on a four-mode Gaussian mixture");
  std::size_t particles = 300, prior_samples = 200;
  double eta = 1e-2, lambda1 = 0.6, lambda2 = 0.2, prior_variance = 1;
  std::uint64_t steps = 10000;
  std::vector<double> lambdas{0.2, 0.3, 0.4};
  // At least 2: DRLE's median bandwidth needs two particles to measure a distance.
  ex.option("--particles", particles, "number of particles N")->check(count(2, 100000));
  ex.option("--eta", eta, "SGD step size")->check(finite_positive());
  ex.option("--steps", steps, "iterations", std::uint64_t{2000})->check(count(1));
  ex.resume_may_change("--steps");  // --resume continues a flow to any --steps at least its saved step
  ex.option("--lambdas", lambdas, "DLE: KL weights, one run each")->check(finite_positive());
  ex.option("--lambda1", lambda1, "DRLE: MMD weight")->check(finite_non_negative());
  ex.option("--lambda2", lambda2, "DRLE: KL weight")->check(finite_positive());
  ex.option("--prior-samples", prior_samples, "DRLE: prior samples M")->check(count(1, 100000));
  ex.option("--prior-variance", prior_variance, "prior N(0, s^2 I): the initialisation and DRLE's prior samples")
      ->check(finite_positive());
  ex.outputs({{"particles.csv", "setting, particle, x, y: each setting's final particles"},
              {"particles.layout.json", "what the particles' columns hold (x, y: one block \"theta\" of 1 x 2)"}});
  if (int rc = ex.parse(argc, argv); rc >= 0) return rc;

  auto loss = models::four_gaussian_mixture<double>();
  const auto prior = models::GaussianPrior<double>::isotropic(2, prior_variance);
  const Tensor<double> init = prior.sample(particles, ex.seed());

  // (label, flow): the label names the setting in the CSV and in meta.json.
  std::vector<std::pair<std::string, flows::ParticleFlow<double>>> runs;
  runs.emplace_back("DE", flows::deep_ensemble(loss, init, {.eta = eta, .seed = ex.seed()}));
  for (std::size_t k = 0; k < lambdas.size(); ++k)
    runs.emplace_back("DLE lambda=" + CLI::detail::to_string(lambdas[k]),
                      flows::deep_langevin_ensemble(loss, prior, init,
                                                    {.lambda = lambdas[k], .prior_gradient_scale = 0, .eta = eta,
                                                     .seed = ex.seed() + 1 + k}));
  runs.emplace_back("DRLE", flows::deep_repulsive_langevin_ensemble(
                                loss, prior, init,
                                {.lambda1 = lambda1, .lambda2 = lambda2, .prior_gradient_scale = 0,
                                 .bandwidth = flows::Bandwidth<double>::median(), .prior_samples = prior_samples,
                                 .eta = eta, .seed = ex.seed() + 1 + lambdas.size()}));

  CsvWriter out(ex.path("particles.csv"), {"setting", "particle", "x", "y"});
  nlohmann::json results;
  Checkpoints checkpoints(ex);
  for (auto& [label, flow] : runs) {
    Progress progress(label, steps);
    checkpoints.run(flow, label, steps, [&](const flows::ParticleFlow<double>& f) {
      progress.update(f.steps_taken(), *flow.term(0).energy());
      return true;
    }, 500);
    const auto p = flow.gathered_particles();
    for (std::size_t i = 0; i < particles; ++i) out.row(label, i, p(i, 0), p(i, 1));
    const Spread s = spread(p);
    results[label] = {{"mean_squared_distance_to_centre", s.mean_squared_distance}, {"modes_covered", s.modes_covered}};
  }
  for (double lambda : lambdas) results["expected_dle_msd_2lambda"].push_back(2 * lambda);
  out.close();
  write_csv_layout(ex.path("particles.csv"), {"setting", "particle"}, {"x", "y"}, runs[0].second.layout(),
                   {{"model", {{"kind", "analytic"},
                               {"loss", "-log of an equal mixture of four unit Gaussians at (+-3, +-3)"}}}});
  ex.finish(results);
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) { return experiments::run_main("toy_gmm", [&] { return run(argc, argv); }); }
