// The classification metrics of predicted probabilities (analysis/classification_metrics.hpp) against values
// computed by hand, bin edges included.
#include <doctest/doctest.h>

#include <cmath>

#include "analysis/classification_metrics.hpp"

using namespace wgflow;

TEST_CASE("accuracy, NLL and expected calibration error against hand computation") {
  const Tensor<double> P{{0.9, 0.1}, {0.6, 0.4}, {0.3, 0.7}, {0.2, 0.8}, {0.55, 0.45}};
  const Tensor<double> y{{0.0}, {1.0}, {1.0}, {0.0}, {0.0}};
  // Predicted 0, 0, 1, 1, 0: rows 0, 2 and 4 right.
  CHECK(analysis::accuracy(P, y) == doctest::Approx(0.6).epsilon(1e-15));
  const double nll = -(std::log(0.9) + std::log(0.4) + std::log(0.7) + std::log(0.2) + std::log(0.55)) / 5;
  CHECK(analysis::negative_log_likelihood(P, y) == doctest::Approx(nll).epsilon(1e-15));
  // Ten bins ((m-1)/10, m/10]: confidences 0.6 and 0.55 share (0.5, 0.6] (one right: |1 - 1.15|), 0.7 is
  // right (|1 - 0.7|), 0.8 wrong (0.8), 0.9 right (0.1). Edges belong to the bin below: 0.7 * 10 rounds up.
  CHECK(analysis::expected_calibration_error(P, y) == doctest::Approx((0.15 + 0.3 + 0.8 + 0.1) / 5).epsilon(1e-14));
  // Two bins (or one): everything in (0.5, 1], |3 - 3.55| / 5: accuracy 0.6 against mean confidence 0.71.
  CHECK(analysis::expected_calibration_error(P, y, 2) == doctest::Approx(0.11).epsilon(1e-14));
  CHECK(analysis::expected_calibration_error(P, y, 1) == doctest::Approx(0.11).epsilon(1e-14));
  const auto m = analysis::classification_metrics(P, y);
  CHECK(m.accuracy == analysis::accuracy(P, y));
  CHECK(m.ece == analysis::expected_calibration_error(P, y));
  // Calibrated: four rows at confidence 0.75, three of them right.
  const Tensor<double> Q{{0.75, 0.25}, {0.25, 0.75}, {0.75, 0.25}, {0.75, 0.25}};
  CHECK(analysis::expected_calibration_error(Q, Tensor<double>{{0.0}, {1.0}, {0.0}, {1.0}}) == doctest::Approx(0.0));
  // A true class given probability 0: the NLL is infinite, not clamped.
  CHECK(std::isinf(analysis::negative_log_likelihood(Tensor<double>{{1.0, 0.0}}, Tensor<double>{{1.0}})));
}

TEST_CASE("predictive entropy: log K where the classes are indistinguishable, 0 where one is certain") {
  const Tensor<double> H = analysis::predictive_entropy(Tensor<double>{{0.5, 0.5, 0.0}, {1.0, 0.0, 0.0},
                                                                      {1.0 / 3, 1.0 / 3, 1.0 / 3}, {0.1, 0.9, 0.0}});
  REQUIRE(H.shape() == Shape{4, 1});
  CHECK(H(0, 0) == doctest::Approx(std::log(2.0)).epsilon(1e-15));
  CHECK(H(1, 0) == 0.0);
  CHECK(H(2, 0) == doctest::Approx(std::log(3.0)).epsilon(1e-15));
  CHECK(H(3, 0) == doctest::Approx(-0.1 * std::log(0.1) - 0.9 * std::log(0.9)).epsilon(1e-15));
}

TEST_CASE("the metrics refuse labels and probabilities that do not fit, naming them") {
  const Tensor<double> P{{0.9, 0.1}, {0.6, 0.4}};
  CHECK_THROWS_WITH_AS(analysis::accuracy(P, Tensor<double>{{0.0}, {2.0}}), doctest::Contains("label in row 1 is 2"),
                       Error);
  CHECK_THROWS_WITH_AS(analysis::accuracy(P, Tensor<double>{{0.0}}),
                       doctest::Contains("probabilities are 2x2 and labels 1x1"), ShapeError);
  CHECK_THROWS_WITH_AS(analysis::negative_log_likelihood(Tensor<double>{{0.5, std::nan("")}}, Tensor<double>{{0.0}}),
                       doctest::Contains("row 0, class 1"), Error);
  CHECK_THROWS_AS(analysis::expected_calibration_error(P, Tensor<double>{{0.0}, {1.0}}, 0), Error);
}
