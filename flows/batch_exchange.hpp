#pragma once
// Over ranks, which batches of the random-batch interaction (flows/random_batch_interaction.hpp) a rank
// computes, and what the ranks exchange for them.
//
// A step's batches are consecutive segments of one random order of the N particles, the same on every
// rank. Rank r computes a block of whole batches (RowBlock::of over the batches), so a block of positions
// [lo, hi) of the order: it fetches the features of the particles there from the ranks that own them, and
// sends each one's results (its feature gradient and its two energy estimates) back to its owner. A rank
// then receives about n (R - 1) / R rows of features and as many rows of results (n = N / R, its own
// particles), where gathering all N x E features cost it N (R - 1) / R rows: R / 2 times less exchange
// (the same at R = 2, 8x less at R = 16), and no rank touches the batches of others. The one batch of
// N < 2B is computed whole by every rank instead (the bandwidth rule reads all its distances): each
// fetches every particle and returns nothing.
//
// The median bandwidth's pairs, positions (2k, 2k + 1) of the random order for k < P, go with the rank
// that computes position 2k; a pair that straddles its last batch (B odd) needs one particle beyond hi,
// fetched too. Every message is laid out by position, which every rank knows: a rank sends its rows for
// rank q in increasing position over q's block and receives in rank order, which is again position
// order, so no indices travel. In one process (no communicator) the plan is the identity: one rank
// computes every batch from its own features.
#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include "../core/communicator.hpp"
#include "../core/row_block.hpp"
#include "../core/tensor.hpp"

namespace wgflow::flows {

template <class T>
class BatchExchange {
 public:
  // This step's plan, before the batches are sorted: batch b holds positions [starts[b], starts[b + 1])
  // of `order`; this rank owns particles `own` (rows of `own_features`, n x E); `pairs` of the median
  // bandwidth's pairs are drawn this step (0 when it does not estimate). Over ranks (`ranks` not null),
  // fetches the features of the particles at this rank's positions from their owners: a collective.
  void fetch(std::span<const std::size_t> order, std::span<const std::size_t> starts, RowBlock own, std::size_t pairs,
             const Tensor<T>& own_features, Communicator* ranks) {
    const std::size_t n = order.size(), batches = starts.size() - 1;
    n_ = n;
    e_ = own_features.shape()[1];
    own_ = own;
    own_features_ = own_features.data();
    local_ = ranks == nullptr;
    shared_ = !local_ && batches == 1;
    ranks_ = local_ ? 1 : ranks->size();
    me_ = local_ ? 0 : ranks->rank();
    batches_ = local_ || shared_ ? RowBlock::all(batches) : RowBlock::of(batches, me_, ranks_);
    const std::size_t R = static_cast<std::size_t>(ranks_);
    ends_.resize(R + 1);  // rank r computes positions [ends_[r], ends_[r + 1])
    for (std::size_t r = 0; r < R; ++r) ends_[r] = starts[RowBlock::of(batches, static_cast<int>(r), ranks_).begin];
    ends_[R] = n;
    const RowBlock mine = positions();
    const std::size_t first_pair = (mine.begin + 1) / 2;  // 2k >= begin
    pairs_ = shared_ ? RowBlock{} : RowBlock{first_pair, std::max(first_pair, std::min(pairs, (mine.end + 1) / 2))};
    if (local_) return;

    // What this rank sends: its particles at each rank's fetched positions, rank by rank.
    counts_.assign(2 * R, 0);
    buffer_.clear();
    for (std::size_t q = 0; q < R; ++q) {
      const RowBlock fetched = fetched_by(static_cast<int>(q), pairs);
      for (std::size_t p = fetched.begin; p < fetched.end; ++p) {
        if (!owns(order[p])) continue;
        ++counts_[q];
        const T* row = own_features_ + (order[p] - own.begin) * e_;
        buffer_.insert(buffer_.end(), row, row + e_);
      }
    }
    // What it receives: from each rank its particles at this rank's fetched positions, in position order;
    // slot_[i] is particle i's row in features_.
    const RowBlock fetched = fetched_by(me_, pairs);
    for (std::size_t p = fetched.begin; p < fetched.end; ++p) ++counts_[R + owner(order[p])];
    offsets_.assign(R, 0);
    for (std::size_t r = 1; r < R; ++r) offsets_[r] = offsets_[r - 1] + counts_[R + r - 1];
    slot_.resize(n);
    for (std::size_t p = fetched.begin; p < fetched.end; ++p) slot_[order[p]] = offsets_[owner(order[p])]++;
    features_.resize(fetched.size() * e_);
    const std::span<const std::size_t> counts(counts_);
    ranks->alltoall_rows(buffer_.data(), counts.first(R), features_.data(), counts.last(R), e_);
  }

  // The batches and the positions of the order this rank computes; the pairs k of the bandwidth's sample
  // it measures (positions 2k and 2k + 1, before the batches are sorted).
  RowBlock batches() const { return batches_; }
  RowBlock positions() const { return local_ || shared_ ? RowBlock::all(n_) : positions_of(me_); }
  RowBlock pairs() const { return pairs_; }
  std::size_t width() const { return e_; }  // E, the features' width
  // The features of particle i, at a fetched position.
  const T* features(std::size_t i) const {
    return local_ ? own_features_ + (i - own_.begin) * e_ : features_.data() + slot_[i] * e_;
  }
  bool owns(std::size_t i) const { return i >= own_.begin && i < own_.end; }

  // After the batches are sorted (a permutation within each, so that each rank's positions hold the same
  // particles): where the results of the particle at position p go when it is another rank's, a row of
  // E + 2 values (its feature gradient, then its two estimates; results_for(p)), and which rows of this
  // rank's particles come back.
  void plan_results(std::span<const std::size_t> order) {
    if (local_ || shared_) return;  // a rank computes all its own particles
    const std::size_t R = static_cast<std::size_t>(ranks_);
    const RowBlock mine = positions();
    counts_.assign(2 * R, 0);
    out_slot_.resize(mine.size());
    for (std::size_t p = mine.begin; p < mine.end; ++p)
      if (!owns(order[p])) ++counts_[owner(order[p])];
    offsets_.assign(R, 0);
    for (std::size_t r = 1; r < R; ++r) offsets_[r] = offsets_[r - 1] + counts_[r - 1];
    for (std::size_t p = mine.begin; p < mine.end; ++p)
      out_slot_[p - mine.begin] = owns(order[p]) ? none : offsets_[owner(order[p])]++;
    // This rank's particles computed elsewhere, in position order: the rows it receives.
    received_.clear();
    for (std::size_t p = 0, r = 0; p < n_; ++p) {
      while (p >= ends_[r + 1]) ++r;
      if (r != static_cast<std::size_t>(me_) && owns(order[p])) {
        received_.push_back(order[p]);
        ++counts_[R + r];
      }
    }
    std::size_t out = 0;
    for (std::size_t r = 0; r < R; ++r) out += counts_[r];
    results_out_.resize(out * (e_ + 2));
    results_in_.resize(received_.size() * (e_ + 2));
  }
  T* results_for(std::size_t p) {
    if (local_ || shared_) return nullptr;
    const std::size_t s = out_slot_[p - positions().begin];
    return s == none ? nullptr : results_out_.data() + s * (e_ + 2);
  }

  // Sends the results to their owners; use(i, row) then takes each row received, of this rank's particle
  // i. A collective over ranks (nothing to do in one process or for the one batch).
  template <class Use>
  void return_results(Communicator* ranks, Use&& use) {
    if (local_ || shared_) return;
    const std::size_t R = static_cast<std::size_t>(ranks_);
    const std::span<const std::size_t> counts(counts_);
    ranks->alltoall_rows(results_out_.data(), counts.first(R), results_in_.data(), counts.last(R), e_ + 2);
    for (std::size_t k = 0; k < received_.size(); ++k) use(received_[k], results_in_.data() + k * (e_ + 2));
  }

 private:
  static constexpr std::size_t none = ~std::size_t{0};

  RowBlock positions_of(int rank) const {
    return {ends_[static_cast<std::size_t>(rank)], ends_[static_cast<std::size_t>(rank) + 1]};
  }
  // The positions whose features rank q fetches: its own, and one more where its last pair straddles.
  RowBlock fetched_by(int q, std::size_t pairs) const {
    if (shared_) return RowBlock::all(n_);
    RowBlock p = positions_of(q);
    if (p.end > p.begin && p.end % 2 == 1 && (p.end + 1) / 2 <= pairs) ++p.end;
    return p;
  }
  std::size_t owner(std::size_t i) const { return static_cast<std::size_t>(RowBlock::rank_of(n_, i, ranks_)); }

  bool local_ = true, shared_ = false;
  std::size_t n_ = 0, e_ = 0;
  int ranks_ = 1, me_ = 0;
  RowBlock own_, batches_, pairs_;
  const T* own_features_ = nullptr;
  std::vector<std::size_t> ends_, counts_, offsets_, slot_, out_slot_, received_;
  std::vector<T> buffer_, features_, results_out_, results_in_;  // vectors: their sizes vary by step
};

}  // namespace wgflow::flows
