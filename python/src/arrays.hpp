#pragma once
// numpy <-> wgflow::Tensor<double>. Inputs: any array-like that numpy can read as float64 is accepted (ints,
// float32 and non-contiguous arrays are converted, a copy); anything else, a wrong number of dimensions or
// a wrong shape is refused with a ShapeError naming the argument and both shapes. Outputs: a copy into a
// new numpy array, or a read-only view of a Tensor kept alive by its owner (see view()).
#include <cstddef>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "core/errors.hpp"
#include "core/tensor.hpp"

namespace wgflow::python {

namespace py = pybind11;
using Array = py::array_t<double, py::array::c_style | py::array::forcecast>;

inline std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t d = 0; d < a.ndim(); ++d) s += (d ? ", " : "") + std::to_string(a.shape(d));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// `name` as a C-contiguous float64 array (converted if needed), or a ShapeError naming it.
inline Array as_float64(const py::handle& value, const std::string& name) {
  py::array raw;
  try {
    raw = py::array::ensure(value);
  } catch (const py::error_already_set&) {
    raw = py::array();
  }
  if (!raw) throw ShapeError(name + ": expected an array of numbers, got " + std::string(py::str(py::type::of(value))));
  const char kind = raw.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b')
    throw ShapeError(name + ": expected a real (float64) array, got dtype " + std::string(py::str(raw.dtype())));
  return Array::ensure(raw);
}

// A 2-D copy of `value` (rows x cols); a 1-D array becomes one column when `column_if_1d`, else one row.
// `cols` (when non-zero) is the required number of columns.
inline Tensor<double> to_matrix(const py::handle& value, const std::string& name, std::size_t cols = 0,
                                bool column_if_1d = false) {
  Array a = as_float64(value, name);
  std::size_t r, c;
  if (a.ndim() == 2) r = a.shape(0), c = a.shape(1);
  else if (a.ndim() == 1) {
    r = column_if_1d ? a.shape(0) : 1;
    c = column_if_1d ? 1 : a.shape(0);
  } else {
    throw ShapeError(name + ": expected a 2-D array, got shape " + shape_of(a));
  }
  if (cols != 0 && c != cols)
    throw ShapeError(name + ": expected shape (rows, " + std::to_string(cols) + "), got " + shape_of(a));
  Tensor<double> t = Tensor<double>::from_shape({r, c});
  std::copy(a.data(), a.data() + r * c, t.data());
  return t;
}

// A 1-D vector copy of `value`.
inline std::vector<double> to_vector(const py::handle& value, const std::string& name) {
  Array a = as_float64(value, name);
  if (a.ndim() != 1) throw ShapeError(name + ": expected a 1-D array, got shape " + shape_of(a));
  return std::vector<double>(a.data(), a.data() + a.shape(0));
}

// A new numpy array holding a copy of t.
inline py::array_t<double> copy(const Tensor<double>& t) {
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  py::array_t<double> out(shape);
  std::copy(t.data(), t.data() + t.size(), out.mutable_data());
  return out;
}

// A read-only numpy view of t without a copy; `owner` (the Python object owning t) is kept alive by the
// view. The view shows t's buffer: valid while t is neither resized nor reassigned (for a flow's particles:
// until the next step, which writes the next particles into another buffer and swaps).
inline py::array view(const Tensor<double>& t, py::handle owner) {
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  py::array out(py::dtype::of<double>(), shape, {}, t.data(), owner);
  py::detail::array_proxy(out.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return out;
}

}  // namespace wgflow::python
