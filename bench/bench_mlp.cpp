// One SGD training step of an MLP 784-1024-1024-10 (ReLU), batch 256, softmax cross-entropy, on the
// autodiff tape (issue 5, workload 3), and the ratio of its backward to its forward time.
//
//   bench_mlp [shared options, see bench_common.hpp]
//
// The step, as a user writes it with models/mlp.hpp and models/likelihoods.hpp:
//   forward   tape.clear(); blocks = layout.leaves(tape, theta, grad);
//             L = likelihood.loss(net.forward(blocks, X), y, {})
//   backward  tape.backward(L)          (the blocks' adjoints are grad itself: it now holds d L / d theta)
//   update    theta -= eta grad
// Each phase is timed inside every run; the figures are the per-phase medians and the median step.
#include <cstdio>
#include <span>
#include <vector>

#include "bench/bench_common.hpp"
#include "models/initializer.hpp"
#include "models/likelihoods.hpp"
#include "models/mlp.hpp"
#include "core/random.hpp"

namespace {

using namespace wgflow;
namespace wb = wgflow::bench;

double seconds_between(wb::Clock::time_point a, wb::Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

template <class T>
void run(const wb::Options& o) {
  const std::size_t batch = 256, inputs = 784, classes = 10;
  models::Mlp<T> net({.widths = {inputs, 1024, 1024, classes}});
  const models::ParameterLayout& layout = net.layout();
  Tensor<T> theta_init = models::Initializer::torch_default().sample<T>(layout, 1, 1);
  std::vector<T> theta(theta_init.begin(), theta_init.end()), grad(theta.size());
  const models::SoftmaxCrossEntropy<T> likelihood{};
  const T eta = T(1e-3);

  // Synthetic MNIST-shaped batch: pixels uniform in [0, 1), labels uniform over the classes.
  std::vector<T> X(batch * inputs), y(batch);
  Rng rng = Rng::stream(2, 0);
  for (T& x : X) x = static_cast<T>(rng.uniform());
  for (T& label : y) label = static_cast<T>(rng.below(classes));

  std::vector<double> forward, backward, update, total;
  T last_loss = 0;
  auto step = [&] {
    const auto t0 = wb::Clock::now();
    ad::Tape<T>& tape = ad::Tape<T>::local();
    tape.clear();
    const std::span<ad::Var<T>> blocks = layout.leaves(tape, std::span<const T>(theta), std::span<T>(grad));
    const ad::Var<T> x = tape.external(Shape{batch, inputs}, X.data());
    const ad::Var<T> labels = tape.external(Shape{batch, 1}, y.data());
    const ad::Var<T> L = likelihood.loss(net.forward(std::span<const ad::Var<T>>(blocks), x), labels, {});
    const auto t1 = wb::Clock::now();
    tape.backward(L);
    const auto t2 = wb::Clock::now();
    for (std::size_t j = 0; j < theta.size(); ++j) theta[j] -= eta * grad[j];
    const auto t3 = wb::Clock::now();
    last_loss = L.item();
    forward.push_back(seconds_between(t0, t1));
    backward.push_back(seconds_between(t1, t2));
    update.push_back(seconds_between(t2, t3));
    total.push_back(seconds_between(t0, t3));
  };
  const wb::Timing t = wb::time_runs(o, step, 2);
  // time_runs' warm-up runs recorded phases too: drop them.
  for (auto* v : {&forward, &backward, &update, &total}) v->erase(v->begin(), v->begin() + 2);
  const double f = wb::median(forward), b = wb::median(backward), u = wb::median(update);
  std::printf("%-8s %10.2f %10.2f %10.2f %10.2f %10.2f %8.3f %6zu   (loss %.4f)\n", wb::dtype_name<T>(),
              t.median_s * 1e3, f * 1e3, b * 1e3, u * 1e3, 1 / t.median_s, b / f, t.runs,
              static_cast<double>(last_loss));
  wb::emit(o, wb::Record()
                  .set("workload", "mlp_sgd_step")
                  .set("dtype", wb::dtype_name<T>())
                  .set("median_s", t.median_s)
                  .set("min_s", t.min_s)
                  .set("runs", t.runs)
                  .set("steps_per_s", 1 / t.median_s)
                  .set("forward_s", f)
                  .set("backward_s", b)
                  .set("update_s", u)
                  .set("backward_over_forward", b / f));
}

}  // namespace

int main(int argc, char** argv) {
  return wb::run_main("bench_mlp", [&] {
    wb::Options o;
    CLI::App app("wgflow: SGD step of an MLP 784-1024-1024-10, batch 256, softmax cross-entropy");
    wb::add_options(app, o);
    if (!wb::parse(app, argc, argv, o)) return wb::exit_ok;
    const wb::Session session(app.get_description(), o);
    std::printf("%-8s %10s %10s %10s %10s %10s %8s %6s\n", "dtype", "step ms", "fwd ms", "bwd ms", "upd ms", "steps/s",
                "bwd/fwd", "runs");
    if (o.float32()) run<float>(o);
    if (o.float64()) run<double>(o);
    return session.finish();
  });
}
