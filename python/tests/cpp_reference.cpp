// The C++ side of the Python package's bit-exactness and checkpoint tests: an MLP flow built in C++ as
// test_cpp_parity.py builds it from Python. Usage:
//   cpp_reference METHOD OUT STEPS [RESUME_DIR]
// METHOD is de or dle. Runs the flow to STEPS steps in total (from RESUME_DIR's checkpoint when given),
// saving a checkpoint at STEPS / 2 into OUT/half (when not resuming), and writes the final particles to
// OUT/particles.txt, one row per line, each number with 17 significant digits (exact round trip).
// The data are exact binary fractions, so Python rebuilds them bit for bit: x_i = i / 8, y_i = (i mod 5) / 4 - 1/2.
//   cpp_reference bench STEPS N
// times bench/bench_python.py's workload in C++ (DE of N members of a 1-50-1 tanh network on 60 points,
// x_i = i / 16 - 2, y_i = (i mod 7) / 4 - 3/4, full batch) and prints its steps per second.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>

#include "flows/flows.hpp"
#include "models/initializer.hpp"
#include "models/likelihoods.hpp"
#include "models/mlp.hpp"
#include "models/network_potential.hpp"
#include "models/prior.hpp"

using namespace wgflow;

namespace {

int bench(std::uint64_t steps, std::size_t members) {
  const std::size_t n = 60;
  Tensor<double> X = Tensor<double>::from_shape({n, 1}), Y = Tensor<double>::from_shape({n, 1});
  for (std::size_t i = 0; i < n; ++i) {
    X(i, 0) = static_cast<double>(i) / 16.0 - 2.0;
    Y(i, 0) = static_cast<double>(i % 7) / 4.0 - 0.75;
  }
  const models::Mlp<double> net({.widths = {1, 50, 1}, .hidden = models::Activation::tanh()});
  models::NetworkPotential<double> potential(net, models::SquaredError<double>(), X, Y, {.batch_size = n, .seed = 0});
  const Tensor<double> init = models::Initializer::kaiming(1.0, 1.0).sample<double>(potential.parameter_layout(), members, 0);
  auto flow = flows::deep_ensemble(potential, init, {.eta = 0.01});
  flow.run(10);  // warm-up: the tapes' arenas
  const auto start = std::chrono::steady_clock::now();
  flow.run(steps);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%.6g\n", static_cast<double>(steps) / seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s de|dle OUT STEPS [RESUME_DIR]\n", argv[0]);
    return 2;
  }
  const std::string method = argv[1];
  if (method == "bench") return bench(std::strtoull(argv[2], nullptr, 10), std::strtoull(argv[3], nullptr, 10));
  const std::filesystem::path out = argv[2];
  const std::uint64_t steps = std::strtoull(argv[3], nullptr, 10);
  std::filesystem::create_directories(out);

  const std::size_t n = 24;
  Tensor<double> X = Tensor<double>::from_shape({n, 1}), Y = Tensor<double>::from_shape({n, 1});
  for (std::size_t i = 0; i < n; ++i) {
    X(i, 0) = static_cast<double>(i) / 8.0;
    Y(i, 0) = static_cast<double>(i % 5) / 4.0 - 0.5;
  }
  const models::Mlp<double> net({.widths = {1, 8, 1}, .hidden = models::Activation::tanh()});
  models::NetworkPotential<double> potential(net, models::SquaredError<double>(), X, Y, {.batch_size = 10, .seed = 3});
  const auto init_rule = models::Initializer::kaiming(1.0, 1.0);
  const auto prior = models::GaussianPrior<double>::from_initializer(init_rule, potential.parameter_layout());
  const Tensor<double> init = init_rule.sample<double>(potential.parameter_layout(), 5, 3);
  auto flow = method == "dle" ? flows::deep_langevin_ensemble(potential, prior, init, {.lambda = 0.1, .eta = 0.05, .seed = 11})
                              : flows::deep_ensemble(potential, init, {.eta = 0.05, .seed = 3});
  if (argc > 4) {
    flows::load_checkpoint(flow, argv[4]);
  } else {
    flow.run(steps / 2);
    flows::save_checkpoint(flow, out / "half");
  }
  flow.run(steps - flow.steps_taken());

  std::FILE* f = std::fopen((out / "particles.txt").c_str(), "w");
  if (!f) throw Error("cannot write " + (out / "particles.txt").string());
  const Tensor<double>& p = flow.particles();
  for (std::size_t i = 0; i < p.shape()[0]; ++i)
    for (std::size_t j = 0; j < p.shape()[1]; ++j) std::fprintf(f, "%.17g%c", p(i, j), j + 1 < p.shape()[1] ? ' ' : '\n');
  std::fclose(f);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "cpp_reference: %s\n", e.what());
  return 1;
}
