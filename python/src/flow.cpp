// Flow (step, run with a Python callback, particles in and out, checkpoints) and the five presets with
// every setting as a keyword argument, for built-in and Python potentials alike (a PythonPotential
// prefers batches, so the presets' terms call it once per step). The GIL is released whenever C++ runs: a
// Python potential and a callback take it back when they need it.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "arrays.hpp"
#include "bindings.hpp"
#include "core/finite.hpp"
#include "flow.hpp"
#include "flows/flows.hpp"
#include "flows/mean_field_vi.hpp"
#include "flows/svgd.hpp"
#include "integers.hpp"
#include "models/network_potential.hpp"
#include "models/prior.hpp"

namespace wgflow::python {

namespace {

using flows::ParticleFlow;
using PotentialPtr = std::shared_ptr<models::Potential<double>>;
using GP = models::GaussianPrior<double>;

Tensor<double> initial(const py::handle& particles, const models::Potential<double>& potential, const char* name) {
  Tensor<double> x = to_matrix(particles, name, potential.dim());
  if (x.shape()[0] == 0)
    throw ShapeError(std::string(name) + ": expected at least one particle, got shape (0, " + std::to_string(x.shape()[1]) + ")");
  return x;
}

flows::DistanceConvention distance_of(const std::string& s) {
  if (s == "sum") return flows::DistanceConvention::sum;
  if (s == "mean") return flows::DistanceConvention::mean;
  throw Error("distance: expected \"sum\" or \"mean\", got \"" + s + "\"");
}

Flow wrap(ParticleFlow<double> flow, PotentialPtr potential) {
  return Flow{std::move(potential), std::make_unique<ParticleFlow<double>>(std::move(flow)), std::nullopt};
}

// Restores a snapshot into the flow through the flow's own particle buffer (the snapshot's particles,
// of the flow's shape, copied into it), so that numpy views of flow.particles never dangle: they show
// the restored values. The integrator keeps its two particle buffers for its lifetime (it swaps them).
void restore_keeping_buffer(ParticleFlow<double>& flow, flows::Snapshot<double>& s) {
  Tensor<double>& incoming = s.arrays.at("particles");
  if (incoming.shape() != flow.particles().shape())
    throw ShapeError("particles: the snapshot's are " + shape_string({incoming.shape()[0], incoming.shape()[1]}) +
                     ", the flow's " + shape_string({flow.num_particles(), flow.dim()}));
  // The flow's particles are a non-const member behind a const accessor: borrow the buffer, fill it, and
  // let restore() move it back.
  Tensor<double> buffer = std::move(const_cast<Tensor<double>&>(flow.particles()));
  std::copy(incoming.begin(), incoming.end(), buffer.begin());
  incoming = std::move(buffer);
  flows::CheckpointAccess::restore(flow, s);
}

}  // namespace

void bind_flows(py::module_& m) {
  py::class_<flows::Optimizer<double>>(m, "Optimizer", "An optimiser with its state (SGD, momentum, Adam)")
      .def_property_readonly("learning_rate", &flows::Optimizer<double>::learning_rate);
  m.def("sgd", [](double eta) { return flows::Optimizer<double>(flows::Sgd<double>{eta}); }, py::arg("eta"));
  m.def("momentum", [](double eta, double mu) { return flows::Optimizer<double>(flows::Momentum<double>{eta, mu}); },
        py::arg("eta"), py::arg("mu") = 0.9);
  m.def("adam", [](double eta, double beta1, double beta2, double epsilon) {
          return flows::Optimizer<double>(flows::Adam<double>{eta, beta1, beta2, epsilon});
        }, py::arg("eta") = 1e-3, py::arg("beta1") = 0.9, py::arg("beta2") = 0.999, py::arg("epsilon") = 1e-8);

  using K = flows::RadialKernel<double>;
  py::class_<K>(m, "Kernel", "A radial kernel: rbf() or imq(beta)")
      .def_static("rbf", &K::rbf).def_static("imq", &K::imq, py::arg("beta") = -0.5);
  using B = flows::Bandwidth<double>;
  py::class_<B>(m, "Bandwidth", "A kernel bandwidth rule: fixed(h), median(estimated_steps, offset), rolling_median(offset)")
      .def_static("fixed", &B::fixed, py::arg("h"))
      .def_static("median",
                  [](Integer steps, double offset) { return B::median(to_unsigned(steps, "estimated_steps"), offset); },
                  py::arg("estimated_steps") = 5, py::arg("offset") = 1.0)
      .def_static("rolling_median", &B::rolling_median, py::arg("offset") = 1.0);

  py::class_<Flow>(m, "Flow", "A particle flow: N particles moved by one integrator with a method's terms")
      .def_property_readonly("name", [](const Flow& f) { return f.flow->name(); })
      .def_property_readonly("steps_taken", [](const Flow& f) { return f.flow->steps_taken(); })
      .def_property_readonly("num_particles", [](const Flow& f) { return f.flow->num_particles(); })
      .def_property_readonly("dim", [](const Flow& f) { return f.flow->dim(); })
      .def_property_readonly("seed", [](const Flow& f) { return f.flow->seed(); })
      .def_property_readonly("potential", [](const Flow& f) { return f.potential; })
      .def_property("particles",
          [](py::object self) { return view(self.cast<const Flow&>().flow->particles(), self); },
          [](Flow& f, const py::handle& value) {
            const InUse in_use(f, "particles = ");
            auto& flow = *f.flow;
            Tensor<double> p = to_matrix(value, "particles", flow.dim());
            if (p.shape()[0] != flow.num_particles())
              throw ShapeError("particles: expected shape (" + std::to_string(flow.num_particles()) + ", " +
                               std::to_string(flow.dim()) + "), got " + shape_of(as_float64(value, "particles")));
            require_finite_particles(p, "particles");
            // Through a snapshot: the optimiser's and the terms' states and the step count are kept.
            flows::Snapshot<double> s = flows::CheckpointAccess::capture(flow);
            s.arrays.at("particles") = std::move(p);
            restore_keeping_buffer(flow, s);
          },
          "N x J particles: a read-only numpy view without a copy. It stays valid memory as long as it exists (it "
          "keeps the flow alive), but its values are current only until the next step(), run(), assignment or "
          "load_checkpoint (which write into it); copy it (np.array(flow.particles)) to keep them. Assigning an "
          "N x J array sets the particles (the optimiser state and step count are kept).")
      .def_property_readonly("gradient", [](Flow& f) {
            const InUse in_use(f, "gradient");
            return copy(f.flow->gradient());
          },
                             "The total gradient of the last step (a copy)")
      .def_property_readonly("mean_loss", [](const Flow& f) { return f.flow->mean_loss(); },
                             "(1/N) sum_i l(theta_i) at the last step, or None before it")
      .def_property_readonly("free_energy", [](const Flow& f) { return f.flow->free_energy(); },
                             "The free energy at the last step, when every term estimates its own, else None")
      .def_property_readonly("diffusion", [](const Flow& f) { return f.flow->diffusion(); })
      .def_property_readonly("terms", [](const Flow& f) {
            std::vector<std::string> names;
            for (std::size_t k = 0; k < f.flow->num_terms(); ++k) names.push_back(f.flow->term(k).name());
            return names;
          })
      .def("predictive_samples", [](Flow& f, Integer per_member, Integer seed) {
            const InUse in_use(f, "predictive_samples");
            return copy(f.flow->predictive_samples(to_unsigned(per_member, "per_member"), to_unsigned(seed, "seed")));
          }, py::arg("per_member") = 1, py::arg("seed") = 0,
          "Parameter vectors standing for Q: the particles (mean-field VI: per_member draws per member)")
      .def("set_optimizer", [](Flow& f, flows::Optimizer<double> o) {
            const InUse in_use(f, "set_optimizer");
            f.flow->set_optimizer(std::move(o));
          })
      .def("step", [](Flow& f) {
            const InUse in_use(f, "step");  // before the release: it ends after the GIL is back
            py::gil_scoped_release release;
            f.flow->step();
          }, "One Euler-Maruyama step. Raises wgflow.Error (naming step, particle and term) on divergence.")
      .def("run", [](py::object self, Integer steps, py::object callback, Integer every_arg) {
            const std::uint64_t n = to_unsigned(steps, "n"), every = to_unsigned(every_arg, "every");
            Flow& f = self.cast<Flow&>();
            const InUse in_use(f, "run");
            // Between steps, with the GIL: Ctrl-C (a pending signal) stops the run as KeyboardInterrupt, then
            // the user's callback. Without one, signals are looked at every 256 steps (a GIL round trip).
            const bool user = !callback.is_none();
            const flows::ParticleFlow<double>::Callback cb = [&](const ParticleFlow<double>&) {
              py::gil_scoped_acquire gil;
              if (PyErr_CheckSignals() != 0) throw py::error_already_set();
              if (!user) return true;
              py::object r = callback(self);
              if (r.is_none()) return true;
              try {
                return r.cast<bool>();  // True, False, or what has __bool__ (numpy's bools, numbers)
              } catch (const py::cast_error&) {
                throw py::type_error("run(): the callback returned " + py::repr(r).cast<std::string>() +
                                     "; return None or True to go on, False to stop");
              }
            };
            py::gil_scoped_release release;
            f.flow->run(n, cb, user ? every : std::max<std::uint64_t>(every, 256));
          }, py::arg("n"), py::arg("callback") = py::none(), py::arg("every") = 1,
          "n steps; callback(flow) after every `every` steps and the last; returning False stops early")
      .def("save_checkpoint", [](Flow& f, const std::filesystem::path& dir) {
            const InUse in_use(f, "save_checkpoint");
            py::gil_scoped_release release;
            flows::save_checkpoint(*f.flow, dir);
          }, py::arg("dir"), "Saves the whole state (bit-exact resume) to the folder `dir`, atomically")
      .def("load_checkpoint", [](Flow& f, const std::filesystem::path& dir) {
            const InUse in_use(f, "load_checkpoint");
            py::gil_scoped_release release;
            // flows::load_checkpoint, restoring through the flow's own buffer (restore_keeping_buffer).
            const flows::Snapshot<double> live = flows::CheckpointAccess::capture(*f.flow);
            flows::Snapshot<double> saved = flows::read_snapshot<double>(dir);
            flows::detail::check_compatible(live, saved, flows::resolve_checkpoint(dir));
            restore_keeping_buffer(*f.flow, saved);
          }, py::arg("dir"), "Loads a checkpoint of a flow configured alike (from Python or C++)");

  // The presets: flows/presets.hpp's settings, one keyword argument each.
  m.def("deep_ensemble", [](PotentialPtr p, const py::handle& init, double eta, Integer seed) {
          Tensor<double> x = initial(init, *p, "initial_particles");
          return wrap(flows::deep_ensemble(*p, std::move(x), {.eta = eta, .seed = to_unsigned(seed, "seed")}), p);
        }, py::arg("potential"), py::arg("initial_particles"), py::kw_only(), py::arg("eta") = 1e-3, py::arg("seed") = 0,
        "DE: F = int l dQ, theta_i -= eta grad l(theta_i)");
  m.def("deep_langevin_ensemble", [](PotentialPtr p, const GP& prior, const py::handle& init, double lambda,
                                     double prior_gradient_scale, double eta, Integer seed) {
          Tensor<double> x = initial(init, *p, "initial_particles");
          return wrap(flows::deep_langevin_ensemble(*p, prior, std::move(x),
                                                    {lambda, prior_gradient_scale, eta, to_unsigned(seed, "seed")}),
                      p);
        }, py::arg("potential"), py::arg("prior"), py::arg("initial_particles"), py::kw_only(), py::arg("lambda_") = 1.0,
        py::arg("prior_gradient_scale") = 1.0, py::arg("eta") = 1e-3, py::arg("seed") = 0,
        "DLE: F = int l dQ + lambda KL(Q || P) (noise sqrt(2 lambda eta))");
  m.def("deep_repulsive_langevin_ensemble",
        [](PotentialPtr p, const GP& prior, const py::handle& init, double lambda1, double lambda2,
           double prior_gradient_scale, double prior_attraction_scale, K kernel, B bandwidth, const std::string& distance,
           Integer prior_samples, py::object kernel_inputs, double eta, Integer seed, Integer interaction_batch,
           Integer interaction_prior_batch) {
          Tensor<double> x = initial(init, *p, "initial_particles");
          flows::DrleSettings<double> s{.lambda1 = lambda1,
                                        .lambda2 = lambda2,
                                        .prior_gradient_scale = prior_gradient_scale,
                                        .prior_attraction_scale = prior_attraction_scale,
                                        .kernel = kernel,
                                        .bandwidth = bandwidth,
                                        .distance = distance_of(distance),
                                        .prior_samples = to_unsigned(prior_samples, "prior_samples"),
                                        .eta = eta,
                                        .seed = to_unsigned(seed, "seed"),
                                        .interaction_batch = to_unsigned(interaction_batch, "interaction_batch"),
                                        .interaction_prior_batch =
                                            to_unsigned(interaction_prior_batch, "interaction_prior_batch")};
          if (!kernel_inputs.is_none()) {  // function space: the network of a NetworkPotential
            auto* net = dynamic_cast<const models::NetworkPotential<double>*>(p.get());
            if (!net) throw Error("kernel_inputs: function-space repulsion needs a NetworkPotential");
            s.model = &net->model();
            s.kernel_inputs = to_matrix(kernel_inputs, "kernel_inputs", net->model().num_inputs(), true);
          }
          return wrap(flows::deep_repulsive_langevin_ensemble(*p, prior, std::move(x), s), p);
        },
        py::arg("potential"), py::arg("prior"), py::arg("initial_particles"), py::kw_only(), py::arg("lambda1") = 1.0,
        py::arg("lambda2") = 1.0, py::arg("prior_gradient_scale") = 1.0, py::arg("prior_attraction_scale") = 1.0,
        py::arg("kernel") = K::rbf(), py::arg("bandwidth") = B::median(), py::arg("distance") = "mean",
        py::arg("prior_samples") = 200, py::arg("kernel_inputs") = py::none(), py::arg("eta") = 1e-3, py::arg("seed") = 0,
        py::arg("interaction_batch") = 0, py::arg("interaction_prior_batch") = 0,
        "DRLE: F = int l dQ + (lambda1/2) MMD^2(Q, P) + lambda2 KL(Q || P); kernel_inputs (K x inputs) for "
        "function-space repulsion on a NetworkPotential; interaction_batch = B > 0 estimates the interaction "
        "within random batches of B particles (O(N B) a step, against B_p = interaction_prior_batch prior samples)");
  m.def("svgd", [](PotentialPtr p, const GP& prior, const py::handle& init, double lambda, K kernel, B bandwidth,
                   const std::string& distance, std::optional<flows::Optimizer<double>> optimizer, Integer seed) {
          flows::SvgdSettings<double> s{.lambda = lambda, .kernel = kernel, .bandwidth = bandwidth,
                                        .distance = distance_of(distance), .seed = to_unsigned(seed, "seed")};
          if (optimizer) s.optimizer = *optimizer;
          Tensor<double> x = initial(init, *p, "initial_particles");
          return wrap(flows::svgd(*p, prior, std::move(x), std::move(s)), p);
        }, py::arg("potential"), py::arg("prior"), py::arg("initial_particles"), py::kw_only(), py::arg("lambda_") = 1.0,
        py::arg("kernel") = K::rbf(), py::arg("bandwidth") = B::rolling_median(0.0), py::arg("distance") = "sum",
        py::arg("optimizer") = py::none(), py::arg("seed") = 0,
        "SVGD towards pi ∝ exp(-l / lambda) p (default optimiser adam(1e-2)). A PythonPotential is called once per step.");
  m.def("mean_field_vi", [](PotentialPtr p, const GP& prior, const py::handle& init, double lambda, Integer samples,
                            double initial_sd, std::optional<flows::Optimizer<double>> optimizer, Integer seed) {
          flows::MeanFieldVISettings<double> s{.lambda = lambda, .samples = to_unsigned(samples, "samples"),
                                               .initial_sd = initial_sd, .seed = to_unsigned(seed, "seed")};
          if (optimizer) s.optimizer = *optimizer;
          Tensor<double> means = initial(init, *p, "initial_means");
          return wrap(flows::mean_field_vi(*p, prior, means, std::move(s)), p);
        }, py::arg("potential"), py::arg("prior"), py::arg("initial_means"), py::kw_only(), py::arg("lambda_") = 1.0,
        py::arg("samples") = 1, py::arg("initial_sd") = 0.05, py::arg("optimizer") = py::none(), py::arg("seed") = 0,
        "Mean-field VI over N Gaussians; particles are rows [mu | rho] (N x 2J). Default optimiser adam(1e-3).");
  m.def("mean_field_means", [](Flow& f) {
    const InUse in_use(f, "mean_field_means");
    return copy(flows::mean_field_means(f.flow->particles()));
  });
  m.def("mean_field_standard_deviations", [](Flow& f) {
    const InUse in_use(f, "mean_field_standard_deviations");
    return copy(flows::mean_field_standard_deviations(f.flow->particles()));
  });
}

}  // namespace wgflow::python
