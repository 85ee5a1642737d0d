#pragma once
// Buffers lent to a parallel task for its duration, rather than kept per thread: a thread that waits in a
// nested parallel loop (a kernel evaluation, a GEMM) may run another task meanwhile, which must not be
// handed the same buffers. The pool makes as many as tasks ever ran at once and keeps them, so a loop
// that runs every step allocates nothing in steady state. What a task computes must not depend on which
// workspace it got.
//
//   WorkspacePool<Buffers> pool;
//   for_each_index(tasks, work, [&](std::size_t t) {
//     const WorkspacePool<Buffers>::Lease w(pool);
//     use(*w, t);
//   });
#include <memory>
#include <mutex>
#include <vector>

namespace wgflow {

template <class Workspace>
class WorkspacePool {
 public:
  class Lease {
   public:
    explicit Lease(WorkspacePool& pool) : pool_(pool) {
      const std::lock_guard<std::mutex> lock(pool_.mutex_);
      if (pool_.idle_.empty()) {
        w_ = std::make_unique<Workspace>();
      } else {
        w_ = std::move(pool_.idle_.back());
        pool_.idle_.pop_back();
      }
    }
    ~Lease() {
      const std::lock_guard<std::mutex> lock(pool_.mutex_);
      pool_.idle_.push_back(std::move(w_));
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Workspace& operator*() const { return *w_; }

   private:
    WorkspacePool& pool_;
    std::unique_ptr<Workspace> w_;
  };

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<Workspace>> idle_;
};

}  // namespace wgflow
