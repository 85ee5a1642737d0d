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
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <tbb/global_control.h>

#include "bench/synthetic.hpp"
#include "core/mpi_communicator.hpp"
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

Settings parse(int argc, char** argv) {
  Settings s;
  for (int a = 1; a < argc; ++a) {
    const std::string flag = argv[a];
    const auto value = [&]() -> std::string {
      if (a + 1 >= argc) throw Error(flag + " needs a value");
      return argv[++a];
    };
    if (flag == "--particles") {
      s.particles.clear();
      std::stringstream list(value());
      for (std::string item; std::getline(list, item, ',');) s.particles.push_back(std::stoul(item));
    } else if (flag == "--space") {
      const std::string v = value();
      if (v == "both") s.spaces = {"parameter", "function"};
      else if (v == "parameter" || v == "function") s.spaces = {v};
      else throw Error("--space: parameter, function or both, got " + v);
    } else if (flag == "--method") {
      const std::string v = value();
      if (v == "both") s.methods = {"drle", "svgd"};
      else if (v == "drle" || v == "svgd") s.methods = {v};
      else throw Error("--method: drle, svgd or both, got " + v);
    } else if (flag == "--steps") {
      s.steps = std::stoul(value());
    } else if (flag == "--threads") {
      s.threads = std::stoul(value());
    } else if (flag == "--weak") {
      s.weak = true;
    } else if (flag == "--interaction-batch") {
      s.interaction_batch = std::stoul(value());
      if (s.interaction_batch == 1) throw Error("--interaction-batch: 0 (the exact interaction) or B >= 2, got 1");
    } else {
      throw Error("unknown flag " + flag + " (see the top of bench/bench_distributed.cpp)");
    }
  }
  if (s.steps == 0 || s.threads == 0) throw Error("--steps and --threads must be at least 1");
  return s;
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
  MpiSession mpi(argc, argv);
  try {
    const Settings s = parse(argc, argv);
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, s.threads);
    const auto world = mpi.world();
    for (const std::string& method : s.methods)
      for (const std::string& space : s.spaces) {
        if (method == "svgd" && space != "parameter") continue;  // SVGD's kernel compares parameters
        for (std::size_t n : s.particles)
          run(*world, world, s, s.weak ? n * static_cast<std::size_t>(world->size()) : n, method, space);
      }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_distributed: %s\n", e.what());
    MpiSession::abort(1);
  }
}
