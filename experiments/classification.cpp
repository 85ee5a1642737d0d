// Classification with ensembles whose predictions know their likelihood (issue 20; not a figure of the
// paper). Two moons (experiments/classification/two_moons.hpp), an MLP 2-32-32-2 (ReLU), trained by DE,
// DLE, DRLE (function-space repulsion) and SVGD under the softmax cross-entropy, and by DE under a
// likelihood defined in this program's own folder, the robust softmax of
// experiments/classification/robust_softmax.hpp, which expects a fraction eps of the labels to be noise.
// Each ensemble predicts with the mixture of its members' class probabilities (flows::predict through the
// likelihood); on a clean test set: accuracy, NLL and expected calibration error (10 equal-width bins,
// analysis/classification_metrics.hpp); on a grid over the input plane: the predictive entropy, which
// shows where the ensemble does not know.
//
// Expected, and measured over seeds 0-9 in quick mode and 0-3 in full: every method classifies the moons
// (test accuracy 0.95-0.99); far from the data, where ReLU members extrapolate alike and DE's ensemble is
// confident (mean entropy 0.06-0.11 nats), DRLE's repulsion in function space makes its members disagree
// (0.52-0.61 nats, 5-9 times DE's, against log 2 = 0.69 for a coin) while it stays confident on the data;
// DLE's noise spreads them a little (0.11-0.16, 1.2-2.3 times DE's); SVGD's do not spread there
// (0.06-0.08). The robust DE's entropy has the floor that its eps puts into every prediction.
//
// Choices, named here: inputs are used as drawn (within about [-1.7, 1.7] x [-1, 1]); the initialiser (and
// prior) is Kaiming-normal with variance 1 / fan_in; lambda = 1e-3 is a cold posterior: 1 / n = 5e-3 makes
// exp(-l / lambda) = exp(-n l) the likelihood of the n = 200 training points (l is the mean loss over a
// minibatch), but with minibatch noise on top DLE then underfits (test accuracy 0.90, seed 0); DRLE's
// kernel compares the networks' logits at a K x K grid over the plotted square (the repulsion acts where
// the data say nothing); SVGD targets the same Gibbs measure as DLE, with Adam (its usual adaptive step).
// "Far from the data" is a grid point more than --far from every training input; "near" within --near.
//
// Writes to --out the files listed in ex.outputs() below (also in --help), among them each method's final
// particles with their layout (the network's blocks by name); meta.json's results hold metrics.csv's
// numbers per method.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "analysis/classification_metrics.hpp"
#include "experiments/classification/robust_softmax.hpp"
#include "experiments/classification/two_moons.hpp"
#include "experiments/common/checkpointing.hpp"
#include "experiments/common/csv.hpp"
#include "experiments/common/experiment.hpp"
#include "experiments/common/particles_file.hpp"
#include "experiments/common/progress.hpp"
#include "flows/flows.hpp"
#include "models/initializer.hpp"
#include "models/likelihoods.hpp"
#include "models/mlp.hpp"
#include "models/network_potential.hpp"
#include "models/prior.hpp"

using namespace wgflow;

namespace {

// side x side points spread evenly over [-extent, extent]^2, row-major in x2 then x1.
Tensor<double> square_grid(std::size_t side, double extent) {
  Tensor<double> G = Tensor<double>::from_shape({side * side, 2});
  const double step = 2 * extent / static_cast<double>(side - 1);
  for (std::size_t r = 0; r < side; ++r)
    for (std::size_t c = 0; c < side; ++c) {
      G(r * side + c, 0) = -extent + step * static_cast<double>(c);
      G(r * side + c, 1) = -extent + step * static_cast<double>(r);
    }
  return G;
}

// Distance from each row of G to the nearest row of X.
std::vector<double> distance_to_nearest(const Tensor<double>& G, const Tensor<double>& X) {
  std::vector<double> d(G.shape()[0], std::numeric_limits<double>::infinity());
  for (std::size_t g = 0; g < G.shape()[0]; ++g)
    for (std::size_t i = 0; i < X.shape()[0]; ++i)
      d[g] = std::min(d[g], std::hypot(G(g, 0) - X(i, 0), G(g, 1) - X(i, 1)));
  return d;
}

int run(int argc, char** argv) {
  using namespace experiments;
  Experiment ex("classification", "Two moons: DE, DLE, DRLE, SVGD and a robust-likelihood DE; accuracy, NLL, "
                                  "ECE and predictive entropy");
  std::size_t particles = 10, train_n = 200, test_n = 1000, hidden = 32, batch = 50, kernel_side = 5, side = 61;
  double noise = 0.15, label_noise = 0.0, eta = 0.1, lambda = 1e-3, lambda1 = 2, svgd_eta = 5e-3, eps = 0.1;
  double extent = 3, near = 0.2, far = 1.0;
  std::uint64_t steps = 6000;
  // At least 2: SVGD's and DRLE's median bandwidths need two particles to measure a distance.
  ex.option("--particles", particles, "ensemble size N")->check(count(2, 10000));
  ex.option("--train", train_n, "training points")->check(count(2, 1000000));
  ex.option("--test", test_n, "test points (clean labels)")->check(count(1, 10000000));
  ex.option("--noise", noise, "sd of the Gaussian noise on the moons' coordinates")->check(finite_in(0, 10));
  ex.option("--label-noise", label_noise, "fraction of training labels flipped")->check(finite_in(0, 0.5));
  ex.option("--hidden", hidden, "units of each of the two hidden layers (2-H-H-2 ReLU)")->check(count(1, 10000));
  ex.option("--batch", batch, "minibatch size")->check(count(1, 1000000));
  ex.option("--eta", eta, "SGD step size of DE, DLE and DRLE")->check(finite_positive());
  ex.option("--steps", steps, "iterations of every method", std::uint64_t{1500})->check(count(1));
  ex.resume_may_change("--steps");  // --resume continues a flow to any --steps at least its saved step
  ex.option("--lambda", lambda, "KL weight of DLE and DRLE, temperature of SVGD (1/n: the posterior)")
      ->check(finite_positive());
  ex.option("--lambda1", lambda1, "DRLE: MMD weight (function space, median bandwidth)")->check(finite_non_negative());
  ex.option("--kernel-grid", kernel_side, "DRLE: the kernel compares logits at a K x K grid of inputs")
      ->check(count(2, 100));
  ex.option("--svgd-eta", svgd_eta, "SVGD: Adam step size")->check(finite_positive());
  ex.option("--eps", eps, "robust DE: the label-noise rate eps of its likelihood")
      ->check(finite_in(0, 1, false, "[0, 1)"));
  ex.option("--grid", side, "entropy map: points per side of the grid", std::size_t{41})->check(count(2, 2000));
  ex.option("--extent", extent, "entropy map and kernel grid cover [-extent, extent]^2")->check(finite_in(0.1, 1000));
  ex.option("--near", near, "grid points within this distance of a training input are near the data")
      ->check(finite_positive());
  ex.option("--far", far, "grid points beyond this distance from every training input are far from it")
      ->check(finite_positive());
  ex.outputs({{"data.csv", "split, x1, x2, label: the training and test points"},
              {"entropy.csv", "method, x1, x2, p1, entropy: each ensemble's class-1 probability and predictive "
                              "entropy on a grid"},
              {"metrics.csv", "method, likelihood, accuracy, nll, ece, entropy_near, entropy_far (test set)"},
              {"particles_<method>.npy", "each method's final particles, N x J (DE robust: particles_DE_robust.npy)"},
              {"particles_<method>.layout.json", "what a row holds: the network's blocks by name, shape and offset; "
                                                 "the network and the likelihood"}});
  ex.on_parsed([&] {
    if (eps >= 1) throw UsageError("--eps must be below 1, got " + std::to_string(eps));
    if (!(near < far)) throw UsageError("--near must be below --far");
  });
  if (int rc = ex.parse(argc, argv); rc >= 0) return rc;

  const classification::LabelledPoints train = classification::two_moons(train_n, noise, label_noise, ex.seed(), 0);
  const classification::LabelledPoints test = classification::two_moons(test_n, noise, 0.0, ex.seed(), 1);
  CsvWriter data(ex.path("data.csv"), {"split", "x1", "x2", "label"});
  for (const auto* set : {&train, &test})
    for (std::size_t i = 0; i < set->X.shape()[0]; ++i)
      data.row(set == &train ? "train" : "test", set->X(i, 0), set->X(i, 1), set->y(i, 0));
  data.close();

  const models::Mlp<double> net({.widths = {2, hidden, hidden, 2}});
  const auto init_rule = models::Initializer::kaiming(1.0, 1.0);
  const auto prior = models::GaussianPrior<double>::from_initializer(init_rule, net.layout());
  const Tensor<double> init = init_rule.sample<double>(net.layout(), particles, ex.seed());
  const models::SoftmaxCrossEntropy<double> categorical;
  const classification::RobustSoftmax<double> robust(eps);
  const models::MinibatchOptions minibatches{.batch_size = batch, .seed = ex.seed()};
  models::NetworkPotential<double> potential(net, categorical, train.X, train.y, minibatches);
  models::NetworkPotential<double> robust_potential(net, robust, train.X, train.y, minibatches);

  // Each method with the potential (and so the likelihood) it trains on.
  struct Method {
    std::string name;
    flows::ParticleFlow<double> flow;
    const models::NetworkPotential<double>* potential;
  };
  std::vector<Method> methods;
  methods.push_back({"DE", flows::deep_ensemble(potential, init, {.eta = eta, .seed = ex.seed()}), &potential});
  methods.push_back({"DLE",
                     flows::deep_langevin_ensemble(potential, prior, init,
                                                   {.lambda = lambda, .eta = eta, .seed = ex.seed() + 1}),
                     &potential});
  methods.push_back({"DRLE",
                     flows::deep_repulsive_langevin_ensemble(
                         potential, prior, init,
                         {.lambda1 = lambda1, .lambda2 = lambda, .model = &net,
                          .kernel_inputs = square_grid(kernel_side, extent), .eta = eta, .seed = ex.seed() + 2}),
                     &potential});
  methods.push_back({"SVGD",
                     flows::svgd(potential, prior, init,
                                 {.lambda = lambda, .optimizer = flows::Adam<double>{.eta = svgd_eta}}),
                     &potential});
  methods.push_back({"DE robust", flows::deep_ensemble(robust_potential, init, {.eta = eta, .seed = ex.seed()}),
                     &robust_potential});

  const Tensor<double> grid = square_grid(side, extent);
  const std::vector<double> distance = distance_to_nearest(grid, train.X);
  CsvWriter entropy_csv(ex.path("entropy.csv"), {"method", "x1", "x2", "p1", "entropy"});
  CsvWriter metrics_csv(ex.path("metrics.csv"), {"method", "likelihood", "accuracy", "nll", "ece", "entropy_near",
                                                 "entropy_far"});
  nlohmann::json results;
  Checkpoints checkpoints(ex);
  for (Method& m : methods) {
    Progress progress(m.name, steps);
    checkpoints.run(m.flow, m.name, steps, [&](const flows::ParticleFlow<double>& f) {
      const Tensor<double>& p = f.particles();  // the loss of the first member, on all training points
      progress.update(f.steps_taken(), m.potential->loss_on(std::span<const double>(p.data(), p.shape()[1]),
                                                            train.X, train.y));
      return true;
    }, 500);
    // The mixture's class probabilities: the members' predictive probabilities averaged.
    const models::Likelihood<double>& likelihood = m.potential->likelihood();
    write_particles(ex.path("particles_" + safe_file_name(m.name) + ".npy"), m.flow,
                    {{"model", mlp_json(net.spec())}, {"likelihood", likelihood.name()},
                     {"predicts", "the mean over members of each member's class probabilities"}});
    const auto on_test = flows::predict(net, likelihood, m.flow.gathered_particles(), test.X);
    const auto scores = analysis::classification_metrics(on_test.mean, test.y, 10);
    const auto on_grid = flows::predict(net, likelihood, m.flow.gathered_particles(), grid);
    const Tensor<double> H = analysis::predictive_entropy(on_grid.mean);
    double near_sum = 0, far_sum = 0;
    std::size_t near_n = 0, far_n = 0;
    for (std::size_t g = 0; g < grid.shape()[0]; ++g) {
      entropy_csv.row(m.name, grid(g, 0), grid(g, 1), on_grid.mean(g, 1), H(g, 0));
      if (distance[g] <= near) near_sum += H(g, 0), ++near_n;
      if (distance[g] > far) far_sum += H(g, 0), ++far_n;
    }
    const double near_mean = near_sum / static_cast<double>(std::max<std::size_t>(near_n, 1));
    const double far_mean = far_n ? far_sum / static_cast<double>(far_n) : std::nan("");
    metrics_csv.row(m.name, likelihood.name(), scores.accuracy, scores.nll, scores.ece, near_mean, far_mean);
    results[m.name] = {{"likelihood", likelihood.name()}, {"test_accuracy", scores.accuracy},
                       {"test_nll", scores.nll}, {"test_ece", scores.ece}, {"entropy_near_data", near_mean},
                       {"entropy_far_from_data", far_mean}};
  }
  entropy_csv.close();
  metrics_csv.close();
  results["flipped_training_labels"] = train.flipped;
  ex.finish(results);
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  return experiments::run_main("classification", [&] { return run(argc, argv); });
}
