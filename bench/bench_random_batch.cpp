// DRLE beyond O(N^2) (issue 23, item 5): the random-batch interaction (flows/random_batch_interaction.hpp)
// beside the exact one, at N = 10^3, 10^4 and 10^5 particles, where the exact term's N x N matrices
// (three of them, 80 GB each at N = 10^5 in double) are out of reach.
//
//   random_batch/term/exact, random_batch/term/B8, random_batch/term/B32
//       the interaction term's add_gradient alone, parameter space, particles of J = 501 parameters,
//       M = 200 prior samples (B_p = B), RBF, mean-of-squares distances;
//   random_batch/step/DLE                     one DLE step: the floor, no interaction;
//   random_batch/step/exact, random_batch/step/B8
//       one DRLE step, parameter-space interaction, exact or in random batches of 8;
//   random_batch/step_fs/exact, random_batch/step_fs/B8
//       the same with the function-space interaction on K = 20 kernel inputs (E = 20 features).
// The networks are bench_flows' and bench_interaction's UCI setting: 8-50-1 ReLU (J = 501), squared error
// on minibatches of 100 of 1000 synthetic rows, lambda1 = 1e-3, lambda2 = 1e-6, SGD eta = 0.01. The
// bandwidth is the median rule estimated at step 0 only, so that one warm-up step leaves every timed step
// alike (the exact rule's median over N^2 entries would otherwise weigh on the first steps of large N).
// The exact figures stop at N = 10^4 (--exact-limit). Each figure is the median over runs of one call;
// flows are built and freed one at a time (a DRLE flow of 10^5 networks holds about 4 GB in double).
//
//   bench_random_batch [--particles 1000,10000,100000] [--exact-limit N] [shared options, bench_common.hpp]
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_common.hpp"
#include "bench/synthetic.hpp"
#include "flows/flows.hpp"
#include "flows/random_batch_interaction.hpp"
#include "models/initializer.hpp"
#include "models/likelihoods.hpp"
#include "models/mlp.hpp"
#include "models/network_potential.hpp"
#include "models/prior.hpp"

namespace {

using namespace wgflow;
namespace wb = wgflow::bench;

constexpr std::size_t inputs = 8, hidden = 50, kernel_points = 20, prior_samples = 200;

template <class T>
void report(const wb::Options& o, const std::string& workload, std::size_t n, const wb::Timing& t) {
  std::printf("%-28s %7zu %-8s %12.2f %10.2f %6zu\n", workload.c_str(), n, wb::dtype_name<T>(), t.median_s * 1e3,
              1 / t.median_s, t.runs);
  wb::emit(o, wb::timing_record(workload, n, wb::dtype_name<T>(), t));
}

// One warm-up call past the bandwidth's estimate; more for small N, where calls are cheap.
int warmup(std::size_t n) { return n >= 10000 ? 1 : 6; }

template <class T>
void term_alone(const wb::Options& o, std::size_t n, std::size_t exact_limit) {
  const std::size_t dim = 501;
  const auto prior = models::GaussianPrior<T>::isotropic(dim, 1.0);
  const Tensor<T> particles = prior.sample(n, 1), samples = prior.sample(prior_samples, 2);
  const flows::InteractionSettings<T> s{.lambda1 = T(1e-3), .bandwidth = flows::Bandwidth<T>::median(1)};
  const auto time_term = [&](const std::string& workload, std::unique_ptr<flows::Term<T>> term) {
    if (!o.wants(workload)) return;
    term->attach(particles);
    Tensor<T> gradient = xt::zeros<T>({n, dim});
    std::uint64_t step = 0;
    report<T>(o, workload, n, wb::time_runs(o, [&] {
      term->add_gradient(flows::StepContext<T>{.step = step++, .particles = particles, .seed = 5}, gradient);
    }, warmup(n)));
  };
  if (n <= exact_limit)
    time_term("random_batch/term/exact",
              std::make_unique<flows::InteractionEnergy<T>>(s, std::make_unique<flows::ParameterSpace<T>>(), samples));
  for (const std::size_t batch : {8, 32})
    time_term("random_batch/term/B" + std::to_string(batch),
              std::make_unique<flows::RandomBatchInteraction<T>>(s, flows::RandomBatchSettings{.batch = batch},
                                                                 std::make_unique<flows::ParameterSpace<T>>(), samples));
}

template <class T>
void steps(const wb::Options& o, std::size_t n, std::size_t exact_limit) {
  const auto [X, Y] = wb::synthetic_regression<T>(1000, inputs, 1);
  const Tensor<T> kernel_inputs = wb::synthetic_regression<T>(kernel_points, inputs, 2).first;
  models::Mlp<T> net({.widths = {inputs, hidden, 1}});
  models::NetworkPotential<T> potential(net, models::SquaredError<T>(), X, Y, {.batch_size = 100, .seed = 3});
  const auto init = models::Initializer::kaiming(1, 1, models::Initializer::Fan::out);
  const auto prior = models::GaussianPrior<T>::from_initializer(init, net.layout());
  const T eta = T(0.01), lambda2 = T(1e-6);

  const auto time_steps = [&](const std::string& workload, auto make) {
    if (!o.wants(workload)) return;
    auto flow = make(init.sample<T>(net.layout(), n, 4));
    report<T>(o, workload, n, wb::time_runs(o, [&] { flow.step(); }, warmup(n)));
  };
  time_steps("random_batch/step/DLE", [&](Tensor<T> particles) {
    return flows::deep_langevin_ensemble(potential, prior, std::move(particles), {.lambda = lambda2, .eta = eta, .seed = 5});
  });
  for (const bool function_space : {false, true}) {
    const std::string group = function_space ? "random_batch/step_fs/" : "random_batch/step/";
    for (const std::size_t batch : {std::size_t{0}, std::size_t{8}}) {
      if (batch == 0 && n > exact_limit) continue;
      time_steps(group + (batch == 0 ? "exact" : "B8"), [&](Tensor<T> particles) {
        flows::DrleSettings<T> s{.lambda1 = T(1e-3), .lambda2 = lambda2, .bandwidth = flows::Bandwidth<T>::median(1),
                                 .eta = eta, .seed = 5, .interaction_batch = batch};
        if (function_space) s.model = &net, s.kernel_inputs = kernel_inputs;
        return flows::deep_repulsive_langevin_ensemble(potential, prior, std::move(particles), s);
      });
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  return wb::run_main("bench_random_batch", [&] {
    wb::Options o;
    std::vector<std::size_t> sizes = {1000, 10000, 100000};
    std::size_t exact_limit = 10000;
    CLI::App app("wgflow: DRLE's interaction in random batches against the exact one, N up to 10^5");
    wb::add_options(app, o);
    app.add_option("--particles", sizes, "the particle counts N, comma-separated")
        ->delimiter(',')
        ->check(experiments::count(2, 10000000))
        ->capture_default_str();
    app.add_option("--exact-limit", exact_limit, "the largest N at which the exact interaction is also timed")
        ->check(experiments::count(0, 10000000))
        ->capture_default_str();
    if (!wb::parse(app, argc, argv, o)) return wb::exit_ok;
    const wb::Session session(app.get_description(), o);
    std::printf("%-28s %7s %-8s %12s %10s %6s\n", "workload", "N", "dtype", "median ms", "per s", "runs");
    for (const std::size_t n : sizes) {
      if (o.float32()) term_alone<float>(o, n, exact_limit), steps<float>(o, n, exact_limit);
      if (o.float64()) term_alone<double>(o, n, exact_limit), steps<double>(o, n, exact_limit);
    }
    return session.finish();
  });
}
