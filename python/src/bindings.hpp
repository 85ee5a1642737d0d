#pragma once
// The parts of the extension module _wgflow, one file each (module.cpp calls them in this order).
#include <pybind11/pybind11.h>

namespace wgflow::python {

void bind_potentials(pybind11::module_& m);  // potentials.cpp: potentials, priors, initialisers
void bind_flows(pybind11::module_& m);       // flow.cpp: Flow, the five presets, optimisers, kernels
void bind_tools(pybind11::module_& m);       // tools.cpp: predictions, gradient checks, UCI loader

}  // namespace wgflow::python
