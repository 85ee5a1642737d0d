// DRLE and SVGD steps over MPI ranks x TBB threads (issue 21): strong scaling (N fixed) and weak scaling
// (N per rank fixed), with the time in the flow's collectives shown apart
// (ParticleFlow::communication_seconds). The UCI setting of bench_flows: networks 8-50-1 (501
// parameters), minibatches of 100 of 1000 synthetic rows, float64; DRLE with the interaction in parameter
// space or in function space (100 kernel inputs), median bandwidth; the exact interaction, or with
// --interaction-batch B the random-batch one (flows/random_batch_interaction.hpp, batches of B particles
// against B prior samples). --method svgd: SVGD (parameter space, lambda = 1, Adam), whose rolling median
// bandwidth is estimated at every step.
//
//   mpirun -n R bench_distributed [--particles 1000,4000] [--space parameter|function|both]
//                                 [--steps 20] [--threads T] [--weak] [--interaction-batch B]
//                                 [--method drle|svgd|both]
//
// Rank 0 prints one line per configuration: the median step time over --steps steps (after 6 warm-up
// steps), the mean time per step in collectives over the ranks and its share, and the megabytes a rank
// received in them per step (the mean over ranks; Communicator::received_bytes). --weak multiplies each N
// by the number of ranks.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <tbb/global_control.h>

#include "bench/bench_common.hpp"
#include "bench/synthetic.hpp"
#include "core/communicator.hpp"
#include "experiments/common/ranks.hpp"
#include "flows/flows.hpp"
#include "models/initializer.hpp"
#include "models/likelihoods.hpp"
#include "models/mlp.hpp"
#include "models/network_potential.hpp"
#include "models/prior.hpp"

namespace {

using namespace wgflow;

struct Settings {
  std::vector<std::size_t> particles{1000, 4000};
  std::vector<std::string> spaces{"parameter", "function"};
  std::vector<std::string> methods{"drle"};
  std::size_t steps = 20, threads = 1, interaction_batch = 0;
  bool weak = false;
};

// The command line into `s`; false after --help.
bool parse(int argc, char** argv, Settings& s) {
  namespace ex = experiments;
  CLI::App app("wgflow: DRLE and SVGD steps over MPI ranks x TBB threads, strong or weak scaling");
  std::string space = "both", method = "drle";
  app.add_option("--particles", s.particles, "the particle counts N, comma-separated")
      ->delimiter(',')
      ->check(ex::count(2, 10000000))
      ->capture_default_str();
  app.add_option("--space", space, "the interaction's space")
      ->check(CLI::IsMember({"parameter", "function", "both"}))
      ->capture_default_str();
  app.add_option("--method", method, "the flow")->check(CLI::IsMember({"drle", "svgd", "both"}))->capture_default_str();
  app.add_option("--steps", s.steps, "timed steps per configuration")->check(ex::count(1, 1000000))->capture_default_str();
  app.add_option("--threads", s.threads, "TBB threads per rank")->check(ex::count(1, 4096))->capture_default_str();
  app.add_flag("--weak", s.weak, "weak scaling: each N times the number of ranks");
  app.add_option("--interaction-batch", s.interaction_batch,
                 "0: the exact interaction; B >= 2: random batches of B particles (DRLE)")
      ->check(ex::count(0, 1000000))
      ->capture_default_str();
  app.footer("Exit status: 0 success; 1 run error (a step that fails, an MPI or I/O failure); 2 usage error (a bad flag)");
  if (ex::parse_command_line(app, argc, argv) == 0) return false;
  if (s.interaction_batch == 1)
    throw ex::UsageError("--interaction-batch: 0 (the exact interaction) or B >= 2, got 1");
  s.spaces = space == "both" ? std::vector<std::string>{"parameter", "function"} : std::vector<std::string>{space};
  s.methods = method == "both" ? std::vector<std::string>{"drle", "svgd"} : std::vector<std::string>{method};
  return true;
}

void run(Communicator& world, const std::shared_ptr<Communicator>& comm, const Settings& s, std::size_t n,
         const std::string& method, const std::string& space) {
  const std::size_t inputs = 8, hidden = 50, rows = 1000, kernel_points = 100;
  const auto [X, Y] = bench::synthetic_regression<double>(rows, inputs, 1);
  const Tensor<double> kernel_inputs = bench::synthetic_regression<double>(kernel_points, inputs, 2).first;
  models::Mlp<double> net({.widths = {inputs, hidden, 1}});
  models::NetworkPotential<double> potential(net, models::SquaredError<double>(), X, Y, {.batch_size = 100, .seed = 3});
  const auto init = models::Initializer::kaiming(1, 1, models::Initializer::Fan::out);
  const auto prior = models::GaussianPrior<double>::from_initializer(init, net.layout());
  flows::DrleSettings<double> settings{
      .lambda1 = 1e-3, .lambda2 = 1e-6, .eta = 0.01, .seed = 5, .interaction_batch = s.interaction_batch};
  if (space == "function") settings.model = &net, settings.kernel_inputs = kernel_inputs;
  const Tensor<double> particles = init.sample<double>(net.layout(), n, 4);
  auto flow = method == "svgd" ? flows::svgd(potential, prior, particles,
                                             {.lambda = 1, .optimizer = flows::Adam<double>{.eta = 1e-3}, .seed = 5})
                                : flows::deep_repulsive_langevin_ensemble(potential, prior, particles, settings);
  flow.distribute(comm);

  for (int w = 0; w < 6; ++w) flow.step();  // past the median bandwidth's first steps
  const double comm_before = flow.communication_seconds();
  const std::uint64_t bytes_before = world.received_bytes();
  std::vector<double> times;
  for (std::size_t t = 0; t < s.steps; ++t) {
    world.barrier();
    const auto start = std::chrono::steady_clock::now();
    flow.step();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  const double comm_per_step = (flow.communication_seconds() - comm_before) / static_cast<double>(s.steps);
  const double mb_per_step = static_cast<double>(world.received_bytes() - bytes_before) / 1e6 / static_cast<double>(s.steps);
  double comm_mean = 0, mb_mean = 0;
  for (double c : world.allgather_value(comm_per_step)) comm_mean += c / world.size();
  for (double b : world.allgather_value(mb_per_step)) mb_mean += b / world.size();
  const bool batches = s.interaction_batch != 0 && method == "drle";
  const std::string interaction = batches ? "B " + std::to_string(s.interaction_batch) : "exact";
  if (world.rank() == 0)
    std::printf("%-4s %-9s %-5s N %6zu  ranks %2d x threads %2zu  step %9.2f ms  collectives %8.2f ms (%4.1f %%) "
                "%8.2f MB in\n",
                method == "svgd" ? "SVGD" : "DRLE", space.c_str(), interaction.c_str(), n, world.size(), s.threads,
                median * 1e3, comm_mean * 1e3, 100 * comm_mean / median, mb_mean);
}

}  // namespace

int main(int argc, char** argv) {
  return experiments::run_main("bench_distributed", [&] {
    Settings s;
    if (!parse(argc, argv, s)) return experiments::exit_ok;
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, s.threads);
    const std::shared_ptr<Communicator>& world = experiments::ranks();
    for (const std::string& method : s.methods)
      for (const std::string& space : s.spaces) {
        if (method == "svgd" && space != "parameter") continue;  // SVGD's kernel compares parameters
        for (std::size_t n : s.particles)
          run(*world, world, s, s.weak ? n * static_cast<std::size_t>(world->size()) : n, method, space);
      }
    bench::check_stdout();
    return experiments::exit_ok;
  });
}
