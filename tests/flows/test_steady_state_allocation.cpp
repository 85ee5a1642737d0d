// Steady-state training steps allocate nothing on the heap (issue 5). A DRLE step at N = 300 used to
// allocate several N x N matrices, which glibc serves above 128 KiB with mmap and returns with munmap:
// the page faults cost as much CPU as the computation. The flows now keep every per-step matrix as a
// member, resized only when the number of particles changes.
//
// Allocations are counted by tests/support/allocation_counter.hpp: operator new and posix_memalign (every
// xtensor container), on every thread.
//
// The flows' steps run on one thread here (a one-thread task arena). Each thread keeps its own tape and
// GEMM buffers, made at its first task that needs them, and which thread takes a task (a particle, or a
// whole free-energy term, which ParticleFlow runs concurrently) is the scheduler's choice: on two threads
// a worker may meet a kind of task for the first time after any warm-up (3 allocations in 6 runs of 30
// for the parameter-space DRLE case; none in 30 after 200 warm-up steps). One thread's steady state is
// every thread's.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include <tbb/task_arena.h>

#include "flows/flows.hpp"
#include "flows/mean_field_vi.hpp"
#include "flows/svgd.hpp"
#include "models/likelihoods.hpp"
#include "models/mlp.hpp"
#include "models/network_potential.hpp"
#include "models/prior.hpp"
#include "models/toy_potentials.hpp"
#include "tests/support/allocation_counter.hpp"


using namespace wgflow;
using wgtest::allocations_during;
using wgflow::Tensor;

TEST_CASE("the allocation counter sees tensors and vectors (so the zero counts below can fail)") {
  // The results escape into outer variables, so that the compiler cannot elide the allocations.
  Tensor<double> t;
  std::vector<double> v;
  CHECK(allocations_during([&] { t = Tensor<double>::from_shape({3, 3}); }) >= 1);
  CHECK(allocations_during([&] { v.resize(5); }) >= 1);
  Tensor<double> a = xt::ones<double>({4, 4}), b = xt::ones<double>({4, 4});
  CHECK(allocations_during([&] { a += b; }) >= 1);  // xtensor's += evaluates into a temporary first
}

TEST_CASE("DRLE steps in parameter space allocate nothing in steady state (N = 50, J = 10)") {
  const std::size_t N = 50, J = 10;
  auto loss = models::double_well<double>(J);
  const auto prior = models::GaussianPrior<double>::isotropic(J, 1.0);
  const Tensor<double> init = prior.sample(N, 3);
  // The median bandwidth (estimated at steps 0-4, then frozen: the default) and the rolling median (a
  // new median of the N x N distances every step); M = 200 prior samples, so the particle-particle
  // and particle-prior matrices have different shapes.
  for (const auto& bandwidth : {flows::Bandwidth<double>::median(), flows::Bandwidth<double>::rolling_median()}) {
    CAPTURE(bandwidth.describe());
    auto flow = flows::deep_repulsive_langevin_ensemble(loss, prior, init, {.bandwidth = bandwidth, .eta = 1e-3, .seed = 7});
    tbb::task_arena one_thread(1);
    one_thread.execute([&] {
      // The first step sizes every buffer (and shows that the counter sees the flow's allocations); then
      // past the median rule's estimation steps.
      CHECK(allocations_during([&] { flow.step(); }) > 0);
      flow.run(5);
      CHECK(allocations_during([&] {
              for (int s = 0; s < 5; ++s) flow.step();
            }) == 0);
    });
    CHECK(flow.steps_taken() == 11);
  }
}

TEST_CASE("DE and DLE steps allocate nothing in steady state (N = 50, J = 10)") {
  const std::size_t N = 50, J = 10;
  auto loss = models::double_well<double>(J);
  const auto prior = models::GaussianPrior<double>::isotropic(J, 1.0);
  for (const bool langevin : {false, true}) {
    CAPTURE(langevin);
    auto flow = langevin ? flows::deep_langevin_ensemble(loss, prior, prior.sample(N, 3), {.eta = 1e-3, .seed = 7})
                         : flows::deep_ensemble(loss, prior.sample(N, 3), {.eta = 1e-3});
    tbb::task_arena one_thread(1);
    one_thread.execute([&] {
      CHECK(allocations_during([&] { flow.step(); }) > 0);  // the first step sizes every buffer
      CHECK(allocations_during([&] {
              for (int s = 0; s < 5; ++s) flow.step();
            }) == 0);
    });
    CHECK(flow.steps_taken() == 6);
  }
}

TEST_CASE("SVGD steps allocate nothing in steady state (N = 50, J = 10), with Sgd and Adam") {
  const std::size_t N = 50, J = 10;
  auto loss = models::double_well<double>(J);
  const auto prior = models::GaussianPrior<double>::isotropic(J, 1.0);
  // The rolling median (a new median of the N x N distances every step, the default) and the median
  // frozen after 5 steps.
  for (const auto& bandwidth : {flows::Bandwidth<double>::rolling_median(0.0), flows::Bandwidth<double>::median()}) {
    for (const bool adam : {false, true}) {
      CAPTURE(bandwidth.describe());
      CAPTURE(adam);
      auto svgd = adam ? flows::svgd(loss, prior, prior.sample(N, 5), {.bandwidth = bandwidth})
                       : flows::svgd(loss, prior, prior.sample(N, 5), {.bandwidth = bandwidth, .optimizer = flows::Sgd<double>{1e-3}});
      tbb::task_arena one_thread(1);
      one_thread.execute([&] {
        CHECK(allocations_during([&] { svgd.step(); }) > 0);
        svgd.run(5);
        CHECK(allocations_during([&] {
                for (int s = 0; s < 5; ++s) svgd.step();
              }) == 0);
      });
      CHECK(svgd.steps_taken() == 11);
    }
  }
}

TEST_CASE("DRLE steps in function space allocate nothing in steady state (MLP 3-8-2, N = 20, 16 kernel inputs)") {
  const models::Mlp<double> net({.widths = {3, 8, 2}});
  const std::size_t J = net.num_params();
  auto loss = models::double_well<double>(J);
  const auto prior = models::GaussianPrior<double>::isotropic(J, 1.0);
  auto flow = flows::deep_repulsive_langevin_ensemble(
      loss, prior, prior.sample(20, 3),
      {.model = &net,
       .kernel_inputs = models::GaussianPrior<double>::isotropic(3, 1.0).sample(16, 9),  // 16 x 3 inputs
       .eta = 1e-3, .seed = 7});
  // On one thread (see the top): with another process running, a worker that first joined after the
  // warm-up made 9 allocations in 1 run of 60.
  tbb::task_arena one_thread(1);
  one_thread.execute([&] {
    CHECK(allocations_during([&] { flow.step(); }) > 0);
    flow.run(5);  // past the median bandwidth's estimation steps
    CHECK(allocations_during([&] {
            for (int s = 0; s < 5; ++s) flow.step();
          }) == 0);
  });
}

TEST_CASE("mean-field VI steps allocate nothing in steady state (N = 8 members, J = 10, S = 3 draws)") {
  const std::size_t N = 8, J = 10;
  auto loss = models::double_well<double>(J);
  const auto prior = models::GaussianPrior<double>::isotropic(J, 1.0);
  for (const bool adam : {true, false}) {
    CAPTURE(adam);
    auto vi = adam ? flows::mean_field_vi(loss, prior, prior.sample(N, 5), {.lambda = 1.0, .samples = 3, .seed = 11})
                   : flows::mean_field_vi(loss, prior, prior.sample(N, 5),
                                          {.lambda = 1.0, .samples = 3, .optimizer = flows::Sgd<double>{1e-3}, .seed = 11});
    tbb::task_arena one_thread(1);
    one_thread.execute([&] {
      CHECK(allocations_during([&] { vi.step(); }) > 0);  // the first step sizes the members' work rows
      CHECK(allocations_during([&] {
              for (int s = 0; s < 5; ++s) vi.step();
            }) == 0);
    });
    CHECK(vi.steps_taken() == 6);
  }
}

TEST_CASE("DE steps on a classifier's NetworkPotential allocate nothing in steady state (MLP 2-16-16-2, N = 8)") {
  // The potential records the model's forward and the likelihood's loss on each thread's tape: both keep
  // their scratch there, through the Model and Likelihood interfaces.
  const std::size_t n = 60;
  const Tensor<double> X = models::GaussianPrior<double>::isotropic(2, 1.0).sample(n, 1);
  Tensor<double> y = Tensor<double>::from_shape({n, 1});
  for (std::size_t i = 0; i < n; ++i) y(i, 0) = X(i, 0) > X(i, 1) ? 1.0 : 0.0;
  const models::Mlp<double> net({.widths = {2, 16, 16, 2}});
  models::NetworkPotential<double> potential(net, models::SoftmaxCrossEntropy<double>(), X, y, {.batch_size = 20});
  const auto prior = models::GaussianPrior<double>::isotropic(potential.dim(), 0.1);
  auto flow = flows::deep_ensemble(potential, prior.sample(8, 3), {.eta = 1e-2});
  tbb::task_arena one_thread(1);
  one_thread.execute([&] {
    CHECK(allocations_during([&] { flow.step(); }) > 0);  // the first step sizes every buffer
    flow.run(5);  // past the first epoch (3 batches), whose permutation is drawn at its first step
    CHECK(allocations_during([&] {
            for (int s = 0; s < 6; ++s) flow.step();
          }) == 0);
  });
}
