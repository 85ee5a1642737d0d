// What a checkpoint save may replace and what it survives (data/checkpoint_folder.hpp): a save that dies
// midway leaves the previous checkpoint loadable, one that dies between its two renames falls back to the
// old folder, a file or folder of the user's at its names is refused and left as it was, and a name the
// system cannot look at is a wgflow::Error.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <stdexcept>
#include <string>

#include "flows/checkpoint.hpp"
#include "tests/flows/checkpoint_fixture.hpp"
#include "tests/support/temp_folder.hpp"

using namespace wgflow;
using wgtest::contains;
using wgtest::Drle;
using wgtest::Neighbours;
using wgtest::TempFolder;
using wgtest::write_text;
namespace fs = std::filesystem;

TEST_CASE("a save that dies after its first file leaves the previous checkpoint loadable and intact (DRLE, SVGD, MFVI)") {
  TempFolder tmp("crash");
  Drle drle;
  Neighbours neighbours;
  const std::function<flows::ParticleFlow<double>()> makers[] = {
      [&] { return drle.make(); }, [&] { return neighbours.svgd(); }, [&] { return neighbours.mfvi(); }};
  for (const auto& make : makers) {
    auto flow = make();
    CAPTURE(flow.name());
    flow.run(20);
    const fs::path dir = tmp.path() / "ckpt";
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
    CHECK(fs::exists(tmp.path() / "ckpt.tmp"));  // the unfinished new checkpoint, as a crash would leave it

    auto restored = make();
    flows::load_checkpoint(restored, dir);
    CHECK(restored.steps_taken() == 20);
    CHECK(restored.particles() == saved);

    // The next save discards the debris and replaces the checkpoint.
    flows::save_checkpoint(flow, dir);
    CHECK_FALSE(fs::exists(tmp.path() / "ckpt.tmp"));
    flows::load_checkpoint(restored, dir);
    CHECK(restored.steps_taken() == 30);
    CHECK(restored.particles() == flow.particles());
    // ... and the restored flow goes on as the saved one does.
    flow.run(5);
    restored.run(5);
    CHECK(restored.particles() == flow.particles());
  }
}

TEST_CASE("a save that dies between moving the old folder away and moving the new one in falls back to the old") {
  TempFolder tmp("crash-rename");
  Drle setup;
  auto flow = setup.make();
  flow.run(10);
  const fs::path dir = tmp.path() / "ckpt";
  flows::save_checkpoint(flow, dir);
  fs::rename(dir, tmp.path() / "ckpt.old");  // what the fallback publish leaves after its first rename

  auto restored = setup.make();
  flows::load_checkpoint(restored, dir);
  CHECK(restored.steps_taken() == 10);
  CHECK(restored.particles() == flow.particles());
}

TEST_CASE("a save deletes nothing but a checkpoint: a file or folder of the user's at its names is refused") {
  TempFolder tmp("not-ours");
  Drle setup;
  auto flow = setup.make();
  flow.run(3);
  const auto refused = [&](const fs::path& dir, const std::string& why) {
    CHECK_THROWS_WITH_AS(flows::save_checkpoint(flow, dir),
                         contains("refusing to replace " + why + ", which is not a checkpoint folder"), Error);
  };
  const auto text_of = [](const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  SUBCASE("a file at the name (once replaced by the checkpoint folder, the file deleted)") {
    write_text(tmp.path() / "results", "precious");
    refused(tmp.path() / "results", (tmp.path() / "results").string());
    CHECK(text_of(tmp.path() / "results") == "precious");
    CHECK(!fs::exists(tmp.path() / "results.tmp"));
  }
  SUBCASE("a folder with a file a checkpoint does not hold (once deleted with it)") {
    fs::create_directories(tmp.path() / "project");
    write_text(tmp.path() / "project" / "notes.txt", "precious");
    refused(tmp.path() / "project", (tmp.path() / "project").string());
    CHECK(text_of(tmp.path() / "project" / "notes.txt") == "precious");
    fs::create_directories(tmp.path() / "arrays");  // .npy files alone, as a save writes, but no manifest
    write_text(tmp.path() / "arrays" / "data.npy", "precious");
    CHECK_THROWS_WITH_AS(flows::save_checkpoint(flow, tmp.path() / "arrays"),
                         contains("(it has no wgflow manifest.json)"), Error);
    CHECK(text_of(tmp.path() / "arrays" / "data.npy") == "precious");
  }
  SUBCASE("the staging and fallback names: a file at <dir>.tmp, a folder of the user's at <dir>.old") {
    write_text(tmp.path() / "ckpt.tmp", "precious");
    refused(tmp.path() / "ckpt", (tmp.path() / "ckpt.tmp").string());
    CHECK(text_of(tmp.path() / "ckpt.tmp") == "precious");
    fs::remove(tmp.path() / "ckpt.tmp");
    fs::create_directories(tmp.path() / "ckpt.old" / "sub");
    refused(tmp.path() / "ckpt", (tmp.path() / "ckpt.old").string());
    CHECK(fs::is_directory(tmp.path() / "ckpt.old" / "sub"));
  }
  SUBCASE("what a save may replace: nothing, an empty folder, a checkpoint, the debris of an interrupted save") {
    fs::create_directories(tmp.path() / "empty");
    flows::save_checkpoint(flow, tmp.path() / "empty");
    flows::save_checkpoint(flow, tmp.path() / "empty");  // over the checkpoint it wrote
    fs::create_directories(tmp.path() / "empty.tmp");
    write_text(tmp.path() / "empty.tmp" / "particles.npy.part", "half a file");
    flows::save_checkpoint(flow, tmp.path() / "empty");
    CHECK(!fs::exists(tmp.path() / "empty.tmp"));
    auto resumed = setup.make();
    flows::load_checkpoint(resumed, tmp.path() / "empty");
    CHECK(resumed.particles() == flow.particles());
  }
}

TEST_CASE("a checkpoint name the system cannot look at is a wgflow::Error naming it, not a std::filesystem error") {
  TempFolder tmp("unreachable");
  Drle setup;
  auto flow = setup.make();
  const fs::path dir = tmp.path() / std::string(300, 'x');  // longer than a file name may be (ENAMETOOLONG)
  CHECK_THROWS_WITH_AS(flows::load_checkpoint(flow, dir), contains("checkpoint: cannot look for " + dir.string()), Error);
  CHECK_THROWS_WITH_AS(flows::save_checkpoint(flow, dir), contains("checkpoint: cannot create " + dir.string()), Error);
  CHECK(fs::is_empty(tmp.path()));
}
