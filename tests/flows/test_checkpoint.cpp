// Checkpoints (flows/checkpoint.hpp, data/checkpoint_folder.hpp): resuming is bit-exact, a save that dies
// midway leaves the previous checkpoint loadable, and a checkpoint that does not fit the flow is refused
// with an error naming the file at fault.
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "flows/checkpoint.hpp"
#include "flows/flows.hpp"
#include "models/prior.hpp"
#include "models/toy_potentials.hpp"
#include "tests/flows/flow_fixture.hpp"

using namespace wgflow;
using wgflow::Tensor;
using wgtest::diagonal_quadratic;
using wgtest::normal_particles;
namespace fs = std::filesystem;

namespace {

// A fresh folder under the system's temporary directory, removed with everything in it at scope exit.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() / ("wgflow-test-" + name + "-" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

struct Drle {
  models::AnalyticPotential<double> loss = diagonal_quadratic();
  models::GaussianPrior<double> prior = models::GaussianPrior<double>::isotropic(3, 1.0);
  // Median bandwidth frozen after 5 steps, 200 prior samples: both are state the checkpoint must carry.
  flows::RepulsiveSettings<double> settings{.lambda1 = 0.5, .lambda2 = 0.1};

  flows::ParticleFlow<double> make(std::uint64_t seed = 5, std::size_t n = 32) {
    return flows::deep_repulsive_langevin_ensemble<double>(loss, prior, settings, normal_particles(n, 3, 3), 0.01,
                                                           seed);
  }
};

// doctest's matcher takes C strings only.
doctest::Contains contains(const std::string& text) { return doctest::Contains(text.c_str()); }

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

}  // namespace

TEST_CASE("DRLE resumed from a checkpoint is bitwise the uninterrupted run, for Sgd, Momentum and Adam") {
  TempDir tmp("resume");
  Drle setup;
  for (int optimiser = 0; optimiser < 3; ++optimiser) {
    CAPTURE(optimiser);
    const auto configure = [&](flows::ParticleFlow<double>& f) {
      if (optimiser == 1) f.set_optimizer(flows::Momentum<double>{.eta = 0.01});
      if (optimiser == 2) f.set_optimizer(flows::Adam<double>{.eta = 0.01});
    };
    auto whole = setup.make();
    configure(whole);
    whole.run(100);

    auto first = setup.make();
    configure(first);
    first.run(50);
    flows::save_checkpoint(first, tmp.path / "ckpt");

    // A fresh flow with another seed: the checkpoint's seed, samples and bandwidth must all win.
    auto resumed = setup.make(/*seed=*/77);
    configure(resumed);
    flows::load_checkpoint(resumed, tmp.path / "ckpt");
    CHECK(resumed.steps_taken() == 50);
    CHECK(resumed.seed() == 5);
    CHECK(resumed.particles() == first.particles());
    const auto& saved_term = dynamic_cast<const flows::InteractionEnergy<double>&>(first.term(1));
    const auto& loaded_term = dynamic_cast<const flows::InteractionEnergy<double>&>(resumed.term(1));
    CHECK(loaded_term.bandwidth() == saved_term.bandwidth());
    CHECK(loaded_term.prior_samples() == saved_term.prior_samples());
    resumed.run(50);

    CHECK(resumed.steps_taken() == 100);
    CHECK(xt::all(xt::isfinite(whole.particles())));
    CHECK(resumed.particles() == whole.particles());  // bitwise
  }
}

TEST_CASE("SVGD and mean-field VI resume bit-exactly too") {
  TempDir tmp("resume-neighbours");
  auto loss = diagonal_quadratic();
  const auto prior = models::GaussianPrior<double>::isotropic(3, 1.0);
  SUBCASE("svgd") {
    const auto make = [&] {
      return flows::Svgd<double>(loss, prior, normal_particles(16, 3, 4), flows::Adam<double>{.eta = 0.05});
    };
    auto whole = make();
    whole.run(40);
    auto first = make();
    first.run(20);
    flows::save_checkpoint(first, tmp.path / "svgd");
    auto resumed = make();
    flows::load_checkpoint(resumed, tmp.path / "svgd");
    resumed.run(20);
    CHECK(resumed.particles() == whole.particles());
  }
  SUBCASE("mean-field VI") {
    const auto make = [&](std::uint64_t seed) {
      return flows::MeanFieldVI<double>(loss, prior, normal_particles(4, 3, 4),
                                        flows::MeanFieldVIConfig<double>{.samples = 2, .seed = seed});
    };
    auto whole = make(9);
    whole.run(40);
    auto first = make(9);
    first.run(20);
    flows::save_checkpoint(first, tmp.path / "mfvi");
    auto resumed = make(1);
    flows::load_checkpoint(resumed, tmp.path / "mfvi");
    resumed.run(20);
    CHECK(resumed.steps_taken() == 40);
    CHECK(resumed.variational_parameters() == whole.variational_parameters());
    CHECK(resumed.particles() == whole.particles());
  }
}

TEST_CASE("a save that dies after its first file leaves the previous checkpoint loadable and intact") {
  TempDir tmp("crash");
  Drle setup;
  auto flow = setup.make();
  flow.run(20);
  const fs::path dir = tmp.path / "ckpt";
  flows::save_checkpoint(flow, dir);
  const Tensor<double> saved = flow.particles();

  flow.run(10);
  int files = 0;
  flows::SaveOptions dies;
  dies.after_file = [&](const fs::path&) {
    if (++files == 1) throw std::runtime_error("simulated crash");
  };
  CHECK_THROWS_WITH(flows::save_checkpoint(flow, dir, dies), "simulated crash");
  CHECK(files == 1);
  CHECK(fs::exists(tmp.path / "ckpt.tmp"));  // the unfinished new checkpoint, as a crash would leave it

  auto restored = setup.make();
  flows::load_checkpoint(restored, dir);
  CHECK(restored.steps_taken() == 20);
  CHECK(restored.particles() == saved);

  // The next save discards the debris and replaces the checkpoint.
  flows::save_checkpoint(flow, dir);
  CHECK_FALSE(fs::exists(tmp.path / "ckpt.tmp"));
  flows::load_checkpoint(restored, dir);
  CHECK(restored.steps_taken() == 30);
  CHECK(restored.particles() == flow.particles());
}

TEST_CASE("a save that dies between moving the old folder away and moving the new one in falls back to the old") {
  TempDir tmp("crash-rename");
  Drle setup;
  auto flow = setup.make();
  flow.run(10);
  const fs::path dir = tmp.path / "ckpt";
  flows::save_checkpoint(flow, dir);
  fs::rename(dir, tmp.path / "ckpt.old");  // what the fallback publish leaves after its first rename

  auto restored = setup.make();
  flows::load_checkpoint(restored, dir);
  CHECK(restored.steps_taken() == 10);
  CHECK(restored.particles() == flow.particles());
}

TEST_CASE("a checkpoint that does not fit the flow is refused, naming the file, and the flow is unchanged") {
  TempDir tmp("mismatch");
  Drle setup;
  auto flow = setup.make();
  flow.run(10);
  const fs::path dir = tmp.path / "ckpt";
  flows::save_checkpoint(flow, dir);
  const std::string manifest = (dir / "manifest.json").string();

  SUBCASE("another number of particles") {
    auto other = setup.make(5, 16);
    const Tensor<double> before = other.particles();
    CHECK_THROWS_WITH_AS(flows::load_checkpoint(other, dir),
                         contains(manifest + ": particles is [32,3] but the flow's is [16,3]"), Error);
    CHECK(other.particles() == before);
    CHECK(other.steps_taken() == 0);
  }
  SUBCASE("another flow") {
    auto de = flows::deep_ensemble<double>(setup.loss, normal_particles(32, 3, 3), 0.01);
    CHECK_THROWS_WITH_AS(flows::load_checkpoint(de, dir),
                         contains(manifest + ": flow is \"DRLE\" but the flow's is \"DE\""), Error);
    auto svgd = flows::Svgd<double>(setup.loss, setup.prior, normal_particles(32, 3, 3), flows::Sgd<double>{0.01});
    CHECK_THROWS_WITH_AS(flows::load_checkpoint(svgd, dir), doctest::Contains("kind is \"particle_flow\""), Error);
  }
  SUBCASE("another setting of a term, or another optimiser") {
    setup.settings.lambda1 = 0.25;
    auto other = setup.make();
    CHECK_THROWS_WITH_AS(flows::load_checkpoint(other, dir), contains(manifest + ": term 1 is"), Error);
    setup.settings.lambda1 = 0.5;
    auto adam = setup.make();
    adam.set_optimizer(flows::Adam<double>{});
    CHECK_THROWS_WITH_AS(flows::load_checkpoint(adam, dir), contains(manifest + ": the optimiser is"), Error);
  }
  SUBCASE("a damaged array file") {
    const fs::path particles = dir / "particles.npy";
    std::string bytes;
    {
      std::ifstream in(particles, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    write_text(particles, bytes.substr(0, bytes.size() - 8));  // truncated
    auto other = setup.make();
    CHECK_THROWS_WITH_AS(flows::load_checkpoint(other, dir), contains(particles.string() + ": checksum mismatch"),
                         Error);
    CHECK(other.steps_taken() == 0);
    fs::remove(particles);
    CHECK_THROWS_WITH_AS(flows::load_checkpoint(other, dir), contains(particles.string()), Error);
  }
  SUBCASE("a manifest edited to another valid step count or seed") {
    for (const char* key : {"steps", "seed"}) {
      std::ifstream in(dir / "manifest.json");
      nlohmann::json m = nlohmann::json::parse(in);
      in.close();
      const nlohmann::json saved = m;
      m[key] = m.at(key).get<std::uint64_t>() + 1;  // still a valid value: only the checksum tells
      write_text(dir / "manifest.json", m.dump(2));
      auto other = setup.make();
      CHECK_THROWS_WITH_AS(flows::load_checkpoint(other, dir),
                           contains(manifest + ": checksum mismatch (the manifest was changed after the save)"), Error);
      CHECK(other.steps_taken() == 0);
      write_text(dir / "manifest.json", saved.dump(4));  // the same fields, laid out differently: accepted
      auto same = setup.make();
      CHECK_NOTHROW(flows::load_checkpoint(same, dir));
      CHECK(same.steps_taken() == 10);
    }
  }
  SUBCASE("another format version, or no manifest") {
    std::ifstream in(dir / "manifest.json");
    nlohmann::json m = nlohmann::json::parse(in);
    in.close();
    m["version"] = 99;
    write_text(dir / "manifest.json", m.dump());
    auto other = setup.make();
    CHECK_THROWS_WITH_AS(flows::load_checkpoint(other, dir), contains(manifest + " has format version 99"),
                         Error);
    write_text(dir / "manifest.json", "{ not json");
    CHECK_THROWS_WITH_AS(flows::load_checkpoint(other, dir), contains(manifest + " is not valid JSON"), Error);
    CHECK_THROWS_WITH_AS(flows::load_checkpoint(other, tmp.path / "nowhere"), doctest::Contains("no checkpoint at"),
                         Error);
  }
}

TEST_CASE("the manifest records what a reader needs: steps, seed, shapes, dtypes and the terms") {
  TempDir tmp("manifest");
  Drle setup;
  auto flow = setup.make();
  flow.run(7);
  flows::save_checkpoint(flow, tmp.path / "ckpt");
  std::ifstream in(tmp.path / "ckpt" / "manifest.json");
  const nlohmann::json m = nlohmann::json::parse(in);
  CHECK(m.at("format") == "wgflow-checkpoint");
  CHECK(m.at("flow") == "DRLE");
  CHECK(m.at("steps") == 7);
  CHECK(m.at("seed") == 5);
  CHECK(m.at("terms").size() == 3);
  CHECK(m.at("arrays").at("particles").at("shape") == nlohmann::json({32, 3}));
  CHECK(m.at("arrays").at("particles").at("dtype") == "<f8");
  CHECK(m.at("arrays").at("term1.prior_samples").at("shape") == nlohmann::json({200, 3}));
  CHECK(fs::exists(tmp.path / "ckpt" / "term1.bandwidth.npy"));
}
