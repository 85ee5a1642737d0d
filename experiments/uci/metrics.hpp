#pragma once
// Test metrics of an ensemble's predictions on one UCI split, in the original target units (paper.md §4),
// and their summary over splits.
//
// The ensemble predicts, at each test input x, a mean m(x) and a variance v(x) over its members (for
// mean-field VI: over draws from the members' Gaussians). Two test NLLs are reported, because the
// literature uses two incompatible ones:
//   nll_ensemble  -log N(y; m, v + floor)          the reference code's: epistemic spread only;
//   nll_noise     -log N(y; m, v + sigma_n^2)      with an observation-noise variance sigma_n^2, as PBP,
//                                                  MC dropout and deep ensembles report.
// sigma_n^2 here is a plug-in estimate: the mean squared residual of the ensemble mean on the *training*
// split (the maximum-likelihood homoscedastic noise for the fitted mean). Lakshminarayanan et al. learn a
// heteroscedastic noise per network instead, so their NLLs compare with nll_noise only roughly.
// floor = 1e-12 (standardised units) only keeps nll_ensemble finite for an ensemble that has collapsed.
#include <cmath>
#include <cstddef>
#include <numbers>
#include <vector>

#include "core/errors.hpp"
#include "core/tensor.hpp"

namespace wgflow::experiments::uci {

struct SplitMetrics {
  double rmse = 0;          // sqrt(mean (y - m)^2), original units
  double nll_ensemble = 0;  // mean over test points, nats
  double nll_noise = 0;
  double noise_sd = 0;      // sigma_n, original units
  double mean_sd = 0;       // mean over test points of sqrt(v), original units: the ensemble's spread
};

// All arguments standardised (n x 1): test targets y, ensemble mean m and variance v; train_mse is the
// ensemble mean's mean squared residual on the training split. target_scale is the training split's
// target standard deviation, which maps everything back to the original units.
inline SplitMetrics split_metrics(const Tensor<double>& y, const Tensor<double>& m,
                                  const Tensor<double>& v, double train_mse, double target_scale) {
  const std::size_t n = y.shape(0);
  if (n == 0 || m.shape(0) != n || v.shape(0) != n || y.shape(1) != 1 || m.shape(1) != 1 || v.shape(1) != 1)
    throw ShapeError("uci::split_metrics: targets " + shape_string({y.shape(0), y.shape(1)}) + ", mean " +
                     shape_string({m.shape(0), m.shape(1)}) + " and variance " +
                     shape_string({v.shape(0), v.shape(1)}) + " must all be n x 1 with n > 0");
  constexpr double floor = 1e-12;
  const double s2 = target_scale * target_scale;
  const double log_2pi = std::log(2 * std::numbers::pi);
  const double noise = train_mse * s2;  // original units
  double se = 0, nll_e = 0, nll_n = 0, sd = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double r2 = (y(i, 0) - m(i, 0)) * (y(i, 0) - m(i, 0)) * s2;
    const double ve = (v(i, 0) + floor) * s2;
    const double vn = v(i, 0) * s2 + noise;
    se += r2;
    nll_e += 0.5 * (log_2pi + std::log(ve) + r2 / ve);
    nll_n += 0.5 * (log_2pi + std::log(vn) + r2 / vn);
    sd += std::sqrt(v(i, 0) * s2);
  }
  const double dn = static_cast<double>(n);
  return {std::sqrt(se / dn), nll_e / dn, nll_n / dn, std::sqrt(noise), sd / dn};
}

// Mean and standard error (sample std / sqrt(count)) over splits; se = 0 for a single split.
struct MeanSe {
  double mean = 0, se = 0;
  std::size_t count = 0;
};

inline MeanSe mean_se(const std::vector<double>& xs) {
  MeanSe out;
  out.count = xs.size();
  if (xs.empty()) return {std::nan(""), std::nan(""), 0};
  for (double x : xs) out.mean += x;
  out.mean /= static_cast<double>(xs.size());
  if (xs.size() > 1) {
    double ss = 0;
    for (double x : xs) ss += (x - out.mean) * (x - out.mean);
    out.se = std::sqrt(ss / static_cast<double>(xs.size() - 1) / static_cast<double>(xs.size()));
  }
  return out;
}

}  // namespace wgflow::experiments::uci
