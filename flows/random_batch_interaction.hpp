#pragma once
// DRLE's interaction energy (lambda1 / 2) MMD_k^2(Q, P), the free energy of InteractionEnergy
// (flows/interaction_energy.hpp), with its gradient estimated on random batches: O(N B) per step instead
// of O(N^2). The random batch method of Jin, Li and Liu ("Random batch methods (RBM) for interacting
// particle systems", J. Comput. Phys. 400, 2020, Algorithm 1, RBM-1).
//
// The exact gradient at particle i (features x_i = f(theta_i), prior features p_m, as there) is
//   lambda1 ( (1/N) sum_{j != i} grad_1 k(x_i, x_j) - psi (1/M) sum_m grad_1 k(x_i, p_m) ),
// the self term j = i being zero (grad_1 k(x, x) = 0 for a radial kernel).
//
// Batches. Each step the N particles are put in a uniformly random order, drawn from
// Rng::stream(seed, batch_tag, t) (the flow's seed and the step alone: the same order on every thread
// count and every rank), and cut into consecutive batches of B; the N mod B left over join the last batch,
// so every batch holds between B and 2B - 1 particles and none is left without a partner; a batch's sums
// run over its particles in index order (a function of its members alone, whatever their draw). Particle i
// interacts only with the others of its batch C_i, of size c:
//   repulsion_i = lambda1 (N - 1) / (N (c - 1)) sum_{j in C_i, j != i} grad_1 k(x_i, x_j).
// Unbiased: the order is uniform, so given the batch sizes (fixed by N and B) and i's position, the c - 1
// others of C_i are a uniformly random (c - 1)-subset of the N - 1 other particles, and each j != i is
// among them with probability (c - 1) / (N - 1); the weight turns that back into the exact 1/N. Fewer than
// 2B particles make one batch of all N in their own order, and then weight 1/N: the exact term's sums,
// bit for bit (tests/flows/test_random_batch.cpp).
//
// Prior attraction. Each batch b draws B_p of the M prior samples without replacement from
// Rng::stream(Rng::stream(seed, prior_tag, t)(), b) and uses them for all its particles:
//   attraction_i = -lambda1 psi (1/B_p) sum_{m in S_b} grad_1 k(x_i, p_m),
// unbiased as each p_m is in S_b with probability B_p / M. Independent subsets per batch (rather than one
// per step) keep the errors of different batches independent, at the same cost. B_p >= M uses all M, in
// order, as the exact term does.
//
// Bandwidth. A fixed h is used as is. The median rules (flows/bandwidth.hpp) set h = median(D^2) / (2
// log(N + offset)) at their estimating steps, the median over all N^2 entries of the particles' squared
// distances; the N x N matrix is what this term avoids. At an estimating step the median is taken here
// over P = min(N / 2, bandwidth_pairs) disjoint pairs, the particles at positions 2k and 2k + 1 of the
// step's random order (within a batch when B is even), and h keeps the exact rule's log(N + offset).
// These pairs are a uniform sample of all pairs (the diagonal's zeros left out: they are a fraction 1/N
// of the exact rule's entries, an O(1/N) shift of its quantile) and, sharing no particle, independent
// given the particles, so h estimates the exact rule's h with relative error O(1 / sqrt(P)) whatever N,
// for O(P E) work. (All pairs of a few batches would be a poor sample, pairs that share particles being
// correlated: the 496 pairs of one batch of 32 put h 21 % off where 100 disjoint pairs came within 2 %.)
// The `median` rule freezes the estimate of its last estimating step, as it does the exact one. Given h
// the gradient is unbiased; an h estimated from this step's order is correlated with its batches, a bias
// that ends when the median rule freezes.
//
// The estimate's own noise. Per step, each particle's force error has mean zero and variance
// O(1 / (B - 1)) (without replacement: (N - B) / ((N - 2)(B - 1))); Jin, Li and Liu show that the
// particles then follow the exact system to O(sqrt(eta / (B - 1) + eta^2)) in Wasserstein distance, the
// errors of successive steps averaging out over the flow's time scale.
//
// Over ranks (reach collective, flows/term.hpp) a rank embeds its own n particles and draws the same
// order, subsets and h as every other rank; it computes a block of whole batches, fetching their members'
// features from their owners and returning each member's results to its owner (flows/batch_exchange.hpp:
// no rank gathers all N x E features), and the median rule's pairs of its positions, whose median is
// taken over the ranks (core/median_over_ranks.hpp). A step's O(N B E), the networks' embeddings and
// pullbacks are split over the ranks, and the particles are the one process's for any number of ranks
// (tests/mpi): a batch is computed by the same code wherever it is. The one batch of fewer than 2B
// particles is computed whole on every rank, as the median rule reads all its distances.
//
// energy(): the same estimates applied to the kernel values (unbiased for the exact term's V-statistic,
// given h), and mean k(p_m, p_m') computed exactly over the M samples, in blocks, when h changes and only
// when asked for. The term's state is the exact term's: h and the prior samples; the batches and subsets
// are functions of (seed, t).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../core/buffer_sums.hpp"
#include "../core/errors.hpp"
#include "../core/parallel.hpp"
#include "../core/precompiled.hpp"
#include "../core/random.hpp"
#include "../core/workspace_pool.hpp"
#include "bandwidth.hpp"
#include "batch_exchange.hpp"
#include "embedding.hpp"
#include "interaction_term.hpp"
#include "kernels.hpp"
#include "squared_distance.hpp"

namespace wgflow::flows {

struct RandomBatchSettings {
  std::size_t batch = 2;                        // B >= 2: particles per batch
  std::size_t prior_batch = 0;                  // B_p: prior samples per batch and step; 0: B
  std::size_t bandwidth_pairs = std::size_t{1} << 16;  // the median rules' sample: at most this many pairs
};

template <class T>
class RandomBatchInteraction final : public InteractionTerm<T> {
 public:
  // As InteractionEnergy's, plus the batches; prior_samples: M x J (M may be 0 when the attraction is off).
  RandomBatchInteraction(InteractionSettings<T> settings, RandomBatchSettings batches,
                         std::unique_ptr<Embedding<T>> space, Tensor<T> prior_samples)
      : InteractionTerm<T>("RandomBatchInteraction", std::move(settings), std::move(space), std::move(prior_samples)),
        b_(batches) {
    if (b_.batch < 2) throw Error("RandomBatchInteraction: batches of B >= 2 particles, got " + std::to_string(b_.batch));
    if (b_.prior_batch == 0) b_.prior_batch = b_.batch;
    if (b_.bandwidth_pairs == 0) throw Error("RandomBatchInteraction: bandwidth_pairs must be positive");
    if (s_.bandwidth.rule() != Bandwidth<T>::Rule::fixed) log_offset_ = s_.bandwidth.offset();
  }

  std::string name() const override {
    return this->describe("random-batch interaction energy",
                          "B = " + std::to_string(b_.batch) + ", B_p = " + std::to_string(b_.prior_batch) + ", ");
  }

  void add_gradient(const StepContext<T>& context, Tensor<T>& gradient) override {
    const Tensor<T>& theta = context.particles;  // this rank's rows (all N in one process)
    const RowBlock rows = context.rows();
    const std::size_t n = context.ensemble_size(), own = rows.size();
    std::size_t pairs = 0;  // the median rule's sample this step
    const Tensor<T>* own_features = nullptr;
    agree(context, [&] {
      own_features = &space_->features_of(theta, own_features_);
      cut_batches(n, context.seed, context.step);
      if (starts_.size() > 2 && s_.bandwidth.estimates_at(context.step)) pairs = std::min(n / 2, b_.bandwidth_pairs);
    });
    exchange_.fetch(order_, starts_, rows, pairs, *own_features, context.ranks);
    const std::size_t e = exchange_.width();
    // NaN: the one batch of all N, which runs the bandwidth rule itself as the exact term does.
    const T h = starts_.size() == 2 ? std::numeric_limits<T>::quiet_NaN() : estimate_bandwidth(pairs, n, e, context.ranks);
    agree(context, [&] {
      sort_batches();
      exchange_.plan_results(order_);
      detail::ensure_shape(feature_gradient_, own, e);
      self_mean_.resize(own);
      prior_mean_of_.resize(own);
      prior_key_ = Rng::stream(context.seed, prior_tag, context.step)();
      // Chunks of batches share a workspace; any grouping gives the same result (a batch writes only its
      // own particles' rows).
      const RowBlock batches = exchange_.batches();
      const std::size_t per_batch = b_.batch * (b_.batch + prior_used()) * std::max<std::size_t>(e, 1) + 4096;
      const std::size_t per_chunk = std::max<std::size_t>(1, parallel_work / per_batch);
      const std::size_t chunks = (batches.size() + per_chunk - 1) / per_chunk;
      for_each_index(chunks, batches.size() * per_batch, [&](std::size_t c) {
        const typename WorkspacePool<Workspace>::Lease w(pool_);
        for (std::size_t b = batches.begin + c * per_chunk; b < std::min(batches.end, batches.begin + (c + 1) * per_chunk); ++b)
          process_batch(b, rows, context.step, h, *w);
      });
    });
    exchange_.return_results(context.ranks, [&](std::size_t i, const T* row) {
      keep_results(i - rows.begin, row, row[e], row[e + 1]);
    });
    agree(context, [&] {
      space_->add_pullback(theta, feature_gradient_, gradient);
      // The means over this rank's particles of their estimates, in index order (the flow weighs the
      // ranks' means by their rows).
      const T count = static_cast<T>(std::max<std::size_t>(own, 1));
      step_self_ = std::accumulate(self_mean_.begin(), self_mean_.end(), T(0)) / count;
      step_prior_ = std::accumulate(prior_mean_of_.begin(), prior_mean_of_.end(), T(0)) / count;
      step_h_ = s_.bandwidth.value();
      stepped_ = true;
    });
  }

  // (lambda1/2) [mean k(x, x) - 2 psi mean k(x, p) + psi mean k(p, p)], the first two from this step's
  // batches and subsets (see the top of this file).
  std::optional<T> energy() const override {
    if (!stepped_) return std::nullopt;
    return this->energy_from_means(step_self_, step_prior_, [&] { return prior_kernel_mean(step_h_); });
  }

  const RandomBatchSettings& batches() const { return b_; }

 private:
  using InteractionTerm<T>::s_;
  using InteractionTerm<T>::space_;
  using InteractionTerm<T>::prior_;
  using InteractionTerm<T>::attracts;

  // Stream tags: "BATCH" and "BPRIOR", beside the particles' indices i < N and the prior samples' tag.
  static constexpr std::uint64_t batch_tag = 0x4241544348ULL;
  static constexpr std::uint64_t prior_tag = 0x425052494f52ULL;

  // One task's buffers, lent for the task's duration (core/workspace_pool.hpp).
  struct Workspace {
    Tensor<T> features, prior, gradient;  // c x E, B_p x E, c x E
    CentredPoints<T> x, p;
    Tensor<T> d2_xx, d2_xp;
    KernelMatrices<T> k_xx, k_xp;
    std::vector<std::size_t> prior_order;  // 0..M-1 between uses (the partial shuffle is undone)
    std::vector<std::size_t> swaps;
  };

  std::size_t prior_used() const { return attracts() ? std::min(b_.prior_batch, prior_.features().shape()[0]) : 0; }

  // starts_ (batch b = order_[starts_[b], starts_[b + 1])) and order_, a uniformly random order, for
  // this step.
  void cut_batches(std::size_t n, std::uint64_t seed, std::uint64_t step) {
    const std::size_t batches = std::max<std::size_t>(1, n / b_.batch);
    starts_.resize(batches + 1);
    for (std::size_t b = 0; b < batches; ++b) starts_[b] = b * b_.batch;
    starts_[batches] = n;  // the last batch takes the remainder
    order_.resize(n);
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    if (batches == 1) return;
    Rng rng = Rng::stream(seed, batch_tag, step);
    for (std::size_t i = n - 1; i > 0; --i) std::swap(order_[i], order_[rng.below(i + 1)]);  // Fisher-Yates
  }

  // Each batch's particles in index order, after the bandwidth has taken its pairs from the random order.
  // (Ranks once split each batch by rows, which needed a rank's particles to be a block of it; the order
  // stays, and with it the results of runs since.)
  void sort_batches() {
    for (std::size_t b = 0; b + 1 < starts_.size(); ++b)
      std::sort(order_.begin() + static_cast<std::ptrdiff_t>(starts_[b]),
                order_.begin() + static_cast<std::ptrdiff_t>(starts_[b + 1]));
  }

  // Batch b's features, in batch order, in w.features.
  const Tensor<T>& gather(std::size_t b, Workspace& w) const {
    const std::size_t begin = starts_[b], c = starts_[b + 1] - begin, e = exchange_.width();
    detail::ensure_shape(w.features, c, e);
    for (std::size_t r = 0; r < c; ++r) std::copy_n(exchange_.features(order_[begin + r]), e, w.features.data() + r * e);
    return w.features;
  }

  // The median rules at an estimating step (pairs > 0): h from the squared distances of disjoint random
  // pairs, of which this rank measures those at its positions; the median is taken over the ranks.
  T estimate_bandwidth(std::size_t pairs, std::size_t n, std::size_t e, Communicator* ranks) {
    if (pairs == 0) return s_.bandwidth.value();
    const RowBlock mine = exchange_.pairs();
    const T c = distance_scale<T>(s_.distance, e);
    pair_d2_.resize(mine.size());
    for_each_index(mine.size(), mine.size() * e * 2, [&](std::size_t k) {
      const T* x = exchange_.features(order_[2 * (mine.begin + k)]);
      const T* y = exchange_.features(order_[2 * (mine.begin + k) + 1]);
      T d2 = 0;
      for (std::size_t a = 0; a < e; ++a) d2 += (x[a] - y[a]) * (x[a] - y[a]);
      pair_d2_[k] = c * d2;
    }, 256);
    const std::span<const T> local(pair_d2_);
    const T h = detail::bandwidth_from_median(
        n, log_offset_, [&] { return ranks ? median_selection_(local, *ranks) : median_selection_(local); },
        "RandomBatchInteraction", pairs);
    s_.bandwidth.restore(h);
    return h;
  }

  // Batch b, whole: the gradient rows and energy estimates of its particles, kept for this rank's and
  // sent to their owners for the others'. h NaN: the one batch of all N, whose bandwidth rule reads the
  // whole distance matrix.
  void process_batch(std::size_t b, RowBlock rows, std::uint64_t step, T h, Workspace& w) {
    const std::size_t begin = starts_[b], c = starts_[b + 1] - begin, n = order_.size();
    const std::size_t e = exchange_.width();
    const T lambda1 = s_.lambda1, psi = s_.prior_attraction_scale, count = static_cast<T>(n);
    const bool whole = c == n;
    const RowBlock all = RowBlock::all(c);
    centre_into(gather(b, w), s_.distance, w.x);
    pairwise_squared_distances_into(w.x, w.d2_xx);
    if (std::isnan(h)) h = s_.bandwidth.update(step, w.d2_xx);
    s_.kernel.evaluate_into(w.d2_xx, h, w.k_xx);
    // (N - 1) / (N (c - 1)) per other member; for the whole ensemble the exact term's 1/N.
    const T pair_weight = whole ? T(1) / count : (count - 1) / (count * static_cast<T>(c - 1));
    kernel_gradient_sum_rows_into(w.k_xx, w.x, all, w.x, whole ? lambda1 / count : lambda1 * pair_weight, w.gradient);
    const std::size_t bp = prior_used();
    if (bp > 0) {
      centre_like_into(choose_prior(b, bp, w), w.x, w.p);
      squared_distance_rows_into(w.x, all, w.p, w.d2_xp);
      s_.kernel.evaluate_into(w.d2_xp, h, w.k_xp);
      add_kernel_gradient_sum_rows(w.k_xp, w.x, all, w.p, -lambda1 * psi / static_cast<T>(bp), w.gradient);
    }
    const auto identity = [](auto v) { return v; };
    for (std::size_t r = 0; r < c; ++r) {
      const std::size_t i = order_[begin + r];
      const bool kept = exchange_.owns(i);
      T* const out = kept ? nullptr : exchange_.results_for(begin + r);
      if (!kept && out == nullptr) continue;  // the one batch: its owner computes it too
      const T self = w.k_xx.k(r, r);
      const T self_mean = self / count + pair_weight * (wgflow::row_sum(&w.k_xx.k(r, 0), c, identity) - self);
      const T prior_mean = bp > 0 ? wgflow::row_sum(&w.k_xp.k(r, 0), bp, identity) / static_cast<T>(bp) : T(0);
      const T* g = w.gradient.data() + r * e;
      if (kept) {
        keep_results(i - rows.begin, g, self_mean, prior_mean);
      } else {
        std::copy_n(g, e, out);
        out[e] = self_mean;
        out[e + 1] = prior_mean;
      }
    }
  }

  // This rank's particle (row `row` of its own) gets its feature gradient and its two estimates.
  void keep_results(std::size_t row, const T* gradient, T self_mean, T prior_mean) {
    const std::size_t e = feature_gradient_.shape()[1];
    std::copy_n(gradient, e, feature_gradient_.data() + row * e);
    self_mean_[row] = self_mean;
    prior_mean_of_[row] = prior_mean;
  }

  // Batch b's B_p prior features: all M in order when B_p >= M, else a uniform subset (a partial
  // Fisher-Yates shuffle of w.prior_order, undone afterwards).
  const Tensor<T>& choose_prior(std::size_t b, std::size_t bp, Workspace& w) const {
    const Tensor<T>& features = prior_.features();
    const std::size_t m = features.shape()[0];
    if (bp == m) return features;
    const std::size_t e = features.shape()[1];
    if (w.prior_order.size() != m) {
      w.prior_order.resize(m);
      std::iota(w.prior_order.begin(), w.prior_order.end(), std::size_t{0});
    }
    Rng rng = Rng::stream(prior_key_, b);
    w.swaps.resize(bp);
    detail::ensure_shape(w.prior, bp, e);
    for (std::size_t k = 0; k < bp; ++k) {
      w.swaps[k] = k + rng.below(m - k);
      std::swap(w.prior_order[k], w.prior_order[w.swaps[k]]);
      std::copy_n(features.data() + w.prior_order[k] * e, e, w.prior.data() + k * e);
    }
    for (std::size_t k = bp; k-- > 0;) std::swap(w.prior_order[k], w.prior_order[w.swaps[k]]);
    return w.prior;
  }

  // What depends on the prior's features, after they are computed anew (attach, load_state).
  void prior_embedded() override { prior_mean_h_ = std::numeric_limits<T>::quiet_NaN(); }

  // mean_{m, m'} k(p_m, p_m') in blocks of rows (M x M never held), recomputed only when h changes.
  T prior_kernel_mean(T h) const {
    if (h == prior_mean_h_) return prior_mean_;
    const Tensor<T>& features = prior_.features();
    const std::size_t m = features.shape()[0], e = features.shape()[1], block = 256;
    const CentredPoints<T> all = centred(features, s_.distance);
    CentredPoints<T> rows;
    Tensor<T> part, d2;
    KernelMatrices<T> k;
    T total = 0;
    for (std::size_t r0 = 0; r0 < m; r0 += block) {
      const std::size_t r1 = std::min(m, r0 + block);
      part = Tensor<T>::from_shape({r1 - r0, e});
      std::copy(features.data() + r0 * e, features.data() + r1 * e, part.data());
      centre_like_into(part, all, rows);
      squared_distances_into(rows, all, d2);
      s_.kernel.evaluate_into(d2, h, k);
      total += wgflow::row_sum(k.k.data(), k.k.size(), [](auto v) { return v; });
    }
    prior_mean_ = total / (static_cast<T>(m) * static_cast<T>(m));
    prior_mean_h_ = h;
    return prior_mean_;
  }

  RandomBatchSettings b_;
  T log_offset_ = 0;          // the median rule's offset
  mutable T prior_mean_ = 0, prior_mean_h_ = 0;
  bool stepped_ = false;
  T step_self_ = 0, step_prior_ = 0, step_h_ = 0;
  // Per-step buffers, resized only when N changes.
  Tensor<T> own_features_;                 // n x E this rank's, unless the embedding is the identity
  Tensor<T> feature_gradient_;             // n x E
  std::vector<std::size_t> order_, starts_;
  std::uint64_t prior_key_ = 0;
  std::vector<T> self_mean_, prior_mean_of_;  // per own particle: its estimates of (1/N) sum_j k_ij, (1/M) sum_m k_im
  WorkspacePool<Workspace> pool_;
  BatchExchange<T> exchange_;  // which batches this rank computes, and their features
  std::vector<T> pair_d2_;  // the bandwidth's sample: this rank's pairs' squared distances
  MedianOverRanks<T> median_selection_;
};

WGFLOW_EXTERN_INSTANCES(RandomBatchInteraction)

}  // namespace wgflow::flows
