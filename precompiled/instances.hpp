#pragma once
// The instantiations that every header marks WGFLOW_EXTERN_INSTANCES (core/precompiled.hpp), compiled once
// per scalar type into libwgflow_instances: float.cpp and double.cpp, which compile in parallel. A class
// marked there and missing here fails at link time, naming the symbol. None of them may use the tape
// (autodiff/): its checks differ between the tests and the programs (flows/embedding.hpp).
#include "../flows/flows.hpp"
#include "../flows/random_batch_interaction.hpp"
#include "../models/network_lanes.hpp"

#define WGFLOW_INSTANTIATE_ALL(T)                          \
  template class wgflow::flows::ParticleFlow<T>;           \
  template class wgflow::flows::ParameterSpace<T>;         \
  template class wgflow::flows::InteractionEnergy<T>;      \
  template class wgflow::flows::KlDivergence<T>;           \
  template class wgflow::flows::PotentialEnergy<T>;        \
  template class wgflow::flows::PointwiseTerm<T>;          \
  template class wgflow::flows::SvgdDirection<T>;          \
  template class wgflow::flows::MeanFieldGaussian<T>;      \
  template class wgflow::flows::RandomBatchInteraction<T>; \
  template class wgflow::flows::Prior<T>;                  \
  template class wgflow::flows::PriorReference<T>;         \
  template class wgflow::flows::InteractionTerm<T>;        \
  template class wgflow::models::NetworkLanes<T>;
