// The replaced allocation entry points behind tests/support/allocation_counter.hpp. Outside a counted
// region they only forward to glibc.
#include "tests/support/allocation_counter.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <new>

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
}  // namespace

namespace wgtest {
void start_counting_allocations() {
  allocations = 0;
  counting = true;
}
std::size_t stop_counting_allocations() {
  counting = false;
  return allocations.load();
}
}  // namespace wgtest

void* operator new(std::size_t n) { return allocate(n, alignof(std::max_align_t)); }
void* operator new(std::size_t n, std::align_val_t a) { return allocate(n, static_cast<std::size_t>(a)); }
// Both allocation paths above end in glibc's malloc family, so free() is the matching release. GCC 13
// cannot see that through the replacement and warns (-Wmismatched-new-delete) once it inlines them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

extern "C" int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return EINVAL;
  note_allocation();
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
