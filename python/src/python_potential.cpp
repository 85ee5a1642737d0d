// PythonPotential and PythonPotentialTerm (python_potential.hpp).
#include "python_potential.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string_view>

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

void PythonPotential::evaluate(const Tensor<double>& particles, std::span<double> values, Tensor<double>& gradient,
                               bool add) const {
  const std::size_t n = particles.shape()[0], J = particles.shape()[1];
  const std::string who = "python potential \"" + name_ + "\"";
  if (J != dim_)
    throw ShapeError(who + ": particles are " + shape_string({n, J}) + ", the potential's dim is " + std::to_string(dim_));
  // A fresh copy per call: the callable may keep or modify its argument without touching the flow.
  py::object result;
  try {
    result = (*fn_)(copy(particles));
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
  double* out = gradient.data();
  const double* in = g.data();
  if (add) for (std::size_t k = 0; k < n * J; ++k) out[k] += in[k];
  else std::copy(in, in + n * J, out);
}

namespace {

std::size_t hash_of(const double* row, std::size_t J) {
  return std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(row), J * sizeof(double)));
}

}  // namespace

void PointBatch::evaluate(const PythonPotential& potential) {
  const std::size_t n = points_.shape()[0], J = points_.shape()[1];
  values_.resize(n);
  if (gradients_.shape() != points_.shape()) gradients_ = Tensor<double>::from_shape({n, J});
  rows_.clear();  // first: a failed call below must leave no stale rows behind
  potential.evaluate(points_, values_, gradients_, false);
  rows_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) rows_.emplace(hash_of(points_.data() + i * J, J), i);
}

bool PointBatch::find(std::span<const double> theta, std::span<double> grad, double& value) const {
  if (rows_.empty() || theta.size() != points_.shape()[1]) return false;
  const std::size_t J = theta.size();
  const auto [first, last] = rows_.equal_range(hash_of(theta.data(), J));
  for (auto it = first; it != last; ++it) {
    const std::size_t i = it->second;
    if (std::memcmp(points_.data() + i * J, theta.data(), J * sizeof(double)) != 0) continue;
    std::copy(gradients_.data() + i * J, gradients_.data() + (i + 1) * J, grad.begin());
    value = values_[i];
    return true;
  }
  return false;
}

void PythonPotential::hold(const PointBatch& batch) const {
  std::unique_lock lock(batches_mutex_);
  batches_.push_back(&batch);
}

void PythonPotential::release(const PointBatch& batch) const {
  std::unique_lock lock(batches_mutex_);
  std::erase(batches_, &batch);
}

double PythonPotential::value_and_gradient(std::span<const double> theta, std::span<double> grad) const {
  if (theta.size() != dim_ || grad.size() != dim_)
    throw ShapeError("python potential \"" + name_ + "\": theta has " + std::to_string(theta.size()) +
                     " entries, the potential's dim is " + std::to_string(dim_));
  {
    std::shared_lock lock(batches_mutex_);
    double value;
    for (const PointBatch* b : batches_)
      if (b->find(theta, grad, value)) return value;
  }
  Tensor<double> one = Tensor<double>::from_shape({1, dim_});
  std::copy(theta.begin(), theta.end(), one.data());
  Tensor<double> g = Tensor<double>::from_shape({1, dim_});
  double value = 0;
  py::gil_scoped_acquire gil;
  evaluate(one, std::span<double>(&value, 1), g, false);
  std::copy(g.data(), g.data() + dim_, grad.begin());
  return value;
}

void PythonPotentialTerm::attach(const Tensor<double>& particles) {
  if (particles.shape()[1] != potential_.dim())
    throw ShapeError(name() + ": particles have " + std::to_string(particles.shape()[1]) +
                     " coordinates, the potential's dim is " + std::to_string(potential_.dim()));
}

void PythonPotentialTerm::add_gradient(const flows::StepContext<double>& context, Tensor<double>& gradient) {
  const std::size_t n = context.particles.shape()[0];
  values_.resize(n);
  {
    py::gil_scoped_acquire gil;
    potential_.evaluate(context.particles, values_, gradient, true);
  }
  // F = int l dQ estimated by the empirical measure, summed in particle order (thread-count independent).
  energy_ = std::accumulate(values_.begin(), values_.end(), 0.0) / static_cast<double>(n);
}

void BatchedPythonTerm::add_gradient(const flows::StepContext<double>& context, Tensor<double>& gradient) {
  points_(context, batch_.points());
  {
    py::gil_scoped_acquire gil;
    batch_.evaluate(potential_);
  }
  // Released however the inner term ends: the batch must not be looked at once this frame is gone.
  struct Hold {
    const PythonPotential& p;
    const PointBatch& b;
    Hold(const PythonPotential& p, const PointBatch& b) : p(p), b(b) { p.hold(b); }
    ~Hold() { p.release(b); }
  } hold(potential_, batch_);
  inner_->add_gradient(context, gradient);
}

}  // namespace wgflow::python
