// FunctionSpace keeps each particle's evaluation from embed_into for the add_pullback that follows; the
// gradient must be the one a fresh evaluation gives, and particles other than the recorded ones must not
// be pulled back through stale recordings. The paper's networks run in SIMD lanes instead
// (models/network_lanes.hpp): their features and pullbacks must be the model's up to rounding, and not
// depend on which particles share a call; their groups' evaluations are kept while they fit a budget,
// and the pullback must be the same bits whether they were kept or evaluated again.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

#include <xtensor/xview.hpp>

#include "flows/embedding.hpp"
#include "models/mlp.hpp"
#include "models/prior.hpp"

using namespace wgflow;
using wgflow::Tensor;

namespace {

// The pullback of a space that never embedded: it evaluates the model again (Model::pullback, or each
// group in lanes), onto a gradient of ones.
template <class T>
Tensor<T> fresh_pullback(const models::Model<T>& net, const Tensor<T>& inputs, const Tensor<T>& thetas,
                         const Tensor<T>& g) {
  const flows::FunctionSpace<T> fresh(net, inputs);
  Tensor<T> gradient = xt::ones<T>({thetas.shape()[0], thetas.shape()[1]});
  fresh.add_pullback(thetas, g, gradient);
  return gradient;
}

// space.embed_into(a), then the pullbacks at a (through what embed_into kept) and at b (other particles:
// evaluated afresh, not through a's evaluations, whose gradient would differ), each bit for bit a fresh
// space's (the same forward values, the same backward sweep).
template <class T>
void check_pullbacks(const flows::FunctionSpace<T>& space, const models::Model<T>& net, const Tensor<T>& inputs,
                     const Tensor<T>& a, const Tensor<T>& b, const Tensor<T>& g) {
  Tensor<T> features;
  space.embed_into(a, features);
  CHECK(features == space.embed(a));
  Tensor<T> gradient = xt::ones<T>({a.shape()[0], a.shape()[1]});
  space.add_pullback(a, g, gradient);
  CHECK(gradient == fresh_pullback(net, inputs, a, g));
  Tensor<T> gradient_b = xt::ones<T>({b.shape()[0], b.shape()[1]});
  space.add_pullback(b, g, gradient_b);
  CHECK(gradient_b == fresh_pullback(net, inputs, b, g));
  CHECK(gradient_b != gradient);
}

}  // namespace

TEST_CASE("FunctionSpace::add_pullback: through embed_into's recordings, the gradient of a fresh evaluation") {
  const models::Mlp<double> net({.widths = {3, 6, 4, 1}});  // two hidden layers: on the tape, recorded
  const std::size_t N = 4, J = net.num_params(), K = 5;
  const auto prior = models::GaussianPrior<double>::isotropic(J, 0.5);
  const Tensor<double> inputs = models::GaussianPrior<double>::isotropic(3, 1.0).sample(K, 21);
  const Tensor<double> a = prior.sample(N, 22), b = prior.sample(N, 23);
  const Tensor<double> g = models::GaussianPrior<double>::isotropic(K, 1.0).sample(N, 24);  // N x E cotangents


  const flows::FunctionSpace<double> space(net, inputs);
  check_pullbacks(space, net, inputs, a, b, g);

  // The same after a re-embedding at fewer particles (the recordings are reused, the first N - 1 rows).
  const Tensor<double> c = xt::view(b, xt::range(0, N - 1), xt::all());
  Tensor<double> features;
  space.embed_into(c, features);
  const Tensor<double> g_c = xt::view(g, xt::range(0, N - 1), xt::all());
  Tensor<double> gradient_c = xt::ones<double>({N - 1, J});
  space.add_pullback(c, g_c, gradient_c);
  const Tensor<double> want_c = xt::view(fresh_pullback(net, inputs, b, g), xt::range(0, N - 1), xt::all());
  CHECK(gradient_c == want_c);
}

TEST_CASE("FunctionSpace in SIMD lanes: the model's features and pullbacks, whatever particles share the call") {
  const models::Mlp<double> net({.widths = {3, 6, 1}});  // one hidden layer, scalar output: in lanes
  const std::size_t N = 21, J = net.num_params(), K = 5;
  const auto prior = models::GaussianPrior<double>::isotropic(J, 0.5);
  const Tensor<double> inputs = models::GaussianPrior<double>::isotropic(3, 1.0).sample(K, 31);
  const Tensor<double> a = prior.sample(N, 32);
  const Tensor<double> g = models::GaussianPrior<double>::isotropic(K, 1.0).sample(N, 33);

  const flows::FunctionSpace<double> space(net, inputs);
  Tensor<double> features;
  space.embed_into(a, features);
  CHECK(features == space.embed(a));
  Tensor<double> gradient = xt::ones<double>({N, J});
  space.add_pullback(a, g, gradient);
  for (std::size_t i = 0; i < N; ++i) {
    const std::span<const double> theta(a.data() + i * J, J);
    const Tensor<double> y = net.predict(theta, inputs);
    Tensor<double> u = Tensor<double>::from_shape({K, 1});
    for (std::size_t k = 0; k < K; ++k) {
      CHECK(features(i, k) == doctest::Approx(y(k, 0)).epsilon(1e-13));
      u(k, 0) = g(i, k);
    }
    std::vector<double> want(J, 1.0);
    net.pullback(theta, inputs, u, want);
    for (std::size_t j = 0; j < J; ++j) CHECK(gradient(i, j) == doctest::Approx(want[j]).epsilon(1e-13));
  }
  // Rows 5 .. 16 alone: the same bits as in the call with all N.
  const Tensor<double> some = xt::view(a, xt::range(5, 17), xt::all());
  const Tensor<double> g_some = xt::view(g, xt::range(5, 17), xt::all());
  Tensor<double> gradient_some = xt::ones<double>({std::size_t{12}, J});
  space.add_pullback(some, g_some, gradient_some);
  CHECK(gradient_some == Tensor<double>(xt::view(gradient, xt::range(5, 17), xt::all())));
  CHECK(space.embed(some) == Tensor<double>(xt::view(features, xt::range(5, 17), xt::all())));
}

TEST_CASE("FunctionSpace in SIMD lanes: the pullback after embed_into is a fresh evaluation's, kept or not") {
  const models::Mlp<float> net({.widths = {3, 6, 1}});
  const std::size_t J = net.num_params();
  // Whether the groups' evaluations are kept depends on their size against FunctionSpace's budget (8 MB):
  // at K = 5 all are; at K = 4000 a group of 16 floats holds ~2.3 MB, and 20 of them (N = 320) are not.
  for (const std::size_t K : {5, 400, 4000}) {
    CAPTURE(K);
    for (const std::size_t N : {3, 40, 320}) {
      CAPTURE(N);
      const Tensor<float> inputs = models::GaussianPrior<float>::isotropic(3, 1.0f).sample(K, 41);
      const Tensor<float> a = models::GaussianPrior<float>::isotropic(J, 0.5f).sample(N, 42);
      const Tensor<float> b = models::GaussianPrior<float>::isotropic(J, 0.5f).sample(N, 43);
      const Tensor<float> g = models::GaussianPrior<float>::isotropic(K, 1.0f).sample(N, 44);
      check_pullbacks(flows::FunctionSpace<float>(net, inputs), net, inputs, a, b, g);
    }
  }
}

TEST_CASE("Embedding::features_of: parameter space reads the particles in place; function space embeds") {
  const models::Mlp<double> net({.widths = {3, 6, 1}});
  const std::size_t N = 5, J = net.num_params(), K = 4;
  const Tensor<double> thetas = models::GaussianPrior<double>::isotropic(J, 0.5).sample(N, 31);
  const Tensor<double> inputs = models::GaussianPrior<double>::isotropic(3, 1.0).sample(K, 32);
  Tensor<double> storage;

  const flows::ParameterSpace<double> parameters;
  CHECK(&parameters.features_of(thetas, storage) == &thetas);
  CHECK(storage.size() == 0);  // nothing copied

  const flows::FunctionSpace<double> outputs(net, inputs);
  const Tensor<double>& features = outputs.features_of(thetas, storage);
  CHECK(&features == &storage);
  CHECK(features == outputs.embed(thetas));
}

TEST_CASE("FunctionSpace refuses non-finite kernel inputs, naming the entry: every feature would be NaN") {
  const models::Mlp<double> net({.widths = {2, 5, 1}});
  Tensor<double> inputs{{0.0, 1.0}, {2.0, 3.0}, {4.0, 5.0}};
  CHECK_NOTHROW(flows::FunctionSpace<double>(net, inputs));
  inputs(2, 0) = -INFINITY;
  CHECK_THROWS_WITH_AS(flows::FunctionSpace<double>(net, inputs),
                       "FunctionSpace: kernel inputs (3x2) has a non-finite entry at row 2, column 0 (-inf)", DataError);
}
