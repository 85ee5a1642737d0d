// A potential that prefers batches (models::Potential::prefers_batches, as a Python one does) is handed
// each step's points in one values_and_gradients call, and the flows move the particles exactly as they
// do when the same potential is evaluated point by point: the batch changes how l is called, not what
// the flow computes.
#include <doctest/doctest.h>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <functional>
#include <span>
#include <vector>

#include "flows/flows.hpp"
#include "models/prior.hpp"
#include "models/toy_potentials.hpp"

namespace {

using wgflow::Tensor;
namespace flows = wgflow::flows;
namespace models = wgflow::models;

// The inner potential, either point by point or, when `batched`, in one call over all rows (serially in
// row order, as a Python callable would), counting the calls of each kind.
class BatchCountingPotential final : public models::Potential<double> {
 public:
  BatchCountingPotential(models::Potential<double>& inner, bool batched) : inner_(inner), batched_(batched) {}

  std::size_t dim() const override { return inner_.dim(); }
  void begin_step(std::uint64_t step) override { inner_.begin_step(step); }
  double value_and_gradient(std::span<const double> theta, std::span<double> grad) const override {
    ++point_calls;
    return inner_.value_and_gradient(theta, grad);
  }
  void values_and_gradients(const Tensor<double>& thetas, std::span<double> values,
                            Tensor<double>& gradients) const override {
    ++batch_calls;
    const std::size_t n = thetas.shape()[0], J = thetas.shape()[1];
    for (std::size_t i = 0; i < n; ++i)
      values[i] = inner_.value_and_gradient(std::span<const double>(thetas.data() + i * J, J),
                                            std::span<double>(gradients.data() + i * J, J));
  }
  bool prefers_batches() const override { return batched_; }

  mutable std::atomic<std::size_t> point_calls{0}, batch_calls{0};

 private:
  models::Potential<double>& inner_;
  bool batched_;
};

bool same_bits(const Tensor<double>& a, const Tensor<double>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

using BatchedFlowMaker = std::function<flows::ParticleFlow<double>(models::Potential<double>&)>;

// Runs `steps` steps of the flow over the per-point and the batched potential; the particles must agree
// bit for bit, and the batched potential must have been called once per step and never per point.
void check_batched_matches_per_point(const BatchedFlowMaker& make, std::size_t steps) {
  auto inner = models::double_well<double>(3);
  BatchCountingPotential per_point(inner, false), batched(inner, true);
  flows::ParticleFlow<double> a = make(per_point), b = make(batched);
  for (std::size_t t = 0; t < steps; ++t) {
    a.step();
    b.step();
  }
  CHECK(per_point.batch_calls == 0);
  CHECK(per_point.point_calls > 0);
  CHECK(batched.batch_calls == steps);
  CHECK(batched.point_calls == 0);
  CHECK(same_bits(a.particles(), b.particles()));
  CHECK(a.mean_loss() == b.mean_loss());
  CHECK(a.free_energy() == b.free_energy());
}

const auto batched_prior = models::GaussianPrior<double>::isotropic(3, 1.0);
const Tensor<double> batched_init = models::GaussianPrior<double>::isotropic(3, 1.0).sample(7, 11);

}  // namespace

TEST_CASE("a potential preferring batches gives DE, DLE, DRLE, SVGD and mean-field VI the per-point particles") {
  SUBCASE("DE") {
    check_batched_matches_per_point([](models::Potential<double>& p) {
      return flows::deep_ensemble(p, batched_init, {.eta = 1e-2});
    }, 6);
  }
  SUBCASE("DLE") {
    check_batched_matches_per_point([](models::Potential<double>& p) {
      return flows::deep_langevin_ensemble(p, batched_prior, batched_init, {.lambda = 0.3, .eta = 1e-2, .seed = 5});
    }, 6);
  }
  SUBCASE("DRLE") {
    check_batched_matches_per_point([](models::Potential<double>& p) {
      return flows::deep_repulsive_langevin_ensemble(
          p, batched_prior, batched_init, {.lambda1 = 0.5, .lambda2 = 0.1, .prior_samples = 20, .eta = 1e-2, .seed = 5});
    }, 6);
  }
  SUBCASE("SVGD") {
    check_batched_matches_per_point([](models::Potential<double>& p) {
      return flows::svgd(p, batched_prior, batched_init,
                         {.lambda = 0.5, .optimizer = flows::Adam<double>{.eta = 1e-2}});
    }, 6);
  }
  SUBCASE("mean-field VI, several draws per member") {
    check_batched_matches_per_point([](models::Potential<double>& p) {
      return flows::mean_field_vi(
          p, batched_prior, batched_init,
          {.lambda = 0.5, .samples = 3, .optimizer = flows::Adam<double>{.eta = 1e-2}, .seed = 9});
    }, 6);
  }
}

TEST_CASE("Potential::values_and_gradients by default evaluates each row as value_and_gradient does") {
  const auto p = models::double_well<double>(3);
  CHECK_FALSE(p.prefers_batches());
  const Tensor<double>& thetas = batched_init;
  const std::size_t n = thetas.shape()[0], J = thetas.shape()[1];
  std::vector<double> values(n);
  Tensor<double> gradients = Tensor<double>::from_shape({n, J});
  p.values_and_gradients(thetas, values, gradients);
  std::vector<double> g(J);
  for (std::size_t i = 0; i < n; ++i) {
    const double v = p.value_and_gradient(std::span<const double>(thetas.data() + i * J, J), g);
    CHECK(v == values[i]);
    CHECK(std::memcmp(g.data(), gradients.data() + i * J, J * sizeof(double)) == 0);
  }
  std::vector<double> too_few(n - 1);
  CHECK_THROWS_AS(p.values_and_gradients(thetas, too_few, gradients), wgflow::ShapeError);
}
