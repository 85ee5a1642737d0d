#include <array>
#include <limits>
#include <vector>

#include <xtensor/xmanipulation.hpp>
#include <xtensor/xview.hpp>

#include "tests/support/op_check.hpp"

using namespace wgtest;
using wgflow::ad::cols;
using wgflow::ad::concat;
using wgflow::ad::gather_rows;
using wgflow::ad::reshape;
using wgflow::ad::rows;
using wgflow::ad::transpose;

TEST_CASE("transpose, including shapes that span several 32 x 32 tiles") {
  std::vector<std::vector<Shape>> shapes = unary_shapes;
  shapes.push_back({{37, 70}});
  check_op([](const Vars& v) { return transpose(v[0]); },
           [](const Values& x) {
             Tensor<double> t = xt::zeros<double>({x[0].shape()[1], x[0].shape()[0]});
             for (std::size_t i = 0; i < x[0].shape()[0]; ++i)
               for (std::size_t j = 0; j < x[0].shape()[1]; ++j) t(j, i) = x[0](i, j);
             return t;
           },
           shapes);
}

TEST_CASE("reshape keeps the row-major order of the entries") {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{1, 1}, {1, 1}}, {{3, 4}, {2, 6}}, {{3, 4}, {12, 1}}, {{3, 4}, {1, 12}}, {{1, 6}, {3, 2}}};
  for (const auto& [from, to] : cases) {
    check_op([to = to](const Vars& v) { return reshape(v[0], to); },
             [to = to](const Values& x) -> Tensor<double> { return xt::reshape_view(x[0], to); }, {{from}});
  }
}

TEST_CASE("rows and cols take half-open slices") {
  check_op([](const Vars& v) { return rows(v[0], 1, 3); },
           [](const Values& x) -> Tensor<double> { return xt::view(x[0], xt::range(1, 3), xt::all()); }, {{{4, 5}}});
  check_op([](const Vars& v) { return rows(v[0], 0, 4); }, [](const Values& x) { return x[0]; }, {{{4, 5}}});
  check_op([](const Vars& v) { return cols(v[0], 2, 5); },
           [](const Values& x) -> Tensor<double> { return xt::view(x[0], xt::all(), xt::range(2, 5)); }, {{{4, 5}}});
  check_op([](const Vars& v) { return cols(v[0], 0, 1); },
           [](const Values& x) -> Tensor<double> { return xt::view(x[0], xt::all(), xt::range(0, 1)); }, {{{4, 5}}});
  check_op([](const Vars& v) { return rows(v[0], 0, 1) + cols(v[0], 0, 1); },
           [](const Values& x) -> Tensor<double> { return 2 * x[0]; }, {{{1, 1}}});
  // Two slices of one variable: their adjoints land in disjoint blocks of its gradient.
  check_op([](const Vars& v) { return rows(v[0], 0, 2) * rows(v[0], 2, 4); },
           [](const Values& x) -> Tensor<double> {
             return xt::view(x[0], xt::range(0, 2), xt::all()) * xt::view(x[0], xt::range(2, 4), xt::all());
           },
           {{{4, 3}}});
}

TEST_CASE("gather_rows accumulates the adjoint of a row gathered several times") {
  const std::array<std::size_t, 5> idx{2, 0, 2, 2, 3};
  check_op([&](const Vars& v) { return gather_rows(v[0], idx); },
           [&](const Values& x) {
             Tensor<double> g = xt::zeros<double>({idx.size(), x[0].shape()[1]});
             for (std::size_t k = 0; k < idx.size(); ++k) xt::view(g, k, xt::all()) = xt::view(x[0], idx[k], xt::all());
             return g;
           },
           {{{4, 3}}, {{4, 1}}});
  const std::array<std::size_t, 3> zeros{0, 0, 0};
  check_op([&](const Vars& v) { return gather_rows(v[0], zeros); },
           [](const Values& x) -> Tensor<double> { return xt::ones<double>({3, 1}) * x[0](0, 0); }, {{{1, 1}}});
  // The gradient of sum(gather_rows(x, idx)) counts how often each row was gathered.
  Tape<double> tape;
  auto x = tape.variable(random_tensor({4, 2}, 3));
  tape.backward(sum(gather_rows(x, idx)));
  CHECK(x.adj() == Tensor<double>{{1, 1}, {0, 0}, {3, 3}, {1, 1}});
}

TEST_CASE("concat stacks parts along either axis") {
  auto stack = [](const Values& x, int axis) { return Tensor<double>(xt::concatenate(xt::xtuple(x[0], x[1], x[2]), axis)); };
  check_op([](const Vars& v) { return concat({v[0], v[1], v[2]}, 0); }, [&](const Values& x) { return stack(x, 0); },
           {{{1, 1}, {1, 1}, {1, 1}}, {{2, 3}, {1, 3}, {4, 3}}});
  check_op([](const Vars& v) { return concat({v[0], v[1], v[2]}, 1); }, [&](const Values& x) { return stack(x, 1); },
           {{{1, 1}, {1, 1}, {1, 1}}, {{3, 2}, {3, 1}, {3, 4}}});
  // The vector (span) overload, and a part used twice.
  check_op([](const Vars& v) { return concat(std::vector<Var<double>>{v[0], v[1], v[0]}, 1); },
           [&](const Values& x) { return stack({x[0], x[1], x[0]}, 1); }, {{{2, 2}, {2, 3}}});
}

TEST_CASE("concat passes gradients to variable parts only") {
  Tape<double> tape;
  auto c = tape.constant(Tensor<double>{{1, 2}});
  auto x = tape.variable(Tensor<double>{{3, 4}, {5, 6}});
  auto y = concat({c, x}, 0);
  CHECK(y.val() == Tensor<double>{{1, 2}, {3, 4}, {5, 6}});
  tape.backward(sum(y * y));
  CHECK(x.adj() == Tensor<double>{{6, 8}, {10, 12}});
  CHECK_FALSE(concat({c, c}, 1).needs_grad());
}

TEST_CASE("structural ops name the op, the shapes and the offending index or part") {
  Tape<double> tape;
  auto a = tape.variable(Tensor<double>::from_shape({3, 4}));
  auto b = tape.variable(Tensor<double>::from_shape({2, 5}));
  CHECK_THROWS_WITH_AS(reshape(a, {5, 2}), doctest::Contains("reshape: cannot reshape 3x4 (12 entries) to 5x2"),
                       wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(rows(a, 2, 4), doctest::Contains("rows: slice [2, 4) is out of range for a 3x4 input"),
                       wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(rows(a, 2, 1), doctest::Contains("rows: slice [2, 1)"), wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(cols(a, 0, 5), doctest::Contains("cols: slice [0, 5) is out of range for a 3x4 input"),
                       wgflow::ShapeError);
  const std::array<std::size_t, 3> idx{0, 3, 1};
  CHECK_THROWS_WITH_AS(gather_rows(a, idx),
                       doctest::Contains("gather_rows: index 3 (at position 1) is out of range for a 3x4 input"),
                       wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(concat({a, a, b}, 0), doctest::Contains("concat: along axis 0 every part needs 4 columns"),
                       wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(concat({a, a, b}, 0), doctest::Contains("(as part 0, 3x4), but part 2 is 2x5"),
                       wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(concat({a, b}, 1), doctest::Contains("concat: along axis 1 every part needs 3 rows"),
                       wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(concat({a, b}, 2), doctest::Contains("concat: axis 2 is invalid for a 3x4 input"),
                       wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(concat(std::vector<Var<double>>{}, 0), doctest::Contains("concat: no parts"),
                       wgflow::ShapeError);
  Tape<double> other;
  auto c = other.variable(Tensor<double>::from_shape({3, 4}));
  CHECK_THROWS_WITH_AS(concat({a, c}, 0), doctest::Contains("concat: part 1 is on a different tape"),
                       wgflow::TapeError);
}

TEST_CASE("float transposes, slices, gathers and concatenations match double") {
  const double tol = 16 * std::numeric_limits<float>::epsilon();
  const Domain d{-2, 2};
  // Several 32 x 32 tiles of the transpose, and a ragged edge.
  check_float_matches_double([](const auto& x) { return transpose(x) * 2.0; }, d, tol,
                             {Shape{1, 1}, Shape{5, 7}, Shape{37, 70}});
  check_float_matches_double([](const auto& x) { return concat({x, rows(x, 1, 3) * 2.0}, 0); }, d, tol,
                             {Shape{5, 7}, Shape{40, 3}});
  check_float_matches_double([](const auto& x) { return concat({cols(x, 0, 2), x}, 1); }, d, tol,
                             {Shape{5, 7}, Shape{40, 3}});
  static constexpr std::array<std::size_t, 4> gathered{2, 0, 2, 4};
  check_float_matches_double([](const auto& x) { return gather_rows(x, gathered) * 3.0; }, d, tol, {Shape{5, 7}});
}
