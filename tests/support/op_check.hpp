#pragma once
// The one helper every op test uses (after Stan Math's expect_ad): for each set of input shapes and a
// few random points, it checks the op's forward value against a direct xtensor computation and its
// gradient against finite differences with the public checker.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include <xtensor/xio.hpp>
#include <xtensor/xmath.hpp>

#include "autodiff/autodiff.hpp"

namespace wgtest {

using wgflow::ad::Shape;
using wgflow::ad::Tape;
using wgflow::ad::Tensor;
using wgflow::ad::Var;
using Vars = std::vector<Var<double>>;
using Values = std::vector<Tensor<double>>;

// Where random inputs are drawn: uniform on [lo, hi], at distance at least `avoid` from `kink`
// (finite differences across a kink of abs or relu are meaningless).
struct Domain {
  double lo = -2, hi = 2;
  double avoid = 0, kink = 0;
};

inline Tensor<double> random_tensor(const Shape& s, std::uint64_t seed, const Domain& d = {}) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(d.lo, d.hi);
  Tensor<double> t = Tensor<double>::from_shape(s);
  for (auto& v : t) {
    do v = u(rng);
    while (std::abs(v - d.kink) < d.avoid);
  }
  return t;
}

// Away from the kink of abs, relu and leaky_relu at 0: a central difference straddling it is meaningless.
inline const Domain off_kink{-2, 2, 0.1, 0};

// The reference matrix product: three plain loops, independent of the GEMM under test.
inline Tensor<double> dot(const Tensor<double>& a, const Tensor<double>& b) {
  Tensor<double> c = xt::zeros<double>({a.shape()[0], b.shape()[1]});
  for (std::size_t i = 0; i < a.shape()[0]; ++i)
    for (std::size_t k = 0; k < a.shape()[1]; ++k)
      for (std::size_t j = 0; j < b.shape()[1]; ++j) c(i, j) += a(i, k) * b(k, j);
  return c;
}

// Shape sets for unary ops: the 1x1 edge case, a row, a column, a general matrix.
inline const std::vector<std::vector<Shape>> unary_shapes = {{{1, 1}}, {{1, 5}}, {{4, 1}}, {{3, 4}}};

// Shape sets for binary elementwise ops: equal shapes and every broadcasting case, 1x1 included.
inline const std::vector<std::vector<Shape>> broadcast_shapes = {
    {{1, 1}, {1, 1}}, {{3, 4}, {3, 4}}, {{3, 4}, {1, 4}}, {{3, 4}, {3, 1}}, {{3, 4}, {1, 1}},
    {{1, 4}, {3, 4}}, {{3, 1}, {1, 4}}, {{1, 1}, {2, 3}}};

// The op under test and its reference, as check_op takes them. Type-erased on purpose: the checks below
// (the random points, the forward comparison and its printout, the gradient checker) are then compiled once
// per test executable rather than once for each of the suites' ~70 ops: test_autodiff's first unity file
// compiled in 121 s instead of 149 s (CPU seconds at -O3, Zen 5). The ops and their references are
// compiled where they are written, as before.
using TapeOp = std::function<Var<double>(const Vars&)>;
using ReferenceOp = std::function<Tensor<double>(const Values&)>;

inline void check_op(const TapeOp& op, const ReferenceOp& reference, const std::vector<std::vector<Shape>>& shape_sets,
                     const std::vector<Domain>& domains = {}, double forward_tol = 1e-12) {
  std::uint64_t seed = 1;
  for (const auto& shapes : shape_sets) {
    for (int point = 0; point < 3; ++point) {  // three random points per shape set
      Values inputs;
      for (std::size_t i = 0; i < shapes.size(); ++i)
        inputs.push_back(random_tensor(shapes[i], seed++, i < domains.size() ? domains[i] : Domain{}));
      CAPTURE(shapes[0]);
      Tape<double> tape;
      Vars vars;
      for (const auto& x : inputs) vars.push_back(tape.variable(x));
      const Tensor<double> got = op(vars).val();
      const Tensor<double> want = reference(inputs);
      REQUIRE(got.shape() == want.shape());
      CHECK_MESSAGE(xt::allclose(got, want, forward_tol, forward_tol), "forward value differs: got\n"
                                                                           << got << "\nwant\n" << want);
      auto report = wgflow::ad::check_gradient([&](Tape<double>&, const Vars& v) { return op(v); }, inputs);
      CHECK_MESSAGE(report.ok(), report.message());
    }
  }
}

// Evaluates op on a float tape and on a double tape at the same (float-representable) point, with the
// all-ones cotangent, and checks values and gradients agree to `tol` in the measure
// |float - double| / max(1, |double|) (absolute below 1: float's error is set by its own epsilon).
// Evaluating double at the float-rounded input removes the input's rounding, so what remains is the float
// kernels' own error.
template <class T>
using UnaryOp = std::function<Var<T>(const Var<T>&)>;

// check_float_matches_double's checks, compiled once (see TapeOp above).
// `shapes`: the inputs' shapes (by default the 1x1 edge case and a 5x7 matrix).
inline void check_float_matches_double(const UnaryOp<float>& op_float, const UnaryOp<double>& op_double,
                                       const Domain& domain, double tol,
                                       const std::vector<Shape>& shapes = {Shape{1, 1}, Shape{5, 7}}) {
  for (const Shape& shape : shapes) {
    const Tensor<float> xf = xt::cast<float>(random_tensor(shape, 42, domain));
    const Tensor<double> xd = xt::cast<double>(xf);
    Tape<float> tf;
    Tape<double> td;
    auto vf = tf.variable(xf);
    auto vd = td.variable(xd);
    auto of = op_float(vf);
    auto od = op_double(vd);
    tf.backward(of, xt::ones<float>(of.shape()));
    td.backward(od, xt::ones<double>(od.shape()));
    auto measure = [](const auto& got, const auto& want) {
      return xt::amax(xt::abs(xt::cast<double>(got) - want) / xt::maximum(xt::abs(want), 1.0))();
    };
    CAPTURE(shape);
    CHECK(measure(of.val(), od.val()) <= tol);
    CHECK(measure(vf.adj(), vd.adj()) <= tol);
  }
}

// `op` a generic lambda, as in check_float_matches_double([](const auto& x) { return exp(x); }, ...).
template <class GenericOp>
void check_float_matches_double(GenericOp op, const Domain& domain, double tol,
                                const std::vector<Shape>& shapes = {Shape{1, 1}, Shape{5, 7}}) {
  check_float_matches_double(UnaryOp<float>(op), UnaryOp<double>(op), domain, tol, shapes);
}

}  // namespace wgtest
