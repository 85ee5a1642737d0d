#pragma once
// Counts heap allocations, for the tests that hold steady-state training steps to zero of them (issue 5).
// Link tests/support/allocation_counter.cpp into the test executable: it replaces the program's
// allocation entry points, which a header cannot do (a replacement must be defined exactly once).
//
// Two entry points are counted:
//   - the global operator new (std::vector, std::string, std::function, ...);
//   - posix_memalign, through which xsimd's aligned allocator, and so every xtensor container of this
//     project (XTENSOR_USE_XSIMD), gets its memory. Counting operator new alone would miss every Tensor.
// The count is global and atomic, so allocations in TBB tasks count too. TBB's own task objects come
// from its internal allocator, not from these entry points.
#include <cstddef>

namespace wgtest {

void start_counting_allocations();
std::size_t stop_counting_allocations();  // the allocations since start_counting_allocations()

// Heap allocations made, on any thread, while f() runs.
template <class F>
std::size_t allocations_during(F&& f) {
  start_counting_allocations();
  f();
  return stop_counting_allocations();
}

}  // namespace wgtest
