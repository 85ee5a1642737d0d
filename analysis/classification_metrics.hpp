#pragma once
// How good a classifier's predicted probabilities are, against the true labels. P is B x K class
// probabilities (rows summing to 1: flows::predict(model, likelihood, particles, X).mean of a
// classification, the ensemble's mixture), y is B x 1 class indices stored as T (as the training targets).
//
//   accuracy(P, y)                        the fraction of rows whose most probable class (the first of ties)
//                                         is the label
//   negative_log_likelihood(P, y)         -(1/B) sum_i log P_{i, y_i}: the test NLL (+inf where a true class
//                                         has probability 0: a prediction that rules out what happened)
//   expected_calibration_error(P, y, M)   sum_m (|B_m| / B) |acc(B_m) - conf(B_m)| over M equal-width bins of
//                                         the confidence c_i = max_c P_ic, bin m = ((m-1)/M, m/M]: how far
//                                         the stated confidence is from the accuracy it achieves (Guo, Pleiss,
//                                         Sun & Weinberger 2017, "On calibration of modern neural networks",
//                                         eq. 3; empty bins count 0)
//   predictive_entropy(P)                 H_i = -sum_c P_ic log P_ic (0 log 0 = 0), B x 1: the mixture's total
//                                         uncertainty, log K where it cannot tell the classes apart
//
//   const auto pred = flows::predict(net, models::SoftmaxCrossEntropy<double>(), particles, X_test);
//   const auto m = analysis::classification_metrics(pred.mean, y_test);   // m.accuracy, m.nll, m.ece
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "../core/errors.hpp"
#include "../core/tensor.hpp"

namespace wgflow::analysis {

namespace detail {

// Throws unless P is B x K (K >= 1) with finite non-negative entries and y is B x 1 integer indices in
// [0, K); returns the labels as indices.
template <class T>
std::vector<std::size_t> checked_labels(const char* where, const Tensor<T>& P, const Tensor<T>& y) {
  const std::size_t B = P.shape()[0], K = P.shape()[1];
  if (K == 0 || y.shape()[0] != B || y.shape()[1] != 1)
    throw ShapeError(std::string(where) + ": probabilities are " + shape_string({B, K}) + " and labels " +
                     shape_string({y.shape()[0], y.shape()[1]}) + "; expected B x K (K >= 1) and B x 1");
  for (std::size_t i = 0; i < P.size(); ++i)
    if (!(P.data()[i] >= 0) || !std::isfinite(P.data()[i]))
      throw Error(std::string(where) + ": probability in row " + std::to_string(i / K) + ", class " +
                  std::to_string(i % K) + " is " + std::to_string(P.data()[i]) + "; expected a finite value >= 0");
  std::vector<std::size_t> labels(B);
  for (std::size_t i = 0; i < B; ++i) {
    const T v = y(i, 0);
    if (!(v >= 0) || v >= static_cast<T>(K) || v != std::floor(v))
      throw Error(std::string(where) + ": label in row " + std::to_string(i) + " is " + std::to_string(v) +
                  "; expected an integer class index in [0, " + std::to_string(K) + ")");
    labels[i] = static_cast<std::size_t>(v);
  }
  return labels;
}

// The most probable class of row i (the first of ties).
template <class T>
std::size_t predicted_class(const Tensor<T>& P, std::size_t i) {
  std::size_t best = 0;
  for (std::size_t c = 1; c < P.shape()[1]; ++c)
    if (P(i, c) > P(i, best)) best = c;
  return best;
}

}  // namespace detail

template <class T>
T accuracy(const Tensor<T>& P, const Tensor<T>& y) {
  const std::vector<std::size_t> labels = detail::checked_labels("accuracy", P, y);
  if (labels.empty()) throw Error("accuracy: no rows");
  std::size_t correct = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) correct += detail::predicted_class(P, i) == labels[i];
  return static_cast<T>(correct) / static_cast<T>(labels.size());
}

template <class T>
T negative_log_likelihood(const Tensor<T>& P, const Tensor<T>& y) {
  const std::vector<std::size_t> labels = detail::checked_labels("negative_log_likelihood", P, y);
  if (labels.empty()) throw Error("negative_log_likelihood: no rows");
  T total = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) total -= std::log(P(i, labels[i]));
  return total / static_cast<T>(labels.size());
}

template <class T>
T expected_calibration_error(const Tensor<T>& P, const Tensor<T>& y, std::size_t bins = 10) {
  const std::vector<std::size_t> labels = detail::checked_labels("expected_calibration_error", P, y);
  if (labels.empty()) throw Error("expected_calibration_error: no rows");
  if (bins == 0) throw Error("expected_calibration_error: need at least one bin");
  const T M = static_cast<T>(bins);
  std::vector<T> confidence(bins, T(0)), correct(bins, T(0));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const std::size_t c = detail::predicted_class(P, i);
    const T conf = P(i, c);
    // Bin m (1-based) holds (m-1)/M < conf <= m/M; ceil(conf M) may round one bin up at an edge (0.3 * 10
    // is 3.0000000000000004), which the comparison with the edge itself undoes.
    T m = std::ceil(conf * M);
    if (m >= 1 && conf <= (m - 1) / M) m -= 1;
    const std::size_t b = m < 1 ? 0 : std::min(bins, static_cast<std::size_t>(m)) - 1;
    confidence[b] += conf;
    correct[b] += c == labels[i] ? T(1) : T(0);
  }
  // sum_m (|B_m| / B) |acc_m - conf_m| = (1/B) sum_m |correct_m - confidence_m|.
  T ece = 0;
  for (std::size_t b = 0; b < bins; ++b) ece += std::abs(correct[b] - confidence[b]);
  return ece / static_cast<T>(labels.size());
}

template <class T>
Tensor<T> predictive_entropy(const Tensor<T>& P) {
  const std::size_t B = P.shape()[0], K = P.shape()[1];
  Tensor<T> H = Tensor<T>::from_shape({B, std::size_t{1}});
  for (std::size_t i = 0; i < B; ++i) {
    T h = 0;
    for (std::size_t c = 0; c < K; ++c)
      if (P(i, c) > 0) h -= P(i, c) * std::log(P(i, c));
    H(i, 0) = h;
  }
  return H;
}

template <class T>
struct ClassificationMetrics {
  T accuracy, nll, ece;
};

template <class T>
ClassificationMetrics<T> classification_metrics(const Tensor<T>& P, const Tensor<T>& y, std::size_t bins = 10) {
  return {accuracy(P, y), negative_log_likelihood(P, y), expected_calibration_error(P, y, bins)};
}

}  // namespace wgflow::analysis
