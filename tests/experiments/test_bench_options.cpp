// The benchmark programs' shared command line and JSON output (bench/bench_common.hpp): flags refused with
// a message naming them, a --json file in a missing folder refused before anything is measured, and each
// figure appended to the JSON file whole or not at all.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_common.hpp"
#include "tests/data/data_fixture.hpp"
#include "tests/experiments/program_runner.hpp"

namespace bench_options {

namespace fs = std::filesystem;
namespace wb = wgflow::bench;

// Parses `args` (after the program name) as a benchmark program does; returns the UsageError's message,
// or "" on success.
std::string parse_bench(wb::Options& o, std::vector<std::string> args, std::vector<std::size_t>* particles = nullptr) {
  CLI::App app("bench");
  wb::add_options(app, o);
  if (particles) app.add_option("--particles", *particles)->delimiter(',')->check(wgflow::experiments::count(1, 1000));
  args.insert(args.begin(), "bench");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  bool go_on = false;
  try {
    go_on = wb::parse(app, static_cast<int>(argv.size()), argv.data(), o);
  } catch (const wb::UsageError& e) {
    return e.what();
  }
  CHECK(go_on);  // no --help here
  return "";
}

std::string jsonl_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace bench_options

using namespace bench_options;

TEST_CASE("bench options: the shared flags are parsed strictly, and --dtype picks the types") {
  wb::Options o;
  std::vector<std::size_t> particles{5};
  CHECK(parse_bench(o, {"--threads", "3", "--min-time", "0.25", "--min-runs", "7", "--only", "flow_step/DE", "--dtype",
                  "float64", "--particles", "100,1000"},
              &particles)
            .empty());
  CHECK(o.threads == 3);
  CHECK(o.min_time == 0.25);
  CHECK(o.min_runs == 7);
  CHECK(o.wants("flow_step/DE"));
  CHECK_FALSE(o.wants("flow_step/DRLE"));
  CHECK_FALSE(o.float32());
  CHECK(o.float64());
  CHECK(particles == std::vector<std::size_t>{100, 1000});

  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"--threads", "0"}, "--threads: must be a whole number from 1"},
      {{"--threads", "two"}, "--threads: must be a whole number from 1"},
      {{"--min-time", "nan"}, "--min-time: must be a finite number in (0"},
      {{"--min-time", "0"}, "--min-time: must be a finite number in (0"},
      {{"--min-runs", "-1"}, "--min-runs: must be a whole number from 1"},
      {{"--dtype", "half"}, "--dtype: half not in {float32,float64,both}"},
      {{"--particles", "100,x"}, "--particles: must be a whole number from 1 to 1000, got 'x'"},
      {{"--particles", "0"}, "--particles: must be a whole number from 1 to 1000, got '0'"},
      {{"--only", "a", "--only", "b"}, "--only is given 2 times"},
      {{"--particle", "5"}, "--particle"},
  };
  for (const auto& [args, message] : bad) {
    wb::Options fresh;
    const std::string what = parse_bench(fresh, args, &particles);
    INFO(args[0], " ", args[1], ": ", what);
    CHECK(what.find(message) != std::string::npos);
  }
}

TEST_CASE("bench options: a --json file in a missing folder, or a folder, is refused before any figure") {
  wgtest::TempFolder dir;
  wb::Options o;
  const std::string missing = (dir.path() / "absent" / "r.jsonl").string();
  CHECK(parse_bench(o, {"--json", missing}) ==
        "--json " + missing + ": the folder " + (dir.path() / "absent").string() + " does not exist");
  wb::Options o2;
  CHECK(parse_bench(o2, {"--json", dir.path().string()}) == "--json " + dir.path().string() + " is a folder, not a file");
  wb::Options o3;
  CHECK(parse_bench(o3, {"--json", (dir.path() / "r.jsonl").string()}).empty());
  CHECK_FALSE(fs::exists(dir.path() / "r.jsonl"));  // nothing written until a figure is
}

TEST_CASE("bench JSON: a record is one valid JSON line, its keys in order, its strings escaped") {
  const wb::Timing t{.median_s = 2.5e-4, .min_s = 2e-4, .runs = 12};
  const std::string line = wb::timing_record("flow_step/DE", 100, "float32", t).set("cpu", "A \"quoted\"\\CPU").str();
  CHECK(line.find('\n') == std::string::npos);
  const auto j = nlohmann::ordered_json::parse(line);
  std::vector<std::string> keys;
  for (const auto& item : j.items()) keys.push_back(item.key());
  CHECK(keys == std::vector<std::string>{"workload", "particles", "dtype", "median_s", "min_s", "runs", "steps_per_s",
                                         "cpu"});
  CHECK(j["particles"].is_number_integer());
  CHECK(j["particles"] == 100);
  CHECK(j["median_s"] == 2.5e-4);
  CHECK(j["steps_per_s"] == 1 / 2.5e-4);
  CHECK(j["cpu"] == "A \"quoted\"\\CPU");
}

TEST_CASE("bench JSON: append_line keeps the lines before it, and a failed append leaves the file as it was") {
  wgtest::TempFolder dir;
  const fs::path file = dir.path() / "results.jsonl";
  wb::append_line(file, "{\"a\":1}");
  CHECK(jsonl_text(file) == "{\"a\":1}\n");
  {
    std::ofstream torch(file, std::ios::app);  // a peer's line, written without its final newline
    torch << "{\"b\":2}";
  }
  wb::append_line(file, "{\"c\":3}");
  CHECK(jsonl_text(file) == "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");

  // A file size limit below the new text: the append fails with EFBIG and names the file; the file keeps
  // its three lines and no temporary file is left.
  CHECK(wgtest::exit_code_under_file_limit(40, [&] {
          try {
            wb::append_line(file, "{\"d\":\"" + std::string(100, 'x') + "\"}");
          } catch (const wgflow::experiments::IoError& e) {
            return std::string(e.what()).find("results.jsonl: File too large") != std::string::npos ? 0 : 2;
          }
          return 1;
        }) == 0);
  CHECK(jsonl_text(file) == "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  CHECK(entries == 1);
}
