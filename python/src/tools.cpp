// Predictions on numpy inputs, the gradient checker (any potential, a Python one included), the UCI
// loader, and wgflow's random streams (so that a script can draw the C++ programs' data).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "arrays.hpp"
#include "bindings.hpp"
#include "core/random.hpp"
#include "data/uci.hpp"
#include "flow.hpp"
#include "flows/potential_energy.hpp"
#include "flows/predict.hpp"
#include "flows/term_check.hpp"
#include "integers.hpp"
#include "models/network_potential.hpp"

namespace wgflow::python {

namespace {

py::dict dataset(const data::Dataset& d) {
  py::dict out;
  out["X"] = copy(d.X());
  out["y"] = copy(d.Y());
  return out;
}

}  // namespace

void bind_tools(py::module_& m) {
  m.def("predict", [](Flow& f, const py::handle& X, Integer per_member, Integer seed) {
          const InUse in_use(f, "predict");
          const std::size_t draws = to_unsigned(per_member, "per_member");  // with the GIL: Python objects
          const std::uint64_t draw_seed = to_unsigned(seed, "seed");
          auto* net = dynamic_cast<const models::NetworkPotential<double>*>(f.potential.get());
          if (!net) throw Error("predict: the flow's potential is not a NetworkPotential (no network to predict with)");
          Tensor<double> x = to_matrix(X, "X", net->model().num_inputs(), net->model().num_inputs() == 1);
          flows::EnsemblePrediction<double> p;
          {
            py::gil_scoped_release release;
            p = flows::predict(net->model(), net->likelihood(), f.flow->predictive_samples(draws, draw_seed), x);
          }
          const std::size_t n = p.members.size(), B = p.mean.shape()[0], C = p.mean.shape()[1];
          py::array_t<double> members({n, B, C});
          for (std::size_t i = 0; i < n; ++i) std::copy(p.members[i].data(), p.members[i].data() + B * C, members.mutable_data(i));
          py::dict out;
          out["members"] = members;
          out["mean"] = copy(p.mean);
          out["variance"] = copy(p.variance);
          out["noise"] = copy(p.noise);
          out["task"] = p.task == models::Task::regression ? "regression" : "classification";
          return out;
        }, py::arg("flow"), py::arg("X"), py::arg("per_member") = 1, py::arg("seed") = 0,
        "The ensemble's predictions on X (B x inputs): dict with members (N x B x outputs: each member's "
        "predictive mean, or class probabilities), mean, variance (over members), noise, task");

  m.def("check_gradient", [](std::shared_ptr<models::Potential<double>> p, const py::handle& particles, double step,
                             double tolerance, Integer at_step) {
          Tensor<double> x = to_matrix(particles, "particles", p->dim());
          const std::uint64_t checked_step = to_unsigned(at_step, "at_step");
          flows::PotentialEnergy<double> term(*p);
          flows::TermCheckReport r;
          {
            py::gil_scoped_release release;
            r = flows::check_term_gradient(term, x, {.step = step, .tolerance = tolerance, .at_step = checked_step});
          }
          py::dict out;
          out["ok"] = r.ok();
          out["message"] = r.message();
          out["max_error"] = r.max_error;
          out["particle"] = r.particle;
          out["coordinate"] = r.coordinate;
          out["analytic"] = r.analytic;
          out["numeric"] = r.numeric;
          return out;
        }, py::arg("potential"), py::arg("particles"), py::kw_only(), py::arg("step") = 1e-3, py::arg("tolerance") = 1e-6,
        py::arg("at_step") = 0,
        "Checks the potential's gradient against finite differences of its own values at the N x J particles "
        "(flows::check_term_gradient on its potential energy); for a PythonPotential: the user's gradient "
        "against the user's values");

  py::class_<Rng>(m, "Rng",
      "wgflow's random streams (core/random.hpp: xoshiro256++, Box-Muller): the draws of the C++ programs, "
      "for a script that reproduces one (Rng.stream(seed, i, 1) is experiments/regression_1d's point i)")
      .def(py::init([](Integer seed) { return Rng(to_unsigned(seed, "seed")); }), py::arg("seed") = 0)
      .def_static("stream", [](Integer seed, Integer a, Integer b) {
                    return Rng::stream(to_unsigned(seed, "seed"), to_unsigned(a, "a"), to_unsigned(b, "b"));
                  }, py::arg("seed"), py::arg("a"), py::arg("b") = 0,
                  "The independent stream for (seed, a, b)")
      .def("uniform", py::overload_cast<double, double>(&Rng::uniform), py::arg("lo") = 0.0, py::arg("hi") = 1.0)
      .def("normal", &Rng::normal, "A standard normal (Box-Muller; every second call returns the kept variate)")
      .def("normals", [](Rng& rng, Integer count) {
            const std::size_t n = to_unsigned(count, "n");
            py::array_t<double> out(static_cast<py::ssize_t>(n));
            rng.fill_normal(out.mutable_data(), n);
            return out;
          }, py::arg("n"),
          "n standard normals as the C++ code draws them in bulk (Rng::fill_normal: a prior's samples, a "
          "flow's noise); not the values of n calls of normal()");

  m.def("load_uci", [](const std::filesystem::path& name_or_folder, Integer split_arg, bool standardised) {
          const std::size_t split = to_unsigned(split_arg, "split");
          data::uci::Split s;
          {
            py::gil_scoped_release release;
            s = data::uci::load(name_or_folder, split, standardised ? data::uci::Units::standardised : data::uci::Units::original);
          }
          py::dict out;
          out["train"] = dataset(s.train);
          out["test"] = dataset(s.test);
          out["n_splits"] = s.benchmark.n_splits;
          out["n_hidden"] = s.benchmark.n_hidden;
          out["n_epochs"] = s.benchmark.n_epochs;
          out["target_mean"] = copy(s.scaling.targets.mean());
          out["target_scale"] = copy(s.scaling.targets.scale());
          out["folder"] = s.benchmark.folder.string();
          return out;
        }, py::arg("name_or_folder"), py::arg("split") = 0, py::arg("standardised") = true,
        "Split `split` of a UCI benchmark folder (or a name under $WGFLOW_UCI_DIR): dict with train/test "
        "{X, y}, standardised with the training split's statistics (target_mean, target_scale undo it)");
}

}  // namespace wgflow::python
