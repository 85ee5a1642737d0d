// Same seed, 1, 2 or 4 threads: every method of the one integrator (DE, DLE, DRLE in parameter and in
// function space, SVGD, mean-field VI) trained on a network is bit-identical after 100 steps. The sizes
// are chosen so that every parallel path runs: the particles' potential gradients (one task per particle
// or member), the terms concurrently with the noise, the embeddings and pullbacks, the kernel matrices
// (rows in parallel) and the N x N x J distance and kernel GEMMs, which at 128 x 128 x 193 = 3.2e6
// multiply-adds are above core/gemm.hpp's threshold for sharing a product among threads.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include <tbb/global_control.h>
#include <tbb/task_arena.h>
#include <xtensor/xview.hpp>

#include "flows/flows.hpp"
#include "tests/flows/flow_fixture.hpp"

using namespace wgflow;
using wgflow::Tensor;

namespace {

enum class Threaded { de, dle, drle, drle_function_space, svgd, mfvi };

const char* threaded_name(Threaded m) {
  switch (m) {
    case Threaded::de: return "DE";
    case Threaded::dle: return "DLE";
    case Threaded::drle: return "DRLE";
    case Threaded::drle_function_space: return "DRLE in function space";
    case Threaded::svgd: return "SVGD";
    case Threaded::mfvi: return "mean-field VI";
  }
  return "?";
}

// The method's flow on a 1-64-1 tanh network (J = 193), minibatches of 20 of 40 points.
flows::ParticleFlow<double> threaded_flow(Threaded method, wgtest::SinRegression& data, std::uint64_t seed) {
  const Tensor<double> init = data.particles(128, 3);
  switch (method) {
    case Threaded::de:
      return flows::deep_ensemble(data.potential, init, {.eta = 1e-2, .seed = seed});
    case Threaded::dle:
      return flows::deep_langevin_ensemble(data.potential, data.prior, init, {.lambda = 1e-4, .eta = 1e-2, .seed = seed});
    case Threaded::drle:  // median bandwidth, M = 200 prior samples
      return flows::deep_repulsive_langevin_ensemble(data.potential, data.prior, init,
                                                     {.lambda1 = 1e-2, .lambda2 = 1e-4, .eta = 1e-2, .seed = seed});
    case Threaded::drle_function_space:
      return flows::deep_repulsive_langevin_ensemble(
          data.potential, data.prior, init,
          {.lambda1 = 1e-2, .lambda2 = 1e-4, .model = &data.net,
           .kernel_inputs = Tensor<double>(xt::view(data.X, xt::range(0, 10), xt::all())), .eta = 1e-2, .seed = seed});
    case Threaded::svgd:  // rolling median bandwidth, Adam
      return flows::svgd(data.potential, data.prior, init, {.lambda = 1e-2, .optimizer = flows::Adam<double>{.eta = 1e-3}, .seed = seed});
    case Threaded::mfvi:  // 16 members, 2 reparameterised draws each per step, Adam
      return flows::mean_field_vi(data.potential, data.prior, data.particles(16, 3),
                                  {.lambda = 1e-2, .samples = 2, .initial_sd = 0.05, .seed = seed});
  }
  throw Error("unknown method");
}

// The particles after 100 steps (and, if `start` is given, before the first) with TBB limited to `threads`
// workers, both by a global_control (which also caps the GEMM's thread count) and by an explicit arena
// of that width.
Tensor<double> run_threaded(Threaded method, std::size_t threads, std::uint64_t seed, Tensor<double>* start = nullptr) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
  tbb::task_arena arena(static_cast<int>(threads));
  Tensor<double> out;
  arena.execute([&] {
    wgtest::SinRegression data;
    auto flow = threaded_flow(method, data, seed);
    if (start) *start = flow.particles();
    flow.run(100);
    out = flow.particles();
  });
  return out;
}

}  // namespace

TEST_CASE("every method on an MLP is bit-identical with 1, 2 and 4 threads") {
  REQUIRE(tbb::this_task_arena::max_concurrency() >= 1);
  for (const Threaded method :
       {Threaded::de, Threaded::dle, Threaded::drle, Threaded::drle_function_space, Threaded::svgd, Threaded::mfvi}) {
    CAPTURE(std::string(threaded_name(method)));
    Tensor<double> start;
    const Tensor<double> one = run_threaded(method, 1, 5, &start);
    REQUIRE(one.shape()[1] == (method == Threaded::mfvi ? 2 * 193 : 193));
    CHECK(xt::all(xt::isfinite(one)));
    CHECK(xt::amax(xt::abs(one - start))() > 1e-3);  // the flow moved
    CHECK(one == run_threaded(method, 2, 5));  // bitwise
    CHECK(one == run_threaded(method, 4, 5));
    // Another seed draws other noise (DLE, DRLE), other prior samples (DRLE) and other reparameterised
    // draws (mean-field VI), so the comparisons above are not vacuous; DE and SVGD are deterministic.
    if (method != Threaded::de && method != Threaded::svgd) CHECK(one != run_threaded(method, 2, 6));
  }
}
