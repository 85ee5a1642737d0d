// A model that is not an Mlp, written as a researcher would: a layout and a forward on the tape from the
// AD core's ops. Model derives its predictions, pullbacks and recordings from that forward, and a
// NetworkPotential trains it against any likelihood, with exact gradients.
#include <cmath>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xview.hpp>

#include "autodiff/ops/activations.hpp"
#include "autodiff/ops/arithmetic.hpp"
#include "autodiff/ops/matmul.hpp"
#include "models/model.hpp"
#include "models/network_potential.hpp"
#include "tests/models/network_fixture.hpp"

using namespace wgtest;
using wgflow::models::Model;
using wgflow::models::NetworkPotential;
using wgflow::models::ParameterLayout;
using wgflow::models::Recording;

// A named namespace: with unity builds this file shares a translation unit with other suites.
namespace custom_model_test {

// f(theta, X) = X W + tanh(X V) U: a linear map with a gated correction (W: d x k, V: d x h, U: h x k).
class GatedLinear final : public Model<double> {
 public:
  GatedLinear(std::size_t d, std::size_t h, std::size_t k) : d_(d), k_(k) {
    layout_.add("linear", Shape{d, k});
    layout_.add("gate.in", Shape{d, h});
    layout_.add("gate.out", Shape{h, k});
  }
  std::size_t num_inputs() const override { return d_; }
  std::size_t num_outputs() const override { return k_; }
  const ParameterLayout& layout() const override { return layout_; }
  Var<double> forward(std::span<const Var<double>> p, const Var<double>& X) const override {
    using namespace wgflow::ad;
    return matmul(X, p[0]) + matmul(tanh(matmul(X, p[1])), p[2]);
  }
  using Model<double>::forward;

 private:
  std::size_t d_, k_;
  ParameterLayout layout_;
};

// The same function written out with loops over the flat theta (blocks in layout order, row-major).
Tensor<double> gated_by_hand(std::size_t d, std::size_t h, std::size_t k, std::span<const double> theta,
                             const Tensor<double>& X) {
  const double* W = theta.data();
  const double* V = W + d * k;
  const double* U = V + d * h;
  Tensor<double> out = xt::zeros<double>({X.shape()[0], k});
  for (std::size_t b = 0; b < X.shape()[0]; ++b) {
    for (std::size_t c = 0; c < k; ++c)
      for (std::size_t i = 0; i < d; ++i) out(b, c) += X(b, i) * W[i * k + c];
    for (std::size_t j = 0; j < h; ++j) {
      double a = 0;
      for (std::size_t i = 0; i < d; ++i) a += X(b, i) * V[i * h + j];
      for (std::size_t c = 0; c < k; ++c) out(b, c) += std::tanh(a) * U[j * k + c];
    }
  }
  return out;
}

}  // namespace custom_model_test

using custom_model_test::GatedLinear;
using custom_model_test::gated_by_hand;

TEST_CASE("a model written as layout() and forward() gets predict, pullback and record from Model") {
  const GatedLinear model(3, 4, 2);
  REQUIRE(model.num_params() == 3 * 2 + 3 * 4 + 4 * 2);
  const std::vector<double> theta = random_theta(model.num_params(), 1);
  const Tensor<double> X = random_tensor(Shape{6, 3}, 2), U = random_tensor(Shape{6, 2}, 3);

  const Tensor<double> y = model.predict(theta, X);
  const Tensor<double> want = gated_by_hand(3, 4, 2, theta, X);
  REQUIRE(y.shape() == want.shape());
  for (std::size_t i = 0; i < y.size(); ++i) CHECK(y.data()[i] == doctest::Approx(want.data()[i]).epsilon(1e-14));

  // The forward's gradient in theta and X against finite differences, through the flat-theta forward.
  const auto report = wgflow::ad::check_gradient(
      [&](Tape<double>&, const Vars& v) { return model.forward(v[0], v[1]); },
      {Tensor<double>(xt::adapt(theta, std::vector<std::size_t>{theta.size(), 1})), X});
  CHECK_MESSAGE(report.ok(), report.message());

  // pullback: grad += d <U, f> / d theta, against fourth-order differences of <U, predict(theta)>.
  std::vector<double> grad(model.num_params(), 0.25);
  model.pullback(theta, X, U, grad);
  const double h = 1e-4;
  for (std::size_t j = 0; j < theta.size(); ++j) {
    auto at = [&](double dx) {
      std::vector<double> t = theta;
      t[j] += dx;
      return xt::sum(U * model.predict(t, X))();
    };
    const double numeric = (at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h);
    CHECK(grad[j] - 0.25 == doctest::Approx(numeric).epsilon(1e-8));
  }

  // A recording: predict_into's values, and pullback's gradient, bit for bit.
  Recording<double> rec;
  std::vector<double> recorded(12), predicted(12), again(model.num_params(), 0.25);
  model.record(theta, X, rec, recorded);
  model.predict_into(theta, X, predicted);
  CHECK(recorded == predicted);
  model.pullback_recorded(rec, theta, X, U, again);
  CHECK(again == grad);
}

TEST_CASE("a custom model backs a NetworkPotential with every likelihood: the batch's loss, exact gradients") {
  const Tensor<double> X = random_tensor(Shape{24, 3}, 5);
  std::uint64_t seed = 10;
  for (const auto& likelihood : all_likelihoods(0.6)) {
    CAPTURE(likelihood->name());
    Tensor<double> Y = random_tensor(Shape{24, likelihood->target_cols(2)}, seed++);
    if (likelihood->task() == wgflow::models::Task::classification)
      for (auto& v : Y) v = v > 0 ? 1.0 : 0.0;
    // Held through the interface: a shared model, as a program choosing its architecture at run time does.
    const std::shared_ptr<const Model<double>> model = std::make_shared<GatedLinear>(3, 4, 2);
    NetworkPotential<double> p(model, likelihood, X, Y, {.batch_size = 10, .seed = 3});
    REQUIRE(p.dim() == model->num_params() + likelihood->num_params());
    CHECK(p.layout().block(0).name == "linear");
    const std::vector<double> theta = random_theta(p.dim(), seed++);
    for (std::uint64_t step : {0u, 2u}) {  // a full batch of 10 and the epoch's last, of 4
      p.begin_step(step);
      std::vector<double> grad(p.dim());
      const double value = p.value_and_gradient(theta, grad);
      Tensor<double> Xb = Tensor<double>::from_shape({p.batch_rows().size(), 3});
      Tensor<double> Yb = Tensor<double>::from_shape({p.batch_rows().size(), Y.shape()[1]});
      for (std::size_t i = 0; i < p.batch_rows().size(); ++i) {
        xt::row(Xb, i) = xt::row(X, p.batch_rows()[i]);
        xt::row(Yb, i) = xt::row(Y, p.batch_rows()[i]);
      }
      CHECK(value == p.loss_on(theta, Xb, Yb));
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
