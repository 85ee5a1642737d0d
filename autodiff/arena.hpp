#pragma once
// A monotonic arena: allocation is a pointer bump, release is all-at-once.
//
// Why: one training step creates the same graph every time. The tape takes every node's value, adjoint
// and backward closure from this arena, and `reset()` rewinds it without returning memory, so from the
// second step on a step performs no heap allocation at all. If a step outgrew the first block, `reset()`
// merges the blocks into one big enough for the whole step (the idea of Stan Math's stack allocator).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

namespace wgflow::ad {

class Arena {
 public:
  static constexpr std::size_t alignment = 64;  // one cache line; covers every SIMD width

  explicit Arena(std::size_t initial_bytes = std::size_t{1} << 16) { add_block(initial_bytes); }

  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Arena(Arena&&) noexcept = default;
  Arena& operator=(Arena&&) noexcept = default;

  // Uninitialised, 64-byte aligned storage for `bytes` bytes, valid until the next reset().
  void* allocate(std::size_t bytes) {
    bytes = round_up(std::max<std::size_t>(bytes, 1));
    if (offset_ + bytes > blocks_[current_].size) {
      // Move on to the next block that fits, or add one (doubling keeps the number of blocks small).
      ++current_;
      while (current_ < blocks_.size() && blocks_[current_].size < bytes) ++current_;
      if (current_ == blocks_.size()) add_block(std::max(bytes, 2 * blocks_.back().size));
      offset_ = 0;
    }
    void* p = blocks_[current_].data.get() + offset_;
    offset_ += bytes;
    used_ += bytes;
    return p;
  }

  template <class T>
  T* allocate_array(std::size_t n) {
    return static_cast<T*>(allocate(n * sizeof(T)));
  }

  // Forgets every allocation. Keeps the memory; coalesces it into one block if several were needed.
  void reset() {
    if (blocks_.size() > 1 && current_ > 0) {
      std::size_t total = 0;
      for (const auto& b : blocks_) total += b.size;
      blocks_.clear();
      add_block(total);
    }
    current_ = 0;
    offset_ = 0;
    used_ = 0;
  }

  std::size_t bytes_reserved() const {
    std::size_t total = 0;
    for (const auto& b : blocks_) total += b.size;
    return total;
  }
  std::size_t bytes_used() const { return used_; }

 private:
  struct AlignedDelete {
    void operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t{alignment}); }
  };
  struct Block {
    std::unique_ptr<std::byte[], AlignedDelete> data;
    std::size_t size;
  };

  static std::size_t round_up(std::size_t n) { return (n + alignment - 1) / alignment * alignment; }

  void add_block(std::size_t bytes) {
    bytes = round_up(bytes);
    auto* p = static_cast<std::byte*>(::operator new[](bytes, std::align_val_t{alignment}));
    blocks_.push_back(Block{std::unique_ptr<std::byte[], AlignedDelete>(p), bytes});
  }

  std::vector<Block> blocks_;
  std::size_t current_ = 0;
  std::size_t offset_ = 0;
  std::size_t used_ = 0;
};

}  // namespace wgflow::ad
