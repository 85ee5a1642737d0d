// The optimal-measure experiment of paper §3.1 at test size: the 1-D double well l(t) = (3/2)(t^4/4 + t^3/3
// - t^2) - 3/8 with prior N(0, 1). The final particles of DLE and DRLE are compared with their analytic
// optima (analysis/optimal_density.hpp) by the Kolmogorov-Smirnov distance (analysis/ks.hpp).
//
// The bound on D_N. For N i.i.d. draws from a continuous law L, P(D_N(L) > 1.36 / sqrt(N)) ~ 0.05. The
// particles are draws from the law L_T of the discrete scheme after T steps, not from q*, and by the
// triangle inequality D_N(q*) <= D_N(L_T) + KS(L_T, q*). KS(L_T, q*) collects (a) the Euler-Maruyama bias
// O(eta), (b) the memory of the N(0, 1) start, and for DRLE (c) the M prior samples standing in for P and
// (d) the (N - 1) / N weight of the other particles in a finite system. It was measured offline by
// evolving L_T exactly on a grid of spacing 0.01 on [-5, 5] (the Gaussian transition kernel of one step,
// applied T times to the N(0, 1) density; for DRLE with the velocity of the current law, i.e. the
// N -> infinity limit with the (N - 1) / N weight) and is rounded up into the allowance of each bound.
// The DRLE particles are exchangeable rather than independent; their propagation of chaos makes the
// 1.36 / sqrt(N) rate apply up to O(1/N). The seeds are fixed, so the test is deterministic; another seed
// passes with probability about 0.95 or more.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "flows/flows.hpp"
#include "analysis/ks.hpp"
#include "analysis/optimal_density.hpp"
#include "models/prior.hpp"
#include "models/toy_potentials.hpp"

using namespace wgflow;
using wgflow::Tensor;

TEST_CASE("double well: DLE particles match the Gibbs density and DRLE particles the fixed point (KS)") {
  auto loss = models::double_well<double>();
  const auto prior = models::GaussianPrior<double>::isotropic(1, 1.0);
  // q* on [-5, 5] with spacing 0.01: both optima are below e^-100 at the ends (l(-5) = 134, l(5) = 259), so
  // the truncated mass and the grid's interpolation error are negligible against the bounds.
  const analysis::Grid<double> grid(-5.0, 5.0, 1001);
  const analysis::GridDensity<double> dle_q = analysis::gibbs_density(grid, analysis::loss_of(loss), 1.0);
  const analysis::DrleObjective<double> objective{.lambda1 = 1, .lambda2 = 1, .bandwidth = 1, .prior_variance = 1};
  const analysis::GridDensity<double> drle_q = analysis::drle_fixed_point(grid, analysis::loss_of(loss), objective).density;

  // The paper runs N = 300, eta = 1e-4 for 1e5 steps (t = 10); here eta = 1e-2 for 1000 steps (the same t):
  // l'' + 1 <= 10 on the bulk, so eta (l'' + 1) <= 0.1 keeps the scheme stable and close to the flow.
  const double eta = 1e-2;
  const std::size_t steps = 1000;

  SUBCASE("DLE, N = 1000") {
    const std::size_t N = 1000;
    auto dle = flows::deep_langevin_ensemble(loss, prior, prior.sample(N, 21), {.lambda = 1.0, .eta = eta, .seed = 4});
    dle.run(steps);
    const double D = analysis::ks_distance(dle.particles(), dle_q);
    // The law after 1000 steps is at KS distance 0.0081 from q* (0.0069 of it the eta bias, which is linear
    // in eta: 0.0142 at eta = 2e-2); allowance 0.01. Bound 1.36 / sqrt(1000) + 0.01 = 0.053.
    const double bound = analysis::ks_critical_value_95(N) + 0.01;
    MESSAGE("DLE: KS distance to q* " << D << ", bound " << bound);
    CHECK(D < bound);
    // The bound discriminates: the DRLE optimum lies at KS distance 0.12 from the DLE one, and the same
    // particles are rejected against it (0.12 - 0.043 - 0.008 > bound whatever the seed, at 95 %).
    CHECK(analysis::ks_distance(dle.particles(), drle_q) > bound);
  }

  SUBCASE("DRLE, N = 300, M = 200 prior samples (the paper's sizes)") {
    const std::size_t N = 300;
    auto drle = flows::deep_repulsive_langevin_ensemble(loss, prior, prior.sample(N, 22),
                                                        {.lambda1 = 1, .lambda2 = 1,
                                                         .bandwidth = flows::Bandwidth<double>::fixed(1.0),
                                                         .prior_samples = 200, .eta = eta, .seed = 5});
    drle.run(steps);
    const double D = analysis::ks_distance(drle.particles(), drle_q);
    // The mean-field law after 1000 steps, with this seed's 200 prior samples and the (N - 1) / N weight of
    // the other particles, is at KS distance 0.0046 from q* (0.0053 with the exact prior kernel mean: the
    // eta and t bias); other seeds' prior samples gave up to 0.014. Allowance 0.015: bound 0.094.
    const double bound = analysis::ks_critical_value_95(N) + 0.015;
    MESSAGE("DRLE: KS distance to q* " << D << ", bound " << bound << "; to the DLE optimum "
                                       << analysis::ks_distance(drle.particles(), dle_q));
    CHECK(D < bound);
    // The repulsion spreads the optimum (paper §3.1): variance 1.043 against DLE's 0.821.
    CHECK(drle_q.variance() > dle_q.variance() + 0.2);
  }
}
