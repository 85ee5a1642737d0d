// The dense layer node (models/dense.hpp): act(X W + b) as one node for the piecewise-linear
// activations, as an affine node then an activation node for the others. Both paths are checked the
// same way: values against a direct computation, gradients against finite differences.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "models/dense.hpp"
#include "tests/models/network_fixture.hpp"

using namespace wgtest;
using wgflow::models::dense;

namespace {

const std::vector<Activation> activations = {Activation::identity(),      Activation::relu(),
                                             Activation::leaky_relu(0.2), Activation::tanh(),
                                             Activation::sigmoid(),       Activation::softplus()};

// 1 x 1 everywhere; a general layer; a width past one GEMM tile (NR = 16 floats or 8 doubles) and not a
// multiple of it; a layer of one output, whose products take the matrix-vector paths.
const std::vector<std::vector<Shape>> layer_shapes = {
    {{1, 1}, {1, 1}, {1, 1}}, {{5, 3}, {3, 4}, {1, 4}}, {{7, 2}, {2, 19}, {1, 19}}, {{6, 4}, {4, 1}, {1, 1}}};

Tensor<double> activate_all(const Activation& act, Tensor<double> a) {
  for (double& v : a) v = activate(act, v);
  return a;
}

// check_op's test for dense, at three random points per shape set. For relu and leaky relu the points
// are redrawn until every pre-activation is at least 0.05 from the kink: the checker's central differences
// move a pre-activation by well under that, and a difference straddling the kink is meaningless.
void check_dense(const Activation& act, bool bias) {
  const bool kinked = act.kind() == Activation::Kind::relu || act.kind() == Activation::Kind::leaky_relu;
  std::uint64_t seed = 1;
  for (const auto& shapes : layer_shapes) {
    CAPTURE(shapes[1]);
    for (int point = 0; point < 3; ++point) {
      Values x;
      Tensor<double> pre;
      for (int attempt = 0;; ++attempt) {
        REQUIRE(attempt < 100);
        x = {random_tensor(shapes[0], seed++), random_tensor(shapes[1], seed++), random_tensor(shapes[2], seed++)};
        pre = dot(x[0], x[1]);
        if (bias) pre += x[2];
        if (!kinked || xt::amin(xt::abs(pre))() >= 0.05) break;
      }
      if (!bias) x.pop_back();
      auto op = [&](Tape<double>&, const Vars& v) { return bias ? dense(v[0], v[1], v[2], act) : dense(v[0], v[1], act); };
      Tape<double> tape;
      Vars vars;
      for (const auto& t : x) vars.push_back(tape.variable(t));
      CHECK(xt::allclose(op(tape, vars).val(), activate_all(act, pre), 1e-12, 1e-12));
      const auto report = wgflow::ad::check_gradient(op, x);
      CHECK_MESSAGE(report.ok(), report.message());
    }
  }
}

}  // namespace

TEST_CASE("dense(X, W, b, act) equals act(X W + b), and its gradient passes the check, for every activation") {
  for (const Activation& act : activations) {
    CAPTURE(act.name());
    check_dense(act, /*bias=*/true);
  }
}

TEST_CASE("dense(X, W, act) without a bias, for every activation") {
  for (const Activation& act : activations) {
    CAPTURE(act.name());
    check_dense(act, /*bias=*/false);
  }
}

TEST_CASE("dense with constant inputs or weights gives the same gradients to the variables") {
  const Tensor<double> X = random_tensor({6, 3}, 1), W = random_tensor({3, 5}, 2), b = random_tensor({1, 5}, 3);
  const Tensor<double> U = random_tensor({6, 5}, 4);
  for (const Activation& act : {Activation::relu(), Activation::tanh()}) {
    CAPTURE(act.name());
    Tape<double> all;
    auto x = all.variable(X), w = all.variable(W), c = all.variable(b);
    all.backward(dense(x, w, c, act), U);

    Tape<double> data;  // X a constant: the inputs of a first layer
    auto w2 = data.variable(W), c2 = data.variable(b);
    data.backward(dense(data.constant(X), w2, c2, act), U);
    CHECK(w2.adj() == w.adj());
    CHECK(c2.adj() == c.adj());

    Tape<double> frozen;  // W and b constants: the gradient with respect to the inputs alone
    auto x3 = frozen.variable(X);
    frozen.backward(dense(x3, frozen.constant(W), frozen.constant(b), act), U);
    CHECK(x3.adj() == x.adj());

    Tape<double> none;  // nothing to differentiate: the output carries no gradient
    CHECK_FALSE(dense(none.constant(X), none.constant(W), none.constant(b), act).needs_grad());
  }
}

TEST_CASE("the fused relu and leaky relu keep the conventions of ad::relu and ad::leaky_relu") {
  // Pre-activations -1, 0 (the kink), 2 and NaN, from X = 1 and b = 0.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const Activation& act : {Activation::relu(), Activation::leaky_relu(0.25)}) {
    CAPTURE(act.name());
    const double s = act.slope();
    Tape<double> tape;
    auto X = tape.constant(Tensor<double>{{1.0}});
    auto W = tape.variable(Tensor<double>{{-1.0, 0.0, 2.0, nan}});
    auto b = tape.variable(Tensor<double>{{0.0, 0.0, 0.0, 0.0}});
    auto out = dense(X, W, b, act);
    CHECK(out.val()(0, 0) == -s);
    CHECK(out.val()(0, 1) == 0.0);
    CHECK(out.val()(0, 2) == 2.0);
    CHECK(std::isnan(out.val()(0, 3)));  // NaN is passed on, not clipped to 0
    tape.backward(out, Tensor<double>{{1.0, 1.0, 1.0, 1.0}});
    // The derivative is the negative side's slope at and left of the kink (0 for relu), 1 right of it.
    CHECK(W.adj()(0, 0) == s);
    CHECK(W.adj()(0, 1) == s);
    CHECK(W.adj()(0, 2) == 1.0);
    CHECK(b.adj() == Tensor<double>{{s, s, 1.0, s}});
  }
}

TEST_CASE("dense names the shapes at fault") {
  Tape<double> tape;
  auto X = tape.variable(random_tensor({4, 3}, 1));
  auto W = tape.variable(random_tensor({2, 5}, 2));
  auto b = tape.variable(random_tensor({1, 5}, 3));
  CHECK_THROWS_WITH_AS(dense(X, W, b, Activation::relu()), doctest::Contains("X is 4x3, W is 2x5, b is 1x5"),
                       wgflow::ShapeError);
  auto W2 = tape.variable(random_tensor({3, 5}, 4));
  auto b2 = tape.variable(random_tensor({1, 4}, 5));
  CHECK_THROWS_WITH_AS(dense(X, W2, b2, Activation::tanh()), doctest::Contains("b is 1x4"), wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(dense(X, W, Activation::identity()), doctest::Contains("W is 2x5"), wgflow::ShapeError);
}
