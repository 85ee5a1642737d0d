#pragma once
// A potential written in Python: a callable f(particles) -> (values, gradients) that takes all N x J
// particles at once (float64) and returns l(theta_i) (N) and grad l(theta_i) (N x J), so that a flow step
// crosses into Python once.
//
// It is a models::Potential<double> that prefers batches: every flow of the library hands it all of a
// step's points in one values_and_gradients call (PotentialEnergy, and so DE, DLE, DRLE and SVGD: the N
// particles; mean-field VI: the N x S draws). That call runs on a TBB thread, concurrently with other
// terms (flows/term.hpp), so it acquires the GIL; this cannot deadlock because every binding that runs a
// flow releases the GIL first.
#include <cstddef>
#include <span>
#include <string>

#include <pybind11/pybind11.h>

#include "core/tensor.hpp"
#include "models/potential.hpp"

namespace wgflow::python {

namespace py = pybind11;

class PythonPotential final : public models::Potential<double> {
 public:
  PythonPotential(py::function fn, std::size_t dim, std::string name);
  ~PythonPotential() override;

  std::size_t dim() const override { return dim_; }
  const std::string& name() const { return name_; }

  // One call of fn on the n x J thetas, with the GIL. Throws wgflow::Error naming the potential for a
  // Python exception or a result of the wrong shape.
  void values_and_gradients(const Tensor<double>& thetas, std::span<double> values,
                            Tensor<double>& gradients) const override;
  bool prefers_batches() const override { return true; }

  // A call of fn on the 1 x J point (for a caller that asks point by point).
  double value_and_gradient(std::span<const double> theta, std::span<double> grad) const override;

 private:
  py::function* fn_;  // owned; deleted under the GIL (see the destructor)
  std::size_t dim_;
  std::string name_;
};

}  // namespace wgflow::python
