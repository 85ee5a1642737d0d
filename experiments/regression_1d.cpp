// Paper §3.4: regression with predictive uncertainty on 1-D data with gaps. Training inputs are uniform on
// [-12, 12] minus held-out intervals (the "gaps"), targets sin(x / 2) + noise; an MLP ensemble is trained by
// DE, DLE, DRLE (repulsion in function space), SVGD and mean-field VI, and each method's predictive mean
// +- 2 sd is evaluated on a grid. Expected: the Langevin and repulsive ensembles widen their bands in the
// gaps more than DE does.
//
// Choices the paper leaves open, named here: the network is 1-50-1 with tanh on the input x / 4; the
// initialiser (and prior, paper.md §6) is Kaiming-normal with variance 1 / fan_in; DRLE's kernel compares
// the networks' outputs at K inputs spread evenly over [-12, 12] (gaps included: the repulsion acts where
// the data say nothing); SVGD targets the same Gibbs measure as DLE (flows/svgd.hpp), step eta * lambda;
// mean-field VI uses Adam, its usual optimiser, and predicts with 10 draws per member.
//
// Writes to --out the files listed in ex.outputs() below (also in --help): the data, the predictions, and
// each method's final particles with their layout (the network's blocks by name, so that numpy can rebuild
// every member: tests/experiments/test_numpy_round_trip.py). meta.json's results hold, per method, the mean
// predictive sd in the gaps and on the data region, their ratio, and the training RMSE of the mean.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "experiments/common/checkpointing.hpp"
#include "experiments/common/csv.hpp"
#include "experiments/common/experiment.hpp"
#include "experiments/common/particles_file.hpp"
#include "experiments/common/progress.hpp"
#include "flows/flows.hpp"
#include "flows/mean_field_vi.hpp"
#include "flows/svgd.hpp"
#include "models/initializer.hpp"
#include "models/mlp.hpp"
#include "models/network_potential.hpp"
#include "models/prior.hpp"
#include "core/random.hpp"

using namespace wgflow;

namespace {

bool in_gap(double x, const std::vector<double>& gaps) {
  for (std::size_t g = 0; g + 1 < gaps.size(); g += 2)
    if (x > gaps[g] && x < gaps[g + 1]) return true;
  return false;
}

int run(int argc, char** argv) {
  using namespace experiments;
  Experiment ex("regression_1d", "Paper §3.4: predictive uncertainty of DE, DLE, DRLE, SVGD, mean-field VI");
  std::size_t particles = 20, points = 60, hidden = 50, kernel_inputs = 25;
  double eta = 5e-2, lambda = 3e-4, lambda1 = 0.1, noise = 0.1, frequency = 0.5, vi_eta = 1e-2, input_scale = 0.25;
  std::uint64_t steps = 10000;
  std::vector<double> gaps{-8, -4, 2, 6};
  // At least 2: SVGD's and DRLE's median bandwidths need two particles to measure a distance.
  ex.option("--particles", particles, "ensemble size N")->check(count(2, 10000));
  ex.option("--points", points, "training points")->check(count(1, 1000000));
  ex.option("--gaps", gaps, "held-out intervals, as pairs lo hi lo hi ...")->check(finite());
  ex.option("--noise", noise, "sd of the target noise")->check(finite_in(0, 1e6));
  ex.option("--frequency", frequency, "targets sin(frequency * x) + noise")->check(finite_in(-1e6, 1e6));
  ex.option("--hidden", hidden, "hidden units of the 1-H-1 tanh network")->check(count(1, 10000));
  ex.option("--eta", eta, "SGD step size of DE, DLE, DRLE and SVGD")->check(finite_positive());
  ex.option("--steps", steps, "iterations of every method", std::uint64_t{2000})->check(count(1));
  ex.resume_may_change("--steps");  // --resume continues a flow to any --steps at least its saved step
  // lambda = 2 noise^2 / points makes exp(-l / lambda) the Gaussian likelihood of the data (l is the mean
  // squared error): the Bayesian posterior, tempered by nothing.
  ex.option("--lambda", lambda, "KL weight of DLE and DRLE; temperature of SVGD and mean-field VI")
      ->check(finite_positive());
  ex.option("--lambda1", lambda1, "DRLE: MMD weight (function space, median bandwidth)")->check(finite_non_negative());
  ex.option("--kernel-inputs", kernel_inputs, "DRLE: K inputs on [-12, 12] where the kernel compares functions")
      ->check(count(2, 10000));
  ex.option("--vi-eta", vi_eta, "mean-field VI: Adam step size")->check(finite_positive());
  ex.outputs({{"data.csv", "x, y: the training data"},
              {"predictions.csv", "method, x, mean, sd, in_gap: each method's predictive mean and sd on a grid"},
              {"particles_<method>.npy", "each method's final particles, N x J (MFVI: N x 2J, rows [mu | rho])"},
              {"particles_<method>.layout.json", "what a row holds: the network's blocks by name, shape and offset; "
                                                 "the network and its input scaling"}});
  ex.on_parsed([&] {
    if (gaps.size() % 2 != 0) throw UsageError("--gaps takes pairs lo hi, got " + std::to_string(gaps.size()) + " numbers");
    for (std::size_t g = 0; g < gaps.size(); g += 2)
      if (!(gaps[g] < gaps[g + 1]))
        throw UsageError("--gaps: the interval (" + std::to_string(gaps[g]) + ", " + std::to_string(gaps[g + 1]) +
                         ") is empty; give each as lo hi with lo < hi");
  });
  if (int rc = ex.parse(argc, argv); rc >= 0) return rc;

  // Data: x uniform on [-12, 12] outside the gaps (rejection), y = sin(frequency x) + noise. The network sees x / 4.
  Tensor<double> X = Tensor<double>::from_shape({points, 1}), Y = Tensor<double>::from_shape({points, 1});
  CsvWriter data(ex.path("data.csv"), {"x", "y"});
  for (std::size_t i = 0; i < points; ++i) {
    Rng rng = Rng::stream(ex.seed(), i, 1);
    double x;
    // Bounded: gaps covering all of [-12, 12] would otherwise reject forever.
    std::size_t tries = 0;
    do {
      if (++tries > 100000) throw UsageError("--gaps leave no room for data on [-12, 12]");
      x = rng.uniform(-12, 12);
    } while (in_gap(x, gaps));
    const double y = std::sin(frequency * x) + noise * rng.normal();
    X(i, 0) = input_scale * x;
    Y(i, 0) = y;
    data.row(x, y);
  }
  data.close();

  const models::Mlp<double> net({.widths = {1, hidden, 1}, .hidden = models::Activation::tanh()});
  const auto init_rule = models::Initializer::kaiming(1.0, 1.0);
  const auto prior = models::GaussianPrior<double>::from_initializer(init_rule, net.layout());
  const Tensor<double> init = init_rule.sample<double>(net.layout(), particles, ex.seed());
  models::NetworkPotential<double> potential(net, models::SquaredError<double>(), X, Y,
                                             {.batch_size = points, .seed = ex.seed()});

  Tensor<double> K = Tensor<double>::from_shape({kernel_inputs, 1});
  for (std::size_t k = 0; k < kernel_inputs; ++k)
    K(k, 0) = input_scale * (-12.0 + 24.0 * static_cast<double>(k) / static_cast<double>(kernel_inputs - 1));

  std::vector<flows::ParticleFlow<double>> runs;
  runs.push_back(flows::deep_ensemble(potential, init, {.eta = eta, .seed = ex.seed()}));
  runs.push_back(flows::deep_langevin_ensemble(potential, prior, init, {.lambda = lambda, .eta = eta, .seed = ex.seed() + 1}));
  runs.push_back(flows::deep_repulsive_langevin_ensemble(
      potential, prior, init,
      {.lambda1 = lambda1, .lambda2 = lambda, .model = &net, .kernel_inputs = K, .eta = eta, .seed = ex.seed() + 2}));
  // SVGD's gradient is K (grad l / lambda - grad log p) / N + repulsion: its step is scaled by lambda so that
  // the loss gradient moves particles as fast as in DE.
  runs.push_back(flows::svgd(potential, prior, init, {.lambda = lambda, .optimizer = flows::Sgd<double>{eta * lambda}}));
  runs.push_back(flows::mean_field_vi(
      potential, prior, init, {.lambda = lambda, .optimizer = flows::Adam<double>{.eta = vi_eta}, .seed = ex.seed() + 3}));
  const std::vector<std::string> names{"DE", "DLE", "DRLE", "SVGD", "MFVI"};

  const std::size_t grid_points = 241;
  Tensor<double> grid = Tensor<double>::from_shape({grid_points, 1});
  for (std::size_t g = 0; g < grid_points; ++g) grid(g, 0) = input_scale * (-12.0 + 0.1 * static_cast<double>(g));
  CsvWriter out(ex.path("predictions.csv"), {"method", "x", "mean", "sd", "in_gap"});
  nlohmann::json results;
  Checkpoints checkpoints(ex);
  for (std::size_t r = 0; r < runs.size(); ++r) {
    Progress progress(names[r], steps);
    checkpoints.run(runs[r], names[r], steps, [&](const flows::ParticleFlow<double>& f) {
      // The loss of the first member, on all training points (MFVI's rows are [mu | rho]: its mean).
      const Tensor<double>& p = f.particles();
      progress.update(f.steps_taken(), potential.loss_on(std::span<const double>(p.data(), net.num_params()), X, Y));
      return true;
    }, 500);
    write_particles(ex.path("particles_" + safe_file_name(names[r]) + ".npy"), runs[r],
                    {{"model", mlp_json(net.spec())},
                     {"input_scale", input_scale},
                     {"inputs", "the network's input is input_scale * x, x as in data.csv and predictions.csv"},
                     {"likelihood", potential.likelihood().name()}});
    const auto pred = flows::predict<double>(net, runs[r].predictive_samples(10, ex.seed() + 4), grid);
    double gap_sd = 0, data_sd = 0;
    std::size_t gap_n = 0;
    for (std::size_t g = 0; g < grid_points; ++g) {
      const double x = grid(g, 0) / input_scale, sd = std::sqrt(pred.variance(g, 0));
      const bool gap = in_gap(x, gaps);
      out.row(names[r], x, pred.mean(g, 0), sd, gap ? 1 : 0);
      (gap ? gap_sd : data_sd) += sd;
      gap_n += gap;
    }
    gap_sd /= static_cast<double>(std::max<std::size_t>(gap_n, 1));
    data_sd /= static_cast<double>(grid_points - gap_n);
    const auto fit = flows::predict<double>(net, runs[r].predictive_samples(10, ex.seed() + 4), X);
    double sse = 0;
    for (std::size_t i = 0; i < points; ++i) sse += (fit.mean(i, 0) - Y(i, 0)) * (fit.mean(i, 0) - Y(i, 0));
    results[names[r]] = {{"sd_in_gaps", gap_sd}, {"sd_on_data", data_sd}, {"gap_to_data_sd_ratio", gap_sd / data_sd},
                         {"train_rmse", std::sqrt(sse / static_cast<double>(points))}};
  }
  out.close();
  ex.finish(results);
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) { return experiments::run_main("regression_1d", [&] { return run(argc, argv); }); }
