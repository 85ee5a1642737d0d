// Potentials (built-in toys, the MLP on data, Python callables), Gaussian priors and initialisers.
#include <algorithm>
#include <cmath>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "arrays.hpp"
#include "bindings.hpp"
#include "core/errors.hpp"
#include "integers.hpp"
#include "models/analytic_potential.hpp"
#include "models/initializer.hpp"
#include "models/likelihoods.hpp"
#include "models/mlp.hpp"
#include "models/network_potential.hpp"
#include "models/prior.hpp"
#include "models/toy_potentials.hpp"
#include "python_potential.hpp"

namespace wgflow::python {

using Potential = models::Potential<double>;
using PotentialPtr = std::shared_ptr<Potential>;

namespace {

std::shared_ptr<const models::Likelihood<double>> make_likelihood(const std::string& name, double sigma) {
  if (name == "squared_error") return std::make_shared<models::SquaredError<double>>();
  if (name == "gaussian_nll") return std::make_shared<models::GaussianNll<double>>(sigma);
  if (name == "gaussian_nll_learned_noise") return std::make_shared<models::GaussianNllLearnedNoise<double>>();
  if (name == "softmax_cross_entropy") return std::make_shared<models::SoftmaxCrossEntropy<double>>();
  throw Error("likelihood: unknown \"" + name +
              "\" (expected squared_error, gaussian_nll, gaussian_nll_learned_noise or softmax_cross_entropy)");
}

// The number of classes K of labels y in {0, ..., K-1}, which size the network's output layer: checked
// here, since a negative, fractional, NaN or huge label cast to a size would be undefined or allocate an
// absurd network before the loss could refuse it.
std::size_t classes_of(const Tensor<double>& y) {
  constexpr double most = 1 << 20;
  if (y.shape()[1] != 1)
    throw ShapeError("y: class labels must be one column, got shape (" + std::to_string(y.shape()[0]) + ", " +
                     std::to_string(y.shape()[1]) + ")");
  double top = 0;
  for (std::size_t i = 0; i < y.shape()[0]; ++i) {
    const double label = y(i, 0);
    if (!(label >= 0 && label < most && label == std::floor(label)))
      throw DataError("y: class labels must be integers in [0, 2^20), got y[" + std::to_string(i) + "] = " + std::to_string(label));
    top = std::max(top, label);
  }
  return static_cast<std::size_t>(top) + 1;
}

// A layout from a potential (its named blocks) or a plain dimension (one block "theta").
models::ParameterLayout layout_of(const py::handle& source) {
  if (py::isinstance<Potential>(source)) return source.cast<const Potential&>().parameter_layout();
  // Checked here: pybind11's own cast would fail with "Unable to cast", naming neither argument nor value.
  const bool integer = py::isinstance<py::int_>(source) && !py::isinstance<py::bool_>(source);
  if (!integer || source.cast<py::int_>() < py::int_(1))
    throw ShapeError("layout: expected a Potential or a positive dimension J, got " + std::string(py::repr(source)));
  models::ParameterLayout layout;
  layout.add("theta", Shape{1, source.cast<std::size_t>()});
  return layout;
}

}  // namespace

void bind_potentials(py::module_& m) {
  py::class_<Potential, PotentialPtr>(m, "Potential",
      "A loss l(theta) on R^J with its gradient: what every flow moves particles against. A data potential "
      "holds the step's minibatch: flows stepped concurrently (in different Python threads) need one each.")
      .def_property_readonly("dim", &Potential::dim, "J, the number of parameters of one particle")
      .def("block_names", [](const Potential& p) {
            std::vector<std::string> names;
            const models::ParameterLayout layout = p.parameter_layout();  // a value: keep it while iterating
            for (const auto& b : layout.blocks()) names.push_back(b.name);
            return names;
          }, "The names of theta's blocks, in order (a network's weights and biases)")
      .def("value_and_gradient", [](const Potential& p, const py::handle& theta, Integer step_arg) {
            const std::uint64_t step = to_unsigned(step_arg, "step");
            const std::vector<double> t = to_vector(theta, "theta");
            if (t.size() != p.dim())
              throw ShapeError("theta: expected shape (" + std::to_string(p.dim()) + ",), got (" + std::to_string(t.size()) + ",)");
            std::vector<double> g(t.size());
            double value;
            {
              py::gil_scoped_release release;
              const_cast<Potential&>(p).begin_step(step);
              value = p.value_and_gradient(t, g);
            }
            return py::make_tuple(value, py::array_t<double>(static_cast<py::ssize_t>(g.size()), g.data()));
          }, py::arg("theta"), py::arg("step") = 0,
          "(l(theta), grad l(theta)) on the minibatch of `step`; theta is a 1-D array of length dim");

  py::class_<models::AnalyticPotential<double>, Potential, std::shared_ptr<models::AnalyticPotential<double>>>(
      m, "AnalyticPotential", "A closed-form potential (the paper's toys)")
      .def_property_readonly("name", &models::AnalyticPotential<double>::name);
  using AP = std::shared_ptr<models::AnalyticPotential<double>>;
  m.def("double_well", [](Integer dim) { return AP(new auto(models::double_well<double>(to_unsigned(dim, "dim")))); },
        py::arg("dim") = 1, "The double well of paper §3 (minima at -2 and 1), per coordinate");
  m.def("gaussian_mixture", [](const py::handle& means) {
          return AP(new auto(models::gaussian_mixture<double>(to_matrix(means, "means"))));
        }, py::arg("means"), "-log of an equal-weight mixture of unit Gaussians at the rows of `means` (K x J)");
  m.def("four_gaussian_mixture", [] { return AP(new auto(models::four_gaussian_mixture<double>())); },
        "The four-mode mixture of paper §3 (J = 2)");
  m.def("neg_abs_sin", [](Integer dim) { return AP(new auto(models::neg_abs_sin<double>(to_unsigned(dim, "dim")))); },
        py::arg("dim") = 1, "-|sin theta| per coordinate (paper §3)");
  m.def("quadratic", [](const py::handle& mean, const py::handle& A) {
          return AP(new auto(models::quadratic<double>(to_vector(mean, "mean"), to_matrix(A, "A"))));
        }, py::arg("mean"), py::arg("A"), "(1/2) (theta - mean)' A (theta - mean)");

  using NP = models::NetworkPotential<double>;
  py::class_<NP, Potential, std::shared_ptr<NP>>(m, "NetworkPotential",
      "An MLP's training loss on (X, Y), minibatched: l(theta) = likelihood(f(theta, X_b), Y_b)")
      .def(py::init([](const py::handle& X, const py::handle& Y, std::vector<Integer> hidden, const std::string& activation,
                       const std::string& likelihood, double sigma, Integer batch_size, Integer seed,
                       bool drop_last, const std::string& output_activation) {
             Tensor<double> x = to_matrix(X, "X", 0, true);
             Tensor<double> y = to_matrix(Y, "y", 0, true);
             if (x.shape()[0] != y.shape()[0])
               throw ShapeError("X and y: X has " + std::to_string(x.shape()[0]) + " rows, y " + std::to_string(y.shape()[0]));
             if (x.shape()[0] == 0) throw ShapeError("X and y: no rows (need at least one data point)");
             auto lik = make_likelihood(likelihood, sigma);
             const std::size_t outputs = lik->task() == models::Task::classification ? classes_of(y) : y.shape()[1];
             std::vector<std::size_t> widths{x.shape()[1]};
             for (std::size_t k = 0; k < hidden.size(); ++k)
               widths.push_back(to_unsigned(hidden[k], "hidden[" + std::to_string(k) + "]"));
             widths.push_back(outputs);
             auto net = std::make_shared<const models::Mlp<double>>(models::MlpSpec{
                 .widths = widths, .hidden = models::Activation::parse(activation),
                 .output = models::Activation::parse(output_activation)});
             return std::make_shared<NP>(std::shared_ptr<const models::Model<double>>(net), lik, std::move(x), std::move(y),
                                         models::MinibatchOptions{to_unsigned(batch_size, "batch_size"), to_unsigned(seed, "seed"),
                                                                  drop_last ? data::LastBatch::drop : data::LastBatch::keep});
           }),
           py::arg("X"), py::arg("y"), py::kw_only(), py::arg("hidden") = std::vector<std::size_t>{50},
           py::arg("activation") = "relu", py::arg("likelihood") = "squared_error", py::arg("sigma") = 1.0,
           py::arg("batch_size") = 100, py::arg("seed") = 0, py::arg("drop_last") = false,
           py::arg("output_activation") = "identity",
           "X: n x d inputs (1-D: one column); y: n x outputs targets (class indices for softmax_cross_entropy). "
           "The network is d-hidden...-outputs with `activation` between layers.")
      .def("loss_on", [](const NP& p, const py::handle& theta, const py::handle& X, const py::handle& Y) {
             const std::vector<double> t = to_vector(theta, "theta");
             Tensor<double> x = to_matrix(X, "X", 0, true), y = to_matrix(Y, "y", 0, true);
             py::gil_scoped_release release;
             return p.loss_on(t, x, y);
           }, py::arg("theta"), py::arg("X"), py::arg("y"), "The loss of one parameter vector on all of (X, y)")
      .def_property_readonly("num_model_params", [](const NP& p) { return p.model().num_params(); });

  py::class_<PythonPotential, Potential, std::shared_ptr<PythonPotential>>(m, "PythonPotential",
      "A potential written in Python: fn(particles[N, J]) -> (values[N], gradients[N, J]), all particles at once")
      .def(py::init([](py::function fn, Integer dim, std::string name) {
             return std::make_shared<PythonPotential>(std::move(fn), to_unsigned(dim, "dim"), std::move(name));
           }), py::arg("fn"), py::arg("dim"), py::arg("name") = "python")
      .def_property_readonly("name", &PythonPotential::name);

  py::enum_<models::Initializer::Fan>(m, "Fan").value("fan_in", models::Initializer::Fan::in)
      .value("fan_out", models::Initializer::Fan::out);
  py::class_<models::Initializer>(m, "Initializer", "How initial parameters are drawn (and the prior's variances)")
      .def_static("normal", py::overload_cast<double, double>(&models::Initializer::normal),
                  py::arg("weight_variance"), py::arg("bias_variance"))
      .def_static("kaiming", py::overload_cast<double, double, models::Initializer::Fan>(&models::Initializer::kaiming),
                  py::arg("weight_variance") = 2.0, py::arg("bias_variance") = 2.0,
                  py::arg("fan") = models::Initializer::Fan::in, "variance / fan_in (fan='in') per layer")
      .def_static("uniform", &models::Initializer::uniform, py::arg("lo"), py::arg("hi"))
      .def_static("torch_default", &models::Initializer::torch_default)
      .def_property_readonly("name", &models::Initializer::name)
      .def("sample", [](const models::Initializer& init, const py::handle& layout, Integer n, Integer seed) {
             return copy(init.sample<double>(layout_of(layout), to_unsigned(n, "n"), to_unsigned(seed, "seed")));
           }, py::arg("layout"), py::arg("n"), py::arg("seed") = 0,
           "n x J initial particles for a potential's layout (or a plain dimension J)");

  using GP = models::GaussianPrior<double>;
  py::class_<GP>(m, "GaussianPrior", "A zero-mean Gaussian prior N(0, diag(s^2)) on theta")
      .def_static("isotropic", [](Integer dim, double variance) { return GP::isotropic(to_unsigned(dim, "dim"), variance); },
                  py::arg("dim"), py::arg("variance"))
      .def_static("per_parameter", [](const py::handle& v) { return GP::per_parameter(to_vector(v, "variances")); },
                  py::arg("variances"))
      .def_static("from_initializer", [](const models::Initializer& init, const py::handle& layout) {
                    return GP::from_initializer(init, layout_of(layout));
                  }, py::arg("initializer"), py::arg("layout"),
                  "The Gaussian with the initialiser's variances for a potential's layout (or a dimension)")
      .def_property_readonly("dim", &GP::dim)
      .def_property_readonly("variances", [](const GP& p) {
             return py::array_t<double>(static_cast<py::ssize_t>(p.dim()), p.variances().data());
           })
      .def_property_readonly("description", &GP::description)
      .def("sample", [](const GP& p, Integer n, Integer seed) { return copy(p.sample(to_unsigned(n, "n"), to_unsigned(seed, "seed"))); },
           py::arg("n"), py::arg("seed") = 0, "n x J draws; row i depends only on (seed, i)")
      .def("log_density", [](const GP& p, const py::handle& theta) {
             return p.log_density(to_vector(theta, "theta"));
           }, py::arg("theta"));
}

}  // namespace wgflow::python
