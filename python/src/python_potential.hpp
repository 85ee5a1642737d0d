#pragma once
// A potential written in Python: a callable f(particles) -> (values, gradients) that takes all N x J
// particles at once (float64) and returns l(theta_i) (N) and grad l(theta_i) (N x J), so that a flow step
// crosses into Python once.
//
// PythonPotentialTerm is the potential energy int l dQ over such a callable (a flows::Term): the DE, DLE
// and DRLE flows of a Python potential use it in place of flows::PotentialEnergy. Terms' add_gradient runs
// on TBB threads concurrently with the other terms' (flows/term.hpp), so it acquires the GIL there; this
// cannot deadlock because every binding that runs a flow releases the GIL first.
//
// PythonPotential is also a models::Potential<double> (one particle per call, a 1 x J batch), for the flows
// that need a per-particle potential (SVGD, mean-field VI): correct, but it crosses into Python once per
// particle and step, and the calls are serialised by the GIL.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include <pybind11/pybind11.h>

#include "core/tensor.hpp"
#include "flows/term.hpp"
#include "models/potential.hpp"

namespace wgflow::python {

namespace py = pybind11;

class PythonPotential final : public models::Potential<double> {
 public:
  PythonPotential(py::function fn, std::size_t dim, std::string name);
  ~PythonPotential() override;

  std::size_t dim() const override { return dim_; }
  const std::string& name() const { return name_; }

  // Calls fn on the N x J particles (the GIL must be held); writes l into values (N) and adds grad l
  // into gradient (N x J) (or overwrites it when `add` is false). Throws wgflow::Error naming
  // the potential for a Python exception or a result of the wrong shape.
  void evaluate(const Tensor<double>& particles, std::span<double> values, Tensor<double>& gradient, bool add) const;

  double value_and_gradient(std::span<const double> theta, std::span<double> grad) const override;

 private:
  py::function* fn_;  // owned; deleted under the GIL (see the destructor)
  std::size_t dim_;
  std::string name_;
};

class PythonPotentialTerm final : public flows::Term<double> {
 public:
  explicit PythonPotentialTerm(const PythonPotential& potential) : potential_(potential) {}

  std::string name() const override { return "potential energy (python: " + potential_.name() + ")"; }
  void attach(const Tensor<double>& particles) override;
  void add_gradient(const flows::StepContext<double>& context, Tensor<double>& gradient) override;
  std::optional<double> energy() const override { return energy_; }
  std::optional<double> mean_loss() const override { return energy_; }

 private:
  const PythonPotential& potential_;
  std::vector<double> values_;
  std::optional<double> energy_;
};

}  // namespace wgflow::python
