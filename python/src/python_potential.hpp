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
// PythonPotential is also a models::Potential<double> (one particle per call, a 1 x J batch), which the
// library's SVGD and mean-field VI terms call per particle from TBB threads. Crossing into Python there,
// serialised by the GIL, cost one call per particle and step; BatchedPythonTerm wraps such a term and
// evaluates every point it is about to ask for in one call beforehand (a PointBatch), so that the
// per-particle calls are answered from C++ memory. A point that the batch does not hold exactly (bit for
// bit) still goes to Python: a wrong guess costs speed, never correctness.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <pybind11/pybind11.h>

#include "core/tensor.hpp"
#include "flows/term.hpp"
#include "models/potential.hpp"

namespace wgflow::python {

namespace py = pybind11;

class PythonPotential;

// Values and gradients of a PythonPotential at a set of points, found again by the points' bits.
class PointBatch {
 public:
  // The points, to be set (any number of rows of the potential's dim) before evaluate.
  Tensor<double>& points() { return points_; }
  // Calls the potential once on all rows of points() (the GIL must be held).
  void evaluate(const PythonPotential& potential);
  // l(theta) into `value` and grad l(theta) into `grad` when theta is one of the points.
  bool find(std::span<const double> theta, std::span<double> grad, double& value) const;

 private:
  Tensor<double> points_, gradients_;
  std::vector<double> values_;
  std::unordered_multimap<std::size_t, std::size_t> rows_;  // hash of a row's bytes -> row
};

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

  // Answered from a held PointBatch when it has theta, else by a call of fn on the 1 x J point.
  double value_and_gradient(std::span<const double> theta, std::span<double> grad) const override;

  // While held, value_and_gradient looks in `batch` first. Several flows may hold batches of one
  // potential at once (from different Python threads).
  void hold(const PointBatch& batch) const;
  void release(const PointBatch& batch) const;

 private:
  py::function* fn_;  // owned; deleted under the GIL (see the destructor)
  std::size_t dim_;
  std::string name_;
  mutable std::shared_mutex batches_mutex_;
  mutable std::vector<const PointBatch*> batches_;
};

// A per-particle term (SVGD's direction, mean-field VI's objective) over a PythonPotential, whose every
// add_gradient is preceded by one Python call on the points that `points` says the term will evaluate.
// Everything else is the inner term's (its name too: checkpoints of the two paths are interchangeable).
class BatchedPythonTerm final : public flows::Term<double> {
 public:
  using Points = std::function<void(const flows::StepContext<double>&, Tensor<double>& points)>;
  BatchedPythonTerm(const PythonPotential& potential, std::unique_ptr<flows::Term<double>> inner, Points points)
      : potential_(potential), inner_(std::move(inner)), points_(std::move(points)) {}

  std::string name() const override { return inner_->name(); }
  void attach(const Tensor<double>& particles) override { inner_->attach(particles); }
  void prepare(std::uint64_t step) override { inner_->prepare(step); }
  flows::Reach reach() const override { return inner_->reach(); }
  void add_gradient(const flows::StepContext<double>& context, Tensor<double>& gradient) override;
  double diffusion() const override { return inner_->diffusion(); }
  std::optional<double> energy() const override { return inner_->energy(); }
  std::optional<double> mean_loss() const override { return inner_->mean_loss(); }
  void save_state(std::map<std::string, Tensor<double>>& state) const override { inner_->save_state(state); }
  void load_state(const std::map<std::string, Tensor<double>>& state) override { inner_->load_state(state); }

 private:
  const PythonPotential& potential_;
  std::unique_ptr<flows::Term<double>> inner_;
  Points points_;
  PointBatch batch_;
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
