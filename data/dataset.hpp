#pragma once
// A supervised data set (inputs X, n x d; targets Y, n x k) and its standardisation.
//
// Regression benchmarks train on standardised data and report metrics in the original units
// (Hernandez-Lobato & Adams 2015, and every paper since): inputs and targets are shifted and scaled,
// column by column, by the mean and standard deviation of the *training* split only, the test split
// is transformed with those same statistics, and predictions are mapped back with the inverse. The
// statistics are kept in a Standardisation so that the map back is exact and explicit.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <utility>

#include "../core/errors.hpp"
#include "../core/tensor.hpp"

namespace wgflow::data {

// Row rows[i] of the row-major `src` (cols wide) into row i of `dst`, for every i; the rows are the
// caller's to check. Element by element: std::copy_n of a UCI row's few values is a memmove call per
// row, and gathering a flow's 100-row minibatch that way took ~1 us of every step (AMD Zen 3).
template <class T>
void gather_rows(const T* src, std::size_t cols, std::span<const std::size_t> rows, T* dst) {
  for (std::size_t i = 0; i < rows.size(); ++i, dst += cols) {
    const T* row = src + rows[i] * cols;
    for (std::size_t j = 0; j < cols; ++j) dst[j] = row[j];
  }
}

// Rows `rows` of `source`, in that order, written into `out` (resized only if its shape differs, so a
// training loop that gathers same-sized minibatches allocates once).
inline void gather_rows(const Tensor<double>& source, std::span<const std::size_t> rows, Tensor<double>& out) {
  const std::size_t n = source.shape(0), cols = source.shape(1);
  for (const std::size_t r : rows)
    if (r >= n)
      throw ShapeError("gather_rows: row " + std::to_string(r) + " out of range for a " + shape_string({n, cols}) +
                       " tensor");
  if (out.shape(0) != rows.size() || out.shape(1) != cols) out.resize({rows.size(), cols});
  gather_rows(source.data(), cols, rows, out.data());
}

// n examples: inputs X (n x d) and targets Y (n x k), row i of each belonging together.
class Dataset {
 public:
  Dataset() = default;
  Dataset(Tensor<double> X, Tensor<double> Y) : X_(std::move(X)), Y_(std::move(Y)) {
    if (X_.shape(0) != Y_.shape(0))
      throw ShapeError("Dataset: inputs " + shape_string({X_.shape(0), X_.shape(1)}) + " and targets " +
                       shape_string({Y_.shape(0), Y_.shape(1)}) + " have different numbers of rows");
  }

  const Tensor<double>& X() const { return X_; }
  const Tensor<double>& Y() const { return Y_; }
  std::size_t size() const { return X_.shape(0); }
  std::size_t num_inputs() const { return X_.shape(1); }
  std::size_t num_outputs() const { return Y_.shape(1); }

  // The examples `rows`, in that order (a split, or a minibatch).
  Dataset subset(std::span<const std::size_t> rows) const {
    Dataset out;
    gather_rows(X_, rows, out.X_);
    gather_rows(Y_, rows, out.Y_);
    return out;
  }

 private:
  Tensor<double> X_ = Tensor<double>::from_shape({0, 0});
  Tensor<double> Y_ = Tensor<double>::from_shape({0, 0});
};

// The per-column affine map z = (x - mean) / scale, and its inverse.
class ColumnScaling {
 public:
  ColumnScaling() = default;
  // mean and scale are 1 x cols; every scale must be positive and finite.
  ColumnScaling(Tensor<double> mean, Tensor<double> scale) : mean_(std::move(mean)), scale_(std::move(scale)) {
    if (mean_.shape(0) != 1 || mean_.shape() != scale_.shape())
      throw ShapeError("ColumnScaling: mean " + shape_string({mean_.shape(0), mean_.shape(1)}) + " and scale " +
                       shape_string({scale_.shape(0), scale_.shape(1)}) + " must both be 1 x cols");
    for (std::size_t j = 0; j < scale_.shape(1); ++j)
      if (!(scale_(0, j) > 0 && std::isfinite(scale_(0, j)) && std::isfinite(mean_(0, j))))
        throw Error("ColumnScaling: column " + std::to_string(j) + " has mean " + std::to_string(mean_(0, j)) +
                    " and scale " + std::to_string(scale_(0, j)) + "; need a finite mean and a finite scale > 0");
  }

  // The identity on `cols` columns (mean 0, scale 1): for data used as they are.
  static ColumnScaling identity(std::size_t cols) {
    return ColumnScaling(xt::zeros<double>({std::size_t{1}, cols}), xt::ones<double>({std::size_t{1}, cols}));
  }

  // Mean and population standard deviation (divisor n, as numpy.std and the reference code) of each
  // column of A. A constant column gets scale 1 and its value as mean, so it standardises to exactly
  // 0 rather than to 0/0 or to rounding noise amplified by a tiny computed std (naval-propulsion-plant
  // has two such columns).
  static ColumnScaling fit(const Tensor<double>& A) {
    const std::size_t n = A.shape(0), cols = A.shape(1);
    if (n == 0) throw ShapeError("ColumnScaling::fit: no rows to fit, got " + shape_string({n, cols}));
    Tensor<double> mean = Tensor<double>::from_shape({1, cols});
    Tensor<double> scale = Tensor<double>::from_shape({1, cols});
    for (std::size_t j = 0; j < cols; ++j) {
      double lo = A(0, j), hi = A(0, j);
      for (std::size_t i = 1; i < n; ++i) {
        lo = std::min(lo, A(i, j));
        hi = std::max(hi, A(i, j));
      }
      if (!(std::isfinite(lo) && std::isfinite(hi)))
        throw Error("ColumnScaling::fit: column " + std::to_string(j) + " holds a non-finite value");
      if (lo == hi) {
        mean(0, j) = lo;
        scale(0, j) = 1;
        continue;
      }
      // The corrected two-pass algorithm (Chan, Golub & LeVeque 1983) over the column divided by the
      // power of two p with p <= max|x| < 2p. Dividing by a power of two is exact and floating point is
      // invariant under it, so nothing overflows (values near DBL_MAX) or underflows (squares of values
      // near 1e-200). The first pass's mean m carries the sum's rounding, up to ~n eps |mean|; the
      // deviations d_i = x_i - m of the second pass are small and sum to n (mean - m) almost exactly, so
      // m + sum(d) / n is the mean to a few ulps, and the data standardise to mean 0 to a few ulps of
      // |mean| / std rather than to n of them (a column at 1000 +- 10 otherwise keeps a mean of ~1e-13).
      // The variance is sum(d^2) / n - (sum(d) / n)^2, the second term the same correction.
      const double p = std::ldexp(1.0, std::ilogb(std::max(std::abs(lo), std::abs(hi))));
      const double count = static_cast<double>(n);
      double sum = 0;
      for (std::size_t i = 0; i < n; ++i) sum += A(i, j) / p;
      const double m = sum / count;
      double deviations = 0, squares = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const double d = A(i, j) / p - m;
        deviations += d;
        squares += d * d;
      }
      const double shift = deviations / count;
      const double variance = squares / count - shift * shift;
      mean(0, j) = (m + shift) * p;
      // > 0: lo != hi, and no underflow. The correction is far below the variance (it is the square of
      // the first mean's rounding error); should rounding ever make the difference non-positive, the
      // uncorrected sum(d^2) / n, within that square of it, stands in.
      scale(0, j) = std::sqrt(variance > 0 ? variance : squares / count) * p;
    }
    return ColumnScaling(std::move(mean), std::move(scale));
  }

  const Tensor<double>& mean() const { return mean_; }
  const Tensor<double>& scale() const { return scale_; }
  std::size_t cols() const { return mean_.shape(1); }

  // z = (x - mean) / scale, row by row.
  Tensor<double> apply(const Tensor<double>& A) const {
    require_cols(A, "apply");
    return (A - mean_) / scale_;
  }
  // x = mean + scale z: predictions back in the original units.
  Tensor<double> invert(const Tensor<double>& Z) const {
    require_cols(Z, "invert");
    return Z * scale_ + mean_;
  }
  // s * scale: a spread (a standard deviation, an RMSE) back in the original units; no shift.
  Tensor<double> invert_spread(const Tensor<double>& S) const {
    require_cols(S, "invert_spread");
    return S * scale_;
  }

 private:
  void require_cols(const Tensor<double>& A, const char* op) const {
    if (A.shape(1) != cols())
      throw ShapeError(std::string("ColumnScaling::") + op + ": fitted on " + std::to_string(cols()) +
                       " columns, got " + shape_string({A.shape(0), A.shape(1)}));
  }

  Tensor<double> mean_ = Tensor<double>::from_shape({1, 0});
  Tensor<double> scale_ = Tensor<double>::from_shape({1, 0});
};

// The scalings of a data set's inputs and targets, fitted on a training split.
struct Standardisation {
  ColumnScaling inputs;
  ColumnScaling targets;

  static Standardisation fit(const Dataset& train) {
    return {ColumnScaling::fit(train.X()), ColumnScaling::fit(train.Y())};
  }
  static Standardisation identity(std::size_t num_inputs, std::size_t num_outputs) {
    return {ColumnScaling::identity(num_inputs), ColumnScaling::identity(num_outputs)};
  }

  // `data` in standardised units (any split: the statistics stay the training split's).
  Dataset apply(const Dataset& data) const {
    if (data.num_inputs() != inputs.cols() || data.num_outputs() != targets.cols())
      throw ShapeError("Standardisation::apply: fitted on " + std::to_string(inputs.cols()) + " inputs and " +
                       std::to_string(targets.cols()) + " targets, got a data set with " +
                       std::to_string(data.num_inputs()) + " and " + std::to_string(data.num_outputs()));
    return Dataset(inputs.apply(data.X()), targets.apply(data.Y()));
  }
};

}  // namespace wgflow::data
