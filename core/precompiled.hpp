#pragma once
// Precompiled instantiations, for wgflow's own programs and tests. Every experiment program and test
// suite instantiates the same templates for float and double (the integrator, its terms, the networks in
// SIMD lanes), and compiling those at -O3 was up to half of a program's compile time (toy_gmm: 103 -> 54 s
// of CPU on Zen 5; classification 92 -> 80 s). In the in-tree build
// (WGFLOW_PRECOMPILED defined, precompiled/meson.build) they are compiled once, into a library built with
// the programs' own flags, and a header's WGFLOW_EXTERN_INSTANCES(Name) tells every other translation unit
// that Name<float> and Name<double> live there. Anywhere else (a user's build against the installed headers,
// the benchmarks) it expands to nothing: the templates are instantiated where used, for the user's ISA.
// The extern declaration does not cover what GCC may inline: a member defined inside its class is inline,
// and is compiled wherever it is called. A member that pulls in much code is therefore defined after its
// class (models/network_lanes.hpp's forward and backward: their kernels were 260 KB of every program,
// optimal_q 103 -> 42 s).
#if defined(WGFLOW_PRECOMPILED)
#define WGFLOW_EXTERN_INSTANCES(Name) \
  extern template class Name<float>;  \
  extern template class Name<double>;
#else
#define WGFLOW_EXTERN_INSTANCES(Name)
#endif
