// The interaction term at N = 1000 particles (issue 5, workload 4).
//
//   interaction/drle   InteractionEnergy::add_gradient alone, parameter space, N = 1000 particles of J = 500
//                      parameters, M = 200 prior samples, RBF, mean-of-squares distances, the reference's
//                      median bandwidth (frozen after 5 steps): DRLE's repulsion and prior attraction.
//   interaction/svgd   SVGD's kernel part alone (flows/svgd.hpp's SvgdDirection without the potential and
//                      the optimiser): squared distances, the median bandwidth re-estimated every step, the
//                      kernel, gradient = (1/N) (K G + S) for a given score G. N = 1000, J = 500.
//   step/DRLE, step/DLE  one DRLE step (parameter-space repulsion) and the same step without the
//                      interaction term (DLE, same lambda2, prior, data and particles) for N = 1000
//                      networks 8-50-1 (J = 501) on the UCI setting of bench_flows.
//
// Each figure records `fmas`, the multiply-adds of the exact computation (with bench_peak's rate, the
// floor under its time): the distances as one symmetric product (N^2 J / 2), the kernel-weighted sums of
// the particles (N^2 J; SVGD's K G another N^2 J) and, for DRLE, the particles against the prior samples
// (N M J for the distances and as much for the sums). The step's figures add the networks' passes.
//
//   bench_interaction [shared options, see bench_common.hpp]
#include <cstdio>
#include <memory>
#include <string>

#include "core/gemm.hpp"
#include "bench/bench_common.hpp"
#include "bench/synthetic.hpp"
#include "flows/flows.hpp"
#include "flows/svgd.hpp"
#include "models/initializer.hpp"
#include "models/likelihoods.hpp"
#include "models/mlp.hpp"
#include "models/network_potential.hpp"
#include "models/prior.hpp"

namespace {

using namespace wgflow;
namespace wb = wgflow::bench;

template <class T>
void report(const wb::Options& o, const std::string& workload, std::size_t n, std::size_t dim, const wb::Timing& t,
            double fmas) {
  std::printf("%-20s %5zu %5zu %-8s %12.2f %10.1f %6zu\n", workload.c_str(), n, dim, wb::dtype_name<T>(),
              t.median_s * 1e3, 1 / t.median_s, t.runs);
  wb::emit(o, wb::timing_record(workload, n, wb::dtype_name<T>(), t).set("dim", dim).set("fmas", fmas));
}

// The multiply-adds of DRLE's parameter-space interaction with m prior samples, and of SVGD's kernel part.
double drle_interaction_fmas(double n, double dim, double m) { return (n * n / 2 + n * n + 2 * n * m) * dim; }
double svgd_kernel_fmas(double n, double dim) { return (n * n / 2 + 2 * n * n) * dim; }

template <class T>
void interaction_alone(const wb::Options& o, std::size_t n, std::size_t dim, std::size_t m) {
  const auto prior = models::GaussianPrior<T>::isotropic(dim, 1.0);
  const Tensor<T> particles = prior.sample(n, 1);

  if (o.wants("interaction/drle")) {
    flows::InteractionEnergy<T> term(flows::InteractionSettings<T>{.lambda1 = T(1e-3)},
                                     std::make_unique<flows::ParameterSpace<T>>(), prior.sample(m, 2));
    term.attach(particles);
    Tensor<T> gradient = xt::zeros<T>({n, dim});
    std::uint64_t step = 0;
    const wb::Timing t = wb::time_runs(o, [&] {
      term.add_gradient(flows::StepContext<T>{.step = step++, .particles = particles, .seed = 0}, gradient);
    }, 6);
    report<T>(o, "interaction/drle", n, dim, t, drle_interaction_fmas(n, dim, m));
  }

  if (o.wants("interaction/svgd")) {
    const flows::SvgdKernel<T> config;  // the defaults SVGD uses: RBF, sum of squares, rolling median
    flows::Bandwidth<T> bandwidth = config.bandwidth;
    const Tensor<T> G = prior.sample(n, 3);  // the score -grad log pi at each particle, given
    Tensor<T> gradient = Tensor<T>::from_shape({n, dim});
    const T inv_n = T(1) / static_cast<T>(n);
    std::uint64_t step = 0;
    flows::CentredPoints<T> x;
    Tensor<T> D2;
    flows::KernelMatrices<T> km;
    const wb::Timing t = wb::time_runs(o, [&] {  // as SvgdDirection does it, into buffers kept across steps
      flows::centre_into(particles, config.distance, x);
      flows::pairwise_squared_distances_into(x, D2);
      const T h = bandwidth.update(step++, D2);
      config.kernel.evaluate_into(D2, h, km);
      wgflow::gemm<T>(false, false, n, dim, n, inv_n, km.k.data(), n, G.data(), dim, T(0), gradient.data(), dim);
      flows::add_kernel_gradient_sums(km, x, x, inv_n, gradient);
    }, 3);
    report<T>(o, "interaction/svgd", n, dim, t, svgd_kernel_fmas(n, dim));
  }
}

template <class T>
void drle_vs_dle(const wb::Options& o, std::size_t n) {
  const std::size_t inputs = 8, hidden = 50;
  const auto [X, Y] = wb::synthetic_regression<T>(1000, inputs, 1);
  models::Mlp<T> net({.widths = {inputs, hidden, 1}});
  models::NetworkPotential<T> potential(net, models::SquaredError<T>(), X, Y, {.batch_size = 100, .seed = 3});
  const auto init = models::Initializer::kaiming(1, 1, models::Initializer::Fan::out);
  const Tensor<T> particles = init.sample<T>(net.layout(), n, 4);
  const auto prior = models::GaussianPrior<T>::from_initializer(init, net.layout());
  const T eta = T(0.01), lambda2 = T(1e-6);
  const std::size_t J = net.num_params();
  const double networks = static_cast<double>(n) * wb::network_fmas(100, inputs, hidden);  // DRLE adds its interaction

  if (o.wants("step/DLE")) {
    auto dle = flows::deep_langevin_ensemble(potential, prior, particles, {.lambda = lambda2, .eta = eta, .seed = 5});
    report<T>(o, "step/DLE", n, J, wb::time_runs(o, [&] { dle.step(); }, 3), networks);
  }
  if (o.wants("step/DRLE")) {
    const flows::DrleSettings<T> repulsion{.lambda1 = T(1e-3), .lambda2 = lambda2, .eta = eta, .seed = 5};
    auto drle = flows::deep_repulsive_langevin_ensemble(potential, prior, particles, repulsion);  // parameter space
    report<T>(o, "step/DRLE", n, J, wb::time_runs(o, [&] { drle.step(); }, 6),
              networks + drle_interaction_fmas(n, J, repulsion.prior_samples));
  }
}

}  // namespace

int main(int argc, char** argv) {
  return wb::run_main("bench_interaction", [&] {
    wb::Options o;
    CLI::App app("wgflow: the interaction term at N = 1000 (DRLE parameter space, SVGD)");
    wb::add_options(app, o);
    if (!wb::parse(app, argc, argv, o)) return wb::exit_ok;
    const wb::Session session(app.get_description(), o);
    std::printf("%-20s %5s %5s %-8s %12s %10s %6s\n", "workload", "N", "J", "dtype", "median ms", "per s", "runs");
    if (o.float32()) {
      interaction_alone<float>(o, 1000, 500, 200);
      drle_vs_dle<float>(o, 1000);
    }
    if (o.float64()) {
      interaction_alone<double>(o, 1000, 500, 200);
      drle_vs_dle<double>(o, 1000);
    }
    return session.finish();
  });
}
