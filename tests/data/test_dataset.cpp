// Data sets and their standardisation: statistics, the constant-column rule, robustness at the ends of
// the double range, the inverse maps, and shape errors.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <xtensor/xview.hpp>

#include "data/dataset.hpp"
#include "core/random.hpp"

using wgflow::ShapeError;
using wgflow::Tensor;
using wgflow::data::ColumnScaling;
using wgflow::data::Dataset;
using wgflow::data::Standardisation;

namespace {

// Mean and population std of column j in long double: the reference the fit is compared with.
std::pair<long double, long double> reference_moments(const Tensor<double>& A, std::size_t j) {
  const std::size_t n = A.shape(0);
  long double sum = 0, squares = 0;
  for (std::size_t i = 0; i < n; ++i) sum += A(i, j);
  const long double mean = sum / n;
  for (std::size_t i = 0; i < n; ++i) squares += (A(i, j) - mean) * (A(i, j) - mean);
  return {mean, std::sqrt(squares / n)};
}

Tensor<double> random_matrix(std::size_t n, std::size_t d, std::uint64_t seed) {
  wgflow::Rng rng(seed);
  Tensor<double> A = Tensor<double>::from_shape({n, d});
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j) A(i, j) = 1e3 * static_cast<double>(j) + std::pow(10.0, j) * rng.normal();
  return A;
}

}  // namespace

TEST_CASE("fit: the mean and the population std (divisor n) of each column") {
  const Tensor<double> A = {{1, 10}, {2, 10}, {3, 40}, {4, 20}};
  const ColumnScaling s = ColumnScaling::fit(A);
  CHECK(s.mean()(0, 0) == 2.5);
  CHECK(s.scale()(0, 0) == doctest::Approx(std::sqrt(1.25)).epsilon(1e-15));
  CHECK(s.mean()(0, 1) == 20);
  CHECK(s.scale()(0, 1) == doctest::Approx(std::sqrt(150.0)).epsilon(1e-15));

  // Against a long-double two-pass reference on columns of very different location and scale; the
  // fit's corrected two-pass is accurate to a few ulps, so 1e-13 relative is a wide margin.
  const Tensor<double> B = random_matrix(1000, 5, 3);
  const ColumnScaling t = ColumnScaling::fit(B);
  for (std::size_t j = 0; j < 5; ++j) {
    const auto [mean, std] = reference_moments(B, j);
    CHECK(t.mean()(0, j) == doctest::Approx(static_cast<double>(mean)).epsilon(1e-13));
    CHECK(t.scale()(0, j) == doctest::Approx(static_cast<double>(std)).epsilon(1e-13));
  }
  // Applied to the data it was fitted on: mean 0 and std 1 per column, to rounding. The fitted mean is
  // within a few ulps of the exact one, so mean(Z) is a few eps |mean| / std: ~1e-14 for column 1 (1000
  // +- 10, the worst), under 1e-13 with margin. A plain two-pass mean, off by its sum's rounding (~sqrt(n)
  // eps |mean|, n = 1000), leaves 2.3e-13 there: this bound tells the two apart.
  const Tensor<double> Z = t.apply(B);
  for (std::size_t j = 0; j < 5; ++j) {
    const auto [mean, std] = reference_moments(Z, j);
    CHECK(std::abs(static_cast<double>(mean)) < 1e-13);
    CHECK(static_cast<double>(std) == doctest::Approx(1).epsilon(1e-13));
  }
}

TEST_CASE("fit: a constant column gets std 1 and standardises to exactly 0") {
  // 0.998 summed 10741 times and divided by 10741 is not 0.998 in double: a naive fit would give a std
  // of rounding noise and blow the column up to values of order 1 (naval-propulsion-plant's case).
  Tensor<double> A = Tensor<double>::from_shape({10741, 2});
  for (std::size_t i = 0; i < A.shape(0); ++i) {
    A(i, 0) = 0.998;
    A(i, 1) = static_cast<double>(i % 7);
  }
  const ColumnScaling s = ColumnScaling::fit(A);
  CHECK(s.mean()(0, 0) == 0.998);
  CHECK(s.scale()(0, 0) == 1);
  const Tensor<double> Z = s.apply(A);
  for (std::size_t i = 0; i < A.shape(0); ++i) REQUIRE(Z(i, 0) == 0);
  CHECK(s.scale()(0, 1) > 1);
  // A single row is constant in every column.
  const ColumnScaling one = ColumnScaling::fit(Tensor<double>{{3, -4}});
  CHECK(one.scale() == Tensor<double>{{1, 1}});
  CHECK(one.apply(Tensor<double>{{3, -4}}) == Tensor<double>{{0, 0}});
}

TEST_CASE("fit: finite and accurate at both ends of the double range") {
  // Naively, the sum of 1e308 and 1e308 overflows, and the squares of deviations of order 1e-300
  // underflow to 0 (std 0). Column 0: mean 3.75e307, std sqrt(0.671875) 1e308; column 1: mean 2e-300,
  // std sqrt(0.5) 1e-300 (deviations -1, 1, 0, 0 times 1e-300).
  const Tensor<double> A = {{1e308, 1e-300}, {1e308, 3e-300}, {-1e308, 2e-300}, {5e307, 2e-300}};
  const ColumnScaling s = ColumnScaling::fit(A);
  const auto relative_error = [](double x, double exact) { return std::abs(x - exact) / std::abs(exact); };
  // A handful of roundings on 4 values: 1e-15 relative is several ulps of slack.
  CHECK(relative_error(s.mean()(0, 0), 3.75e307) < 1e-15);
  CHECK(relative_error(s.scale()(0, 0), std::sqrt(0.671875) * 1e308) < 1e-15);
  CHECK(relative_error(s.mean()(0, 1), 2e-300) < 1e-15);
  CHECK(relative_error(s.scale()(0, 1), std::sqrt(0.5) * 1e-300) < 1e-15);
  const Tensor<double> Z = s.apply(A);
  for (const double z : Z) CHECK(std::isfinite(z));
}

TEST_CASE("apply, invert and invert_spread") {
  const Tensor<double> A = random_matrix(50, 3, 11);
  const ColumnScaling s = ColumnScaling::fit(A);
  const Tensor<double> back = s.invert(s.apply(A));
  for (std::size_t i = 0; i < A.shape(0); ++i)
    for (std::size_t j = 0; j < A.shape(1); ++j)
      CHECK(back(i, j) == doctest::Approx(A(i, j)).epsilon(1e-14).scale(1e3));
  // A spread (a std, an RMSE) scales but does not shift.
  const Tensor<double> spread = s.invert_spread(Tensor<double>{{1, 2, 0.5}});
  CHECK(spread(0, 0) == s.scale()(0, 0));
  CHECK(spread(0, 1) == 2 * s.scale()(0, 1));
  CHECK(spread(0, 2) == 0.5 * s.scale()(0, 2));
  CHECK(ColumnScaling::identity(3).apply(A) == A);
}

TEST_CASE("Standardisation: statistics from the training split, applied unchanged to the test split") {
  const Tensor<double> X = random_matrix(40, 3, 5), Y = random_matrix(40, 2, 6);
  const Dataset all(X, Y);
  std::vector<std::size_t> train_rows, test_rows;
  for (std::size_t i = 0; i < 40; ++i) (i % 5 == 0 ? test_rows : train_rows).push_back(i);
  const Dataset train = all.subset(train_rows), test = all.subset(test_rows);
  const Standardisation s = Standardisation::fit(train);
  const Dataset z = s.apply(test);
  for (std::size_t i = 0; i < test.size(); ++i) {
    for (std::size_t j = 0; j < 3; ++j)
      CHECK(z.X()(i, j) == (test.X()(i, j) - s.inputs.mean()(0, j)) / s.inputs.scale()(0, j));
    for (std::size_t j = 0; j < 2; ++j)
      CHECK(z.Y()(i, j) == (test.Y()(i, j) - s.targets.mean()(0, j)) / s.targets.scale()(0, j));
  }
  // The fit saw only the training rows.
  CHECK(s.inputs.mean() == ColumnScaling::fit(train.X()).mean());
  CHECK(s.inputs.mean() != ColumnScaling::fit(X).mean());
}

TEST_CASE("Dataset::subset and gather_rows keep the order asked for") {
  const Dataset d(Tensor<double>{{0, 1}, {2, 3}, {4, 5}}, Tensor<double>{{10}, {11}, {12}});
  const std::vector<std::size_t> rows = {2, 0, 2};
  const Dataset s = d.subset(rows);
  CHECK(s.X() == Tensor<double>{{4, 5}, {0, 1}, {4, 5}});
  CHECK(s.Y() == Tensor<double>{{12}, {10}, {12}});
  CHECK(s.size() == 3);
  CHECK(s.num_inputs() == 2);
  CHECK(s.num_outputs() == 1);
}

TEST_CASE("shape errors name the function and the shapes") {
  CHECK_THROWS_WITH_AS(Dataset(Tensor<double>::from_shape({3, 2}), Tensor<double>::from_shape({4, 1})),
                       "Dataset: inputs 3x2 and targets 4x1 have different numbers of rows", ShapeError);
  const Dataset d(Tensor<double>{{0, 1}, {2, 3}}, Tensor<double>{{10}, {11}});
  const std::vector<std::size_t> rows = {1, 2};
  CHECK_THROWS_WITH_AS(d.subset(rows), "gather_rows: row 2 out of range for a 2x2 tensor", ShapeError);
  const ColumnScaling s = ColumnScaling::fit(d.X());
  CHECK_THROWS_WITH_AS(s.apply(Tensor<double>::from_shape({2, 3})),
                       "ColumnScaling::apply: fitted on 2 columns, got 2x3", ShapeError);
  CHECK_THROWS_WITH_AS(ColumnScaling::fit(Tensor<double>::from_shape({0, 3})),
                       "ColumnScaling::fit: no rows to fit, got 0x3", ShapeError);
  CHECK_THROWS_WITH_AS(Standardisation::fit(d).apply(Dataset(Tensor<double>::from_shape({1, 3}),
                                                             Tensor<double>::from_shape({1, 1}))),
                       "Standardisation::apply: fitted on 2 inputs and 1 targets, got a data set with 3 and 1",
                       ShapeError);
}
