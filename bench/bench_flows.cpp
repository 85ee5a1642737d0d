// Steps per second of DE, DLE and DRLE on the UCI setting (issue 5, workloads 1 and 2): N networks
// 8-50-1 (ReLU, 501 parameters each), squared error on minibatches of 100 from 1000 synthetic rows, SGD;
// DRLE with function-space repulsion on 100 kernel inputs and 200 prior samples, RBF kernel, the
// reference's median bandwidth (frozen after 5 steps), lambda1 = 1e-3, lambda2 = 1e-6 (the UCI runner's).
// Built exactly as a user builds them: flows/presets.hpp on models/network_potential.hpp and models/mlp.hpp.
//
//   bench_flows [--particles 5,100] [--scaling] [shared options, see bench_common.hpp]
//
// One run is one flow.step(); warm-up runs (more than the 5 bandwidth-estimating steps) come first.
// Each figure also records `fmas`, the multiply-adds no implementation of the step can skip (the networks'
// passes, bench/synthetic.hpp's network_fmas): with bench_peak's rate, the floor under the step's time.
// --scaling measures the 2-thread speedup instead (target (2)): rounds that alternate a block of steps on
// 1 and on 2 TBB threads, so that a shared machine's changing load hits both alike; it
// reports the median over rounds of (1-thread time / 2-thread time) per round.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <tbb/global_control.h>

#include "bench/bench_common.hpp"
#include "bench/synthetic.hpp"
#include "flows/flows.hpp"
#include "models/initializer.hpp"
#include "models/likelihoods.hpp"
#include "models/mlp.hpp"
#include "models/network_potential.hpp"
#include "models/prior.hpp"

namespace {

using namespace wgflow;
namespace wb = wgflow::bench;

// Median over rounds of t(1 thread) / t(2 threads) for blocks of steps, and the median block times.
template <class Step>
void measure_scaling(const wb::Options& o, const std::string& workload, std::size_t n, const char* dtype,
                     Step&& step) {
  // The thread count is limited exactly as --threads limits it: a global_control, here one per block.
  const auto block = [&](std::size_t threads, int steps) {
    const tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
    const auto t0 = std::chrono::steady_clock::now();
    for (int s = 0; s < steps; ++s) step();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / steps;
  };
  block(2, 8);  // warm-up, past the bandwidth-estimating steps
  // Blocks of about 50 ms, so that a round sees both thread counts within a fraction of a second.
  const int steps = std::max(1, static_cast<int>(0.05 / block(1, 3)));
  std::vector<double> t1, t2, speedup;
  double total = 0;
  while (static_cast<int>(speedup.size()) < std::max(o.min_runs, 7) || total < 2 * o.min_time) {
    t1.push_back(block(1, steps));
    t2.push_back(block(2, steps));
    speedup.push_back(t1.back() / t2.back());
    total += steps * (t1.back() + t2.back());
  }
  const double s = wb::median(speedup);
  std::printf("%-6s %5zu %-8s %12.1f %12.1f %8.2fx %6zu\n", workload.c_str() + workload.find('/') + 1, n, dtype,
              wb::median(t1) * 1e6, wb::median(t2) * 1e6, s, speedup.size());
  wb::emit(o, wb::Record()
                  .set("workload", "scaling/" + workload)
                  .set("particles", n)
                  .set("dtype", dtype)
                  .set("median_1_thread_s", wb::median(t1))
                  .set("median_2_threads_s", wb::median(t2))
                  .set("speedup", s)
                  .set("min_speedup", *std::min_element(speedup.begin(), speedup.end()))
                  .set("max_speedup", *std::max_element(speedup.begin(), speedup.end()))
                  .set("rounds", speedup.size()));
}

template <class T>
void run(const wb::Options& o, std::size_t n, bool scaling) {
  const std::size_t inputs = 8, hidden = 50, rows = 1000, kernel_points = 100;
  const auto [X, Y] = wb::synthetic_regression<T>(rows, inputs, 1);
  const Tensor<T> kernel_inputs = wb::synthetic_regression<T>(kernel_points, inputs, 2).first;

  models::Mlp<T> net({.widths = {inputs, hidden, 1}});
  models::NetworkPotential<T> potential(net, models::SquaredError<T>(), X, Y, {.batch_size = 100, .seed = 3});
  const auto init = models::Initializer::kaiming(1, 1, models::Initializer::Fan::out);
  const Tensor<T> particles = init.sample<T>(net.layout(), n, 4);
  const auto prior = models::GaussianPrior<T>::from_initializer(init, net.layout());
  const T eta = T(0.01);

  struct Method {
    const char* name;
    flows::ParticleFlow<T> flow;
  };
  std::vector<Method> methods;
  methods.push_back({"DE", flows::deep_ensemble<T>(potential, particles, {.eta = eta, .seed = 5})});
  methods.push_back({"DLE", flows::deep_langevin_ensemble<T>(potential, prior, particles,
                                                             {.lambda = T(1e-4), .eta = eta, .seed = 5})});
  methods.push_back({"DRLE", flows::deep_repulsive_langevin_ensemble<T>(
                                 potential, prior, particles,
                                 {.lambda1 = T(1e-3), .lambda2 = T(1e-6), .model = &net,
                                  .kernel_inputs = kernel_inputs, .eta = eta, .seed = 5})});

  for (Method& m : methods) {
    const std::string workload = std::string("flow_step/") + m.name;
    if (!o.wants(workload)) continue;
    if (scaling) {
      measure_scaling(o, workload, n, wb::dtype_name<T>(), [&] { m.flow.step(); });
      continue;
    }
    const wb::Timing t = wb::time_runs(o, [&] { m.flow.step(); }, 8);
    std::printf("%-6s %5zu %-8s %12.1f %12.1f %8zu\n", m.name, n, wb::dtype_name<T>(), t.median_s * 1e6,
                1 / t.median_s, t.runs);
    // Every network passes over the minibatch; DRLE's function-space repulsion also evaluates each one on
    // the kernel inputs, pulls the kernel's gradient back through it, and compares the N networks' outputs
    // with each other and with the 200 prior samples' (the preset's M).
    const bool repels = m.name == std::string("DRLE");
    const double fmas = static_cast<double>(n) * wb::network_fmas(100, inputs, hidden) +
                        (repels ? static_cast<double>(n) * wb::network_fmas(kernel_points, inputs, hidden) +
                                      wb::interaction_fmas(n, kernel_points, 200)
                                : 0.0);
    wb::emit(o, wb::timing_record(workload, n, wb::dtype_name<T>(), t).set("fmas", fmas));
  }
}

}  // namespace

int main(int argc, char** argv) {
  return wb::run_main("bench_flows", [&] {
    wb::Options o;
    std::vector<std::size_t> sizes = {5, 100};
    bool scaling = false;
    CLI::App app("wgflow: one DE / DLE / DRLE step, N networks 8-50-1, minibatch 100 (UCI setting)");
    wb::add_options(app, o);
    app.add_option("--particles", sizes, "the particle counts N, comma-separated")
        ->delimiter(',')
        ->check(experiments::count(1, 1000000))
        ->capture_default_str();
    app.add_flag("--scaling", scaling, "the 2-thread speedup instead, in alternating 1- and 2-thread blocks");
    if (!wb::parse(app, argc, argv, o)) return wb::exit_ok;
    const wb::Session session(app.get_description(), o);
    if (scaling)
      std::printf("2-thread speedup, alternating 1- and 2-thread blocks of steps\n%-6s %5s %-8s %12s %12s %9s %6s\n",
                  "method", "N", "dtype", "1 thr us", "2 thr us", "speedup", "rounds");
    else
      std::printf("%-6s %5s %-8s %12s %12s %8s\n", "method", "N", "dtype", "median us", "steps/s", "runs");
    for (std::size_t n : sizes) {
      if (o.float32()) run<float>(o, n, scaling);
      if (o.float64()) run<double>(o, n, scaling);
    }
    return session.finish();
  });
}
