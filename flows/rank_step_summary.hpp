#pragma once
// What the ranks of a distributed flow (ParticleFlow::distribute) agree on at the end of each step, in one
// small collective: whether any rank failed, and the step's free energy and mean loss over all N
// particles. A term of reach own_rows or collective reports the mean over its rank's rows, so the ranks'
// values are weighed by their rows and summed in rank order; one of reach ensemble reports the same value
// on every rank, which is taken from rank 0. The sums run in rank order, so the result is the same on
// every rank.
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <vector>

#include "../core/communicator.hpp"
#include "../core/row_block.hpp"
#include "term.hpp"

namespace wgflow::flows {

template <class T>
class RankStepSummary {
 public:
  // A collective, after every step. `error` is what this rank's step threw (null if it succeeded). If any
  // rank failed, every rank throws the first failing rank's message (that rank its own exception);
  // otherwise free_energy() and mean_loss() hold the step's values over all N particles.
  void end_step(Communicator& comm, const std::vector<std::unique_ptr<Term<T>>>& terms, RowBlock block,
                std::size_t n_total, std::exception_ptr error) {
    const std::size_t K = terms.size(), width = 2 + 4 * K, R = static_cast<std::size_t>(comm.size());
    mine_.assign(width, 0.0);
    mine_[0] = error ? 1.0 : 0.0;
    mine_[1] = static_cast<double>(block.size());
    if (!error)
      for (std::size_t k = 0; k < K; ++k) {
        const std::optional<T> e = terms[k]->energy(), l = terms[k]->mean_loss();
        mine_[2 + 4 * k] = e ? 1.0 : 0.0;
        mine_[3 + 4 * k] = e ? static_cast<double>(*e) : 0.0;
        mine_[4 + 4 * k] = l ? 1.0 : 0.0;
        mine_[5 + 4 * k] = l ? static_cast<double>(*l) : 0.0;
      }
    all_.resize(width * R);
    comm.allgather_rows(mine_.data(), all_.data(), R, width);
    for (std::size_t r = 0; r < R; ++r)
      if (all_[r * width] != 0.0) raise_from_rank(comm, static_cast<int>(r), error);
    free_energy_ = T(0);
    mean_loss_.reset();
    for (std::size_t k = 0; k < K; ++k) {
      const bool own = terms[k]->reach() != Reach::ensemble;
      double energy = 0, loss = 0;
      bool has_energy = true, has_loss = true;
      for (std::size_t r = 0; r < R; ++r) {
        const double* row = all_.data() + r * width;
        const double weight = own ? row[1] / static_cast<double>(n_total) : (r == 0 ? 1.0 : 0.0);
        has_energy = has_energy && row[2 + 4 * k] != 0.0;
        has_loss = has_loss && row[4 + 4 * k] != 0.0;
        energy += weight * row[3 + 4 * k];
        loss += weight * row[5 + 4 * k];
      }
      if (free_energy_) free_energy_ = has_energy ? std::optional<T>(*free_energy_ + static_cast<T>(energy)) : std::nullopt;
      if (!mean_loss_ && has_loss) mean_loss_ = static_cast<T>(loss);
    }
  }

  // sum_k F_k over all N particles at the last step, if every term has its estimate on every rank.
  std::optional<T> free_energy() const { return free_energy_; }
  // The mean loss over all N particles at the last step, from the first term that reports one on every rank.
  std::optional<T> mean_loss() const { return mean_loss_; }

 private:
  std::vector<double> mine_, all_;  // per rank: failed, rows, then per term (has energy, energy, has loss, loss)
  std::optional<T> free_energy_, mean_loss_;
};

}  // namespace wgflow::flows
