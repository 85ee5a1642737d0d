#pragma once
// The public gradient checker: compares reverse-mode gradients with finite differences in double.
//
//   auto report = wgflow::ad::check_gradient(
//       [](auto& tape, const auto& x) { return sum(tanh(matmul(x[0], x[1]))); },
//       {xt::random::randn<double>({3, 4}), xt::random::randn<double>({4, 2})});
//   CHECK(report.ok());               // on failure, print report.message()
//   CHECK_MESSAGE(report.ok(), report.message());
//
// f receives a Tape<double> and one variable per input and returns any Var; a non-scalar output is
// reduced to f = sum(u * output) with a fixed random cotangent u, so the check covers the full
// vector-Jacobian product. Inputs with more than max_entries entries are checked on a random subset of
// them. Everything is fixed by the seed: the same call gives the same report.
//
// The finite difference. Entry x_k is moved by h = step * max(1, |x_k|) and f evaluated at
// x_k +- h/2, +- h, +- 2h: six evaluations per entry, all within x_k +- 2h (where tests keep kinks and
// domain edges away). With the fourth-order central difference
//   D(t) = [f(x - 2t) - 8 f(x - t) + 8 f(x + t) - f(x + 2t)] / (12 t),   D(t) = g + a t^4 + O(t^6),
// the two steps give, by Richardson extrapolation, the sixth-order estimate
//   numeric = D(h/2) + [D(h/2) - D(h)] / 15
//           = [256 (f(x + h/2) - f(x - h/2)) - 40 (f(x + h) - f(x - h)) + f(x + 2h) - f(x - 2h)] / (180 h),
// whose truncation error is about h^6 f^(7) / 5040 (D(h) alone does as well on the repository's checks;
// the extrapolated value is the more accurate where the step is coarse for f). What the finite
// difference cannot resolve, R, is the sum of three bounds:
//   - truncation: 2 |D(h) - D(h/2)|. Asymptotically D(h)'s own error is (16/15) |D(h) - D(h/2)| and the
//     extrapolated value's is far smaller, so the bound holds with a margin even where the step is not
//     small against the scale on which f varies and the extrapolation gains little. The difference also
//     carries the rounding noise of the values of f;
//   - rounding noise, as a floor that does not rely on the noise showing in that difference (where it
//     may cancel by chance): each value of f is taken as uncertain by kNoiseUlps * eps * s, s being
//     sum |u * output| at that point (|f| for a scalar f; larger where the projection cancels), carried
//     through the stencil's weights: kNoiseUlps * eps * sum_i |w_i| s_i with sum_i |w_i| = 3.3 / h.
//     kNoiseUlps = 128: no check_gradient call in tests/ needs more than 0.5, even without the
//     difference above (measured), which leaves room for rounding inside f that s does not see, up to
//     cancellations by a factor of about 100. A small f that is the difference of much larger terms
//     inside it (a cross-entropy near zero, computed as logsumexp - logit) rounds on the scale of those
//     terms: pass that scale as GradCheckOptions::noise_scale, and the floor uses max(s, noise_scale);
//   - the rounding of the points x_k + t themselves (by up to eps/2 |x_k + t|), which moves each value
//     of f by up to |g| eps/2 |x_k + t|: eps/2 |numeric| sum_i |w_i| |x_k + t_i|, about 1.7 eps / step
//     relative at most (4e-13 at the default step), negligible unless the tolerance is below 1e-12.
//
// The error measure per entry is relative to the entry's own gradient, less the unresolvable part:
//   error = max(0, |autodiff - numeric| - R) / max(|autodiff|, |numeric|)     (0 when both are 0),
// and an input passes when every checked entry has error <= tolerance. The measure does not change
// when f is scaled, so a backward that is 1 % wrong fails whatever the size of its gradients (1e-6 or
// 1e4), as long as the finite difference resolves 1 % of the gradient: when moving the entry by h
// changes f by more than about 4e4 eps s (about 1e-11 s). Below that, and where the true gradient is
// zero, an entry passes when autodiff is within R of the finite difference.
// Keep points more than 2h away from kinks (|x| = 0 for abs or relu) and domain edges: a finite
// difference across a kink is wrong, and a non-finite value of f at a stencil point fails the check.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tape.hpp"

namespace wgflow::ad {

struct GradCheckOptions {
  double step = 1e-3;
  double tolerance = 1e-6;
  std::size_t max_entries = 2000;  // per input; larger inputs are sampled
  std::uint64_t seed = 0x5eed;
  // The magnitude on which f rounds, when it is larger than sum |u * output| (a small f that is the
  // difference of much larger terms inside it); 0: sum |u * output| alone. See the noise floor above.
  double noise_scale = 0;
};

struct InputGradReport {
  Shape shape{};
  std::size_t entries_checked = 0;
  double max_abs_error = 0;  // max |autodiff - numeric|
  double max_rel_error = 0;  // max of the error measure described above, compared with the tolerance
  // The entry with the largest error measure (among equals, the one nearest to failing), its autodiff
  // and finite-difference values, and the resolvable error R of its finite difference.
  std::size_t worst_row = 0, worst_col = 0;
  double worst_autodiff = 0, worst_numeric = 0;
  double worst_resolvable = 0;
};

struct GradCheckReport {
  std::vector<InputGradReport> inputs;
  double tolerance = 0;
  std::string error;  // set when f itself failed (threw, or returned a non-finite value)

  bool ok() const {
    if (!error.empty()) return false;
    return std::all_of(inputs.begin(), inputs.end(),
                       [&](const InputGradReport& r) { return r.max_rel_error <= tolerance; });
  }
  explicit operator bool() const { return ok(); }

  // One line per input; failing inputs name their worst entry.
  std::string message() const {
    std::ostringstream os;
    os.precision(6);
    if (!error.empty()) os << "gradient check could not run: " << error << "\n";
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const auto& r = inputs[i];
      os << "input " << i << " (" << shape_string(r.shape) << ", " << r.entries_checked
         << " entries checked): max abs error " << r.max_abs_error << ", max rel error " << r.max_rel_error;
      if (!(r.max_rel_error <= tolerance))
        os << "  FAILED (tolerance " << tolerance << "): worst entry (" << r.worst_row << ", " << r.worst_col
           << ") autodiff " << r.worst_autodiff << " vs finite difference " << r.worst_numeric
           << " (resolvable error " << r.worst_resolvable << ")";
      os << "\n";
    }
    return os.str();
  }
};

inline std::ostream& operator<<(std::ostream& os, const GradCheckReport& r) { return os << r.message(); }

namespace detail {
// The projected value f = sum(u * y) and its rounding scale s = sum |u * y|.
struct Projected {
  double value = 0, scale = 0;
};

// sum(u * f(inputs)) evaluated on `tape` (cleared first), with its scale.
template <class F>
Projected projected_value(F& f, Tape<double>& tape, const std::vector<Tensor<double>>& inputs,
                          const Tensor<double>& u, std::vector<Var<double>>& vars) {
  tape.clear();
  vars.clear();
  for (const auto& x : inputs) vars.push_back(tape.constant(x));
  Var<double> y = f(tape, static_cast<const std::vector<Var<double>>&>(vars));
  if (u.shape()[0] != y.rows() || u.shape()[1] != y.cols())
    throw ShapeError("gradient check: f's output shape changed between evaluations");
  const double* v = y.data();
  Projected p;
  for (std::size_t i = 0; i < u.size(); ++i) {
    const double t = u.data()[i] * v[i];
    p.value += t;
    p.scale += std::abs(t);
  }
  return p;
}

// The constants of the error model described at the top of this file.
inline constexpr double kTruncationSafety = 2;
inline constexpr double kNoiseUlps = 128;

// One entry's finite difference and its resolvable error R.
struct FiniteDifference {
  double numeric = 0, resolvable = 0;
};

// `at(t)` is the projected value with the entry at x0 + t.
template <class At>
FiniteDifference finite_difference(At&& at, double x0, double h, double noise_scale) {
  constexpr double eps = std::numeric_limits<double>::epsilon();
  // The stencil: offsets in units of h, and numeric's weights in units of 1 / (180 h).
  constexpr double offset[6] = {-2, -1, -0.5, 0.5, 1, 2};
  constexpr double weight[6] = {-1, 40, -256, 256, -40, 1};
  Projected p[6];
  for (int i = 0; i < 6; ++i) p[i] = at(offset[i] * h);
  const double d_h = (p[0].value - 8 * p[1].value + 8 * p[4].value - p[5].value) / (12 * h);
  const double d_half = (p[1].value - 8 * p[2].value + 8 * p[3].value - p[4].value) / (6 * h);
  double noise = 0, points = 0;
  for (int i = 0; i < 6; ++i) {
    noise += std::abs(weight[i]) * std::max(p[i].scale, noise_scale);
    points += std::abs(weight[i]) * std::abs(x0 + offset[i] * h);
  }
  FiniteDifference d;
  d.numeric = d_half + (d_half - d_h) / 15;
  d.resolvable = kTruncationSafety * std::abs(d_h - d_half) + kNoiseUlps * eps * noise / (180 * h) +
                 eps / 2 * std::abs(d.numeric) * points / (180 * h);
  return d;
}

// The error measure: the part of |autodiff - numeric| beyond R, relative to the larger of the two.
inline double gradient_error(double autodiff, const FiniteDifference& d) {
  const double diff = std::abs(autodiff - d.numeric);
  if (!std::isfinite(diff) || !std::isfinite(d.resolvable)) return INFINITY;
  if (diff <= d.resolvable) return 0;  // also when both are 0
  return (diff - d.resolvable) / std::max(std::abs(autodiff), std::abs(d.numeric));
}
}  // namespace detail

template <class F>
GradCheckReport check_gradient(F&& f, std::vector<Tensor<double>> inputs, GradCheckOptions opt = {}) {
  GradCheckReport report;
  report.tolerance = opt.tolerance;
  std::mt19937_64 rng(opt.seed);
  Tape<double> tape;
  Tensor<double> u;
  std::vector<Var<double>> vars;
  try {
    // Reverse mode, once.
    for (const auto& x : inputs)
      if (x.dimension() != 2) throw ShapeError("gradient check: inputs must be rank-2 tensors");
    std::vector<Tensor<double>> ad;
    {
      tape.clear();
      vars.clear();
      for (const auto& x : inputs) vars.push_back(tape.variable(x));
      Var<double> y = f(tape, static_cast<const std::vector<Var<double>>&>(vars));
      u = Tensor<double>::from_shape(y.shape());
      std::normal_distribution<double> normal;
      if (u.size() == 1) u(0, 0) = 1;
      else for (auto& v : u) v = normal(rng);
      if (!std::isfinite(xt::sum(u * y.val())())) throw Error("f returned a non-finite value at the given inputs");
      tape.backward(y, u);
      for (const auto& v : vars) ad.push_back(v.needs_grad() ? Tensor<double>(v.adj()) : xt::zeros<double>(v.shape()));
    }
    // Finite differences, entry by entry.
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      InputGradReport r;
      r.shape = Shape{inputs[i].shape()[0], inputs[i].shape()[1]};
      std::vector<std::size_t> entries(inputs[i].size());
      std::iota(entries.begin(), entries.end(), std::size_t{0});
      if (entries.size() > opt.max_entries) {
        std::shuffle(entries.begin(), entries.end(), rng);
        entries.resize(opt.max_entries);
      }
      double worst_closeness = -1;  // |autodiff - numeric| / (R + tolerance * scale) of the worst entry
      for (std::size_t k : entries) {
        double& xk = inputs[i].data()[k];
        const double x0 = xk, h = opt.step * std::max(1.0, std::abs(x0));
        const auto at = [&](double offset) {
          xk = x0 + offset;
          return detail::projected_value(f, tape, inputs, u, vars);
        };
        const detail::FiniteDifference d = detail::finite_difference(at, x0, h, opt.noise_scale);
        xk = x0;
        const double autodiff = ad[i].data()[k];
        const double abs_err = std::abs(autodiff - d.numeric), error = detail::gradient_error(autodiff, d);
        const double closeness =
            abs_err > 0 ? abs_err / (d.resolvable + opt.tolerance * std::max(std::abs(autodiff), std::abs(d.numeric)))
                        : 0;
        ++r.entries_checked;
        r.max_abs_error = std::isnan(abs_err) ? abs_err : std::max(r.max_abs_error, abs_err);
        if (r.entries_checked == 1 || error > r.max_rel_error ||
            (error == r.max_rel_error && closeness > worst_closeness)) {
          r.max_rel_error = error;
          worst_closeness = closeness;
          r.worst_row = k / r.shape[1];
          r.worst_col = k % r.shape[1];
          r.worst_autodiff = autodiff;
          r.worst_numeric = d.numeric;
          r.worst_resolvable = d.resolvable;
        }
      }
      report.inputs.push_back(r);
    }
  } catch (const std::exception& e) {
    report.error = e.what();
  }
  return report;
}

}  // namespace wgflow::ad
