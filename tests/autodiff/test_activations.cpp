#include <cmath>
#include <limits>

#include "tests/support/op_check.hpp"

using namespace wgtest;

namespace {

// Wide enough to reach the saturated tails of tanh, sigmoid and softplus.
const Domain wide{-8, 8};

}  // namespace

TEST_CASE("tanh, sigmoid, softplus") {
  check_op([](const Vars& v) { return tanh(v[0]); },
           [](const Values& x) -> Tensor<double> { return xt::tanh(x[0]); }, unary_shapes, {wide});
  // References are the textbook formulas, exact enough on [-8, 8]: independent of the stable forms.
  check_op([](const Vars& v) { return sigmoid(v[0]); },
           [](const Values& x) -> Tensor<double> { return 1.0 / (1.0 + xt::exp(-x[0])); }, unary_shapes, {wide});
  check_op([](const Vars& v) { return softplus(v[0]); },
           [](const Values& x) -> Tensor<double> { return xt::log(1.0 + xt::exp(x[0])); }, unary_shapes, {wide});
}

TEST_CASE("relu and leaky_relu") {
  check_op([](const Vars& v) { return relu(v[0]); },
           [](const Values& x) -> Tensor<double> { return xt::where(x[0] > 0.0, x[0], 0.0); }, unary_shapes,
           {off_kink});
  check_op([](const Vars& v) { return leaky_relu(v[0]); },
           [](const Values& x) -> Tensor<double> { return xt::where(x[0] > 0.0, x[0], 0.01 * x[0]); },
           unary_shapes, {off_kink});
  check_op([](const Vars& v) { return leaky_relu(v[0], 0.3); },
           [](const Values& x) -> Tensor<double> { return xt::where(x[0] > 0.0, x[0], 0.3 * x[0]); },
           unary_shapes, {off_kink});
}

TEST_CASE("relu and leaky_relu at the kink take the documented one-sided slope") {
  Tape<double> tape;
  auto a = tape.variable(Tensor<double>{{-1.0, 0.0, 1.0}});
  auto r = relu(a);
  tape.backward(r, xt::ones<double>(r.shape()));
  CHECK(a.adj() == Tensor<double>{{0, 0, 1}});
  auto l = leaky_relu(a, 0.2);
  tape.backward(l, xt::ones<double>(l.shape()));
  CHECK(a.adj() == Tensor<double>{{0.2, 0.2, 1}});
}

TEST_CASE("relu propagates NaN") {
  Tape<double> tape;
  auto a = tape.constant(Tensor<double>{{std::nan(""), -1.0}});
  auto r = relu(a);
  CHECK(std::isnan(r.val()(0, 0)));
  CHECK(r.val()(0, 1) == 0.0);
}

TEST_CASE("tanh, sigmoid and softplus stay finite and exact at +-1000") {
  Tape<double> tape;
  auto a = tape.variable(Tensor<double>{{-1000.0, 1000.0}});
  const Tensor<double> ones = xt::ones<double>({1, 2});

  auto t = tanh(a);
  CHECK(t.val() == Tensor<double>{{-1, 1}});
  tape.backward(t, ones);
  CHECK(a.adj() == Tensor<double>{{0, 0}});

  auto s = sigmoid(a);
  CHECK(s.val() == Tensor<double>{{0, 1}});
  tape.backward(s, ones);
  CHECK(a.adj() == Tensor<double>{{0, 0}});

  auto p = softplus(a);
  CHECK(p.val() == Tensor<double>{{0, 1000}});
  tape.backward(p, ones);
  CHECK(a.adj() == Tensor<double>{{0, 1}});
}

TEST_CASE("sigmoid and softplus keep relative precision deep in the left tail") {
  // For a << 0, sigmoid(a) = e^a / (1 + e^a) and softplus(a) = log(1 + e^a) both equal e^a up to a
  // relative e^a, far below double epsilon at a = -700 (e^a ~ 1e-304, still a normal double) and at
  // a = -40. A cancelling formula such as 0.5 + 0.5 tanh(a / 2) would return 0 here.
  Tape<double> tape;
  auto a = tape.variable(Tensor<double>{{-700.0, -40.0}});
  const Tensor<double> tail = xt::exp(a.val());
  const Tensor<double> ones = xt::ones<double>({1, 2});

  auto s = sigmoid(a);
  CHECK(xt::allclose(s.val(), tail, 1e-14, 0.0));
  tape.backward(s, ones);
  CHECK(xt::allclose(a.adj(), tail, 1e-14, 0.0));  // sigma' = sigma (1 - sigma)

  auto p = softplus(a);
  CHECK(xt::allclose(p.val(), tail, 1e-14, 0.0));
  tape.backward(p, ones);
  CHECK(xt::allclose(a.adj(), tail, 1e-14, 0.0));  // softplus' = sigma
}

TEST_CASE("float sigmoid and softplus stay finite at +-1000 and accurate in the tail") {
  Tape<float> tape;
  auto a = tape.variable(Tensor<float>{{-1000.f, 1000.f, -80.f}});
  const Tensor<float> ones = xt::ones<float>({1, 3});
  // e^-80 ~ 1.8e-35 is still a normal float; float kernels are accurate to a few ulp.
  const float tail = std::exp(-80.f);
  const float rel = 8 * std::numeric_limits<float>::epsilon();

  auto s = sigmoid(a);
  CHECK(s.val()(0, 0) == 0.f);
  CHECK(s.val()(0, 1) == 1.f);
  CHECK(s.val()(0, 2) == doctest::Approx(tail).epsilon(rel));
  tape.backward(s, ones);
  CHECK(xt::all(xt::isfinite(a.adj())));

  auto p = softplus(a);
  CHECK(p.val()(0, 0) == 0.f);
  CHECK(p.val()(0, 1) == 1000.f);
  CHECK(p.val()(0, 2) == doctest::Approx(tail).epsilon(rel));
  tape.backward(p, ones);
  CHECK(a.adj()(0, 0) == 0.f);
  CHECK(a.adj()(0, 1) == 1.f);
  CHECK(a.adj()(0, 2) == doctest::Approx(tail).epsilon(rel));
}

TEST_CASE("float tapes match double tapes within float precision") {
  // Tolerance 16 float epsilons (1.9e-6): each checked value passes through at most three roundings
  // or SIMD kernels (accurate to ~2 ulp) before the comparison, and the measure is absolute below 1,
  // which absorbs the cancellation in derivatives such as tanh's 1 - out^2. A wrong formula or a
  // double-only code path shows up as an error of order 1, far above this.
  const double tol = 16 * std::numeric_limits<float>::epsilon();
  check_float_matches_double([](const auto& x) { return tanh(x); }, wide, tol);
  check_float_matches_double([](const auto& x) { return sigmoid(x); }, wide, tol);
  check_float_matches_double([](const auto& x) { return softplus(x); }, wide, tol);
  check_float_matches_double([](const auto& x) { return relu(x); }, off_kink, tol);
  check_float_matches_double([](const auto& x) { return leaky_relu(x); }, off_kink, tol);
  check_float_matches_double([](const auto& x) { return leaky_relu(x, 0.3); }, off_kink, tol);
}
