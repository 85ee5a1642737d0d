// PythonPotential (python_potential.hpp).
#include "python_potential.hpp"

#include <algorithm>

#include <pybind11/numpy.h>

#include "arrays.hpp"
#include "core/errors.hpp"

namespace wgflow::python {

PythonPotential::PythonPotential(py::function fn, std::size_t dim, std::string name)
    : fn_(new py::function(std::move(fn))), dim_(dim), name_(std::move(name)) {
  if (dim_ == 0) throw Error("PythonPotential \"" + name_ + "\": dim must be positive");
}

// The last owner may be a flow destroyed on any thread: take the GIL to drop the Python reference.
PythonPotential::~PythonPotential() {
  py::gil_scoped_acquire gil;
  delete fn_;
}

void PythonPotential::values_and_gradients(const Tensor<double>& thetas, std::span<double> values,
                                           Tensor<double>& gradients) const {
  const std::size_t n = thetas.shape()[0], J = thetas.shape()[1];
  const std::string who = "python potential \"" + name_ + "\"";
  if (J != dim_)
    throw ShapeError(who + ": particles are " + shape_string({n, J}) + ", the potential's dim is " +
                     std::to_string(dim_));
  if (values.size() != n || gradients.shape()[0] != n || gradients.shape()[1] != J)
    throw ShapeError(who + ": values_and_gradients for " + shape_string({n, J}) + " particles was given " +
                     std::to_string(values.size()) + " values and " +
                     shape_string({gradients.shape()[0], gradients.shape()[1]}) + " gradients");
  py::gil_scoped_acquire gil;
  // A fresh copy per call: the callable may keep or modify its argument without touching the flow.
  py::object result;
  try {
    result = (*fn_)(copy(thetas));
  } catch (py::error_already_set& e) {
    throw Error(who + " raised " + std::string(e.what()));
  }
  if (!py::isinstance<py::tuple>(result) || py::len(result) != 2)
    throw Error(who + ": must return a tuple (values[N], gradients[N x J]), got " +
                std::string(py::str(py::type::of(result))));
  const py::tuple pair = result.cast<py::tuple>();
  const Array v = as_float64(pair[0], who + " values");
  const Array g = as_float64(pair[1], who + " gradients");
  if (v.ndim() != 1 || static_cast<std::size_t>(v.shape(0)) != n)
    throw ShapeError(who + ": values must have shape (" + std::to_string(n) + ",), got " + shape_of(v));
  if (g.ndim() != 2 || static_cast<std::size_t>(g.shape(0)) != n || static_cast<std::size_t>(g.shape(1)) != J)
    throw ShapeError(who + ": gradients must have shape (" + std::to_string(n) + ", " + std::to_string(J) + "), got " +
                     shape_of(g));
  std::copy(v.data(), v.data() + n, values.begin());
  std::copy(g.data(), g.data() + n * J, gradients.data());
}

double PythonPotential::value_and_gradient(std::span<const double> theta, std::span<double> grad) const {
  if (theta.size() != dim_ || grad.size() != dim_)
    throw ShapeError("python potential \"" + name_ + "\": theta has " + std::to_string(theta.size()) +
                     " entries, the potential's dim is " + std::to_string(dim_));
  Tensor<double> one = Tensor<double>::from_shape({1, dim_});
  std::copy(theta.begin(), theta.end(), one.data());
  Tensor<double> g = Tensor<double>::from_shape({1, dim_});
  double value = 0;
  values_and_gradients(one, std::span<double>(&value, 1), g);
  std::copy(g.data(), g.data() + dim_, grad.begin());
  return value;
}

}  // namespace wgflow::python
