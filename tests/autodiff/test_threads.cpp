// Tapes share nothing: independent gradient computations, each on its thread's own tape
// (Tape::local()), give bitwise the same numbers whatever the number of threads and whichever thread
// runs which computation.
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include "tests/support/op_check.hpp"

using namespace wgtest;
using wgflow::ad::gradient;

namespace {

using Gradients = std::vector<Tensor<double>>;

// Computation `task`: the gradient of a small tanh/relu network's loss on its own data. Batch sizes
// differ between tasks, so a thread's tape is reused for graphs of different sizes in between.
Gradients task_gradients(std::size_t task) {
  const std::uint64_t seed = 1000 * task;
  const std::size_t rows = 4 + task % 13;
  Tape<double>& tape = Tape<double>::local();
  tape.clear();
  auto x = tape.constant(random_tensor({rows, 5}, seed));
  auto y = tape.constant(random_tensor({rows, 2}, seed + 1));
  auto w1 = tape.variable(random_tensor({5, 16}, seed + 2)), b1 = tape.variable(random_tensor({1, 16}, seed + 3));
  auto w2 = tape.variable(random_tensor({16, 2}, seed + 4)), b2 = tape.variable(random_tensor({1, 2}, seed + 5));
  auto out = matmul(relu(tanh(matmul(x, w1) + b1)), w2) + b2;
  return gradient(mean(square(out - y)), {w1, b1, w2, b2});
}

std::vector<Gradients> run_in_arena(int threads, std::size_t tasks) {
  std::vector<Gradients> results(tasks);
  tbb::task_arena arena(threads);
  arena.execute([&] {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, tasks, 1), [&](const tbb::blocked_range<std::size_t>& r) {
      for (std::size_t i = r.begin(); i != r.end(); ++i) results[i] = task_gradients(i);
    });
  });
  return results;
}

bool bitwise_equal(const std::vector<Gradients>& a, const std::vector<Gradients>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].size() != b[i].size()) return false;
    for (std::size_t k = 0; k < a[i].size(); ++k)
      if (a[i][k].shape() != b[i][k].shape() || !xt::all(xt::equal(a[i][k], b[i][k]))) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("Tape::local() is one tape per thread") {
  Tape<double>* here = &Tape<double>::local();
  CHECK(&Tape<double>::local() == here);
  Tape<double>* there = nullptr;
  std::thread([&] { there = &Tape<double>::local(); }).join();
  CHECK(there != nullptr);
  CHECK(there != here);
}

TEST_CASE("independent gradients on TBB threads match a single thread bit for bit") {
  constexpr std::size_t tasks = 400;
  std::vector<Gradients> serial(tasks);
  for (std::size_t i = 0; i < tasks; ++i) serial[i] = task_gradients(i);

  // Let an arena have 4 threads even on a machine with fewer cores: oversubscription is harmless here
  // and makes the 4-thread case real.
  tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 4);
  const auto one = run_in_arena(1, tasks);
  const auto four = run_in_arena(4, tasks);
  const auto four_again = run_in_arena(4, tasks);

  CHECK(bitwise_equal(one, serial));
  CHECK(bitwise_equal(four, serial));
  CHECK(bitwise_equal(four_again, serial));
  // The computations differ from each other, so equality above is not that of identical tasks.
  CHECK_FALSE(bitwise_equal({serial[0]}, {serial[1]}));
}
