// A template experiment built on an installed wgflow: copy this folder, rename, and change the parts
// marked below. It has what the paper's programs have (flags and config files, progress, checkpoints and
// --resume, atomic outputs, meta.json; wgflow/experiments/common/) and two parts of its own: a Student-t
// likelihood (student_t.hpp) and a free-energy term (confinement.hpp).
//
// The experiment: 1-D regression where a tenth of the targets are outliers. A deep Langevin ensemble of
// 1-32-1 tanh networks, with the confinement term added to its free energy, is trained once under the
// squared error and once under the Student-t likelihood; the second should follow the clean function
// more closely (meta.json: each fit's RMSE against sin(x), away from the outliers' pull).
//
// Writes to --out: data.csv (x, y, outlier), predictions.csv (likelihood, x, mean, sd), meta.json,
// config.toml, and with --checkpoint-every the flows' checkpoints in checkpoints/.
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <wgflow/autodiff/gradient_check.hpp>
#include <wgflow/core/random.hpp>
#include <wgflow/experiments/common/checkpointing.hpp>
#include <wgflow/experiments/common/csv.hpp>
#include <wgflow/experiments/common/experiment.hpp>
#include <wgflow/experiments/common/progress.hpp>
#include <wgflow/flows/flows.hpp>
#include <wgflow/flows/term_check.hpp>
#include <wgflow/models/initializer.hpp>
#include <wgflow/models/likelihoods.hpp>
#include <wgflow/models/mlp.hpp>
#include <wgflow/models/network_potential.hpp>
#include <wgflow/models/prior.hpp>

#include "confinement.hpp"
#include "student_t.hpp"

using namespace wgflow;

namespace {

// Your own parts checked before they are used: the likelihood's gradient against finite differences
// (ad::check_gradient) and the term's gradient against its energy (flows::check_term_gradient).
void check_own_parts(const StudentT<double>& student_t, double confinement, std::uint64_t seed) {
  const auto likelihood = ad::check_gradient(
      [&](auto& tape, const auto& v) { (void)tape; return student_t.loss(v[0], v[1], {}); },
      {Tensor<double>{{0.3}, {-1.2}, {2.0}}, Tensor<double>{{0.1}, {0.5}, {-3.0}}});
  if (!likelihood.ok()) throw Error(student_t.name() + ": " + likelihood.message());
  Confinement<double> term(confinement);
  const auto term_check = flows::check_term_gradient(term, models::GaussianPrior<double>::isotropic(4, 1.0).sample(8, seed));
  if (!term_check.ok()) throw Error(term_check.message());
}

int run(int argc, char** argv) {
  using namespace experiments;
  Experiment ex("robust_regression", "DLE with a Student-t likelihood and a confinement term on data with outliers");
  std::size_t particles = 20, points = 80, hidden = 32;
  double eta = 2e-2, lambda = 1e-3, nu = 3, scale = 0.1, confinement = 1e-3, outliers = 0.1;
  std::uint64_t steps = 4000;
  ex.option("--particles", particles, "ensemble size N")->check(count(1, 10000));
  ex.option("--points", points, "training points")->check(count(2, 1000000));
  ex.option("--hidden", hidden, "hidden units of the 1-H-1 tanh network")->check(count(1, 10000));
  ex.option("--outliers", outliers, "share of targets replaced by outliers")->check(finite_in(0, 1));
  ex.option("--nu", nu, "Student-t degrees of freedom")->check(finite_positive());
  ex.option("--scale", scale, "Student-t scale")->check(finite_positive());
  ex.option("--confinement", confinement, "c of the confinement term (c/2) int |theta|^2 dQ")->check(finite_non_negative());
  ex.option("--eta", eta, "step size")->check(finite_positive());
  ex.option("--lambda", lambda, "KL weight of DLE")->check(finite_positive());
  ex.option("--steps", steps, "iterations of each flow", std::uint64_t{300})->check(count(1));
  ex.resume_may_change("--steps");
  ex.outputs({{"data.csv", "the training data: x, y, whether the target is an outlier"},
              {"predictions.csv", "per likelihood, the ensemble's predictive mean and sd on a grid over [-3, 3]"}});
  if (int rc = ex.parse(argc, argv); rc >= 0) return rc;

  const StudentT<double> student_t(nu, scale);
  check_own_parts(student_t, confinement, ex.seed());

  // Data: x uniform on [-3, 3], y = sin(x) + noise, a share of them replaced by outliers at +-3.
  Tensor<double> X = Tensor<double>::from_shape({points, 1}), Y = Tensor<double>::from_shape({points, 1});
  CsvWriter data(ex.path("data.csv"), {"x", "y", "outlier"});
  for (std::size_t i = 0; i < points; ++i) {
    Rng rng = Rng::stream(ex.seed(), i, 1);
    X(i, 0) = rng.uniform(-3, 3);
    const bool outlier = rng.uniform(0, 1) < outliers;
    Y(i, 0) = outlier ? (rng.uniform(0, 1) < 0.5 ? -3.0 : 3.0) : std::sin(X(i, 0)) + 0.1 * rng.normal();
    data.row(X(i, 0), Y(i, 0), outlier ? 1 : 0);
  }
  data.close();

  const models::Mlp<double> net({.widths = {1, hidden, 1}, .hidden = models::Activation::tanh()});
  const auto init_rule = models::Initializer::kaiming(1.0, 1.0);
  const auto prior = models::GaussianPrior<double>::from_initializer(init_rule, net.layout());
  const Tensor<double> init = init_rule.sample<double>(net.layout(), particles, ex.seed());

  Tensor<double> grid = Tensor<double>::from_shape({121, 1});
  for (std::size_t g = 0; g < grid.shape()[0]; ++g) grid(g, 0) = -3.0 + 0.05 * static_cast<double>(g);
  CsvWriter out(ex.path("predictions.csv"), {"likelihood", "x", "mean", "sd"});
  nlohmann::json results;
  Checkpoints checkpoints(ex);
  const std::vector<std::pair<std::string, std::shared_ptr<const models::Likelihood<double>>>> likelihoods{
      {"squared_error", std::make_shared<models::SquaredError<double>>()},
      {"student_t", std::make_shared<StudentT<double>>(student_t)}};
  for (const auto& [tag, likelihood] : likelihoods) {
    models::NetworkPotential<double> potential(net, likelihood, X, Y, {.batch_size = points, .seed = ex.seed()});
    auto flow = flows::deep_langevin_ensemble(potential, prior, init, {.lambda = lambda, .eta = eta, .seed = ex.seed()});
    flow.add(std::make_unique<Confinement<double>>(confinement));
    Progress progress(tag, steps);
    checkpoints.run(flow, tag, steps, [&](const flows::ParticleFlow<double>& f) {
      progress.update(f.steps_taken(), f.mean_loss().value_or(std::nan("")));
      return true;
    }, 100);

    const auto pred = flows::predict<double>(net, *likelihood, flow.particles(), grid);
    double squared_error = 0;
    for (std::size_t g = 0; g < grid.shape()[0]; ++g) {
      out.row(tag, grid(g, 0), pred.mean(g, 0), std::sqrt(pred.variance(g, 0)));
      squared_error += std::pow(pred.mean(g, 0) - std::sin(grid(g, 0)), 2);
    }
    results[tag] = {{"rmse_to_sin", std::sqrt(squared_error / static_cast<double>(grid.shape()[0]))}};
  }
  out.close();
  ex.finish(results);
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) { return experiments::run_main("robust_regression", [&] { return run(argc, argv); }); }
