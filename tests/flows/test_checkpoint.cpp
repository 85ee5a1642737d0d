// Checkpoints (flows/checkpoint.hpp, data/checkpoint_folder.hpp), for every method of the one integrator
// (DRLE, and SVGD and mean-field VI on a minibatched network): resuming is bit-exact, a checkpoint that
// does not fit the flow (its shape, its terms, its particles' layout) is refused with an error naming the
// file at fault, and the manifest names the particles' layout (version 4; version 3, without it, still
// loads). What a save may replace and survive: test_checkpoint_safety.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "flows/checkpoint.hpp"
#include "flows/flows.hpp"
#include "models/prior.hpp"
#include "models/toy_potentials.hpp"
#include "tests/flows/checkpoint_fixture.hpp"
#include "tests/flows/flow_fixture.hpp"
#include "tests/support/temp_folder.hpp"

using namespace wgflow;
using wgflow::Tensor;
using wgtest::contains;
using wgtest::diagonal_quadratic;
using wgtest::Drle;
using wgtest::Neighbours;
using wgtest::normal_particles;
using wgtest::TempFolder;
using wgtest::write_text;
namespace fs = std::filesystem;

TEST_CASE("DE and DLE resumed from a checkpoint are bitwise the uninterrupted run, for Sgd, Momentum and Adam") {
  TempFolder tmp("resume-de");
  Drle setup;  // its potential and prior
  for (const bool langevin : {false, true}) {
    for (int optimiser = 0; optimiser < 3; ++optimiser) {
      CAPTURE(langevin);
      CAPTURE(optimiser);
      const auto make = [&](std::uint64_t seed) {
        const Tensor<double> init = normal_particles(32, 3, 3);
        auto f = langevin ? flows::deep_langevin_ensemble(setup.loss, setup.prior, init, {.lambda = 0.1, .eta = 0.01, .seed = seed})
                          : flows::deep_ensemble(setup.loss, init, {.eta = 0.01, .seed = seed});
        if (optimiser == 1) f.set_optimizer(flows::Momentum<double>{.eta = 0.01});
        if (optimiser == 2) f.set_optimizer(flows::Adam<double>{.eta = 0.01});
        return f;
      };
      auto whole = make(5);
      whole.run(100);
      auto first = make(5);
      first.run(50);
      flows::save_checkpoint(first, tmp.path() / "ckpt");
      auto resumed = make(77);  // the checkpoint's seed (DLE's noise) must win
      flows::load_checkpoint(resumed, tmp.path() / "ckpt");
      CHECK(resumed.steps_taken() == 50);
      CHECK(resumed.seed() == 5);
      resumed.run(50);
      CHECK(xt::all(xt::isfinite(whole.particles())));
      CHECK(resumed.particles() == whole.particles());  // bitwise
      CHECK(whole.particles() != first.particles());
      if (langevin) {  // the noise depends on the seed, so restoring it mattered
        auto other = make(77);
        other.run(100);
        CHECK(other.particles() != whole.particles());
      }
    }
  }
}

TEST_CASE("DRLE resumed from a checkpoint is bitwise the uninterrupted run, for Sgd, Momentum and Adam") {
  TempFolder tmp("resume");
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
    flows::save_checkpoint(first, tmp.path() / "ckpt");

    // A fresh flow with another seed: the checkpoint's seed, samples and bandwidth must all win.
    auto resumed = setup.make(/*seed=*/77);
    configure(resumed);
    flows::load_checkpoint(resumed, tmp.path() / "ckpt");
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


TEST_CASE("SVGD and mean-field VI resumed from a checkpoint are bitwise the uninterrupted run, for Sgd, Momentum and Adam") {
  TempFolder tmp("resume-neighbours");
  Neighbours setup;
  for (const bool svgd : {true, false}) {
    for (int optimiser = 0; optimiser < 3; ++optimiser) {
      CAPTURE(svgd);
      CAPTURE(optimiser);
      const auto make = [&](std::uint64_t seed) {
        auto f = svgd ? setup.svgd(seed) : setup.mfvi(seed);
        if (optimiser == 1) f.set_optimizer(flows::Momentum<double>{.eta = 0.01});
        if (optimiser == 2) f.set_optimizer(flows::Adam<double>{.eta = 0.01});
        return f;
      };
      auto whole = make(5);
      whole.run(60);

      auto first = make(5);
      first.run(30);
      flows::save_checkpoint(first, tmp.path() / "ckpt");

      // A fresh flow with another seed: the checkpoint's seed (mean-field VI's draws), SVGD's frozen
      // bandwidth and the optimiser's state must all win.
      auto resumed = make(77);
      flows::load_checkpoint(resumed, tmp.path() / "ckpt");
      CHECK(resumed.steps_taken() == 30);
      CHECK(resumed.seed() == 5);
      CHECK(resumed.particles() == first.particles());
      if (svgd) {
        const auto& saved_term = dynamic_cast<const flows::SvgdDirection<double>&>(first.term(0));
        const auto& loaded_term = dynamic_cast<const flows::SvgdDirection<double>&>(resumed.term(0));
        CHECK(std::isfinite(saved_term.bandwidth()));
        CHECK(loaded_term.bandwidth() == saved_term.bandwidth());
      }
      resumed.run(30);

      CHECK(resumed.steps_taken() == 60);
      CHECK(xt::all(xt::isfinite(whole.particles())));
      CHECK(resumed.particles() == whole.particles());  // bitwise
      CHECK(resumed.gradient() == whole.gradient());
      // Not vacuous: the second half moved the particles; mean-field VI's draws depend on the seed that
      // the checkpoint restored; SVGD's bandwidth, frozen at step 5, was restored (a fresh flow's is NaN).
      CHECK(whole.particles() != first.particles());
      if (!svgd) {
        auto other = make(77);
        other.run(60);
        CHECK(other.particles() != whole.particles());
      }
    }
  }
}

TEST_CASE("an SVGD or mean-field VI checkpoint that does not fit the flow is refused, naming the file, and the flow is unchanged") {
  TempFolder tmp("mismatch-neighbours");
  Neighbours setup;
  auto svgd = setup.svgd();
  svgd.run(10);
  auto mfvi = setup.mfvi();
  mfvi.run(10);
  flows::save_checkpoint(svgd, tmp.path() / "svgd");
  flows::save_checkpoint(mfvi, tmp.path() / "mfvi");
  const std::string svgd_manifest = (tmp.path() / "svgd" / "manifest.json").string();
  const std::string mfvi_manifest = (tmp.path() / "mfvi" / "manifest.json").string();

  const auto refused = [](flows::ParticleFlow<double>& flow, const fs::path& dir, const std::string& message) {
    const Tensor<double> before = flow.particles();
    const std::uint64_t steps = flow.steps_taken();
    CHECK_THROWS_WITH_AS(flows::load_checkpoint(flow, dir), contains(message), Error);
    CHECK(flow.particles() == before);
    CHECK(flow.steps_taken() == steps);
  };
  SUBCASE("the other method, or DE") {
    auto fresh_mfvi = setup.mfvi();
    refused(fresh_mfvi, tmp.path() / "svgd", svgd_manifest + ": flow is \"SVGD\" but the flow's is \"MFVI\"");
    auto fresh_svgd = setup.svgd();
    refused(fresh_svgd, tmp.path() / "mfvi", mfvi_manifest + ": flow is \"MFVI\" but the flow's is \"SVGD\"");
    auto de = flows::deep_ensemble(setup.data.potential, setup.data.particles(16, 4), {.eta = 0.01});
    refused(de, tmp.path() / "svgd", svgd_manifest + ": flow is \"SVGD\" but the flow's is \"DE\"");
  }
  SUBCASE("another number of particles or members") {
    auto svgd8 = setup.svgd(5, 8);
    refused(svgd8, tmp.path() / "svgd", svgd_manifest + ": particles is [16,25] but the flow's is [8,25]");
    auto mfvi3 = setup.mfvi(5, 3);
    refused(mfvi3, tmp.path() / "mfvi", mfvi_manifest + ": particles is [4,50] but the flow's is [3,50]");
  }
  SUBCASE("another setting of the term") {
    setup.lambda = 0.2;
    auto svgd_other = setup.svgd();
    refused(svgd_other, tmp.path() / "svgd", svgd_manifest + ": term 0 is \"svgd direction (lambda = 0.100000");
    auto mfvi_other = setup.mfvi();
    refused(mfvi_other, tmp.path() / "mfvi", mfvi_manifest + ": term 0 is \"mean-field Gaussian objective (lambda = 0.100000");
    setup.lambda = 0.1;
    setup.samples = 3;
    auto mfvi_samples = setup.mfvi();
    refused(mfvi_samples, tmp.path() / "mfvi", mfvi_manifest + ": term 0 is \"mean-field Gaussian objective (lambda = 0.100000, 2 draws)\"");
    setup.samples = 2;
    setup.bandwidth = flows::Bandwidth<double>::fixed(1.0);
    auto svgd_fixed = setup.svgd();
    refused(svgd_fixed, tmp.path() / "svgd", svgd_manifest + ": term 0 is");
  }
  SUBCASE("another optimiser") {
    auto svgd_adam = setup.svgd();
    svgd_adam.set_optimizer(flows::Adam<double>{});
    refused(svgd_adam, tmp.path() / "svgd", svgd_manifest + ": the optimiser is \"sgd(eta=0.010000)\" but the flow's is \"adam(");
    auto mfvi_adam = setup.mfvi();
    mfvi_adam.set_optimizer(flows::Adam<double>{});
    refused(mfvi_adam, tmp.path() / "mfvi", mfvi_manifest + ": the optimiser is \"sgd(eta=0.010000)\" but the flow's is \"adam(");
  }
  SUBCASE("a damaged bandwidth file") {
    const fs::path bandwidth = tmp.path() / "svgd" / "term0.bandwidth.npy";
    REQUIRE(fs::exists(bandwidth));
    fs::remove(bandwidth);
    auto fresh = setup.svgd();
    refused(fresh, tmp.path() / "svgd", bandwidth.string());
  }
}

TEST_CASE("SVGD's and mean-field VI's manifests record the flow, its one term and the optimiser's state") {
  TempFolder tmp("manifest-neighbours");
  Neighbours setup;
  auto svgd = setup.svgd();
  svgd.set_optimizer(flows::Adam<double>{.eta = 0.01});
  svgd.run(7);
  auto mfvi = setup.mfvi();
  mfvi.set_optimizer(flows::Adam<double>{.eta = 0.01});
  mfvi.run(7);
  flows::save_checkpoint(svgd, tmp.path() / "svgd");
  flows::save_checkpoint(mfvi, tmp.path() / "mfvi");
  for (const char* which : {"svgd", "mfvi"}) {
    CAPTURE(which);
    const bool is_svgd = std::string(which) == "svgd";
    std::ifstream in(tmp.path() / which / "manifest.json");
    const nlohmann::json m = nlohmann::json::parse(in);
    const nlohmann::json shape = is_svgd ? nlohmann::json({16, 25}) : nlohmann::json({4, 50});
    CHECK(m.at("flow") == (is_svgd ? "SVGD" : "MFVI"));
    CHECK(m.at("steps") == 7);
    CHECK(m.at("seed") == 5);
    REQUIRE(m.at("terms").size() == 1);
    CHECK(m.at("terms")[0] == (is_svgd ? svgd : mfvi).term(0).name());
    CHECK(m.at("optimizer").at("type") == "adam");
    CHECK(m.at("optimizer").at("t") == 7);
    CHECK(m.at("arrays").at("particles").at("shape") == shape);
    CHECK(m.at("arrays").at("optimizer.m").at("shape") == shape);
    CHECK(m.at("arrays").at("optimizer.v").at("shape") == shape);
    CHECK(fs::exists(tmp.path() / which / "term0.bandwidth.npy") == is_svgd);
    // The layout: a 1-8-1 network's blocks by name, once per part of the row (MFVI's rows are [mu | rho]).
    const nlohmann::json& layout = m.at("layout");
    CHECK(layout.at("row") == (is_svgd ? "[theta]" : "[mu | rho]"));
    CHECK(layout.at("row_length") == (is_svgd ? 25 : 50));
    REQUIRE(layout.at("blocks").size() == (is_svgd ? 4 : 8));
    const nlohmann::json& second = layout.at("blocks")[1];
    CHECK(second.at("name") == "layer0.bias");
    CHECK(second.at("shape") == nlohmann::json({1, 8}));
    CHECK(second.at("offset") == 8);
    if (!is_svgd) {
      const nlohmann::json& rho = layout.at("blocks")[6];
      CHECK(rho.at("part") == "rho");
      CHECK(rho.at("name") == "layer1.weight");
      CHECK(rho.at("shape") == nlohmann::json({8, 1}));
      CHECK(rho.at("offset") == 25 + 16);
    }
  }
}

TEST_CASE("a checkpoint that does not fit the flow is refused, naming the file, and the flow is unchanged") {
  TempFolder tmp("mismatch");
  Drle setup;
  auto flow = setup.make();
  flow.run(10);
  const fs::path dir = tmp.path() / "ckpt";
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
    auto de = flows::deep_ensemble(setup.loss, normal_particles(32, 3, 3), {.eta = 0.01});
    CHECK_THROWS_WITH_AS(flows::load_checkpoint(de, dir),
                         contains(manifest + ": flow is \"DRLE\" but the flow's is \"DE\""), Error);
    auto svgd = flows::svgd(setup.loss, setup.prior, normal_particles(32, 3, 3), {.optimizer = flows::Sgd<double>{0.01}});
    CHECK_THROWS_WITH_AS(flows::load_checkpoint(svgd, dir),
                         contains(manifest + ": flow is \"DRLE\" but the flow's is \"SVGD\""), Error);
    CHECK(svgd.steps_taken() == 0);
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
  SUBCASE("particles of another layout: the same shape, other blocks") {
    auto other = setup.make();
    models::ParameterLayout blocks;
    blocks.add("a", Shape{1, 2});
    blocks.add("b", Shape{1, 1});
    other.set_layout(flows::ParticleLayout::of(blocks));
    CHECK_THROWS_WITH_AS(flows::load_checkpoint(other, dir),
                         contains(manifest + ": the saved particles' layout is not the flow's: 1 block against 2"),
                         Error);
    CHECK(other.steps_taken() == 0);
  }
  SUBCASE("a version-3 checkpoint (no layout) still loads; one of version 2 is refused by version") {
    std::ifstream in(dir / "manifest.json");
    nlohmann::json m = nlohmann::json::parse(in);
    in.close();
    // As version 3 wrote it: no "layout", its own checksum over the other fields.
    m.erase("layout");
    m.erase("fnv1a64");
    m["version"] = 3;
    m["fnv1a64"] = data::detail::fnv1a64(m.dump());
    write_text(dir / "manifest.json", m.dump(2));
    auto old = setup.make();
    CHECK_NOTHROW(flows::load_checkpoint(old, dir));
    CHECK(old.steps_taken() == 10);
    CHECK(old.particles() == flow.particles());
    m.erase("fnv1a64");
    m["version"] = 2;
    m["fnv1a64"] = data::detail::fnv1a64(m.dump());
    write_text(dir / "manifest.json", m.dump(2));
    auto older = setup.make();
    CHECK_THROWS_WITH_AS(flows::load_checkpoint(older, dir),
                         contains(manifest + " has format version 2; this build reads versions 3 to 4"), Error);
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
    CHECK_THROWS_WITH_AS(flows::load_checkpoint(other, tmp.path() / "nowhere"), doctest::Contains("no checkpoint at"),
                         Error);
  }
}

TEST_CASE("the manifest records what a reader needs: steps, seed, shapes, dtypes and the terms") {
  TempFolder tmp("manifest");
  Drle setup;
  auto flow = setup.make();
  flow.run(7);
  flows::save_checkpoint(flow, tmp.path() / "ckpt");
  std::ifstream in(tmp.path() / "ckpt" / "manifest.json");
  const nlohmann::json m = nlohmann::json::parse(in);
  CHECK(m.at("format") == "wgflow-checkpoint");
  CHECK(m.at("flow") == "DRLE");
  CHECK(m.at("steps") == 7);
  CHECK(m.at("seed") == 5);
  CHECK(m.at("terms").size() == 3);
  CHECK(m.at("arrays").at("particles").at("shape") == nlohmann::json({32, 3}));
  CHECK(m.at("arrays").at("particles").at("dtype") == "<f8");
  CHECK(m.at("arrays").at("term1.prior_samples").at("shape") == nlohmann::json({200, 3}));
  CHECK(fs::exists(tmp.path() / "ckpt" / "term1.bandwidth.npy"));
  CHECK(m.at("version") == 4);
  // An analytic potential's parameters have no names: one block "theta" of the row's length.
  CHECK(m.at("layout").at("row") == "[theta]");
  CHECK(m.at("layout").at("row_length") == 3);
  CHECK(m.at("layout").at("blocks") ==
        nlohmann::json::parse(R"([{"part": "theta", "name": "theta", "shape": [1, 3], "offset": 0, "size": 3, "role": "other"}])"));
}
