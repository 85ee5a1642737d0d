// Anomaly detection (autodiff/anomaly.hpp): with the check on, the first NaN or Inf of a forward value or
// of an adjoint raises an AnomalyError naming the op behind it; with it off, nothing changes.
#include <cmath>
#include <limits>
#include <string>
#include <thread>

#include <xtensor/xmath.hpp>

#include "tests/support/op_check.hpp"

using namespace wgtest;
using wgflow::ad::AnomalyError;
using wgflow::ad::DetectAnomaly;
using wgflow::ad::detect_anomaly;

namespace {
const double not_a_number = std::numeric_limits<double>::quiet_NaN();
}

TEST_CASE("anomaly detection is off by default: a NaN flows through silently") {
  Tape<double> tape;
  CHECK_FALSE(tape.checking());
  const Var<double> x = tape.variable(Tensor<double>{{1.0, -1.0}});
  const Var<double> s = sum(log(x));
  CHECK(std::isnan(s.item()));
  CHECK_NOTHROW(tape.backward(s));
}

TEST_CASE("forward: the op that produced a NaN is named, with its source file, entry and value") {
  Tape<double> tape;
  tape.set_check_finite(true);
  const Var<double> x = tape.variable(Tensor<double>{{1.0, -1.0, 2.0}});
  const Var<double> y = log(x);  // log(-1) is NaN
  // The check runs when the next node is recorded, so it is the multiplication that throws.
  try {
    (void)(y * 2.0);
    FAIL("no anomaly reported");
  } catch (const AnomalyError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("op 'log'") != std::string::npos);
    CHECK(msg.find("elementwise.hpp") != std::string::npos);
    CHECK(msg.find("node 1") != std::string::npos);
    CHECK(msg.find("entry (0, 1) of 1x3") != std::string::npos);
    CHECK(msg.find("nan") != std::string::npos);
    CHECK(msg.find("forward") != std::string::npos);
    // Not the multiplication, which only propagated the NaN.
    CHECK(msg.find("operator*") == std::string::npos);
  }
}

TEST_CASE("forward: an Inf in the last op is caught when backward() starts") {
  Tape<double> tape;
  tape.set_check_finite(true);
  const Var<double> x = tape.variable(Tensor<double>{{1000.0}});
  const Var<double> y = exp(x);  // overflows to +inf
  CHECK_THROWS_WITH_AS(tape.backward(y), doctest::Contains("op 'exp'"), AnomalyError);
  CHECK_THROWS_WITH_AS(tape.backward(y), doctest::Contains("inf"), AnomalyError);
}

TEST_CASE("forward: operators are named too, and a non-finite leaf is reported as a leaf") {
  {
    Tape<double> tape;
    tape.set_check_finite(true);
    const Var<double> a = tape.variable(Tensor<double>{{1.0}});
    const Var<double> b = tape.constant(Tensor<double>{{0.0}});
    const Var<double> q = a / b;
    CHECK_THROWS_WITH_AS(tape.backward(q), doctest::Contains("op 'operator/'"), AnomalyError);
  }
  {
    Tape<double> tape;
    tape.set_check_finite(true);
    const Var<double> a = tape.variable(Tensor<double>{{1.0, not_a_number}});
    CHECK_THROWS_WITH_AS((void)exp(a), doctest::Contains("a leaf (Tape::variable or Tape::constant), node 0"),
                         AnomalyError);
  }
}

TEST_CASE("backward: the op whose vector-Jacobian product made an adjoint non-finite is named") {
  // sqrt is finite at 0 but its slope 1 / (2 sqrt(x)) is not: the forward pass is clean, the backward of
  // sqrt writes +inf into x's adjoint. The later ops (scaling, sum) have finite backward passes.
  Tape<double> tape;
  tape.set_check_finite(true);
  const Var<double> x = tape.variable(Tensor<double>{{4.0, 0.0}});
  const Var<double> s = sum(sqrt(x) * 3.0);
  CHECK(s.item() == 6.0);
  try {
    tape.backward(s);
    FAIL("no anomaly reported");
  } catch (const AnomalyError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("the backward of op 'sqrt'") != std::string::npos);
    CHECK(msg.find("input 0 (a leaf") != std::string::npos);
    CHECK(msg.find("entry (0, 1) of 1x2 is inf") != std::string::npos);
  }
  // The same computation with the check off runs through and leaves the Inf in the gradient.
  tape.set_check_finite(false);
  tape.backward(s);
  CHECK(std::isinf(x.adj()(0, 1)));
  CHECK(x.adj()(0, 0) == doctest::Approx(3.0 / 4.0));
}

TEST_CASE("backward: a non-finite cotangent is reported") {
  Tape<double> tape;
  tape.set_check_finite(true);
  const Var<double> x = tape.variable(Tensor<double>{{1.0, 2.0}});
  const Var<double> y = x * 2.0;
  CHECK_THROWS_WITH_AS(tape.backward(y, Tensor<double>{{1.0, not_a_number}}), doctest::Contains("cotangent"), AnomalyError);
}

TEST_CASE("the check changes no number: gradients are bit-identical with it on and off") {
  const Tensor<double> a = random_tensor({3, 4}, 1), b = random_tensor({4, 2}, 2);
  auto grads = [&](bool check) {
    Tape<double> tape;
    tape.set_check_finite(check);
    const Var<double> x = tape.variable(a), w = tape.variable(b);
    const Var<double> loss = sum(tanh(matmul(x, w)) * exp(matmul(x, w) * 0.1));
    return gradient(loss, {x, w});
  };
  const auto on = grads(true), off = grads(false);
  CHECK(xt::all(xt::equal(on[0], off[0])));
  CHECK(xt::all(xt::equal(on[1], off[1])));
}

TEST_CASE("a cleared tape starts its bookkeeping afresh") {
  Tape<double> tape;
  tape.set_check_finite(true);
  {
    const Var<double> x = tape.variable(Tensor<double>{{2.0}});
    tape.backward(sum(exp(x)));
  }
  tape.clear();
  const Var<double> x = tape.variable(Tensor<double>{{-2.0}});
  const Var<double> y = sqrt(x);  // node 1 of the new graph
  CHECK_THROWS_WITH_AS(tape.backward(y), doctest::Contains("op 'sqrt'"), AnomalyError);
  CHECK_THROWS_WITH_AS(tape.backward(y), doctest::Contains("node 1 "), AnomalyError);
}

TEST_CASE("DetectAnomaly turns the check on for every tape, on every thread, and restores the setting") {
  REQUIRE_FALSE(detect_anomaly());
  std::string message;
  {
    DetectAnomaly on;
    CHECK(detect_anomaly());
    std::thread worker([&] {
      Tape<double>& tape = Tape<double>::local();
      tape.clear();
      const Var<double> x = tape.variable(Tensor<double>{{-1.0}});
      try {
        tape.backward(sum(log(x)));
      } catch (const wgflow::Error& e) {  // AnomalyError is a wgflow::Error
        message = e.what();
      }
      tape.clear();
    });
    worker.join();
  }
  CHECK(message.find("op 'log'") != std::string::npos);
  CHECK_FALSE(detect_anomaly());
}
