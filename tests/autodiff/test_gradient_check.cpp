// The public gradient checker, exercised through ops a user defines outside the library (custom_op.hpp):
// correct ops pass, wrong backward passes fail with a report that points at the fault, and a function
// that throws or produces NaN gives a failed report rather than a crash. The error measure is relative
// to each entry's own gradient, less what the finite difference cannot resolve: a small relative error is
// caught at any gradient scale, and entries whose true gradient is zero still pass.
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>

#include <xtensor/xmath.hpp>
#include <xtensor/xview.hpp>

#include "tests/support/op_check.hpp"

using namespace wgtest;
using wgflow::ad::check_gradient;
using wgflow::ad::custom_op;
using wgflow::ad::GradCheckOptions;
using wgflow::ad::make_output;

namespace {

// The header's example of the low-level way, verbatim: an op written with make_output and on_backward.
// logcosh(a) = log(cosh(a));   d logcosh / da = tanh(a)
template <class T>
Var<T> logcosh(const Var<T>& a) {
  Var<T> out = make_output(a.shape(), {a});
  xt::noalias(out.val()) = xt::log(xt::cosh(a.val()));
  out.on_backward([a, out] { xt::noalias(a.adj()) += out.adj() * xt::tanh(a.val()); });
  return out;
}

// y = x^3, dy/dx = 3 x^2.
const auto cube = custom_op([](const auto& x) { return x * x * x; },
                            [](const auto& g, const auto&, const auto& x) { return 3.0 * x * x * g; }, "cube");

// z = sqrt(x^2 + y^2) with broadcasting; dz/dx = x / z, dz/dy = y / z. The contributions are returned
// in the output's shape and summed over the broadcast axes by custom_op.
const auto radius = custom_op([](const auto& x, const auto& y) { return xt::sqrt(x * x + y * y); },
                             [](const auto& g, const auto& z, const auto& x, const auto& y) {
                               return std::tuple{g * x / z, g * y / z};
                             },
                             "radius");

// a b + c; d/da = b, d/db = a, d/dc = 1.
const auto mul_add = custom_op([](const auto& a, const auto& b, const auto& c) { return a * b + c; },
                           [](const auto& g, const auto&, const auto& a, const auto& b, const auto&) {
                             return std::tuple{g * b, g * a, g};
                           },
                           "mul_add");

// sum(x^2) as a rank-0 expression, which custom_op records as a 1x1 output; d/dx = 2 x.
const auto sum_of_squares = custom_op([](const auto& x) { return xt::sum(x * x); },
                                      [](const auto& g, const auto&, const auto& x) { return 2.0 * g * x; },
                                      "sum_of_squares");

// Column j of x, and two columns side by side, as lazy expressions.
template <class E>
auto column(const E& x, std::size_t j) {
  return xt::view(x, xt::all(), xt::range(j, j + 1));
}
template <class A, class B>
auto columns(A&& a, B&& b) {
  return xt::concatenate(xt::xtuple(std::forward<A>(a), std::forward<B>(b)), 1);
}

// x^3 and exp(x), with the derivative multiplied by `factor` (1: correct; 1.01: 1 % wrong).
auto cube_times(double factor) {
  return custom_op([](const auto& x) { return x * x * x; },
                   [factor](const auto& g, const auto&, const auto& x) { return factor * 3.0 * x * x * g; },
                   "cube_times");
}
auto exp_times(double factor) {
  return custom_op([](const auto& x) { return xt::exp(x); },
                   [factor](const auto& g, const auto& y, const auto&) { return factor * y * g; }, "exp_times");
}

// Where each op's gradient is about 1e-6 (and 3e-6: the inputs about 1e-3 of the issue that motivated
// the relative measure), about 1 and about 1e4; signs mixed where the op allows.
struct GradientScale {
  const char* name;
  Domain cube, exp;
};
const GradientScale gradient_scales[] = {
    {"1e-6", {-1.1e-3, 1.1e-3, 0.5e-3, 0}, {-14.5, -13.0}},  // 3 x^2 in [7.5e-7, 3.6e-6]; e^x in [5e-7, 2.3e-6]
    {"1", {-0.8, 0.8, 0.4, 0}, {-0.3, 0.3}},                 // 3 x^2 in [0.48, 1.9]; e^x in [0.74, 1.35]
    {"1e4", {-65.0, 65.0, 50.0, 0}, {9.0, 9.5}},             // 3 x^2 in [7.5e3, 1.3e4]; e^x in [8.1e3, 1.3e4]
};

}  // namespace

TEST_CASE("ops defined outside the library pass the checker") {
  const Tensor<double> x = random_tensor({3, 4}, 1), row = random_tensor({1, 4}, 2), col = random_tensor({3, 1}, 3);

  SUBCASE("the low-level way: make_output + on_backward") {
    auto report = check_gradient([](Tape<double>&, const Vars& v) { return logcosh(v[0]) * v[1]; }, {x, row});
    CHECK_MESSAGE(report.ok(), report.message());
  }
  SUBCASE("custom_op: one input, forward value and gradient") {
    Tape<double> tape;
    CHECK(xt::allclose(Tensor<double>(cube(tape.variable(x)).val()), x * x * x, 1e-15, 0));
    auto report = check_gradient([](Tape<double>&, const Vars& v) { return cube(v[0]); }, {x});
    CHECK_MESSAGE(report.ok(), report.message());
  }
  SUBCASE("custom_op: two inputs broadcast to the output") {
    for (const auto& y : {x, row, col, random_tensor({1, 1}, 4)}) {
      CAPTURE(wgflow::shape_string(Shape{y.shape()[0], y.shape()[1]}));
      auto forward = check_gradient([](Tape<double>&, const Vars& v) { return radius(v[0], v[1]); }, {x, y});
      CHECK_MESSAGE(forward.ok(), forward.message());
      auto reversed = check_gradient([](Tape<double>&, const Vars& v) { return radius(v[0], v[1]); }, {y, x});
      CHECK_MESSAGE(reversed.ok(), reversed.message());
    }
  }
  SUBCASE("custom_op: three inputs, composed with built-in ops") {
    auto report = check_gradient(
        [](Tape<double>&, const Vars& v) { return sum_of_squares(mul_add(v[0], cube(v[1]), v[2]) * 0.5); },
        {x, row, col});
    CHECK_MESSAGE(report.ok(), report.message());
  }
}

TEST_CASE("a wrong backward fails, and the report names the input and its worst entry") {
  // a * b, with the derivative in b scaled by 1.5 wherever b > 1.5. Only b(1, 2) exceeds 1.5, so the
  // check must fail on input 1 at exactly that entry and pass on input 0.
  const auto wrong = custom_op(
      [](const auto& a, const auto& b) { return a * b; },
      [](const auto& g, const auto&, const auto& a, const auto& b) {
        return std::tuple{g * b, xt::where(b > 1.5, 1.5, 1.0) * g * a};
      },
      "wrong_multiply");
  const Tensor<double> a = random_tensor({3, 4}, 5, Domain{0.5, 1.0});
  Tensor<double> b = random_tensor({3, 4}, 6, Domain{-1.0, 1.0});
  b(1, 2) = 1.75;

  // Summed, so that the cotangent of wrong's output is all ones and the size of the error is known.
  auto report = check_gradient([&](Tape<double>&, const Vars& v) { return sum(wrong(v[0], v[1])); }, {a, b});
  CHECK_FALSE(report.ok());
  REQUIRE(report.inputs.size() == 2);
  CHECK(report.inputs[0].max_rel_error <= report.tolerance);
  CHECK(report.inputs[1].max_rel_error > 0.2);  // the error is 0.5 a(1, 2), with a >= 0.5
  CHECK(report.inputs[1].worst_row == 1);
  CHECK(report.inputs[1].worst_col == 2);
  CHECK(report.inputs[1].entries_checked == 12);
  const std::string message = report.message();
  CHECK(message.find("input 0 (3x4, 12 entries checked)") != std::string::npos);
  CHECK(message.find("input 0 (3x4, 12 entries checked): max abs error") != std::string::npos);
  CHECK(message.find("input 1 (3x4, 12 entries checked)") != std::string::npos);
  CHECK(message.find("FAILED") == message.find("FAILED (tolerance 1e-06): worst entry (1, 2)"));
  CHECK(message.find("worst entry (1, 2) autodiff ") != std::string::npos);
  CHECK(message.find(" vs finite difference ") != std::string::npos);
  CHECK(message.find(" (resolvable error ") != std::string::npos);
  // The resolvable error of the finite difference at that entry is far below the error found.
  CHECK(report.inputs[1].worst_resolvable >= 0);
  CHECK(report.inputs[1].worst_resolvable < 1e-9);
  CHECK(message.find("FAILED") > message.find("input 1"));
}

TEST_CASE("a backward 1 % wrong is caught at every gradient scale, and the correct one passes") {
  std::uint64_t seed = 20;
  for (const GradientScale& scale : gradient_scales) {
    CAPTURE(scale.name);
    const Tensor<double> xc = random_tensor({3, 4}, seed++, scale.cube), xe = random_tensor({3, 4}, seed++, scale.exp);
    for (const bool summed : {true, false}) {  // all-ones cotangent (the gradient itself), or a random one
      CAPTURE(summed);
      const auto check = [&](const auto& op, const Tensor<double>& x) {
        return check_gradient(
            [&](Tape<double>&, const Vars& v) { return summed ? sum(op(v[0])) : op(v[0]); }, {x});
      };
      for (const auto& [op_name, x, correct, wrong] :
           {std::tuple{"cube", xc, check(cube_times(1.0), xc), check(cube_times(1.01), xc)},
            std::tuple{"exp", xe, check(exp_times(1.0), xe), check(exp_times(1.01), xe)}}) {
        CAPTURE(op_name);
        CHECK_MESSAGE(correct.ok(), correct.message());
        CHECK_FALSE(wrong.ok());
        REQUIRE(wrong.inputs.size() == 1);
        // Every entry is 1 % wrong, and the error measure is |1.01 g - g| / |1.01 g| less the tiny part
        // the finite difference cannot resolve.
        CHECK(wrong.inputs[0].max_rel_error == doctest::Approx(0.01 / 1.01).epsilon(1e-3));
        CHECK(wrong.message().find("FAILED (tolerance 1e-06): worst entry (") != std::string::npos);
        if (summed) {  // the worst entry's autodiff value is 1.01 times the finite difference, at this scale
          const auto& r = wrong.inputs[0];
          CHECK(r.worst_autodiff == doctest::Approx(1.01 * r.worst_numeric).epsilon(1e-6));
          const double g = std::abs(r.worst_numeric);
          if (std::string(scale.name) == "1e-6") {
            CHECK((g > 4e-7 && g < 4e-6));
            // The blind spot this measure closes: the error is far below the tolerance in absolute terms.
            CHECK(r.max_abs_error < 1e-7);
          }
          if (std::string(scale.name) == "1") CHECK((g > 0.4 && g < 2));
          if (std::string(scale.name) == "1e4") CHECK((g > 7e3 && g < 1.4e4));
        }
      }
    }
  }
}

TEST_CASE("small relative errors are caught at a moderate scale") {
  const Tensor<double> x = random_tensor({3, 4}, 30, Domain{-1.0, 1.0});
  for (const double relative : {1e-3, 1e-5}) {
    CAPTURE(relative);
    const auto wrong_exp = exp_times(1 + relative);
    const auto wrong_cube = cube_times(1 + relative);
    auto on_exp = check_gradient([&](Tape<double>&, const Vars& v) { return sum(wrong_exp(v[0])); }, {x});
    CHECK_FALSE(on_exp.ok());
    CHECK(on_exp.inputs.at(0).max_rel_error == doctest::Approx(relative / (1 + relative)).epsilon(1e-3));
    // Composed with built-in ops and along a random cotangent.
    auto composed = check_gradient(
        [&](Tape<double>&, const Vars& v) { return tanh(wrong_cube(v[0]) * v[1]) + square(v[1]); },
        {x, random_tensor({3, 4}, 31)});
    CHECK_FALSE(composed.ok());
    CHECK(composed.inputs.at(0).max_rel_error > 0.9 * relative);
    CHECK(composed.inputs.at(1).max_rel_error <= composed.tolerance);
  }
}

TEST_CASE("entries whose true gradient is zero pass, and a nonzero autodiff value there is caught") {
  Tensor<double> x = random_tensor({3, 4}, 32, Domain{-1.0, 1.0});
  x(1, 2) = 0;
  x(2, 0) = 0;

  SUBCASE("x^3 at 0: the finite difference is rounding noise") {
    auto report = check_gradient([](Tape<double>&, const Vars& v) { return sum(cube(v[0])); }, {x});
    CHECK_MESSAGE(report.ok(), report.message());
  }
  SUBCASE("x^2 e^x at 0: the finite differences have truncation errors (D(h)'s about h^4 f^(5)(0) / 30)") {
    auto report = check_gradient([](Tape<double>&, const Vars& v) { return square(v[0]) * exp(v[0]); }, {x});
    CHECK_MESSAGE(report.ok(), report.message());
  }
  SUBCASE("cos at 0, and an input f does not use") {
    auto report = check_gradient([](Tape<double>&, const Vars& v) { return sum(cos(v[0])); }, {x, x});
    CHECK_MESSAGE(report.ok(), report.message());
    REQUIRE(report.inputs.size() == 2);
    // Every finite difference of the unused input is rounding noise of f (the sum's rounding may vary
    // between evaluations at the same point), within what the finite difference cannot resolve.
    CHECK(report.inputs[1].max_rel_error == 0);
    // With no reduction in f, an unused input leaves its values unchanged: both gradients exactly 0.
    auto exact = check_gradient([](Tape<double>&, const Vars& v) { return cos(v[0]); }, {Tensor<double>{{0.0}}, x});
    CHECK_MESSAGE(exact.ok(), exact.message());
    REQUIRE(exact.inputs.size() == 2);
    CHECK(exact.inputs[0].max_rel_error == 0);
    CHECK(exact.inputs[1].max_abs_error == 0);
    CHECK(exact.inputs[1].max_rel_error == 0);
  }
  SUBCASE("the sum of a softmax row: every gradient is zero up to rounding on both sides") {
    auto report = check_gradient([](Tape<double>&, const Vars& v) { return sum(softmax(v[0] * 3.0, 1)); }, {x});
    CHECK_MESSAGE(report.ok(), report.message());
  }
  SUBCASE("a backward that adds 1e-7 is caught where the true gradient is zero") {
    const auto offset = custom_op([](const auto& a) { return a * a * a; },
                                  [](const auto& g, const auto&, const auto& a) { return (3.0 * a * a + 1e-7) * g; });
    auto report = check_gradient([&](Tape<double>&, const Vars& v) { return sum(offset(v[0])); }, {x});
    CHECK_FALSE(report.ok());
    const auto& r = report.inputs.at(0);
    CHECK(r.max_rel_error > 0.9);  // autodiff 1e-7 against a finite difference of about 0
    CHECK(((r.worst_row == 1 && r.worst_col == 2) || (r.worst_row == 2 && r.worst_col == 0)));
    CHECK(r.worst_autodiff == 1e-7);
    CHECK(std::abs(r.worst_numeric) < 1e-10);
  }
}

TEST_CASE("entries far below what double precision resolves in f pass, next to ordinary ones") {
  // f = sum(e^x0) + 1e-16 sum(x1^3): moving an entry of x1 by h changes f ~ 12 by about 1e-18, far below
  // its rounding (about 2e-15), so the finite difference cannot tell 3e-16 x1^2 from 0. Those entries
  // must pass on R, not fail against their tiny gradient; x0's entries are checked as usual.
  const Tensor<double> x0 = random_tensor({3, 4}, 33, Domain{-0.3, 0.3}), x1 = random_tensor({3, 4}, 34);
  auto report = check_gradient(
      [](Tape<double>&, const Vars& v) { return sum(exp(v[0])) + sum(cube(v[1])) * 1e-16; }, {x0, x1});
  CHECK_MESSAGE(report.ok(), report.message());
  const auto wrong = exp_times(1.01);
  auto caught = check_gradient(
      [&](Tape<double>&, const Vars& v) { return sum(wrong(v[0])) + sum(cube(v[1])) * 1e-16; }, {x0, x1});
  CHECK_FALSE(caught.ok());
  CHECK(caught.inputs.at(0).max_rel_error > 0.009);
  CHECK(caught.inputs.at(1).max_rel_error <= caught.tolerance);
}

TEST_CASE("rounding inside f that its value does not show: noise_scale") {
  // f = sum((x + 1e3)^2) - 2e3 sum(x) - 1e6 n is sum(x^2), about 16, computed as a difference of terms
  // that add up to 4.8e7: it rounds on that scale (~1e-8 in f, ~1e-5 in a finite difference), which the
  // default noise floor, built from f's value, does not see. By default the check then rests on that
  // noise showing in |D(h) - D(h/2)| (it mostly does, but not where the rounded values happen to line
  // up). Passing the terms' scale as noise_scale makes the floor cover it for every entry (~5e-3 here),
  // and a backward 1 % wrong is still caught where the finite difference resolves it.
  const Tensor<double> x = random_tensor({6, 8}, 36, Domain{-1.0, 1.0});
  const auto badly_rounded = [](const auto& sq) {
    return [sq](Tape<double>&, const Vars& v) { return sum(sq(v[0] + 1e3)) - sum(v[0]) * 2e3 - 48e6; };
  };
  const auto correct = [](const Var<double>& a) { return square(a); };
  // d/da a^2 = 2 a, plus 0.02 (a - 1e3) = 0.02 x: the gradient of f becomes 2.02 x instead of 2 x.
  const auto wrong_square =
      custom_op([](const auto& a) { return a * a; },
                [](const auto& g, const auto&, const auto& a) { return (2.0 * a + 0.02 * (a - 1e3)) * g; });
  const auto wrong = [&](const Var<double>& a) { return wrong_square(a); };

  // The premise: the finite differences are off by far more than the default floor (~2e-9 here).
  const auto by_default = check_gradient(badly_rounded(correct), {x});
  CHECK(by_default.inputs.at(0).max_abs_error > 1e-7);
  GradCheckOptions opt;
  opt.noise_scale = 4.8e7;
  const auto scaled = check_gradient(badly_rounded(correct), {x}, opt);
  CHECK_MESSAGE(scaled.ok(), scaled.message());
  CHECK(scaled.inputs.at(0).worst_resolvable > 1e-3);
  const auto caught = check_gradient(badly_rounded(wrong), {x}, opt);
  CHECK_FALSE(caught.ok());
  CHECK(caught.inputs.at(0).max_rel_error > 0.005);
}

TEST_CASE("the measure does not depend on the scale of f") {
  const Tensor<double> x = random_tensor({3, 4}, 35, Domain{-1.0, 1.0});
  const auto wrong = exp_times(1.001);
  for (const double c : {1e-12, 1.0, 1e12}) {
    CAPTURE(c);
    auto good = check_gradient([&](Tape<double>&, const Vars& v) { return exp(v[0]) * c; }, {x});
    CHECK_MESSAGE(good.ok(), good.message());
    auto bad = check_gradient([&](Tape<double>&, const Vars& v) { return wrong(v[0]) * c; }, {x});
    CHECK_FALSE(bad.ok());
    CHECK(bad.inputs.at(0).max_rel_error == doctest::Approx(1e-3 / 1.001).epsilon(1e-3));
  }
}

TEST_CASE("a non-scalar output is checked along a random cotangent, which sees every output entry") {
  // y = (x0 + x1, x0 - x1) has J^T g = (g0 + g1, g0 - g1). The wrong backward (g0 + g1, g1 - g0) agrees
  // with it for g = (1, 1), i.e. for the gradient of sum(y), so only a cotangent that weights the
  // outputs differently exposes it; the checker draws one at random.
  const auto forward = [](const auto& x) { return columns(column(x, 0) + column(x, 1), column(x, 0) - column(x, 1)); };
  const auto correct = custom_op(forward, [](const auto& g, const auto&, const auto&) {
    return columns(column(g, 0) + column(g, 1), column(g, 0) - column(g, 1));
  });
  const auto wrong = custom_op(forward, [](const auto& g, const auto&, const auto&) {
    return columns(column(g, 0) + column(g, 1), column(g, 1) - column(g, 0));
  });
  const Tensor<double> x = random_tensor({1, 2}, 7);

  // The premise: along the all-ones cotangent the two backward passes agree.
  Tape<double> tape;
  const Tensor<double> ones = xt::ones<double>({1, 2});
  auto v = tape.variable(x);
  tape.backward(correct(v), ones);
  const Tensor<double> along_ones = v.adj();
  tape.backward(wrong(v), ones);
  CHECK(xt::allclose(Tensor<double>(v.adj()), along_ones, 0, 0));

  auto good = check_gradient([&](Tape<double>&, const Vars& in) { return correct(in[0]); }, {x});
  CHECK_MESSAGE(good.ok(), good.message());
  auto bad = check_gradient([&](Tape<double>&, const Vars& in) { return wrong(in[0]); }, {x});
  CHECK_FALSE(bad.ok());
  CHECK(bad.message().find("input 0 (1x2, 2 entries checked)") != std::string::npos);
}

TEST_CASE("inputs larger than max_entries are checked on a random sample of entries") {
  const Tensor<double> big = random_tensor({60, 50}, 8), small = random_tensor({4, 5}, 9);
  GradCheckOptions opt;
  opt.max_entries = 100;
  const auto f = [](Tape<double>&, const Vars& v) { return sum(cube(v[0])) + sum(cube(v[1])); };

  auto report = check_gradient(f, {big, small}, opt);
  CHECK_MESSAGE(report.ok(), report.message());
  REQUIRE(report.inputs.size() == 2);
  CHECK(report.inputs[0].entries_checked == 100);
  CHECK(report.inputs[1].entries_checked == 20);  // 20 <= max_entries: every entry
  CHECK(report.inputs[0].shape == Shape{60, 50});

  // An error everywhere in the large input is found in the sample; the sample is fixed by the seed.
  const auto twice = custom_op([](const auto& x) { return x * x * x; },
                               [](const auto& g, const auto&, const auto& x) { return 6.0 * x * x * g; });
  const auto g = [&](Tape<double>&, const Vars& v) { return sum(twice(v[0])) + sum(cube(v[1])); };
  auto first = check_gradient(g, {big, small}, opt), second = check_gradient(g, {big, small}, opt);
  CHECK_FALSE(first.ok());
  CHECK(first.inputs[0].entries_checked == 100);
  CHECK(first.inputs[1].max_rel_error <= first.tolerance);
  CHECK(first.message() == second.message());
}

TEST_CASE("a function that throws or is not finite gives a failed report with the reason, not a crash") {
  const Tensor<double> x = random_tensor({2, 3}, 10, Domain{0.5, 2.0});

  SUBCASE("f throws") {
    auto report = check_gradient(
        [](Tape<double>&, const Vars&) -> Var<double> { throw wgflow::Error("model diverged"); }, {x});
    CHECK_FALSE(report.ok());
    CHECK(report.error.find("model diverged") != std::string::npos);
    CHECK(report.message().find("gradient check could not run: model diverged") != std::string::npos);
  }
  SUBCASE("an op inside f rejects its shapes") {
    auto report = check_gradient([](Tape<double>&, const Vars& v) { return v[0] + v[1]; }, {x, random_tensor({3, 2}, 11)});
    CHECK_FALSE(report.ok());
    CHECK(report.error.find("add: shapes 2x3 and 3x2") != std::string::npos);
  }
  SUBCASE("f is NaN at the given point") {
    auto report = check_gradient([](Tape<double>&, const Vars& v) { return log(-v[0]); }, {x});
    CHECK_FALSE(report.ok());
    CHECK(report.error.find("non-finite") != std::string::npos);
  }
  SUBCASE("f is NaN only at the finite-difference points") {
    // sqrt at 1e-3: the stencil reaches x - 2h = -1e-3 at the default step h = 1e-3.
    Tensor<double> near_zero = x;
    near_zero(0, 1) = 1e-3;
    auto report = check_gradient([](Tape<double>&, const Vars& v) { return sqrt(v[0]); }, {near_zero});
    CHECK_FALSE(report.ok());
    CHECK(report.error.empty());
    CHECK(report.inputs.at(0).worst_row == 0);
    CHECK(report.inputs.at(0).worst_col == 1);
    CHECK(std::isnan(report.inputs.at(0).worst_numeric));
    CHECK(report.message().find("FAILED") != std::string::npos);
  }
}

TEST_CASE("custom_op reports a wrong shape from the user's functions, naming the op and the shapes") {
  Tape<double> tape;
  auto x = tape.variable(random_tensor({2, 3}, 12));

  SUBCASE("a contribution with the wrong shape") {
    const auto bad = custom_op([](const auto& a) { return a * 2.0; },
                               [](const auto& g, const auto&, const auto&) { return xt::transpose(g) * 2.0; },
                               "double_transposed");
    auto y = bad(x);
    CHECK_THROWS_WITH_AS(tape.backward(y, xt::ones<double>({2, 3})),
                         doctest::Contains("custom op 'double_transposed': vjp's contribution to input 0 is 3x2, "
                                           "but input 0 is 2x3 and the output 2x3"),
                         wgflow::ShapeError);
    // The checker turns the same error into a failed report.
    auto report = check_gradient([&](Tape<double>&, const Vars& v) { return bad(v[0]); }, {random_tensor({2, 3}, 13)});
    CHECK_FALSE(report.ok());
    CHECK(report.error.find("double_transposed") != std::string::npos);
  }
  SUBCASE("a contribution that would only broadcast to the input is refused, not silently spread") {
    const auto bad = custom_op([](const auto& a) { return xt::sum(a); },
                               [](const auto& g, const auto&, const auto&) { return g; }, "total");
    auto y = bad(x);
    CHECK(y.shape() == Shape{1, 1});
    CHECK_THROWS_WITH_AS(tape.backward(y), doctest::Contains("custom op 'total': vjp's contribution to input 0 is 1x1"),
                         wgflow::ShapeError);
  }
  SUBCASE("results of the wrong rank") {
    const auto flat_forward = custom_op([](const auto& a) { return xt::flatten(a); },
                                        [](const auto& g, const auto&, const auto&) { return g; }, "flat");
    CHECK_THROWS_WITH_AS(flat_forward(x), doctest::Contains("custom op 'flat': forward's result has rank 1"),
                         wgflow::ShapeError);
    const auto flat_vjp = custom_op([](const auto& a) { return a; },
                                    [](const auto& g, const auto&, const auto&) { return xt::flatten(g); });
    auto y = flat_vjp(x);
    CHECK_THROWS_WITH_AS(tape.backward(y, xt::ones<double>({2, 3})),
                         doctest::Contains("custom op 'custom_op': vjp's contribution to input 0 has rank 1"),
                         wgflow::ShapeError);
  }
}

TEST_CASE("custom_op skips the vjp for constants and works on a float tape") {
  int calls = 0;
  const auto counted = custom_op([](const auto& a, const auto& b) { return a * b; },
                                 [&calls](const auto& g, const auto&, const auto& a, const auto& b) {
                                   ++calls;
                                   return std::tuple{g * b, g * a};
                                 });
  Tape<float> tape;
  const Tensor<float> a{{1.f, 2.f}, {3.f, 4.f}}, b{{0.5f, -1.f}, {2.f, 0.25f}};
  auto ca = tape.constant(a), cb = tape.constant(b), vb = tape.variable(b);

  auto constant_only = counted(ca, cb);
  CHECK_FALSE(constant_only.needs_grad());
  tape.backward(constant_only, xt::ones<float>({2, 2}));
  CHECK(calls == 0);

  // One constant input: its contribution is discarded, the variable's is accumulated.
  auto mixed = counted(ca, vb);
  tape.backward(mixed, xt::ones<float>({2, 2}));
  CHECK(calls == 1);
  CHECK(xt::all(xt::equal(Tensor<float>(vb.adj()), a)));
  CHECK(xt::all(xt::equal(Tensor<float>(mixed.val()), a * b)));
}

TEST_CASE("a custom op whose VJP returns an expression over a by-value argument gets the right gradient") {
  // xtensor is lazy: xt::cos(x) holds a reference to the parameter x, a copy that lives only as long as the
  // call. Such an op once gave an all-zero gradient, silently; custom_op now evaluates the results first.
  using T = Tensor<double>;
  const T x = random_tensor({3, 4}, 21), b = random_tensor({3, 4}, 22), u = random_tensor({3, 4}, 23);

  SUBCASE("the vjp") {
    const auto sine = custom_op([](const auto& a) { return xt::sin(a); },
                                [](const auto& g, const auto&, T a) { return g * xt::cos(a); }, "sine_vjp_by_value");
    Tape<double> tape;
    auto v = tape.variable(x);
    tape.backward(sine(v), u);
    CHECK(xt::allclose(T(v.adj()), u * xt::cos(x), 1e-14, 1e-15));
    auto report = check_gradient([&](Tape<double>&, const Vars& in) { return sine(in[0]); }, {x});
    CHECK_MESSAGE(report.ok(), report.message());
  }
  SUBCASE("the forward and the vjp") {
    const auto sine = custom_op([](T a) { return xt::sin(a); },
                                [](const auto& g, const auto&, T a) { return g * xt::cos(a); }, "sine_by_value");
    Tape<double> tape;
    auto v = tape.variable(x);
    auto y = sine(v);
    CHECK(xt::allclose(T(y.val()), xt::sin(x), 1e-14, 1e-15));
    tape.backward(y, u);
    CHECK(xt::allclose(T(v.adj()), u * xt::cos(x), 1e-14, 1e-15));
    auto report = check_gradient([&](Tape<double>&, const Vars& in) { return sine(in[0]); }, {x});
    CHECK_MESSAGE(report.ok(), report.message());
  }
  SUBCASE("two inputs: a rank-0 forward and a tuple of contributions") {
    // sum(a sin(b)); d/da = sin(b), d/db = a cos(b).
    const auto weighted = custom_op([](T a, T c) { return xt::sum(a * xt::sin(c)); },
                                    [](const auto& g, const auto&, T a, T c) {
                                      return std::tuple{g * xt::sin(c), g * a * xt::cos(c)};
                                    },
                                    "weighted_sine_sum_by_value");
    Tape<double> tape;
    auto va = tape.variable(x), vb = tape.variable(b);
    auto y = weighted(va, vb);
    CHECK(y.item() == doctest::Approx(xt::sum(x * xt::sin(b))()).epsilon(1e-14));
    tape.backward(y);
    CHECK(xt::allclose(T(va.adj()), xt::sin(b), 1e-14, 1e-15));
    CHECK(xt::allclose(T(vb.adj()), x * xt::cos(b), 1e-14, 1e-15));
    auto report = check_gradient([&](Tape<double>&, const Vars& in) { return weighted(in[0], in[1]); }, {x, b});
    CHECK_MESSAGE(report.ok(), report.message());
  }
}
