#pragma once
// One ensemble trained on one UCI split, by one of the five methods of the table (paper.md §4), and its
// test metrics. What every method shares: the network (one hidden ReLU layer, n_hidden units), the
// minibatched mean squared error on standardised data (models/network_potential.hpp), N particles
// drawn from an initialiser that is also the Gaussian prior P (paper.md §6; by default variance
// 1 / fan_in, see uci_regression.cpp for why not the reference code's 1 / fan_out), and the same
// number of epochs.
//
//   DE    SGD on l, step de_eta                                               (flows/presets.hpp)
//   DLE   SGD + lambda KL(Q || P): Langevin with noise sqrt(2 lambda eta)     (flows/presets.hpp)
//   DRLE  + (lambda1/2) MMD^2(Q, P) in parameter space, RBF kernel, median bandwidth (frozen after 5
//         steps), 200 prior samples, lambda2 KL(Q || P)                       (flows/presets.hpp)
//   SVGD  target exp(-l / lambda) p (the Gibbs measure DLE samples), median bandwidth, Adam
//   MFVI  N mean-field Gaussians, E_q l + lambda KL(q || P), reparameterised gradients, Adam;
//         predictions average mfvi_draws draws per member
//
// Seeds: the minibatch order and the initial particles depend on (seed, data set, split) only, so the
// five methods start from the same networks and see the same batches on a split (paired comparisons);
// each method's noise has its own stream.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <xtensor/xmath.hpp>

#include "core/errors.hpp"
#include "experiments/uci/metrics.hpp"
#include "flows/flows.hpp"
#include "flows/mean_field_vi.hpp"
#include "flows/svgd.hpp"
#include "models/initializer.hpp"
#include "models/likelihoods.hpp"
#include "models/mlp.hpp"
#include "models/network_potential.hpp"
#include "models/prior.hpp"
#include "core/random.hpp"
#include "data/uci.hpp"

namespace wgflow::experiments::uci {

enum class Method { de, dle, drle, svgd, mfvi };

inline constexpr Method all_methods[] = {Method::de, Method::dle, Method::drle, Method::svgd, Method::mfvi};

inline std::string method_name(Method m) {
  switch (m) {
    case Method::de: return "DE";
    case Method::dle: return "DLE";
    case Method::drle: return "DRLE";
    case Method::svgd: return "SVGD";
    case Method::mfvi: return "MFVI";
  }
  return "?";
}

inline Method parse_method(const std::string& s) {
  for (Method m : all_methods) {
    std::string name = method_name(m), lower;
    for (char c : s) lower += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (lower == name) return m;
  }
  throw Error("unknown method '" + s + "' (known: DE, DLE, DRLE, SVGD, MFVI)");
}

// The defaults are the settings the runner uses; uci_regression.cpp documents why each differs from the
// paper where it does.
struct Settings {
  std::size_t particles = 5;
  std::size_t batch_size = 100;
  std::size_t epochs = 160;
  // The initialiser, which is also the prior: "kaiming_fan_out" (the reference code's), "kaiming_fan_in",
  // or "torch_default" (PyTorch's nn.Linear, matched by a Gaussian of the same variance as the prior).
  std::string init = "kaiming_fan_in";
  double init_weight_var = 1, init_bias_var = 1;  // the kaiming variants' v_w and v_b
  double de_eta = 0.1;
  double dle_eta = 0.1, dle_lambda = 1e-4;
  double drle_eta = 0.1, drle_lambda1 = 1e-3, drle_lambda2 = 1e-6;
  std::size_t drle_prior_samples = 200;
  double svgd_lr = 1e-2, svgd_lambda = 1e-4;
  double mfvi_lr = 1e-2, mfvi_lambda = 1e-4, mfvi_initial_sd = 1e-2;
  std::size_t mfvi_draws = 10;  // predictive draws per member

  // On divergence, retry with the step halved, at most this many times (0: report the divergence).
  std::size_t max_halvings = 3;

  double eta(Method m) const { return const_cast<Settings*>(this)->eta_ref(m); }
  double& eta_ref(Method m) {
    switch (m) {
      case Method::de: return de_eta;
      case Method::dle: return dle_eta;
      case Method::drle: return drle_eta;
      case Method::svgd: return svgd_lr;
      case Method::mfvi: return mfvi_lr;
    }
    throw Error("uci::Settings: unknown method");
  }
};

struct RunResult {
  SplitMetrics metrics;
  double train_rmse = 0;  // the ensemble mean's, original units
  std::size_t n_train = 0, n_test = 0;
  double eta = 0;            // the step (learning rate) used
  std::size_t halvings = 0;  // how often the step was halved after a divergence
  std::uint64_t steps = 0;
  double seconds = 0;
  std::string status = "ok";  // or "diverged: <why>" (retried with a halved step), "failed: <why>"
  double final_loss = std::nan("");  // the loss at the last step (see run_method)
};

// Seeds as described at the top; `dataset` is the data set's index in the run.
struct Seeds {
  std::uint64_t data, init, flow;
  static Seeds of(std::uint64_t seed, std::size_t dataset, std::size_t split, Method m) {
    const std::uint64_t key = static_cast<std::uint64_t>(dataset) << 32 | static_cast<std::uint64_t>(split);
    return {Rng::stream(seed, key, 1)(), Rng::stream(seed, key, 2)(),
            Rng::stream(seed, key, 3 + static_cast<std::uint64_t>(m))()};
  }
};

inline models::Initializer make_initializer(const Settings& s) {
  using models::Initializer;
  if (s.init == "kaiming_fan_out") return Initializer::kaiming(s.init_weight_var, s.init_bias_var, Initializer::Fan::out);
  if (s.init == "kaiming_fan_in") return Initializer::kaiming(s.init_weight_var, s.init_bias_var, Initializer::Fan::in);
  if (s.init == "torch_default") return Initializer::torch_default();
  throw Error("uci_regression: unknown initialiser '" + s.init +
              "' (known: kaiming_fan_out, kaiming_fan_in, torch_default)");
}

// Steps a method takes on a training set of n rows.
inline std::uint64_t steps_for(const Settings& s, std::size_t n_train) {
  return static_cast<std::uint64_t>(s.epochs) * ((n_train + s.batch_size - 1) / s.batch_size);
}

// A test RMSE beyond this many standard deviations of the targets is a divergence whatever the flow
// says (predicting the training mean scores about 1): e.g. an Adam learning rate of 1e6 gives 3e10.
inline constexpr double absurd_rmse = 1e3;

inline SplitMetrics failed_metrics() {
  const double nan = std::nan("");
  return {nan, nan, nan, nan, nan};
}

// Trains `method` on split.train (standardised) with `hidden` units and evaluates on split.test.
// on_step(loss) is called after every step from the calling thread, with the step's mean minibatch loss
// over particles (MFVI: the members' mean objective). A flow that diverges (a non-finite particle or
// prediction, or an absurd test RMSE) yields status "diverged: <why>"; metrics that overflow in the
// original units, "failed: <why>". Either way the metrics are NaN.
template <class OnStep>
RunResult run_method(Method method, const data::uci::Split& split, std::size_t hidden, const Settings& s,
                     const Seeds& seeds, OnStep&& on_step) {
  using namespace wgflow::models;
  const auto start = std::chrono::steady_clock::now();
  RunResult out;
  out.n_train = split.train.size();
  out.n_test = split.test.size();
  const data::Dataset& train = split.train;
  const data::Dataset& test = split.test;
  Mlp<double> net({.widths = {train.num_inputs(), hidden, 1}});
  NetworkPotential<double> potential(net, SquaredError<double>(), train.X(), train.Y(),
                                     {.batch_size = s.batch_size, .seed = seeds.data});
  const Initializer init = make_initializer(s);
  Tensor<double> particles = init.sample<double>(net.layout(), s.particles, seeds.init);
  const GaussianPrior<double> prior = GaussianPrior<double>::from_initializer(init, net.layout());
  const std::uint64_t steps = steps_for(s, train.size());

  const double eta = s.eta(method);
  out.eta = eta;
  flows::ParticleFlow<double> flow = [&] {
    switch (method) {
      case Method::de:
        return flows::deep_ensemble(potential, particles, {.eta = eta, .seed = seeds.flow});
      case Method::dle:
        return flows::deep_langevin_ensemble(potential, prior, particles,
                                             {.lambda = s.dle_lambda, .eta = eta, .seed = seeds.flow});
      case Method::drle:
        return flows::deep_repulsive_langevin_ensemble(
            potential, prior, particles,
            {.lambda1 = s.drle_lambda1, .lambda2 = s.drle_lambda2, .bandwidth = flows::Bandwidth<double>::median(),
             .prior_samples = s.drle_prior_samples, .eta = eta, .seed = seeds.flow});
      case Method::svgd:
        return flows::svgd(potential, prior, particles,
                           {.lambda = s.svgd_lambda, .optimizer = flows::Adam<double>{eta}});
      case Method::mfvi:
        return flows::mean_field_vi(potential, prior, particles,
                                    {.lambda = s.mfvi_lambda, .samples = 1, .initial_sd = s.mfvi_initial_sd,
                                     .optimizer = flows::Adam<double>{eta}, .seed = seeds.flow});
    }
    throw Error("uci_regression: unknown method");
  }();

  // The mean minibatch loss over particles; for MFVI the mean objective E_q l + lambda KL over members,
  // its free energy.
  auto current_loss = [&]() -> double {
    const std::optional<double> loss = method == Method::mfvi ? flow.free_energy() : flow.mean_loss();
    return loss.value_or(std::nan(""));
  };
  try {
    for (std::uint64_t t = 0; t < steps; ++t) {
      flow.step();
      const double loss = current_loss();
      out.final_loss = loss;
      on_step(loss);
    }
  } catch (const Error& e) {
    out.status = std::string("diverged: ") + e.what();
  }
  out.steps = flow.steps_taken();

  if (out.status == "ok") {
    const Tensor<double> samples = flow.predictive_samples(s.mfvi_draws, seeds.flow ^ 0x5eedULL);
    const auto test_pred = flows::predict(net, samples, test.X());
    const auto train_pred = flows::predict(net, samples, train.X());
    double mse = 0;
    for (std::size_t i = 0; i < train.size(); ++i)
      mse += (train.Y()(i, 0) - train_pred.mean(i, 0)) * (train.Y()(i, 0) - train_pred.mean(i, 0));
    mse /= static_cast<double>(train.size());
    const double scale = split.scaling.targets.scale()(0, 0);
    const auto finite = [](const Tensor<double>& t) {
      return std::all_of(t.begin(), t.end(), [](double x) { return std::isfinite(x); });
    };
    const std::string after = " after " + std::to_string(out.steps) + " steps";
    if (!finite(test_pred.mean) || !finite(test_pred.variance) || !std::isfinite(mse)) {
      out.status = "diverged: non-finite predictions" + after;
    } else {
      out.metrics = split_metrics(test.Y(), test_pred.mean, test_pred.variance, mse, scale);
      out.train_rmse = std::sqrt(mse) * scale;
      const SplitMetrics& m = out.metrics;
      char buf[160];
      if (!std::isfinite(m.rmse) || !std::isfinite(m.nll_noise) || !std::isfinite(m.nll_ensemble)) {
        // Finite predictions, but the squared errors overflow once mapped back to the original units.
        std::snprintf(buf, sizeof buf, "failed: the test metrics overflow in the original units (targets' sd %.3g)",
                      scale);
        out.status = buf;
      } else if (m.rmse > absurd_rmse * scale) {
        std::snprintf(buf, sizeof buf, "diverged: test RMSE %.3g is over %.0f times the targets' sd %.3g", m.rmse,
                      absurd_rmse, scale);
        out.status = buf + after;
      }
    }
  }
  if (out.status != "ok") {  // a failed job's numbers are NaN in every table, never a plausible 0
    out.metrics = failed_metrics();
    out.train_rmse = std::nan("");
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

// run_method, and on a divergence again with the method's step halved, up to s.max_halvings times: a
// step the loss's curvature cannot take (naval's collinear inputs at eta = 0.1) is then reported as a
// smaller eta and a halvings count, not as a missing split.
template <class OnStep>
RunResult run_with_backoff(Method method, const data::uci::Split& split, std::size_t hidden, Settings s,
                           const Seeds& seeds, OnStep&& on_step) {
  for (std::size_t halvings = 0;; ++halvings) {
    RunResult r = run_method(method, split, hidden, s, seeds, on_step);
    r.halvings = halvings;
    if (r.status.rfind("diverged", 0) != 0 || halvings >= s.max_halvings) return r;
    s.eta_ref(method) /= 2;
  }
}

}  // namespace wgflow::experiments::uci
