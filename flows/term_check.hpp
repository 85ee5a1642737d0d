#pragma once
// Checks a free-energy term's gradient against its own energy, with no restating of the energy as an op.
//
// For the empirical measure Q_N = (1/N) sum_j delta_{theta_j}, the gradient of the first variation at a
// particle is N times the derivative of the term's energy estimate in that particle:
//   grad_theta (dF/dQ)(theta_i) = N dF(Q_N) / dtheta_i
// (for int l dQ: grad l(theta_i); for an interaction energy with a symmetric kernel: lambda1 ((1/N) sum_j
// grad_1 k(theta_i, theta_j) - ...)). check_term_gradient evaluates add_gradient at the particles, then
// energy() at particles moved entry by entry, and compares with the fourth-order central difference
//   N [F(x - 2h) - 8 F(x - h) + 8 F(x + h) - F(x + 2h)] / (12 h),   h = step * max(1, |x|).
// The error of an entry is |analytic - numeric| relative to the largest |analytic| over all entries: a
// term's gradients are compared on the scale at which they move the particles.
//
//   flows::PotentialEnergy<double> term(loss);
//   auto report = flows::check_term_gradient(term, particles);
//   CHECK_MESSAGE(report.ok(), report.message());
//
// The term must estimate its energy (Term::energy) and be a smooth function of the particles at a fixed
// step: every evaluation uses the same step (a data potential's same minibatch), and state that a step
// updates from the particles (a median bandwidth) must be fixed, e.g. Bandwidth::fixed. Terms checked:
// tests/flows/test_term_check.cpp.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <sstream>
#include <string>

#include <xtensor/xmath.hpp>

#include "../core/errors.hpp"
#include "../core/finite.hpp"
#include "../core/tensor.hpp"
#include "term.hpp"

namespace wgflow::flows {

struct TermCheckOptions {
  double step = 1e-3;         // h relative to max(1, |x|)
  double tolerance = 1e-6;    // on the error relative to the largest analytic entry
  std::uint64_t at_step = 0;  // the step t the term is evaluated at
  std::uint64_t seed = 0;     // StepContext::seed
};

struct TermCheckReport {
  std::string term;
  double max_error = 0;  // the worst entry's error
  std::size_t particle = 0, coordinate = 0;
  double analytic = 0, numeric = 0;  // at the worst entry
  double tolerance = 0;

  bool ok() const { return max_error <= tolerance; }
  std::string message() const {
    std::ostringstream m;
    m << "term '" << term << "': gradient " << (ok() ? "matches" : "does not match") << " N dF/dtheta"
      << " (worst: particle " << particle << ", coordinate " << coordinate << ": add_gradient " << analytic
      << ", finite difference of energy() " << numeric << "; error " << max_error << " against tolerance "
      << tolerance << ")";
    return m.str();
  }
};

// particles: N x J, where the term is attached (attach() is called first) and checked.
inline TermCheckReport check_term_gradient(Term<double>& term, const Tensor<double>& particles,
                                           const TermCheckOptions& options = {}) {
  const std::size_t n = particles.shape()[0], J = particles.shape()[1];
  if (n == 0 || J == 0) throw ShapeError("check_term_gradient: no particles (" + shape_string({n, J}) + ")");
  require_finite_particles(particles, "check_term_gradient");  // else every entry "fails" with NaN
  term.attach(particles);
  Tensor<double> gradient = Tensor<double>::from_shape({n, J});
  const auto evaluate = [&](const Tensor<double>& at) {
    gradient.fill(0.0);
    term.prepare(options.at_step);
    term.add_gradient(StepContext<double>{options.at_step, at, options.seed}, gradient);
    const std::optional<double> e = term.energy();
    if (!e)
      throw Error("check_term_gradient: term '" + term.name() + "' estimates no energy (Term::energy), so its "
                  "gradient has nothing to be checked against");
    return *e;
  };
  evaluate(particles);
  const Tensor<double> analytic = gradient;
  const double scale = std::max(xt::amax(xt::abs(analytic))(), 1e-300);

  TermCheckReport report{.term = term.name(), .tolerance = options.tolerance};
  Tensor<double> moved = particles;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < J; ++j) {
      const double x = particles(i, j), h = options.step * std::max(1.0, std::abs(x));
      const auto at = [&](double t) {
        moved(i, j) = x + t;
        const double e = evaluate(moved);
        moved(i, j) = x;
        return e;
      };
      const double numeric =
          static_cast<double>(n) * (at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h);
      const double error = std::abs(analytic(i, j) - numeric) / scale;
      if (!(error <= report.max_error)) {  // NaN counts as the worst
        report.max_error = std::isnan(error) ? std::numeric_limits<double>::infinity() : error;
        report.particle = i, report.coordinate = j, report.analytic = analytic(i, j), report.numeric = numeric;
      }
    }
  evaluate(particles);  // leave the term's state (its last energy) at the particles
  return report;
}

}  // namespace wgflow::flows
