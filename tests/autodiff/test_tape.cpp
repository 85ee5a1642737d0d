// The tape's contract, independent of any one op: which adjoints a reverse sweep produces, what it leaves
// alone, how misuse is reported, and that a cleared tape reuses its memory.
#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include <xtensor/xmath.hpp>
#include <xtensor/xview.hpp>

#include "tests/support/op_check.hpp"

using namespace wgtest;
using wgflow::ad::gradient;
using wgflow::ad::matmul;

namespace {

bool same(const Tensor<double>& a, const Tensor<double>& b) {
  return a.shape() == b.shape() && xt::all(xt::equal(a, b));
}

// matmul and the reference product below may sum in different orders; the values compared are O(1..10),
// so 1e-12 allows for some hundred ulps of rounding and nothing more.
constexpr double tol = 1e-12;


}  // namespace

TEST_CASE("gradient() differentiates with respect to any set of leaves, in the order asked") {
  // L = sum((W x + b)^2), r = W x + b:  dL/dW = 2 r x^T,  dL/dx = 2 W^T r,  dL/db = 2 r.
  const Tensor<double> w = random_tensor({3, 4}, 1), x = random_tensor({4, 2}, 2), b = random_tensor({3, 1}, 3);
  const Tensor<double> r = dot(w, x) + b;
  const Tensor<double> dw = 2.0 * dot(r, xt::transpose(x)), dx = 2.0 * dot(xt::transpose(w), r);
  const Tensor<double> db = 2.0 * xt::sum(r, {1}, xt::keep_dims);

  Tape<double> tape;
  auto W = tape.variable(w), X = tape.variable(x), B = tape.variable(b);
  auto loss = sum(square(matmul(W, X) + B));

  auto all = gradient(loss, {X, B, W});
  REQUIRE(all.size() == 3);
  CHECK(xt::allclose(all[0], dx, tol, tol));
  CHECK(xt::allclose(all[1], db, tol, tol));
  CHECK(xt::allclose(all[2], dw, tol, tol));

  auto only_b = gradient(loss, {B});
  REQUIRE(only_b.size() == 1);
  CHECK(same(only_b[0], all[1]));

  // A variable the output does not depend on gets a zero gradient, not an error.
  auto unused = tape.variable(random_tensor({2, 2}, 4));
  auto with_unused = gradient(loss, {unused, W});
  CHECK(same(with_unused[0], xt::zeros<double>({2, 2})));
  CHECK(same(with_unused[1], all[2]));
}

TEST_CASE("a non-scalar output is differentiated along a given cotangent") {
  // y = W x; for cotangent u: dW = u x^T, dx = W^T u.
  const Tensor<double> w = random_tensor({3, 4}, 5), x = random_tensor({4, 2}, 6), u = random_tensor({3, 2}, 7);
  Tape<double> tape;
  auto W = tape.variable(w), X = tape.variable(x);
  auto y = matmul(W, X);
  tape.backward(y, u);
  CHECK(xt::allclose(Tensor<double>(W.adj()), dot(u, xt::transpose(x)), tol, tol));
  CHECK(xt::allclose(Tensor<double>(X.adj()), dot(xt::transpose(w), u), tol, tol));

  CHECK_THROWS_WITH_AS(tape.backward(y), doctest::Contains("output is 3x2; pass a cotangent"), wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(tape.backward(y, random_tensor({2, 3}, 8)),
                       doctest::Contains("cotangent shape does not match output shape 3x2"), wgflow::ShapeError);
}

TEST_CASE("constants get no adjoint, and values that depend only on constants carry none") {
  Tape<double> tape;
  auto c = tape.constant(random_tensor({2, 3}, 9));
  auto v = tape.variable(random_tensor({2, 3}, 10));
  CHECK_FALSE(c.needs_grad());
  CHECK(v.needs_grad());
  CHECK_THROWS_AS(c.adj(), wgflow::TapeError);

  auto from_constants = c * c + 1.0;
  CHECK_FALSE(from_constants.needs_grad());
  CHECK((c * v).needs_grad());

  // d sum(c v) / dv = c; the constant contributes a value and receives nothing.
  auto grads = gradient(sum(c * v), {v, c});
  CHECK(same(grads[0], c.val()));
  CHECK(same(grads[1], xt::zeros<double>({2, 3})));
  CHECK_THROWS_AS(c.adj(), wgflow::TapeError);

  // Differentiating an output built only from constants is allowed and leaves every adjoint zero.
  auto loss = sum(v);
  tape.backward(loss);
  tape.backward(sum(from_constants));
  CHECK(same(v.adj(), xt::zeros<double>({2, 3})));
}

TEST_CASE("adjoints accumulate over every use of a variable") {
  // d/dx (x x + tanh(x) + x) = 2 x + 1 - tanh(x)^2 + 1
  const Tensor<double> x0 = random_tensor({3, 3}, 11);
  Tape<double> tape;
  auto x = tape.variable(x0);
  auto g = gradient(sum(x * x + tanh(x) + x), {x});
  const Tensor<double> want = 2.0 * x0 + 2.0 - xt::square(xt::tanh(x0));
  CHECK(xt::allclose(g[0], want, tol, tol));
}

TEST_CASE("backward twice gives the same adjoints, bit for bit") {
  Tape<double> tape;
  auto w = tape.variable(random_tensor({4, 3}, 12));
  auto b = tape.variable(random_tensor({1, 3}, 13));
  auto x = tape.constant(random_tensor({5, 4}, 14));
  auto loss = mean(square(relu(matmul(x, w) + b)));
  tape.backward(loss);
  const Tensor<double> dw = w.adj(), db = b.adj();
  tape.backward(loss);
  CHECK(same(w.adj(), dw));
  CHECK(same(b.adj(), db));

  // A sweep from an intermediate node in between does not leak into the next full sweep.
  auto hidden = matmul(x, w);
  tape.backward(hidden, xt::ones<double>({5, 3}));
  tape.backward(loss);
  CHECK(same(w.adj(), dw));
}

TEST_CASE("an external leaf reads the caller's values in place and backward writes its adjoint buffer") {
  Tensor<double> w0 = random_tensor({4, 3}, 15);
  const Tensor<double> x0 = random_tensor({5, 4}, 16);
  // The same loss on ordinary leaves, for the reference gradient.
  Tape<double> reference;
  auto w_ref = reference.variable(w0);
  auto loss_ref = mean(square(tanh(matmul(reference.constant(x0), w_ref))));
  reference.backward(loss_ref);

  Tape<double> tape;
  std::vector<double> grad(12, 123.0);  // stale contents: backward must zero them first
  auto w = tape.external({4, 3}, w0.data(), grad.data());
  auto x = tape.external({5, 4}, x0.data());  // a constant
  CHECK(w.data() == w0.data());
  CHECK(x.data() == x0.data());
  CHECK(w.needs_grad());
  CHECK_FALSE(x.needs_grad());
  auto loss = mean(square(tanh(matmul(x, w))));
  CHECK(loss.item() == loss_ref.item());
  tape.backward(loss);
  const Tensor<double> dw = xt::adapt(grad, std::vector<std::size_t>{4, 3});
  CHECK(same(dw, w_ref.adj()));
  CHECK(w.adj().data() == grad.data());
  tape.backward(loss);  // a second sweep overwrites, it does not add
  CHECK(same(xt::adapt(grad, std::vector<std::size_t>{4, 3}), w_ref.adj()));
}

TEST_CASE("a float tape records and differentiates in single precision") {
  // L = sum(tanh(W x)^2) / n; dL/dW = 2/n (t (1 - t^2)) x^T with t = tanh(W x). Inputs are O(1), and a
  // handful of float roundings (unit roundoff 6e-8) per entry keeps the relative error far below 1e-5.
  const Tensor<double> w = random_tensor({3, 4}, 15), x = random_tensor({4, 2}, 16);
  const Tensor<double> t = xt::tanh(dot(w, x));
  const Tensor<double> want = (2.0 / double(t.size())) * dot(t * (1.0 - t * t), xt::transpose(x));

  Tape<float> tape;
  auto W = tape.variable(Tensor<float>(xt::cast<float>(w)));
  auto X = tape.constant(Tensor<float>(xt::cast<float>(x)));
  auto loss = mean(square(tanh(matmul(W, X))));
  static_assert(std::is_same_v<decltype(loss), Var<float>>);
  CHECK(loss.item() == doctest::Approx(xt::mean(t * t)()).epsilon(1e-5));
  auto g = gradient(loss, {W});
  CHECK(xt::allclose(Tensor<double>(xt::cast<double>(g[0])), want, 1e-5, 1e-6));
}

TEST_CASE("a Var used after its tape was cleared throws TapeError") {
  Tape<double> tape;
  auto x = tape.variable(random_tensor({2, 2}, 17));
  auto y = sum(square(x));
  tape.backward(y);
  tape.clear();
  auto fresh = tape.variable(random_tensor({2, 2}, 18));  // reuses x's slot: x must still be refused

  CHECK_THROWS_WITH_AS(x.val(), doctest::Contains("tape was cleared"), wgflow::TapeError);
  CHECK_THROWS_AS(x.adj(), wgflow::TapeError);
  CHECK_THROWS_AS(x.shape(), wgflow::TapeError);
  CHECK_THROWS_AS(y.item(), wgflow::TapeError);
  CHECK_THROWS_AS(x + fresh, wgflow::TapeError);
  CHECK_THROWS_AS(matmul(fresh, x), wgflow::TapeError);
  CHECK_THROWS_AS(tape.backward(y), wgflow::TapeError);
  CHECK_NOTHROW(tape.backward(sum(fresh)));

  Var<double> unset;
  CHECK_THROWS_WITH_AS(unset.val(), doctest::Contains("default-constructed Var"), wgflow::TapeError);
}

TEST_CASE("mixing variables of two tapes throws TapeError") {
  Tape<double> first, second;
  auto a = first.variable(random_tensor({2, 2}, 19));
  auto b = second.variable(random_tensor({2, 2}, 20));
  CHECK_THROWS_WITH_AS(a + b, doctest::Contains("two different tapes"), wgflow::TapeError);
  CHECK_THROWS_AS(matmul(a, b), wgflow::TapeError);
  CHECK_THROWS_WITH_AS(first.backward(sum(b)), doctest::Contains("another tape"), wgflow::TapeError);
  CHECK(first.size() == 1);  // the failed ops recorded nothing
}

TEST_CASE("a training step repeated with clear() in between reuses the tape's memory") {
  // A 4-8-1 tanh network fitted by gradient descent to y = sin(x1) + x2 x3 on 32 points. The tape starts
  // with 1 KiB, far less than one step needs, so the first step spreads over several arena blocks and
  // the first clear() must merge them; from then on nothing may grow.
  const Tensor<double> x = random_tensor({32, 4}, 21);
  const Tensor<double> target = xt::sin(xt::view(x, xt::all(), xt::range(0, 1))) +
                                xt::view(x, xt::all(), xt::range(1, 2)) * xt::view(x, xt::all(), xt::range(2, 3));
  Tensor<double> w1 = 0.5 * random_tensor({4, 8}, 22), b1 = xt::zeros<double>({1, 8});
  Tensor<double> w2 = 0.5 * random_tensor({8, 1}, 23), b2 = xt::zeros<double>({1, 1});
  const double lr = 0.05;

  Tape<double> tape(1024);
  std::vector<double> losses;
  std::size_t bytes_after_first = 0, nodes_after_first = 0;
  for (int step = 0; step < 1000; ++step) {
    tape.clear();
    auto W1 = tape.variable(w1), B1 = tape.variable(b1), W2 = tape.variable(w2), B2 = tape.variable(b2);
    auto X = tape.constant(x), Y = tape.constant(target);
    auto h = tanh(matmul(X, W1) + B1);
    auto loss = mean(square(matmul(h, W2) + B2 - Y));
    tape.backward(loss);
    losses.push_back(loss.item());
    xt::noalias(w1) -= lr * W1.adj();
    xt::noalias(b1) -= lr * B1.adj();
    xt::noalias(w2) -= lr * W2.adj();
    xt::noalias(b2) -= lr * B2.adj();
    if (step == 0) {
      bytes_after_first = tape.bytes_reserved();
      nodes_after_first = tape.size();
      CHECK(bytes_after_first > 1024);
    } else {
      REQUIRE(tape.bytes_reserved() == bytes_after_first);
      REQUIRE(tape.size() == nodes_after_first);
    }
  }
  CHECK(tape.generation() == 1000);
  // The steps really trained: gradient descent on this smooth problem at a small step size lowers the
  // loss, and by far.
  CHECK(losses.back() < 0.25 * losses.front());
}
