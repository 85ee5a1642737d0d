// Model::record and Model::pullback_recorded: one forward pass kept for a pullback later (what
// function-space repulsion does for every particle), against predict_into and pullback.
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "autodiff/ops/matmul.hpp"
#include "models/mlp.hpp"
#include "tests/models/network_fixture.hpp"

using namespace wgtest;
using wgflow::models::Model;
using wgflow::models::ParameterLayout;
using wgflow::models::Recording;

namespace {

// A model that writes only what Model requires, f(theta, X) = X theta (one output) as layout() and
// forward(): it exercises Model's own predict, pullback, record and pullback_recorded.
class LinearModel final : public Model<double> {
 public:
  explicit LinearModel(std::size_t inputs) : inputs_(inputs) { layout_.add("theta", Shape{inputs, 1}); }
  std::size_t num_inputs() const override { return inputs_; }
  std::size_t num_outputs() const override { return 1; }
  const ParameterLayout& layout() const override { return layout_; }
  Var<double> forward(std::span<const Var<double>> params, const Var<double>& X) const override {
    return wgflow::ad::matmul(X, params[0]);
  }

 private:
  std::size_t inputs_;
  ParameterLayout layout_;
};

const std::vector<MlpSpec> recorded_specs = {
    {{3, 9, 1}, Activation::relu(), Activation::identity(), true},                // the fused head (UCI shape)
    {{2, 5, 3}, Activation::tanh(), Activation::identity(), true},                // several outputs
    {{3, 4, 4, 2}, Activation::leaky_relu(0.2), Activation::sigmoid(), false},    // deeper, no biases
};

}  // namespace

TEST_CASE("Mlp::record then pullback_recorded: predict_into's outputs and pullback's gradient, bit for bit") {
  std::uint64_t seed = 900;
  for (const MlpSpec& spec : recorded_specs) {
    const Mlp<double> net(spec);
    CAPTURE(net.num_params());
    Recording<double> rec;
    // The same recording reused: a second record() (other theta, other number of rows) replaces the first.
    for (const std::size_t rows : {7, 4}) {
      CAPTURE(rows);
      const std::vector<double> theta = random_theta(net.num_params(), seed++);
      const Tensor<double> X = random_tensor(Shape{rows, spec.widths.front()}, seed++);
      const Tensor<double> U = random_tensor(Shape{rows, spec.widths.back()}, seed++);
      const std::size_t outputs = rows * net.num_outputs();

      std::vector<double> recorded(outputs), predicted(outputs);
      net.record(theta, X, rec, recorded);
      net.predict_into(theta, X, predicted);
      CHECK(recorded == predicted);

      // The thread's own tape is used in between (as the flows' other terms do): the recording is apart.
      std::vector<double> want(net.num_params(), 0.5), got(net.num_params(), 0.5);  // grad += ...
      net.pullback(theta, X, U, want);
      net.pullback_recorded(rec, theta, X, U, got);
      CHECK(got == want);
      // A second pullback through the same recording adds the same product again.
      net.pullback(theta, X, U, want);
      net.pullback_recorded(rec, theta, X, U, got);
      CHECK(got == want);
    }
  }
}

TEST_CASE("Mlp::pullback_recorded refuses a recording that holds no evaluation of these inputs") {
  const Mlp<double> net({{3, 4, 1}, Activation::relu(), Activation::identity(), true});
  const std::vector<double> theta = random_theta(net.num_params(), 1);
  const Tensor<double> X = random_tensor(Shape{5, 3}, 2), U = random_tensor(Shape{5, 1}, 3);
  std::vector<double> grad(net.num_params()), out(5);
  Recording<double> rec;
  CHECK_THROWS_WITH_AS(net.pullback_recorded(rec, theta, X, U, grad),
                       doctest::Contains("the recording holds no evaluation"), wgflow::Error);
  net.record(theta, X, rec, out);
  const Tensor<double> X6 = random_tensor(Shape{6, 3}, 4), U6 = random_tensor(Shape{6, 1}, 5);
  CHECK_THROWS_WITH_AS(net.pullback_recorded(rec, theta, X6, U6, grad), doctest::Contains("at these 6 inputs"),
                       wgflow::Error);
  CHECK_THROWS_WITH_AS(net.pullback_recorded(rec, theta, X, U6, grad), doctest::Contains("cotangent U is 6x1, the outputs are 5x1"),
                       wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(net.record(theta, X, rec, std::span<double>(out.data(), 4)), doctest::Contains("out has 4 values"),
                       wgflow::ShapeError);
  rec.tape.clear();  // a recording whose tape was cleared holds nothing either
  CHECK_THROWS_WITH_AS(net.pullback_recorded(rec, theta, X, U, grad),
                       doctest::Contains("the recording holds no evaluation"), wgflow::Error);
}

TEST_CASE("Model's own record() and pullback_recorded(), from forward() alone: predict() and X^T U, bit for bit") {
  const LinearModel model(3);
  const std::vector<double> theta = {0.5, -1.0, 2.0};
  const Tensor<double> X = random_tensor(Shape{4, 3}, 7), U = random_tensor(Shape{4, 1}, 8);
  Recording<double> rec;
  std::vector<double> recorded(4), grad(3, 0.0), want(3, 0.0);
  model.record(theta, X, rec, recorded);
  CHECK(rec.output.valid());
  const Tensor<double> y = model.predict(theta, X);
  for (std::size_t b = 0; b < 4; ++b) {
    CHECK(recorded[b] == y(b, 0));
    CHECK(y(b, 0) == doctest::Approx(X(b, 0) * 0.5 - X(b, 1) + 2 * X(b, 2)).epsilon(1e-15));
  }
  model.pullback_recorded(rec, theta, X, U, grad);
  model.pullback(theta, X, U, want);
  CHECK(grad == want);
  for (std::size_t j = 0; j < 3; ++j) {  // d <U, X theta> / d theta_j = sum_b U_b X_bj
    double g = 0;
    for (std::size_t b = 0; b < 4; ++b) g += U(b, 0) * X(b, j);
    CHECK(want[j] == doctest::Approx(g).epsilon(1e-14));
  }
}
