#pragma once
// The Python-side flow: a flows::ParticleFlow<double> and what it refers to (its potential, and through a
// NetworkPotential the network that predictions need), kept alive as long as the flow.
#include <memory>

#include "flows/particle_flow.hpp"
#include "models/potential.hpp"

namespace wgflow::python {

// The potential is declared first so that it outlives the flow's terms, which refer to it.
struct Flow {
  std::shared_ptr<models::Potential<double>> potential;
  std::unique_ptr<flows::ParticleFlow<double>> flow;
};

}  // namespace wgflow::python
