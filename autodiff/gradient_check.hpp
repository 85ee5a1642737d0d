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
// reduced to sum(u * output) with a fixed random cotangent u, so the check covers the full
// vector-Jacobian product. Each checked entry x_k uses the fourth-order central difference
//   g_k ~ [f(x - 2h e_k) - 8 f(x - h e_k) + 8 f(x + h e_k) - f(x + 2h e_k)] / (12 h),
// h = step * max(1, |x_k|), whose error is O(h^4) + O(eps / h): about 1e-12 at the default step.
// Inputs with more than max_entries entries are checked on a random subset of them.
// Error measure per entry: |autodiff - numeric| / max(1, |numeric|), i.e. relative for gradients
// larger than one and absolute below, so that entries near zero do not produce spurious failures.
// Keep points away from kinks (|x| = 0 for abs or relu): a finite difference across a kink is wrong.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "autodiff/tape.hpp"

namespace wgflow::ad {

struct GradCheckOptions {
  double step = 1e-3;
  double tolerance = 1e-6;
  std::size_t max_entries = 2000;  // per input; larger inputs are sampled
  std::uint64_t seed = 0x5eed;
};

struct InputGradReport {
  Shape shape{};
  std::size_t entries_checked = 0;
  double max_abs_error = 0;
  double max_rel_error = 0;  // the error measure described above
  std::size_t worst_row = 0, worst_col = 0;
  double worst_autodiff = 0, worst_numeric = 0;
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
      if (r.max_rel_error > tolerance)
        os << "  FAILED (tolerance " << tolerance << "): worst entry (" << r.worst_row << ", " << r.worst_col
           << ") autodiff " << r.worst_autodiff << " vs finite difference " << r.worst_numeric;
      os << "\n";
    }
    return os.str();
  }
};

inline std::ostream& operator<<(std::ostream& os, const GradCheckReport& r) { return os << r.message(); }

namespace detail {
// sum(u * f(inputs)) evaluated on `tape` (cleared first).
template <class F>
double projected_value(F& f, Tape<double>& tape, const std::vector<Tensor<double>>& inputs,
                       const Tensor<double>& u, std::vector<Var<double>>& vars) {
  tape.clear();
  vars.clear();
  for (const auto& x : inputs) vars.push_back(tape.constant(x));
  Var<double> y = f(tape, static_cast<const std::vector<Var<double>>&>(vars));
  if (u.shape()[0] != y.rows() || u.shape()[1] != y.cols())
    throw ShapeError("gradient check: f's output shape changed between evaluations");
  return xt::sum(u * y.val())();
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
      for (std::size_t k : entries) {
        double& xk = inputs[i].data()[k];
        const double x0 = xk, h = opt.step * std::max(1.0, std::abs(x0));
        auto at = [&](double offset) {
          xk = x0 + offset;
          return detail::projected_value(f, tape, inputs, u, vars);
        };
        const double numeric = (at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h);
        xk = x0;
        const double autodiff = ad[i].data()[k];
        const double abs_err = std::abs(autodiff - numeric);
        const double rel_err = std::isfinite(abs_err) ? abs_err / std::max(1.0, std::abs(numeric)) : INFINITY;
        ++r.entries_checked;
        r.max_abs_error = std::max(r.max_abs_error, abs_err);
        if (rel_err > r.max_rel_error || r.entries_checked == 1) {
          r.max_rel_error = rel_err;
          r.worst_row = k / r.shape[1];
          r.worst_col = k % r.shape[1];
          r.worst_autodiff = autodiff;
          r.worst_numeric = numeric;
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
