#pragma once
// Progress of a long run on stderr: steps done, the latest loss, elapsed time and an ETA, printed at
// most every `interval` seconds so that it costs nothing inside a training loop.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "ranks.hpp"

namespace wgflow::experiments {

class Progress {
 public:
  Progress(std::string label, std::uint64_t total, double interval_s = 2.0)
      : label_(std::move(label)), total_(total), interval_(interval_s), start_(clock::now()), last_(start_) {}

  void update(std::uint64_t done, double loss) {
    if (!writes_outputs()) return;  // under mpirun, rank 0 reports
    const auto now = clock::now();
    if (done < total_ && std::chrono::duration<double>(now - last_).count() < interval_) return;
    last_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double eta = done > 0 ? elapsed * static_cast<double>(total_ - done) / static_cast<double>(done) : 0.0;
    std::fprintf(stderr, "[%s] %llu/%llu steps  loss %.5g  elapsed %.1f s  ETA %.1f s\n", label_.c_str(),
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(total_), loss, elapsed, eta);
  }

 private:
  using clock = std::chrono::steady_clock;
  std::string label_;
  std::uint64_t total_;
  double interval_;
  clock::time_point start_, last_;
};

}  // namespace wgflow::experiments
