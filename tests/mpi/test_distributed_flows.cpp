// A flow split over the ranks (ParticleFlow::distribute) is the plain process's flow, bit for bit: every
// method of the one integrator, on a network, at 1 and 2 threads per rank. The executable runs under
// mpirun with 1, 2 and 3 ranks (tests/mpi/meson.build); each rank also runs the plain flow itself and
// compares the gathered particles (and each term's energy estimate) with it. And an error on one rank reaches
// every rank with its message.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <tbb/global_control.h>
#include <xtensor/xview.hpp>

#include "core/communicator.hpp"
#include "core/mpi_communicator.hpp"
#include "flows/flows.hpp"
#include "tests/flows/flow_fixture.hpp"
#include "tests/mpi/world.hpp"
#include "tests/support/temp_folder.hpp"

using namespace wgflow;

namespace {

enum class Method { de, dle, drle, drle_function_space, drle_random_batch, drle_random_batch_odd,
                    drle_random_batch_function_space, svgd, mfvi };

const char* method_name(Method m) {
  switch (m) {
    case Method::de: return "DE";
    case Method::dle: return "DLE";
    case Method::drle: return "DRLE";
    case Method::drle_function_space: return "DRLE in function space";
    case Method::drle_random_batch: return "DRLE, random batches";
    case Method::drle_random_batch_odd: return "DRLE, random batches of odd size";
    case Method::drle_random_batch_function_space: return "DRLE in function space, one random batch";
    case Method::svgd: return "SVGD";
    case Method::mfvi: return "mean-field VI";
  }
  return "?";
}

// The method's flow on a 1-16-1 tanh network (J = 49), minibatches of 20 of 40 points, N = 13: split
// unevenly over 2 and 3 ranks.
flows::ParticleFlow<double> make_flow(Method method, wgtest::SinRegression& data) {
  const Tensor<double> init = data.particles(13, 3);
  const std::uint64_t seed = 11;
  switch (method) {
    case Method::de:
      return flows::deep_ensemble(data.potential, init, {.eta = 1e-2, .seed = seed});
    case Method::dle:
      return flows::deep_langevin_ensemble(data.potential, data.prior, init, {.lambda = 1e-3, .eta = 1e-2, .seed = seed});
    case Method::drle:
      return flows::deep_repulsive_langevin_ensemble(data.potential, data.prior, init,
                                                     {.lambda1 = 1e-2, .lambda2 = 1e-3, .eta = 1e-2, .seed = seed});
    case Method::drle_function_space:
      return flows::deep_repulsive_langevin_ensemble(
          data.potential, data.prior, init,
          {.lambda1 = 1e-2, .lambda2 = 1e-3, .model = &data.net,
           .kernel_inputs = Tensor<double>(xt::view(data.X, xt::range(0, 8), xt::all())), .eta = 1e-2, .seed = seed});
    case Method::drle_random_batch:  // batches of 4, 4 and 5, handed to the ranks whole
      return flows::deep_repulsive_langevin_ensemble(data.potential, data.prior, init,
                                                     {.lambda1 = 1e-2, .lambda2 = 1e-3, .eta = 1e-2, .seed = seed,
                                                      .interaction_batch = 4, .interaction_prior_batch = 6});
    case Method::drle_random_batch_odd:  // batches of 5 and 8: a bandwidth pair straddles them, 3 ranks for 2
      return flows::deep_repulsive_langevin_ensemble(data.potential, data.prior, init,
                                                     {.lambda1 = 1e-2, .lambda2 = 1e-3, .eta = 1e-2, .seed = seed,
                                                      .interaction_batch = 5, .interaction_prior_batch = 6});
    case Method::drle_random_batch_function_space:  // N < 2B: one batch, computed whole on every rank
      return flows::deep_repulsive_langevin_ensemble(
          data.potential, data.prior, init,
          {.lambda1 = 1e-2, .lambda2 = 1e-3, .model = &data.net,
           .kernel_inputs = Tensor<double>(xt::view(data.X, xt::range(0, 8), xt::all())), .eta = 1e-2, .seed = seed,
           .interaction_batch = 8, .interaction_prior_batch = 6});
    case Method::svgd:
      return flows::svgd(data.potential, data.prior, init, {.lambda = 1e-2, .optimizer = flows::Adam<double>{.eta = 1e-3}, .seed = seed});
    case Method::mfvi:
      return flows::mean_field_vi(data.potential, data.prior, data.particles(7, 3),
                                  {.lambda = 1e-2, .samples = 2, .initial_sd = 0.05, .seed = seed});
  }
  throw Error("unknown method");
}

bool bitwise_equal(const Tensor<double>& a, const Tensor<double>& b) {
  if (a.shape() != b.shape()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a.data()[i], &b.data()[i], sizeof(double)) != 0) return false;
  return true;
}

}  // namespace

TEST_CASE("every method split over the ranks gives the plain process's particles, bit for bit, at any thread count") {
  const int ranks = wgtest::world->size();
  for (Method method : {Method::de, Method::dle, Method::drle, Method::drle_function_space, Method::drle_random_batch,
                        Method::drle_random_batch_odd, Method::drle_random_batch_function_space, Method::svgd,
                        Method::mfvi}) {
    wgtest::SinRegression plain_data(16);
    auto plain = make_flow(method, plain_data);
    plain.run(30);
    for (std::size_t threads : {1, 2}) {
      const std::string name = method_name(method);
      CAPTURE(name);
      CAPTURE(ranks);
      CAPTURE(threads);
      tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
      wgtest::SinRegression data(16);
      auto flow = make_flow(method, data);
      flow.distribute(wgtest::world);
      flow.run(30);
      const RowBlock mine = flow.own_rows();
      CHECK(flow.particles().shape()[0] == mine.size());
      CHECK(flow.num_particles() == plain.num_particles());
      CHECK(bitwise_equal(flow.gathered_particles(), plain.particles()));
      // The energies are combined over ranks: equal up to the order of the sums.
      const auto loss = flow.mean_loss(), plain_loss = plain.mean_loss();
      REQUIRE(loss.has_value() == plain_loss.has_value());
      if (loss) CHECK(*loss == doctest::Approx(*plain_loss).epsilon(1e-12));
      // Each term's energy estimate: a rank's is the mean over its rows (reach own_rows, collective), weighed
      // by them as the flow does; a term of reach ensemble has the plain one on every rank.
      const std::vector<double> rows = wgtest::world->allgather_value(static_cast<double>(mine.size()));
      for (std::size_t k = 0; k < plain.num_terms(); ++k) {
        const auto energy = flow.term(k).energy(), plain_energy = plain.term(k).energy();
        const std::vector<double> energies = wgtest::world->allgather_value(energy.value_or(0.0));
        REQUIRE(energy.has_value() == plain_energy.has_value());
        if (!energy) continue;
        const bool own = flow.term(k).reach() != flows::Reach::ensemble;
        double combined = own ? 0.0 : energies[0];
        for (int r = 0; own && r < ranks; ++r) combined += rows[r] / static_cast<double>(flow.num_particles()) * energies[r];
        CAPTURE(k);
        CHECK(combined == doctest::Approx(*plain_energy).epsilon(1e-12));
      }
    }
  }
}

namespace {

// A term that sends particle `bad`'s gradient, or its value (Term::particle_values) where `in_value`, to
// infinity at step `when`: a divergence on whichever rank holds it.
class Blowup final : public flows::Term<double> {
 public:
  Blowup(std::size_t bad, std::uint64_t when, bool in_value = false) : bad_(bad), when_(when), in_value_(in_value) {}
  std::string name() const override { return "blowup"; }
  flows::Reach reach() const override { return flows::Reach::own_rows; }
  void add_gradient(const flows::StepContext<double>& ctx, Tensor<double>& gradient) override {
    const std::size_t n = ctx.particles.shape()[0];
    values_.assign(n, 0.0);
    if (ctx.step != when_ || bad_ < ctx.first_row || bad_ >= ctx.first_row + n) return;
    (in_value_ ? values_[bad_ - ctx.first_row] : gradient(bad_ - ctx.first_row, 0)) =
        std::numeric_limits<double>::infinity();
  }
  std::span<const double> particle_values() const override { return values_; }

 private:
  std::size_t bad_;
  std::uint64_t when_;
  bool in_value_;
  std::vector<double> values_;
};

// DE on the double well with `term` added, split over the world's ranks or not, run until it throws: the
// message and the steps taken.
std::pair<std::string, std::uint64_t> run_to_error(std::unique_ptr<flows::Term<double>> term, bool distributed) {
  auto loss = models::double_well<double>();
  auto flow = flows::deep_ensemble(loss, wgtest::normal_particles(13, 1, 5), {.eta = 1e-2, .seed = 3});
  if (distributed) flow.distribute(wgtest::world);
  flow.add(std::move(term));
  std::string message;
  try {
    flow.run(10);
  } catch (const Error& e) {
    message = e.what();
  }
  return {message, flow.steps_taken()};
}

}  // namespace

TEST_CASE("a particle that diverges on one rank stops every rank with that rank's message") {
  const std::size_t bad = 12;  // of 13: the last rank's last particle, named by its index among all N
  for (const bool in_value : {false, true}) {
    CAPTURE(in_value);
    const auto [plain_message, plain_steps] = run_to_error(std::make_unique<Blowup>(bad, 4, in_value), false);
    const auto [message, steps] = run_to_error(std::make_unique<Blowup>(bad, 4, in_value), true);
    REQUIRE(plain_message.find(in_value ? "DE: step 4, particle 12: the value of term 'blowup' is not finite (inf)"
                                        : "DE: step 4, particle 12: the gradient of term 'blowup'") == 0);
    CHECK(steps == plain_steps);
    CHECK(message.find(plain_message) == 0);  // the failing rank's own; the others add where it came from
  }
}

namespace {

// A collective term (flows/term.hpp) whose own part fails at particle `bad` on the rank that holds it,
// before the term gathers from the other ranks: the protocol must not leave them waiting in the gather.
class FailingCollective final : public flows::Term<double> {
 public:
  FailingCollective(std::size_t bad, std::uint64_t when) : bad_(bad), when_(when) {}
  std::string name() const override { return "failing collective"; }
  flows::Reach reach() const override { return flows::Reach::collective; }
  void add_gradient(const flows::StepContext<double>& ctx, Tensor<double>& gradient) override {
    flows::agree(ctx, [&] {
      if (ctx.step == when_ && bad_ >= ctx.rows().begin && bad_ < ctx.rows().end)
        throw Error("failing collective: particle " + std::to_string(bad_) + " failed");
    });
    const Tensor<double>& all = flows::gather_rows(ctx, ctx.particles, all_);
    REQUIRE(all.shape()[0] == ctx.ensemble_size());
    gradient += 0.0 * xt::view(all, xt::range(ctx.rows().begin, ctx.rows().end), xt::all());
  }

 private:
  std::size_t bad_;
  std::uint64_t when_;
  Tensor<double> all_;
};

}  // namespace

TEST_CASE("a collective term failing on one rank ends every rank with that rank's message, named once") {
  const std::size_t bad = 12;  // of 13: the last rank's last particle
  const auto [plain_message, plain_steps] = run_to_error(std::make_unique<FailingCollective>(bad, 4), false);
  const auto [message, steps] = run_to_error(std::make_unique<FailingCollective>(bad, 4), true);
  REQUIRE(plain_message == "failing collective: particle 12 failed");
  CHECK(plain_steps == 4);
  CHECK(steps == 4);
  const int R = wgtest::world->size();
  CHECK(message == (R == 1 ? plain_message
                           : plain_message + " (on rank " + std::to_string(R - 1) + " of " + std::to_string(R) + ")"));
}

TEST_CASE("ranks that start from different particles are refused") {
  auto loss = models::double_well<double>();
  auto flow = flows::deep_ensemble(loss, wgtest::normal_particles(6, 1, 1 + static_cast<std::uint64_t>(wgtest::world->rank())),
                                   {.eta = 1e-2});
  if (wgtest::world->size() == 1) {
    CHECK_NOTHROW(flow.distribute(wgtest::world));
  } else {
    CHECK_THROWS_WITH(flow.distribute(wgtest::world), doctest::Contains("the ranks start from different particles"));
  }
}

namespace {

// A folder every rank can see, made by rank 0 (its wgtest::TempFolder), removed when the case ends.
struct SharedFolder {
  std::optional<wgtest::TempFolder> own;  // rank 0's
  std::filesystem::path path;
  SharedFolder() {
    std::string name;
    if (wgtest::world->rank() == 0) name = own.emplace("mpi").path().string();
    std::uint64_t length = name.size();
    wgtest::world->broadcast(std::span<std::uint64_t>(&length, 1), 0);
    name.resize(length);
    wgtest::world->broadcast(std::span<char>(name.data(), name.size()), 0);
    path = name;
  }
  ~SharedFolder() { wgtest::world->barrier(); }  // then rank 0's folder goes, the other ranks done with it
};

// The ranks 0 .. R - 2 of the world (all of it when R = 1), as a communicator; null on the other rank.
std::shared_ptr<Communicator> all_but_last_rank(MPI_Comm& handle) {
  const int R = wgtest::world->size(), rank = wgtest::world->rank();
  const bool inside = R == 1 || rank < R - 1;
  MPI_Comm_split(MPI_COMM_WORLD, inside ? 0 : MPI_UNDEFINED, rank, &handle);
  return inside ? std::make_shared<MpiCommunicator>(handle) : nullptr;
}

}  // namespace

TEST_CASE("a checkpoint saved on R ranks resumes on R - 1, on R + 1 and on one process to the uninterrupted run, bit for bit") {
  MPI_Comm handle = MPI_COMM_NULL;
  const std::shared_ptr<Communicator> fewer = all_but_last_rank(handle);
  for (Method method : {Method::dle, Method::drle_function_space, Method::svgd, Method::mfvi}) {
    const std::string name = method_name(method);
    CAPTURE(name);
    wgtest::SinRegression reference_data(16);
    auto reference = make_flow(method, reference_data);
    reference.run(20);
    SharedFolder folder;
    // (saved on, resumed on): the world, one rank fewer, or the plain process (saving on rank 0 only).
    enum class On { world, fewer, plain };
    const std::vector<std::pair<On, On>> layouts{{On::fewer, On::world}, {On::world, On::fewer}, {On::world, On::plain},
                                                 {On::plain, On::world}};
    // Whether this rank takes part, and on which communicator (null: as a plain process).
    const auto resolve = [&](On on) -> std::pair<bool, std::shared_ptr<Communicator>> {
      if (on == On::world) return {true, wgtest::world};
      if (on == On::fewer) return {fewer != nullptr, fewer};
      return {true, nullptr};
    };
    for (std::size_t l = 0; l < layouts.size(); ++l) {
      CAPTURE(l);
      const std::filesystem::path dir = folder.path / ("layout" + std::to_string(l));
      const auto [saves, saver] = resolve(layouts[l].first);
      if (saves && (saver || wgtest::world->rank() == 0)) {
        wgtest::SinRegression data(16);
        auto flow = make_flow(method, data);
        if (saver) flow.distribute(saver);
        flow.run(10);
        flows::save_checkpoint(flow, dir);
      }
      wgtest::world->barrier();
      const auto [loads, loader] = resolve(layouts[l].second);
      if (!loads) continue;
      wgtest::SinRegression data(16);
      auto flow = make_flow(method, data);
      if (loader) flow.distribute(loader);
      flows::load_checkpoint(flow, dir);
      CHECK(flow.steps_taken() == 10);
      flow.run(10);
      CHECK(bitwise_equal(flow.gathered_particles(), reference.particles()));
    }
  }
  if (handle != MPI_COMM_NULL) MPI_Comm_free(&handle);
}

TEST_CASE("a checkpoint that one rank cannot read fails on every rank with that rank's message") {
  wgtest::SinRegression data(16);
  auto flow = make_flow(Method::dle, data);
  flow.distribute(wgtest::world);
  SharedFolder folder;
  flow.run(2);
  flows::save_checkpoint(flow, folder.path / "ok");
  wgtest::world->barrier();
  const std::filesystem::path dir = wgtest::world->rank() == wgtest::world->size() - 1 ? folder.path / "missing" : folder.path / "ok";
  const auto before = flow.particles();
  CHECK_THROWS_WITH(flows::load_checkpoint(flow, dir), doctest::Contains("missing"));
  CHECK(bitwise_equal(flow.particles(), before));
}
