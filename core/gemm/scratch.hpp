#pragma once
// Per-thread packing buffers of the GEMM kernel.
//
// Why thread_local and never shrunk: a training step multiplies the same shapes every time, so after
// the first step every buffer is already big enough and GEMM performs no heap allocation. Each thread
// packs its A blocks into its own buffer; the B panel is packed into the calling thread's buffer and
// read by all threads of that call.
//
// Re-entrancy: a thread that waits inside tbb::parallel_for may run an unrelated task meanwhile — one
// that could call gemm and overwrite this thread's buffers mid-use. The parallel driver therefore runs
// its loops under tbb::this_task_arena::isolate, which confines a waiting thread to the call's own
// tasks; those never wait, so a buffer is never used by two calls at once.
#include <algorithm>
#include <cstddef>
#include <memory>
#include <new>

namespace wgflow::gemm_detail {

template <class T>
class AlignedBuffer {
 public:
  static constexpr std::size_t alignment = 64;  // a cache line; aligned loads for every SIMD width

  // At least n elements, 64-byte aligned, contents unspecified. Grows geometrically, never shrinks.
  T* get(std::size_t n) {
    if (n > capacity_) {
      const std::size_t grown = std::max(n, capacity_ + capacity_ / 2);
      data_.reset(static_cast<T*>(::operator new[](grown * sizeof(T), std::align_val_t{alignment})));
      capacity_ = grown;
    }
    return data_.get();
  }

 private:
  struct Delete {
    void operator()(T* p) const { ::operator delete[](p, std::align_val_t{alignment}); }
  };
  std::unique_ptr<T, Delete> data_;
  std::size_t capacity_ = 0;
};

template <class T>
struct Scratch {
  AlignedBuffer<T> a;  // this thread's packed A block
  AlignedBuffer<T> b;  // the B panel of the call this thread started
};

template <class T>
Scratch<T>& thread_scratch() {
  thread_local Scratch<T> scratch;
  return scratch;
}

}  // namespace wgflow::gemm_detail
