// The toy-figure programs (paper §3) run end to end in a tiny configuration: exit status, the CSV headers
// and row counts the plot scripts rely on, the particles' layout beside them, meta.json's results,
// --quick's defaults giving way to explicit flags, and the same numbers for any thread count. Where a tiny run already shows the figure's point
// robustly, that is checked too.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/experiments/program_runner.hpp"

namespace fs = std::filesystem;
using wgtest::TempFolder;

namespace {

int run(const std::string& binary, const std::string& args, const fs::path& out, int threads = 1) {
  const std::string command =
      binary + " --threads " + std::to_string(threads) + " --out " + out.string() + " " + args + " 2>/dev/null";
  INFO("command: " << command);
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;  // the exit code; -1 for a signal
}

// The header line and the number of data rows.
std::pair<std::string, std::size_t> csv_shape(const fs::path& file) {
  std::ifstream in(file);
  REQUIRE_MESSAGE(in, "missing " << file);
  std::string header, line;
  std::getline(in, header);
  std::size_t rows = 0;
  while (std::getline(in, line)) rows += !line.empty();
  return {header, rows};
}

nlohmann::json meta(const fs::path& out) {
  std::ifstream in(out / "meta.json");
  REQUIRE_MESSAGE(in, "missing " << out / "meta.json");
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("optimal_q: particles, densities and KS distances") {
  TempFolder out("optimal_q");
  REQUIRE(run(WGFLOW_OPTIMAL_Q_BIN, "--particles 60 --steps 300 --eta 1e-2", out.path()) == 0);
  CHECK(csv_shape(out.path() / "particles.csv") == std::pair<std::string, std::size_t>{"method,particle,theta", 3 * 60});
  // Beside the particles, what their columns hold: one unnamed coordinate per particle.
  std::ifstream layout_file(out.path() / "particles.layout.json");
  REQUIRE(layout_file);
  const auto layout = nlohmann::json::parse(layout_file);
  CHECK(layout["file"] == "particles.csv");
  CHECK(layout["key_columns"] == nlohmann::json({"method", "particle"}));
  CHECK(layout["value_columns"] == nlohmann::json({"theta"}));
  CHECK(layout["row"] == "[theta]");
  CHECK(layout["blocks"][0]["shape"] == nlohmann::json({1, 1}));
  const auto [header, rows] = csv_shape(out.path() / "density.csv");
  CHECK(header == "theta,q_dle,q_drle");
  CHECK(rows == 1601);
  const auto r = meta(out.path())["results"];
  for (const char* key : {"ks_dle", "ks_drle", "ks_de_vs_dle_q", "ks_critical_95", "de_fraction_at_minima"})
    CHECK_MESSAGE(r.contains(key), key);
  // t = 3: DLE is near q* while DE, piled on the minima, is far from it (KS ~0.4 for any N).
  CHECK(r["ks_dle"].get<double>() < r["ks_de_vs_dle_q"].get<double>());
}

TEST_CASE("--quick replaces the paper's defaults, but not explicit flags, and meta.json records what ran") {
  TempFolder out("quick");
  REQUIRE(run(WGFLOW_OPTIMAL_Q_BIN, "--quick --particles 10 --steps 5", out.path(), /*threads=*/0) == 0);
  const auto m = meta(out.path());
  const auto s = m["settings"];
  // The values in force, typed: numbers as JSON numbers, flags as booleans.
  CHECK(s["eta"] == 0.002);  // the quick value
  CHECK(s["steps"] == 5);    // the explicit flag
  CHECK(s["particles"] == 10);
  CHECK(s["quick"] == true);
  CHECK(s["resume"] == false);
  // --threads 0 means "all cores": meta.json holds the count the program chose.
  CHECK(s["threads"].is_number_unsigned());
  CHECK(s["threads"].get<int>() >= 1);
  CHECK(s["threads"] == m["threads"]);
  std::ifstream config(out.path() / "config.toml");
  const std::string text((std::istreambuf_iterator<char>(config)), std::istreambuf_iterator<char>());
  CHECK(text.find("eta=0.002") != std::string::npos);
}

TEST_CASE("a bad flag is an error, --help is not") {
  TempFolder out("flags");
  CHECK(run(WGFLOW_OPTIMAL_Q_BIN, "--no-such-flag", out.path()) != 0);
  CHECK(run(WGFLOW_OPTIMAL_Q_BIN, "--help >/dev/null", out.path()) == 0);
}

TEST_CASE("toy_gmm: one panel per setting; DE sits on the centres, DLE spreads") {
  TempFolder out("toy_gmm");
  REQUIRE(run(WGFLOW_TOY_GMM_BIN, "--particles 40 --steps 300 --lambdas 0.2 0.4 --prior-samples 20", out.path()) == 0);
  CHECK(csv_shape(out.path() / "particles.csv") == std::pair<std::string, std::size_t>{"setting,particle,x,y", 4 * 40});
  const auto r = meta(out.path())["results"];
  const auto msd = [&](const char* setting) { return r[setting]["mean_squared_distance_to_centre"].get<double>(); };
  // t = 3 at rate 1: DE is within e^-3 of a centre; DLE's spread is ~2 lambda (0.4 and 0.8) but from 40
  // particles only, so only the order is checked.
  CHECK(msd("DE") < 0.1);
  CHECK(msd("DLE lambda=0.2") > msd("DE"));
  CHECK(msd("DLE lambda=0.4") > msd("DLE lambda=0.2"));
  CHECK(r.contains("DRLE"));
}

TEST_CASE("toy_gmm: the same seed gives the same particles on 1 and 2 threads") {
  TempFolder one("gmm_threads1"), two("gmm_threads2");
  const std::string args = "--particles 64 --steps 50 --lambdas 0.3 --prior-samples 30 --seed 5";
  REQUIRE(run(WGFLOW_TOY_GMM_BIN, args, one.path(), 1) == 0);
  REQUIRE(run(WGFLOW_TOY_GMM_BIN, args, two.path(), 2) == 0);
  std::ifstream a(one.path() / "particles.csv"), b(two.path() / "particles.csv");
  const std::string text_a((std::istreambuf_iterator<char>(a)), std::istreambuf_iterator<char>());
  const std::string text_b((std::istreambuf_iterator<char>(b)), std::istreambuf_iterator<char>());
  CHECK(!text_a.empty());
  CHECK(text_a == text_b);
}

TEST_CASE("sin_landscape: both starts, three methods; DRLE stays apart from a crowded start") {
  TempFolder out("sin");
  REQUIRE(run(WGFLOW_SIN_LANDSCAPE_BIN, "", out.path()) == 0);  // the paper's settings take 0.1 s
  CHECK(csv_shape(out.path() / "particles.csv") ==
        std::pair<std::string, std::size_t>{"start,method,particle,theta,theta_mod_pi", 2 * 3 * 20});
  const auto r = meta(out.path())["results"];
  for (const char* start : {"paper", "crowded"})
    for (const char* method : {"DE", "DLE", "DRLE"}) CHECK(r[start][method].contains("sd_mod_pi"));
  // From the crowded start the repulsion is what separates DRLE from DE, which collapses onto pi/2.
  CHECK(r["crowded"]["DRLE"]["sd_mod_pi"].get<double>() > 10 * r["crowded"]["DE"]["sd_mod_pi"].get<double>());
}

TEST_CASE("sin_landscape --quick: the same time horizon in 200 larger steps, the same qualitative result") {
  TempFolder out("sin_quick");
  REQUIRE(run(WGFLOW_SIN_LANDSCAPE_BIN, "--quick", out.path()) == 0);
  const auto m = meta(out.path());
  CHECK(m["settings"]["steps"] == 200);
  CHECK(m["settings"]["eta"] == 0.05);
  const auto r = m["results"];
  // What scripts/report.py checks: DE stays in the basin each particle started in, DRLE stays apart.
  CHECK(r["paper"]["DE"]["distinct_minima"] == 20);
  CHECK(r["paper"]["DE"]["sd_mod_pi"].get<double>() < 1e-3);
  const double drle = r["crowded"]["DRLE"]["sd_mod_pi"].get<double>();
  CHECK(drle > 5 * r["crowded"]["DLE"]["sd_mod_pi"].get<double>());
  CHECK(drle > 5 * r["crowded"]["DE"]["sd_mod_pi"].get<double>());
}

TEST_CASE("regression_1d: data, and a band per method on the grid") {
  TempFolder out("regression");
  REQUIRE(run(WGFLOW_REGRESSION_1D_BIN, "--particles 4 --points 20 --hidden 8 --steps 20 --kernel-inputs 5", out.path()) == 0);
  CHECK(csv_shape(out.path() / "data.csv") == std::pair<std::string, std::size_t>{"x,y", 20});
  CHECK(csv_shape(out.path() / "predictions.csv") ==
        std::pair<std::string, std::size_t>{"method,x,mean,sd,in_gap", 5 * 241});
  const auto r = meta(out.path())["results"];
  for (const char* method : {"DE", "DLE", "DRLE", "SVGD", "MFVI"}) {
    CHECK(r[method].contains("sd_in_gaps"));
    CHECK(r[method]["sd_on_data"].get<double>() > 0);
  }
}

namespace {

std::string file_text(const fs::path& file) {
  std::ifstream in(file);
  REQUIRE_MESSAGE(in, "missing " << file);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("--checkpoint-every and --resume: a run stopped at step 20 and resumed to 40 is the 40-step run, bit for bit") {
  TempFolder whole("resume_whole"), part("resume_part");
  const std::string args = "--particles 30 --eta 1e-2 --seed 3";
  REQUIRE(run(WGFLOW_OPTIMAL_Q_BIN, args + " --steps 40 --checkpoint-every 10", whole.path()) == 0);
  REQUIRE(run(WGFLOW_OPTIMAL_Q_BIN, args + " --steps 20 --checkpoint-every 10", part.path()) == 0);
  for (const char* flow : {"DE", "DLE", "DRLE"}) CHECK(fs::exists(part.path() / "checkpoints" / flow / "manifest.json"));
  const std::string at_20 = file_text(part.path() / "particles.csv");
  // Settings that shape the result must match the saved run's: another seed (which would draw other
  // particles) or prior is refused, naming the setting and both values, and the checkpoints stay as they were.
  CHECK(run(WGFLOW_OPTIMAL_Q_BIN, "--particles 30 --eta 1e-2 --seed 99 --steps 40 --resume", part.path()) == 2);
  const auto refused = wgtest::run_program(WGFLOW_OPTIMAL_Q_BIN,
                                           {"--particles", "30", "--eta", "1e-2", "--seed", "3", "--prior-variance", "2",
                                            "--steps", "40", "--resume", "--out", part.path().string()},
                                           part.path().parent_path() / "refused.txt", std::chrono::seconds(60));
  CHECK(refused.code == 2);
  CHECK_MESSAGE(refused.err.find("--prior-variance 1.0, this run has 2.0") != std::string::npos, refused.err);
  REQUIRE(run(WGFLOW_OPTIMAL_Q_BIN, args + " --steps 40 --resume", part.path()) == 0);
  const std::string resumed = file_text(part.path() / "particles.csv");
  CHECK(resumed != at_20);
  CHECK(resumed == file_text(whole.path() / "particles.csv"));
  // Without --checkpoint-every the resumed run saved nothing: the checkpoints still hold step 20, and asking
  // for fewer steps than that is an error, not a silent restart.
  CHECK(run(WGFLOW_OPTIMAL_Q_BIN, args + " --steps 10 --resume", part.path()) != 0);
}

TEST_CASE("--resume is exact for every toy program: tags with spaces, median bandwidths, SVGD and mean-field VI") {
  struct Case {
    const char* binary;
    std::string args;
    const char* result;
  };
  const std::vector<Case> cases{
      {WGFLOW_TOY_GMM_BIN, "--particles 32 --lambdas 0.3 --prior-samples 20", "particles.csv"},
      {WGFLOW_SIN_LANDSCAPE_BIN, "--particles 8", "particles.csv"},
      {WGFLOW_REGRESSION_1D_BIN, "--particles 4 --points 20 --hidden 8 --kernel-inputs 5", "predictions.csv"}};
  for (const Case& c : cases) {
    INFO(c.binary);
    TempFolder whole("resume_all_whole"), part("resume_all_part");
    REQUIRE(run(c.binary, c.args + " --steps 24", whole.path()) == 0);
    REQUIRE(run(c.binary, c.args + " --steps 11 --checkpoint-every 5", part.path()) == 0);  // saved at 5, 10, 11
    REQUIRE(run(c.binary, c.args + " --steps 24 --resume", part.path()) == 0);
    CHECK(file_text(part.path() / c.result) == file_text(whole.path() / c.result));
  }
}
