// The README's first example: a gradient on wgflow's tape, then the same gradient checked against
// finite differences with the public checker. Run: build/experiments/example_gradient
#include <cstdio>

#include <xtensor/xrandom.hpp>

#include "autodiff/autodiff.hpp"

using namespace wgflow::ad;

int main() {
  Tape<double> tape;
  auto w = tape.variable(Tensor<double>{{0.5, -1.0, 2.0}});        // 1x3, a leaf with a gradient
  auto x = tape.constant(Tensor<double>{{1.0}, {2.0}, {-0.5}});   // 3x1, no gradient
  auto loss = sum(square(tanh(matmul(w, x))));                     // 1x1
  tape.backward(loss);
  std::printf("loss %.6f, dloss/dw = (%.6f, %.6f, %.6f)\n", loss.item(), w.adj()(0, 0), w.adj()(0, 1), w.adj()(0, 2));

  // The same function of (w, x), checked at random points over both inputs.
  xt::random::seed(1);
  const GradCheckReport report = check_gradient(
      [](Tape<double>&, const auto& v) { return sum(square(tanh(matmul(v[0], v[1])))); },
      {xt::random::randn<double>({1, 3}), xt::random::randn<double>({3, 1})});
  std::printf("%s", report.message().c_str());
  return report.ok() ? 0 : 1;
}
