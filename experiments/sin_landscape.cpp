// Paper §3.3 ("sin"): l(t) = -|sin t|, whose global minimisers are all t = pi/2 + k pi. N = 20 particles start
// uniform on [-1000 pi, 1000 pi]; DE descends into the minimum of the basin each particle starts in; DLE
// (lambda = 1e-3) jitters around it; DRLE (lambda1 = 0.6, RBF bandwidth 0.1, prior gradient and prior
// attraction off, as in the reference code) repels particles that come within the kernel's range.
//
// From the paper's start the particles are ~300 apart, far beyond that range (k = exp(-d^2 / 0.2)), so the
// repulsion is idle and DRLE ends as DLE does; the figure then shows positions modulo pi. To show what the
// repulsion does, the program also runs a "crowded" start: all particles uniform on (0, pi), inside one
// basin. There DE and DLE collapse onto pi/2 while DRLE keeps the particles apart.
//
// --quick: eta = 5e-2 and 200 steps, the same time horizon eta * steps = 10 (as optimal_q's --quick): the
// same qualitative result (DE's spread ~3e-5, DLE's ~sqrt(lambda), DRLE's ~0.35 from the crowded start).
//
// Writes to --out the files listed in ex.outputs() below (also in --help); meta.json's results hold, per
// start and method, the distinct minima occupied, the mean distance to the nearest other particle, the
// standard deviation of theta mod pi, and the number of particle pairs within kernel range at the start.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "experiments/common/checkpointing.hpp"
#include "experiments/common/csv.hpp"
#include "experiments/common/experiment.hpp"
#include "experiments/common/particles_file.hpp"
#include "experiments/common/progress.hpp"
#include "flows/flows.hpp"
#include "models/prior.hpp"
#include "core/random.hpp"
#include "models/toy_potentials.hpp"

using namespace wgflow;
using std::numbers::pi;

namespace {

// Pairs closer than 5 bandwidth-standard-deviations (k > exp(-12.5) ~ 4e-6) feel the repulsion at all.
std::size_t pairs_in_range(const Tensor<double>& p, double bandwidth) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < p.shape()[0]; ++i)
    for (std::size_t j = i + 1; j < p.shape()[0]; ++j) count += std::abs(p(i, 0) - p(j, 0)) < 5 * std::sqrt(bandwidth);
  return count;
}

nlohmann::json statistics(const Tensor<double>& p) {
  const std::size_t n = p.shape()[0];
  std::set<long long> minima;  // k of the minimum pi/2 + k pi nearest to each particle
  double neighbour = 0, mean = 0, var = 0;
  for (std::size_t i = 0; i < n; ++i) {
    minima.insert(std::llround((p(i, 0) - pi / 2) / pi));
    double nearest = INFINITY;
    for (std::size_t j = 0; j < n; ++j)
      if (j != i) nearest = std::min(nearest, std::abs(p(i, 0) - p(j, 0)));
    neighbour += nearest / static_cast<double>(n);
    mean += std::fmod(std::fmod(p(i, 0), pi) + pi, pi) / static_cast<double>(n);
  }
  for (std::size_t i = 0; i < n; ++i) {
    const double r = std::fmod(std::fmod(p(i, 0), pi) + pi, pi) - mean;
    var += r * r / static_cast<double>(n);
  }
  return {{"distinct_minima", minima.size()}, {"mean_nearest_neighbour_distance", neighbour}, {"sd_mod_pi", std::sqrt(var)}};
}

int run(int argc, char** argv) {
  using namespace experiments;
  Experiment ex("sin_landscape", "Paper §3.3: DE, DLE and DRLE on -|sin t|, many global minima");
  std::size_t particles = 20;
  double eta = 1e-2, lambda = 1e-3, lambda1 = 0.6, lambda2 = 1e-3, bandwidth = 0.1, half_width = 1000 * pi;
  std::uint64_t steps = 1000;
  ex.option("--particles", particles, "number of particles N")->check(count(1, 100000));
  ex.option("--eta", eta, "SGD step size", 5e-2)->check(finite_positive());
  ex.option("--steps", steps, "iterations", std::uint64_t{200})->check(count(1));
  ex.resume_may_change("--steps");  // --resume continues a flow to any --steps at least its saved step
  ex.option("--lambda", lambda, "DLE: KL weight (noise only: the prior gradient is off)")->check(finite_non_negative());
  ex.option("--lambda1", lambda1, "DRLE: repulsion weight")->check(finite_non_negative());
  ex.option("--lambda2", lambda2, "DRLE: KL weight (the paper does not state it; DLE's lambda by default)")
      ->check(finite_non_negative());
  ex.option("--bandwidth", bandwidth, "DRLE: fixed RBF bandwidth h")->check(finite_positive());
  // Bounded so that the start's width 2w and the particles' positions stay finite.
  ex.option("--half-width", half_width, "paper start: uniform on [-w, w]")->check(finite_in(0, 1e15, true));
  ex.outputs({{"particles.csv", "start, method, particle, theta, theta_mod_pi: the final particles of each start"},
              {"particles.layout.json", "what the particles' columns hold (theta: one block \"theta\" of 1 x 1)"}});
  if (int rc = ex.parse(argc, argv); rc >= 0) return rc;

  auto loss = models::neg_abs_sin<double>();
  // Only the noise of the KL term acts (its prior gradient and the prior attraction are off), so the prior's
  // variance does not matter; it must merely exist.
  const auto prior = models::GaussianPrior<double>::isotropic(1, 1.0);

  CsvWriter out(ex.path("particles.csv"), {"start", "method", "particle", "theta", "theta_mod_pi"});
  nlohmann::json results;
  std::optional<flows::ParticleLayout> layout;  // every flow's: the potential's one coordinate
  Checkpoints checkpoints(ex);
  for (const std::string start : {"paper", "crowded"}) {
    const double lo = start == "paper" ? -half_width : 0.0, hi = start == "paper" ? half_width : pi;
    Tensor<double> init = Tensor<double>::from_shape({particles, 1});
    for (std::size_t i = 0; i < particles; ++i) {
      Rng rng = Rng::stream(ex.seed(), i, start == "paper" ? 0 : 1);
      init(i, 0) = rng.uniform(lo, hi);
    }
    std::vector<flows::ParticleFlow<double>> runs;
    runs.push_back(flows::deep_ensemble(loss, init, {.eta = eta, .seed = ex.seed()}));
    runs.push_back(flows::deep_langevin_ensemble(
        loss, prior, init, {.lambda = lambda, .prior_gradient_scale = 0, .eta = eta, .seed = ex.seed() + 1}));
    runs.push_back(flows::deep_repulsive_langevin_ensemble(
        loss, prior, init,
        {.lambda1 = lambda1, .lambda2 = lambda2, .prior_gradient_scale = 0, .prior_attraction_scale = 0,
         .bandwidth = flows::Bandwidth<double>::fixed(bandwidth), .eta = eta, .seed = ex.seed() + 2}));
    results[start]["pairs_in_kernel_range_at_start"] = pairs_in_range(init, bandwidth);
    for (auto& flow : runs) {
      Progress progress(start + " " + flow.name(), steps);
      checkpoints.run(flow, start + " " + flow.name(), steps, [&](const flows::ParticleFlow<double>& f) {
        progress.update(f.steps_taken(), *flow.term(0).energy());
        return true;
      }, 100);
      const auto p = flow.gathered_particles();
      for (std::size_t i = 0; i < particles; ++i)
        out.row(start, flow.name(), i, p(i, 0), std::fmod(std::fmod(p(i, 0), pi) + pi, pi));
      results[start][flow.name()] = statistics(p);
      if (!layout) layout = flow.layout();
    }
  }
  out.close();
  write_csv_layout(ex.path("particles.csv"), {"start", "method", "particle"}, {"theta"}, *layout,
                   {{"model", {{"kind", "analytic"}, {"loss", "l(t) = -|sin t|"}}}});
  ex.finish(results);
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) { return experiments::run_main("sin_landscape", [&] { return run(argc, argv); }); }
