// The extension module _wgflow: wgflow's flows for Python (numpy in, numpy out). The public API is the
// Python package wgflow (python/wgflow/), which re-exports these names with keyword-only settings.
#include <pybind11/pybind11.h>

#include "bindings.hpp"
#include "core/errors.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_wgflow, m) {
  m.doc() = "wgflow's particle flows (DE, DLE, DRLE, SVGD, mean-field VI) for numpy; see the package wgflow";
  // wgflow's errors as Python exceptions, with their messages: Error <- ShapeError, DataError.
  static py::exception<wgflow::Error> error(m, "Error", PyExc_RuntimeError);
  static py::exception<wgflow::ShapeError> shape_error(m, "ShapeError", error.ptr());
  static py::exception<wgflow::DataError> data_error(m, "DataError", error.ptr());
  // Shown as wgflow.Error etc. in tracebacks: the package re-exports them.
  for (py::handle e : {error.ptr(), shape_error.ptr(), data_error.ptr()}) e.attr("__module__") = "wgflow";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const wgflow::ShapeError& e) {
      PyErr_SetString(shape_error.ptr(), e.what());
    } catch (const wgflow::DataError& e) {
      PyErr_SetString(data_error.ptr(), e.what());
    } catch (const wgflow::Error& e) {
      PyErr_SetString(error.ptr(), e.what());
    }
  });
  wgflow::python::bind_potentials(m);
  wgflow::python::bind_flows(m);
  wgflow::python::bind_tools(m);
}
