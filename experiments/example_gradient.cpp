// The README's first example: a gradient on wgflow's tape, then the same gradient checked against
// finite differences with the public checker. Run: build/experiments/example_gradient
#include <cstdio>

#include <CLI/CLI.hpp>
#include <xtensor/xrandom.hpp>

#include "autodiff/autodiff.hpp"
#include "experiments/common/command_line.hpp"
#include "experiments/common/run_main.hpp"

using namespace wgflow::ad;

namespace {

int example() {
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
  if (!report.ok()) throw wgflow::Error("the gradient check failed (see above)");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  namespace ex = wgflow::experiments;
  return ex::run_main("example_gradient", [&] {
    CLI::App app("A gradient on wgflow's tape, checked against finite differences (README.md)", "example_gradient");
    app.footer("Outputs: no files; prints the gradient and the check's report on stdout.\n\n"
               "Exit status: 0 the gradient check passed; 1 it failed (or an error); 2 usage error.");
    if (const int rc = ex::parse_command_line(app, argc, argv); rc >= 0) return rc;
    return example();
  });
}
