// The networks-in-lanes kernels alone (models/network_lanes.hpp): one group of networks 8-50-1 (ReLU) on
// a minibatch of 100 rows, its forward and its backward timed apart, each as multiply-adds per second and
// as a share of one core's peak measured in the same run (bench/peak.hpp). The flow steps of
// bench_flows spend most of their time here (a DE step at N = 1000, float32, 1 thread: 64 % of its
// profile in the two kernels on an Intel Xeon, 5 % more in their packing), so this is where a
// step's distance from the peak is decided: a kernel well below it says the instruction stream, not the
// step around it, is what to look at.
//
//   bench_lanes [shared options, see bench_common.hpp]
//
// Groups: a whole vector of networks (16 floats or 8 doubles with AVX-512, 8 or 4 with AVX2), the 5
// networks of the paper's ensembles (on AVX-512 in float the replicated kernel, three rows or three units
// per vector; in double the whole-vector kernel), and 4 (in float four rows or units per vector; in
// double the paired kernel, two rows or units). The forward includes packing the parameters into lanes,
// the backward unpacking the gradients; the counts are bench_flows': forward B H (d + 1), backward
// B H (d + 2) per network, the lanes that hold no network not counted. One thread: a group runs on one.
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_common.hpp"
#include "bench/peak.hpp"
#include "models/network_lanes.hpp"

namespace {

using namespace wgflow;
namespace wb = wgflow::bench;

constexpr std::size_t inputs = 8, hidden = 50, rows = 100;

template <class T>
void run(const wb::Options& o, std::size_t networks, double peak) {
  const std::string workload = "lanes/" + std::to_string(networks);
  if (!o.wants(workload)) return;
  models::NetworkLanes<T> net(inputs, hidden, true, models::Activation::relu());
  const std::size_t J = net.num_params(), W = models::NetworkLanes<T>::lanes;
  std::mt19937_64 gen(7);
  std::normal_distribution<T> normal;
  std::vector<T> thetas(networks * J), X(rows * inputs), out(rows * W), G(rows * W), grads(networks * J);
  for (T& v : thetas) v = T(0.3) * normal(gen);
  for (T& v : X) v = normal(gen);
  for (T& v : G) v = normal(gen);
  typename models::NetworkLanes<T>::Workspace ws;
  const wb::Timing forward = wb::time_runs(o, [&] { net.forward(thetas.data(), J, networks, X.data(), rows, ws, out.data()); });
  const wb::Timing backward = wb::time_runs(o, [&] { net.backward(G.data(), ws, grads.data(), J); });

  const double n = static_cast<double>(networks);
  const double fmas[2] = {n * rows * hidden * (inputs + 1), n * rows * hidden * (inputs + 2)};
  const wb::Timing* timing[2] = {&forward, &backward};
  const char* pass[2] = {"forward", "backward"};
  for (int k = 0; k < 2; ++k) {
    const double rate = fmas[k] / timing[k]->median_s * 1e-9;
    std::printf("%-9s %8zu %-8s %10.2f %10.1f %8.0f %%\n", pass[k], networks, wb::dtype_name<T>(),
                timing[k]->median_s * 1e6, rate, 100 * rate / peak);
    wb::emit(o, wb::timing_record(workload + "/" + pass[k], networks, wb::dtype_name<T>(), *timing[k])
                    .set("fmas", fmas[k])
                    .set("gfma_per_s", rate)
                    .set("peak_gfma_per_s", peak)
                    .set("lanes", W));
  }
}

template <class T>
void report(const wb::Options& o) {
  const double peak = wb::peak_rate<T>(1, 5);
  run<T>(o, models::NetworkLanes<T>::lanes, peak);
  run<T>(o, 5, peak);
  run<T>(o, 4, peak);
}

}  // namespace

int main(int argc, char** argv) {
  return wb::run_main("bench_lanes", [&] {
    wb::Options o;
    o.threads = 1;
    CLI::App app("wgflow: one group of networks 8-50-1 in lanes on 100 rows, forward and backward");
    wb::add_options(app, o);
    if (!wb::parse(app, argc, argv, o)) return wb::exit_ok;
    const wb::Session session(app.get_description(), o);
    std::printf("%-9s %8s %-8s %10s %10s %10s\n", "pass", "networks", "dtype", "median us", "G FMA/s",
                "of 1 core's peak");
    if (o.float32()) report<float>(o);
    if (o.float64()) report<double>(o);
    return session.finish();
  });
}
