// Steady-state training steps allocate nothing on the heap (issue 5). A DRLE step at N = 300 used to
// allocate several N x N matrices, which glibc serves above 128 KiB with mmap and returns with munmap:
// the page faults cost as much CPU as the computation. The flows now keep every per-step matrix as a
// member, resized only when the number of particles changes.
//
// How allocations are counted. Two entry points are replaced for the whole test executable (a
// replacement is program-wide; outside the counted region they only forward to glibc):
//   - the global operator new / delete (std::vector, std::string, ...);
//   - posix_memalign, through which xsimd's aligned allocator, and so every xtensor container of this
//     project (XTENSOR_USE_XSIMD), gets its memory; the replacement forwards to glibc's
//     __libc_memalign. Counting operator new alone would not see a single Tensor.
// The counter is global and atomic and counts on every thread, so allocations in TBB tasks (kernel rows,
// per-particle gradients) count too. TBB's own task objects come from its internal allocator (malloc
// or tbbmalloc), not from these entry points, so the counted steps run with the default parallelism.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

#include "flows/flows.hpp"
#include "flows/svgd.hpp"
#include "models/prior.hpp"
#include "models/toy_potentials.hpp"

extern "C" void* __libc_memalign(std::size_t alignment, std::size_t size);

namespace {
std::atomic<bool> counting{false};
std::atomic<std::size_t> allocations{0};

void note_allocation() {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
}

void* allocate(std::size_t n, std::size_t alignment) {
  note_allocation();
  n = std::max<std::size_t>(n, 1);
  void* p = alignment <= alignof(std::max_align_t) ? std::malloc(n) : __libc_memalign(alignment, n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

// Heap allocations (both entry points, all threads) made by f().
template <class F>
std::size_t allocations_during(F&& f) {
  allocations = 0;
  counting = true;
  f();
  counting = false;
  return allocations.load();
}
}  // namespace

void* operator new(std::size_t n) { return allocate(n, alignof(std::max_align_t)); }
void* operator new(std::size_t n, std::align_val_t a) { return allocate(n, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

extern "C" int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return EINVAL;
  note_allocation();
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

using namespace wgflow;
using flows::Tensor;

TEST_CASE("the allocation counter sees tensors and vectors (so the zero counts below can fail)") {
  // The results escape into outer variables, so that the compiler cannot elide the allocations.
  Tensor<double> t;
  std::vector<double> v;
  CHECK(allocations_during([&] { t = Tensor<double>::from_shape({3, 3}); }) >= 1);
  CHECK(allocations_during([&] { v.resize(5); }) >= 1);
  Tensor<double> a = xt::ones<double>({4, 4}), b = xt::ones<double>({4, 4});
  CHECK(allocations_during([&] { a += b; }) >= 1);  // xtensor's += evaluates into a temporary first
}

TEST_CASE("DRLE steps in parameter space allocate nothing in steady state (N = 50, J = 10)") {
  const std::size_t N = 50, J = 10;
  auto loss = models::double_well<double>(J);
  const auto prior = models::GaussianPrior<double>::isotropic(J, 1.0);
  const Tensor<double> init = prior.sample(N, 3);
  // The median bandwidth (estimated at steps 0-4, then frozen: the default) and the rolling median (a
  // new median of the N x N distances every step); M = 200 prior samples, so the particle-particle
  // and particle-prior matrices have different shapes.
  for (const auto& bandwidth : {flows::Bandwidth<double>::median(), flows::Bandwidth<double>::rolling_median()}) {
    CAPTURE(bandwidth.describe());
    flows::RepulsiveSettings<double> settings{.bandwidth = bandwidth};
    auto flow = flows::deep_repulsive_langevin_ensemble<double>(loss, prior, settings, init, 1e-3, 7);
    // The first step sizes every buffer (and shows that the counter sees the flow's allocations); then
    // past the median rule's estimation steps.
    CHECK(allocations_during([&] { flow.step(); }) > 0);
    flow.run(5);
    CHECK(allocations_during([&] {
            for (int s = 0; s < 5; ++s) flow.step();
          }) == 0);
    CHECK(flow.steps_taken() == 11);
  }
}

TEST_CASE("SVGD steps allocate nothing in steady state (N = 50, J = 10)") {
  const std::size_t N = 50, J = 10;
  auto loss = models::double_well<double>(J);
  const auto prior = models::GaussianPrior<double>::isotropic(J, 1.0);
  flows::Svgd<double> svgd(loss, prior, prior.sample(N, 5), flows::Sgd<double>{1e-3});
  svgd.run(2);
  CHECK(allocations_during([&] {
          for (int s = 0; s < 5; ++s) svgd.step();
        }) == 0);
}
