#pragma once
// The deterministic minibatch schedule: which rows of a training set step t of SGD sees.
//
// Epoch e = t / batches_per_epoch() visits the rows in the order of a uniformly random permutation
// drawn (Fisher-Yates) from wgflow::Rng::stream(seed, e), and step t takes batch b = t mod
// batches_per_epoch() of it: rows perm[b B .. (b + 1) B). So the batch of step t is a pure function of
// (seed, t): every particle of a flow sees the same batch at the same step, a run resumed at step t
// continues exactly, and neither depends on the thread count or on which steps were asked for before.
//
// Like a PyTorch DataLoader with shuffle=True (the reference code's loader), the last batch of an
// epoch is smaller when B does not divide n, unless LastBatch::drop is asked for, which leaves out the
// n mod B rows at the end of each epoch's permutation (different rows each epoch).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../core/errors.hpp"
#include "../core/random.hpp"

namespace wgflow::data {

enum class LastBatch { keep, drop };

class MinibatchSchedule {
 public:
  // A schedule over rows 0..n-1 in batches of batch_size. Throws wgflow::Error when n or batch_size is
  // 0, or with LastBatch::drop when batch_size > n (no full batch would exist).
  MinibatchSchedule(std::size_t n, std::size_t batch_size, std::uint64_t seed, LastBatch last = LastBatch::keep)
      : n_(n), batch_size_(batch_size), seed_(seed), last_(last) {
    if (n == 0 || batch_size == 0)
      throw Error("MinibatchSchedule: need n > 0 rows and batch size > 0, got n = " + std::to_string(n) +
                  ", batch size = " + std::to_string(batch_size));
    if (last == LastBatch::drop && batch_size > n)
      throw Error("MinibatchSchedule: batch size " + std::to_string(batch_size) + " exceeds the " + std::to_string(n) +
                  " rows, so dropping the incomplete batch would leave none");
    batches_per_epoch_ = last == LastBatch::keep ? (n + batch_size - 1) / batch_size : n / batch_size;
  }

  std::size_t size() const { return n_; }
  std::size_t batch_size() const { return batch_size_; }
  LastBatch last_batch() const { return last_; }
  std::size_t batches_per_epoch() const { return batches_per_epoch_; }
  std::uint64_t epoch(std::uint64_t step) const { return step / batches_per_epoch_; }
  std::size_t batch(std::uint64_t step) const { return static_cast<std::size_t>(step % batches_per_epoch_); }

  // The rows of step `step`'s batch, in permutation order; valid until the next call. The epoch's
  // permutation is cached, so consecutive steps cost O(batch) and a new epoch O(n). Not for concurrent
  // calls (a flow calls it once per step, from Potential::begin_step).
  std::span<const std::size_t> rows(std::uint64_t step) {
    const std::uint64_t e = epoch(step);
    if (!cached_ || cached_epoch_ != e) {
      permute(e, permutation_);  // in place: a flow's steady state allocates nothing
      cached_epoch_ = e;
      cached_ = true;
    }
    const std::size_t begin = batch(step) * batch_size_;
    const std::size_t end = std::min(begin + batch_size_, n_);
    return std::span<const std::size_t>(permutation_).subspan(begin, end - begin);
  }

  // Epoch e's order of the rows: a uniform random permutation of 0..n-1 (Fisher-Yates, Knuth TAOCP
  // vol. 2, 3.4.2 Algorithm P), always started from the identity, so it depends on (seed, e) alone.
  std::vector<std::size_t> permutation(std::uint64_t e) const {
    std::vector<std::size_t> p;
    permute(e, p);
    return p;
  }

 private:
  void permute(std::uint64_t e, std::vector<std::size_t>& p) const {
    p.resize(n_);
    std::iota(p.begin(), p.end(), std::size_t{0});
    Rng rng = Rng::stream(seed_, e);
    for (std::size_t i = n_; i > 1; --i) std::swap(p[i - 1], p[rng.below(i)]);
  }

  std::size_t n_;
  std::size_t batch_size_;
  std::uint64_t seed_;
  LastBatch last_;
  std::size_t batches_per_epoch_ = 0;
  std::vector<std::size_t> permutation_;
  std::uint64_t cached_epoch_ = 0;
  bool cached_ = false;
};

}  // namespace wgflow::data
