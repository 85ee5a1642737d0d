// Same seed, 1 thread or 2: DRLE on a network is bit-identical after 100 steps, with the repulsion in
// parameter space and in function space. The sizes are chosen so that every parallel path runs: the
// particles' potential gradients, the embeddings and pullbacks (one task per particle), the kernel
// matrices (rows in parallel) and the N x N x J distance GEMM, which at 128 x 128 x 193 = 3.2e6
// multiply-adds is above core/gemm.hpp's threshold for sharing a product among threads.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include <tbb/global_control.h>
#include <tbb/task_arena.h>
#include <xtensor/xview.hpp>

#include "flows/flows.hpp"
#include "models/initializer.hpp"
#include "models/network_potential.hpp"
#include "models/prior.hpp"
#include "core/random.hpp"

using namespace wgflow;
using wgflow::Tensor;

namespace {

// y = sin(x) + 0.1 noise on 40 inputs in [-3, 3]: a small regression for a 1-64-1 tanh network (J = 193).
struct SinData {
  Tensor<double> X = Tensor<double>::from_shape({40, 1}), Y = Tensor<double>::from_shape({40, 1});
  SinData() {
    Rng rng(99);
    for (std::size_t i = 0; i < 40; ++i) {
      X(i, 0) = rng.uniform(-3, 3);
      Y(i, 0) = std::sin(X(i, 0)) + 0.1 * rng.normal();
    }
  }
};

// 100 DRLE steps with TBB limited to `threads` workers, both by a global_control (which also caps the
// GEMM's thread count) and by an explicit arena of that width.
Tensor<double> run_drle(std::size_t threads, bool function_space, std::uint64_t seed) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
  tbb::task_arena arena(static_cast<int>(threads));
  Tensor<double> out;
  arena.execute([&] {
    const SinData data;
    const models::Mlp<double> net({.widths = {1, 64, 1}, .hidden = models::Activation::tanh()});
    models::NetworkPotential<double> potential(net, models::Loss::squared_error(), data.X, data.Y,
                                               {.batch_size = 20, .seed = 7});
    const auto init = models::Initializer::normal(0.5);
    const auto prior = models::GaussianPrior<double>::from_initializer(init, net.layout());
    flows::RepulsiveSettings<double> settings{.lambda1 = 1e-2, .lambda2 = 1e-4};  // median bandwidth, M = 200
    if (function_space) {
      settings.model = &net;
      settings.kernel_inputs = Tensor<double>(xt::view(data.X, xt::range(0, 10), xt::all()));
    }
    auto drle = flows::deep_repulsive_langevin_ensemble<double>(potential, prior, settings,
                                                                init.sample<double>(net.layout(), 128, 3), 1e-2, seed);
    drle.run(100);
    out = drle.particles();
  });
  return out;
}

}  // namespace

TEST_CASE("DRLE on an MLP is bit-identical with 1 and 2 threads, in parameter and in function space") {
  REQUIRE(tbb::this_task_arena::max_concurrency() >= 1);
  for (const bool function_space : {false, true}) {
    CAPTURE(function_space);
    const Tensor<double> one = run_drle(1, function_space, 5), two = run_drle(2, function_space, 5);
    REQUIRE(one.shape()[1] == 193);
    CHECK(xt::all(xt::isfinite(one)));
    CHECK(one == two);  // bitwise
    // Another seed draws other noise and other prior samples, so the comparison above is not vacuous.
    CHECK(one != run_drle(2, function_space, 6));
  }
}
