#pragma once
// The flows that the checkpoint tests save and resume (tests/flows/test_checkpoint.cpp, on what a
// checkpoint restores; test_checkpoint_safety.cpp, on what a save may replace and survive).
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "flows/flows.hpp"
#include "models/prior.hpp"
#include "models/toy_potentials.hpp"
#include "tests/flows/flow_fixture.hpp"

namespace wgtest {

// DRLE on a quadratic in R^3.
struct Drle {
  wgflow::models::AnalyticPotential<double> loss = diagonal_quadratic();
  wgflow::models::GaussianPrior<double> prior = wgflow::models::GaussianPrior<double>::isotropic(3, 1.0);
  // Median bandwidth frozen after 5 steps, 200 prior samples: both are state the checkpoint must carry.
  wgflow::flows::DrleSettings<double> settings{.lambda1 = 0.5, .lambda2 = 0.1, .eta = 0.01};

  wgflow::flows::ParticleFlow<double> make(std::uint64_t seed = 5, std::size_t n = 32) {
    wgflow::flows::DrleSettings<double> s = settings;
    s.seed = seed;
    return wgflow::flows::deep_repulsive_langevin_ensemble(loss, prior, normal_particles(n, 3, 3), s);
  }
};

// SVGD and mean-field VI on a minibatched network (a 1-8-1 tanh MLP, batches of 10 of 40 points: the
// batch changes with the step, so a resumed flow must also be at the right batch), configured alike
// whatever the seed, which the checkpoint must restore.
struct Neighbours {
  SinRegression data{8, 40, 10};
  // Frozen after 5 steps: state.
  wgflow::flows::Bandwidth<double> bandwidth = wgflow::flows::Bandwidth<double>::median();
  double lambda = 0.1;
  std::size_t samples = 2;

  wgflow::flows::ParticleFlow<double> svgd(std::uint64_t seed = 5, std::size_t n = 16) {
    return wgflow::flows::svgd(
        data.potential, data.prior, data.particles(n, 4),
        {.lambda = lambda, .bandwidth = bandwidth, .optimizer = wgflow::flows::Sgd<double>{0.01}, .seed = seed});
  }
  wgflow::flows::ParticleFlow<double> mfvi(std::uint64_t seed = 5, std::size_t n = 4) {
    return wgflow::flows::mean_field_vi(data.potential, data.prior, data.particles(n, 4),
                                        {.lambda = lambda, .samples = samples, .initial_sd = 0.1,
                                         .optimizer = wgflow::flows::Sgd<double>{0.01}, .seed = seed});
  }
};

// doctest's matcher takes C strings only.
inline doctest::Contains contains(const std::string& text) { return doctest::Contains(text.c_str()); }

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

}  // namespace wgtest
