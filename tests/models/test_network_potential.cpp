#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <span>
#include <vector>

#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include "models/initializer.hpp"
#include "models/network_potential.hpp"
#include "tests/models/network_fixture.hpp"
#include "tests/support/allocation_counter.hpp"

using namespace wgtest;
using wgflow::models::Initializer;
using wgflow::data::LastBatch;
using wgflow::models::Likelihood;
using wgflow::models::NetworkPotential;
using wgflow::models::SoftmaxCrossEntropy;
using wgflow::models::SquaredError;
using wgflow::models::Task;

namespace {

// n rows of inputs and targets fitting `likelihood` for a network with k outputs.
struct Data {
  Tensor<double> X, Y;
};
Data make_data(std::size_t n, std::size_t d, std::size_t k, const Likelihood<double>& likelihood, std::uint64_t seed) {
  Data data{random_tensor(Shape{n, d}, seed), random_tensor(Shape{n, likelihood.target_cols(k)}, seed + 1)};
  if (likelihood.task() == Task::classification)
    for (auto& y : data.Y) y = std::min(std::floor((y + 2) / 4 * k), double(k - 1));  // classes 0..k-1
  return data;
}

Tensor<double> rows_of(const Tensor<double>& A, std::span<const std::size_t> rows) {
  Tensor<double> out = Tensor<double>::from_shape({rows.size(), A.shape()[1]});
  for (std::size_t i = 0; i < rows.size(); ++i) xt::row(out, i) = xt::row(A, rows[i]);
  return out;
}

}  // namespace

TEST_CASE("NetworkPotential minibatches: every row exactly once per epoch, deterministic by seed") {
  const Mlp<double> net({{2, 3, 1}});
  const Data data = make_data(23, 2, 1, SquaredError<double>(), 1);
  NetworkPotential<double> p(net, SquaredError<double>(), data.X, data.Y, {.batch_size = 5, .seed = 9});
  REQUIRE(p.batches_per_epoch() == 5);  // ceil(23 / 5): the last batch (3 rows) is kept
  std::vector<std::vector<std::size_t>> epochs;
  for (std::uint64_t step = 0; step < 15; ++step) {
    if (step % 5 == 0) epochs.emplace_back();
    p.begin_step(step);
    CHECK(p.batch_rows().size() == (step % 5 == 4 ? 3u : 5u));
    epochs.back().insert(epochs.back().end(), p.batch_rows().begin(), p.batch_rows().end());
  }
  for (auto& e : epochs) {
    std::vector<std::size_t> sorted = e;
    std::sort(sorted.begin(), sorted.end());
    std::vector<std::size_t> all(23);
    std::iota(all.begin(), all.end(), std::size_t{0});
    CHECK(sorted == all);
  }
  CHECK(epochs[0] != epochs[1]);  // a fresh permutation each epoch

  // The batch of a step is a pure function of (seed, step): asked out of order, or by another potential.
  NetworkPotential<double> q(net, SquaredError<double>(), data.X, data.Y, {.batch_size = 5, .seed = 9});
  for (std::uint64_t step : {12u, 3u, 7u, 0u, 14u}) {
    q.begin_step(step);
    const std::vector<std::size_t> got(q.batch_rows().begin(), q.batch_rows().end());
    const auto& e = epochs[step / 5];
    CHECK(got == std::vector<std::size_t>(e.begin() + (step % 5) * 5, e.begin() + std::min<std::size_t>((step % 5) * 5 + 5, 23)));
  }
  NetworkPotential<double> other(net, SquaredError<double>(), data.X, data.Y, {.batch_size = 5, .seed = 10});
  other.begin_step(0);
  CHECK(std::vector<std::size_t>(other.batch_rows().begin(), other.batch_rows().end()) !=
        std::vector<std::size_t>(epochs[0].begin(), epochs[0].begin() + 5));

  // Dropping the last partial batch: 4 full batches, 20 distinct rows per epoch.
  NetworkPotential<double> drop(net, SquaredError<double>(), data.X, data.Y,
                                {.batch_size = 5, .seed = 9, .last_batch = LastBatch::drop});
  REQUIRE(drop.batches_per_epoch() == 4);
  std::set<std::size_t> seen;
  for (std::uint64_t step = 0; step < 4; ++step) {
    drop.begin_step(step);
    CHECK(drop.batch_rows().size() == 5);
    seen.insert(drop.batch_rows().begin(), drop.batch_rows().end());
  }
  CHECK(seen.size() == 20);
}

TEST_CASE("NetworkPotential: the loss on the step's minibatch and its exact gradient, for every likelihood") {
  for (const auto& likelihood : all_likelihoods(0.4)) {
    CAPTURE(likelihood->name());
    const Mlp<double> net({{3, 6, 5, 3}, Activation::tanh()});
    const Data data = make_data(40, 3, 3, *likelihood, 2);
    NetworkPotential<double> p(net, likelihood, data.X, data.Y, {.batch_size = 16, .seed = 4});
    REQUIRE(p.dim() == net.num_params() + likelihood->num_params());
    CHECK((likelihood->num_params() == 0 || p.layout().block(p.layout().num_blocks() - 1).name == "noise.log_sigma"));
    const std::vector<double> theta = random_theta(p.dim(), 3);
    for (std::uint64_t step : {0u, 2u, 5u}) {  // batches of 16, 8 (last of epoch 0) and 16 rows
      p.begin_step(step);
      std::vector<double> grad(p.dim(), 123.0);  // overwritten, not accumulated
      const double value = p.value_and_gradient(theta, grad);
      // The value is the loss on exactly the selected rows.
      const Tensor<double> Xb = rows_of(data.X, p.batch_rows()), Yb = rows_of(data.Y, p.batch_rows());
      CHECK(value == doctest::Approx(p.loss_on(theta, Xb, Yb)).epsilon(1e-15));
      // Its gradient against fourth-order differences of the value (truncation ~ h^4 ~ 1e-12, rounding
      // ~ 1e-16 / h ~ 1e-13 at h = 1e-3).
      const double h = 1e-3;
      for (std::size_t j = 0; j < theta.size(); ++j) {
        auto at = [&](double dx) {
          std::vector<double> t = theta;
          t[j] += dx;
          return p.loss_on(t, Xb, Yb);
        };
        const double numeric = (at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h);
        CHECK_MESSAGE(std::abs(grad[j] - numeric) <= 1e-8 * std::max(1.0, std::abs(numeric)),
                      "step " << step << ", parameter " << j << ": " << grad[j] << " vs " << numeric);
      }
    }
  }
}

TEST_CASE("NetworkPotential::value_and_gradient from several TBB threads equals the serial results bitwise") {
  const Mlp<double> net({{8, 50, 1}, Activation::relu()});
  const Data data = make_data(250, 8, 1, SquaredError<double>(), 5);
  NetworkPotential<double> p(net, wgflow::models::GaussianNllLearnedNoise<double>(), data.X, data.Y, {.batch_size = 100, .seed = 1});
  const std::size_t N = 48, J = p.dim();
  Tensor<double> particles = Initializer::torch_default().sample<double>(p.layout(), N, 17);
  for (std::uint64_t step = 0; step < 4; ++step) {
    CAPTURE(step);
    p.begin_step(step);
    std::vector<double> serial_value(N), serial_grad(N * J), parallel_value(N), parallel_grad(N * J);
    for (std::size_t i = 0; i < N; ++i)
      serial_value[i] = p.value_and_gradient(std::span<const double>(particles.data() + i * J, J),
                                             std::span<double>(serial_grad.data() + i * J, J));
    tbb::task_arena arena(4);  // more threads than the CI's 2 cores: interleavings are forced
    arena.execute([&] {
      tbb::parallel_for(std::size_t{0}, N, [&](std::size_t i) {
        parallel_value[i] = p.value_and_gradient(std::span<const double>(particles.data() + i * J, J),
                                                 std::span<double>(parallel_grad.data() + i * J, J));
      });
    });
    CHECK(std::memcmp(serial_value.data(), parallel_value.data(), N * sizeof(double)) == 0);
    CHECK(std::memcmp(serial_grad.data(), parallel_grad.data(), N * J * sizeof(double)) == 0);
  }
}

TEST_CASE("NetworkPotential::value_and_gradient allocates nothing in steady state (8-50-1, batch 100)") {
  for (const auto& likelihood : all_likelihoods(0.5)) {
    CAPTURE(likelihood->name());
    const Mlp<double> net({{8, 50, 2}, Activation::relu()});
    const Data data = make_data(300, 8, 2, *likelihood, 6);
    NetworkPotential<double> p(net, likelihood, data.X, data.Y, {.batch_size = 100, .seed = 2});
    const Tensor<double> sampled = Initializer::torch_default().sample<double>(p.layout(), 1, 3);
    const std::vector<double> theta(sampled.begin(), sampled.end());
    std::vector<double> grad(p.dim());
    for (std::uint64_t step = 0; step < 3; ++step) {  // warm up the tape's arena and node list
      p.begin_step(step);
      p.value_and_gradient(theta, grad);
    }
    std::size_t counted = 0;
    for (std::uint64_t step = 3; step < 9; ++step) {
      p.begin_step(step);  // a new epoch's permutation may allocate; only the per-particle path is counted
      counted += allocations_during([&] { p.value_and_gradient(theta, grad); });
    }
    CHECK(counted == 0);
  }
}

TEST_CASE("NetworkPotential refuses non-finite inputs or targets, naming the entry, at construction and in loss_on") {
  const Mlp<double> net({{3, 4, 1}});
  const Data data = make_data(10, 3, 1, SquaredError<double>(), 6);
  Tensor<double> X = data.X, Y = data.Y;
  X(7, 2) = std::nan("");
  CHECK_THROWS_WITH_AS(NetworkPotential<double>(net, SquaredError<double>(), X, data.Y),
                       "NetworkPotential: inputs X (10x3) has a non-finite entry at row 7, column 2 (nan)",
                       wgflow::DataError);
  Y(4, 0) = -INFINITY;
  CHECK_THROWS_WITH_AS(NetworkPotential<double>(net, SquaredError<double>(), data.X, Y),
                       "NetworkPotential: targets Y (10x1) has a non-finite entry at row 4, column 0 (-inf)",
                       wgflow::DataError);
  const NetworkPotential<double> p(net, SquaredError<double>(), data.X, data.Y);
  const std::vector<double> theta(p.dim(), 0.1);
  CHECK(std::isfinite(p.loss_on(theta, data.X, data.Y)));
  CHECK_THROWS_WITH_AS(p.loss_on(theta, X, data.Y), doctest::Contains("NetworkPotential::loss_on: inputs X (10x3)"),
                       wgflow::DataError);
  CHECK_THROWS_WITH_AS(p.loss_on(theta, data.X, Y), doctest::Contains("loss_on: targets Y (10x1) has a non-finite"),
                       wgflow::DataError);
}

TEST_CASE("NetworkPotential rejects data and parameters that do not fit, naming the shapes") {
  const Mlp<double> net({{3, 4, 2}});
  CHECK_THROWS_WITH_AS(NetworkPotential<double>(net, SquaredError<double>(), Tensor<double>::from_shape({10, 3}),
                                                Tensor<double>::from_shape({10, 1})),
                       doctest::Contains("inputs are 10x3 and targets 10x1"), wgflow::ShapeError);
  CHECK_THROWS_AS(NetworkPotential<double>(net, SquaredError<double>(), Tensor<double>::from_shape({10, 4}),
                                           Tensor<double>::from_shape({10, 2})),
                  wgflow::ShapeError);
  CHECK_THROWS_AS(NetworkPotential<double>(net, SquaredError<double>(), Tensor<double>::from_shape({10, 3}),
                                           Tensor<double>::from_shape({9, 2})),
                  wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(NetworkPotential<double>(net, SoftmaxCrossEntropy<double>(), Tensor<double>::from_shape({10, 3}),
                                                Tensor<double>::from_shape({10, 2})),
                       doctest::Contains("the likelihood softmax_cross_entropy expects 1 target columns"),
                       wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(NetworkPotential<double>(std::shared_ptr<const wgflow::models::Model<double>>(),
                                                SquaredError<double>(), Tensor<double>::from_shape({10, 3}),
                                                Tensor<double>::from_shape({10, 2})),
                       doctest::Contains("a null model or likelihood"), wgflow::Error);
  NetworkPotential<double> p(net, SoftmaxCrossEntropy<double>(), xt::zeros<double>({10, 3}), xt::zeros<double>({10, 1}),
                             {.batch_size = 4});
  std::vector<double> theta(p.dim() - 1), grad(p.dim());
  CHECK_THROWS_WITH_AS(p.value_and_gradient(theta, grad), doctest::Contains("25 entries, the potential has 26"),
                       wgflow::ShapeError);
}
