// The classification experiment: the likelihood it defines in its own folder (its values by hand, its
// gradient by the public checker, its predictions, no heap in a training step), and the program end to end at a tiny size (files,
// columns, results, the same numbers for any thread count, and the moons classified).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "autodiff/gradient_check.hpp"
#include "experiments/classification/robust_softmax.hpp"
#include "experiments/classification/two_moons.hpp"
#include "models/initializer.hpp"
#include "models/likelihoods.hpp"
#include "models/mlp.hpp"
#include "models/network_potential.hpp"
#include "tests/experiments/program_runner.hpp"
#include "tests/support/allocation_counter.hpp"

namespace fs = std::filesystem;
using wgflow::Shape;
using wgflow::Tensor;
using wgflow::ad::Tape;
using wgflow::ad::Var;
using wgflow::experiments::classification::RobustSoftmax;

namespace classification_test {

// Logits spread over [-3, 3] and labels 0..K-1, fixed.
Tensor<double> logits() {
  return Tensor<double>{{0.5, -1.0, 2.0}, {-3.0, 0.0, 1.0}, {1.5, 1.4, -0.2}, {0.0, 0.0, 0.0}, {2.5, -2.5, 0.3}};
}
Tensor<double> labels() { return Tensor<double>{{2.0}, {0.0}, {1.0}, {1.0}, {1.0}}; }

int run(const std::string& args, const fs::path& out, int threads = 1) {
  const std::string command = std::string(WGFLOW_CLASSIFICATION_BIN) + " --threads " + std::to_string(threads) +
                              " --out " + out.string() + " " + args + " 2>/dev/null";
  INFO("command: " << command);
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string slurp(const fs::path& file) {
  std::ifstream in(file);
  REQUIRE_MESSAGE(in, "missing " << file);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace classification_test

using classification_test::labels;
using classification_test::logits;
using wgtest::TempFolder;

TEST_CASE("the robust softmax: -(1/B) sum_i log((1 - eps) softmax_y + eps / K), by hand") {
  const Tensor<double> Z = logits(), y = labels();
  for (const double eps : {0.0, 0.1, 0.4}) {
    CAPTURE(eps);
    double want = 0;
    for (std::size_t i = 0; i < 5; ++i) {
      double total = 0;
      for (std::size_t c = 0; c < 3; ++c) total += std::exp(Z(i, c));
      const double p = std::exp(Z(i, static_cast<std::size_t>(y(i, 0)))) / total;
      want -= std::log((1 - eps) * p + eps / 3);
    }
    Tape<double> tape;
    const double got = RobustSoftmax<double>(eps).loss(tape.constant(Z), tape.constant(y), {}).item();
    CHECK(got == doctest::Approx(want / 5).epsilon(1e-14));
  }
  // eps = 0 is the library's cross-entropy.
  Tape<double> tape;
  const wgflow::models::SoftmaxCrossEntropy<double> softmax;
  const double plain = softmax.loss(tape.constant(Z), tape.constant(y), {}).item();
  CHECK(RobustSoftmax<double>(0.0).loss(tape.constant(Z), tape.constant(y), {}).item() ==
        doctest::Approx(plain).epsilon(1e-14));
}

TEST_CASE("the robust softmax's gradient passes the public gradient checker") {
  for (const double eps : {0.05, 0.3}) {
    CAPTURE(eps);
    const RobustSoftmax<double> robust(eps);
    const auto report = wgflow::ad::check_gradient(
        [&](Tape<double>& tape, const std::vector<Var<double>>& v) {
          return robust.loss(v[0], tape.constant(labels()), {});
        },
        {logits()});
    CHECK_MESSAGE(report.ok(), report.message());
  }
}

TEST_CASE("the robust softmax predicts (1 - eps) softmax + eps / K and refuses bad labels and rates") {
  const RobustSoftmax<double> robust(0.3);
  CHECK(robust.task() == wgflow::models::Task::classification);
  CHECK(robust.target_cols(3) == 1);
  const Tensor<double> P = robust.predictive_mean(Tensor<double>{{0.0, std::log(3.0)}, {800.0, -800.0}}, {});
  CHECK(P(0, 0) == doctest::Approx(0.7 * 0.25 + 0.15).epsilon(1e-15));
  CHECK(P(0, 1) == doctest::Approx(0.7 * 0.75 + 0.15).epsilon(1e-15));
  CHECK(P(1, 0) == doctest::Approx(0.85).epsilon(1e-15));
  CHECK(P(1, 1) == doctest::Approx(0.15).epsilon(1e-15));  // the floor eps / K
  CHECK_THROWS_WITH_AS(RobustSoftmax<double>(1.0), doctest::Contains("must be in [0, 1)"), wgflow::Error);
  Tape<double> tape;
  CHECK_THROWS_WITH_AS(robust.loss(tape.constant(logits()), tape.constant(Tensor<double>{{0}, {1}, {3}, {0}, {1}}), {}),
                       doctest::Contains("label in row 2 is 3"), wgflow::Error);
  CHECK_THROWS_WITH_AS(robust.loss(tape.constant(logits()), tape.constant(Tensor<double>::from_shape({5, 2})), {}),
                       doctest::Contains("labels are 5x2, expected 5x1"), wgflow::ShapeError);
}

TEST_CASE("a NetworkPotential under the robust softmax allocates nothing in steady state (2-32-32-2, batch 50)") {
  const auto moons = wgflow::experiments::classification::two_moons(200, 0.15, 0.0, 1, 0);
  const wgflow::models::Mlp<double> net({.widths = {2, 32, 32, 2}});
  wgflow::models::NetworkPotential<double> p(net, RobustSoftmax<double>(0.1), moons.X, moons.y, {.batch_size = 50});
  const Tensor<double> sampled = wgflow::models::Initializer::torch_default().sample<double>(p.layout(), 1, 3);
  const std::vector<double> theta(sampled.begin(), sampled.end());
  std::vector<double> grad(p.dim());
  for (std::uint64_t step = 0; step < 3; ++step) {  // warm up the tape's arena and node list
    p.begin_step(step);
    p.value_and_gradient(theta, grad);
  }
  std::size_t counted = 0;
  for (std::uint64_t step = 3; step < 9; ++step) {
    p.begin_step(step);  // a new epoch's permutation may allocate; only the per-particle path is counted
    counted += wgtest::allocations_during([&] { p.value_and_gradient(theta, grad); });
  }
  CHECK(counted == 0);
}

TEST_CASE("two moons: balanced, the same rows for the same seed, labels flipped at the given rate") {
  const auto a = wgflow::experiments::classification::two_moons(1000, 0.1, 0.0, 3, 0);
  const auto b = wgflow::experiments::classification::two_moons(10, 0.1, 0.0, 3, 0);
  CHECK(a.X(7, 0) == b.X(7, 0));  // row i depends on (seed, split, i) only
  CHECK(wgflow::experiments::classification::two_moons(10, 0.1, 0.0, 3, 1).X(7, 0) != b.X(7, 0));
  double ones = 0;
  for (double v : a.y) ones += v;
  CHECK(ones == 500);
  CHECK(a.flipped == 0);
  const auto noisy = wgflow::experiments::classification::two_moons(1000, 0.1, 0.2, 3, 0);
  CHECK(noisy.flipped > 150);
  CHECK(noisy.flipped < 250);
}

TEST_CASE("classification: files, columns and results; the moons classified; any thread count") {
  TempFolder one("classification_1"), two("classification_2");
  const std::string args = "--particles 4 --train 100 --test 200 --steps 600 --grid 11 --kernel-grid 3";
  REQUIRE(classification_test::run(args, one.path(), 1) == 0);
  REQUIRE(classification_test::run(args, two.path(), 2) == 0);
  CHECK(classification_test::slurp(one.path() / "entropy.csv") == classification_test::slurp(two.path() / "entropy.csv"));
  CHECK(classification_test::slurp(one.path() / "metrics.csv") == classification_test::slurp(two.path() / "metrics.csv"));

  const std::string entropy = classification_test::slurp(one.path() / "entropy.csv");
  CHECK(entropy.rfind("method,x1,x2,p1,entropy\n", 0) == 0);
  std::size_t lines = 0;
  for (char c : entropy) lines += c == '\n';
  CHECK(lines == 1 + 5 * 11 * 11);  // header, then five methods x the grid
  CHECK(classification_test::slurp(one.path() / "data.csv").rfind("split,x1,x2,label\n", 0) == 0);
  CHECK(classification_test::slurp(one.path() / "metrics.csv").rfind("method,likelihood,accuracy,nll,ece,entropy_near,entropy_far\n", 0) == 0);

  const auto results = nlohmann::json::parse(classification_test::slurp(one.path() / "meta.json"))["results"];
  for (const char* method : {"DE", "DLE", "DRLE", "SVGD", "DE robust"}) {
    CAPTURE(method);
    REQUIRE(results.contains(method));
    const auto& r = results[method];
    // 600 steps already separate the moons.
    CHECK(r["test_accuracy"].get<double>() >= 0.9);
    CHECK(r["test_nll"].get<double>() > 0);
    CHECK(r["test_ece"].get<double>() >= 0);
    CHECK(r["entropy_far_from_data"].get<double>() <= std::log(2.0) + 1e-12);
  }
  CHECK(results["DE robust"]["likelihood"] == "robust_softmax(eps=0.100000)");
  CHECK(results["DE"]["likelihood"] == "softmax_cross_entropy");
}
