// Fuzzing the experiment programs as a careless or hostile user would: the real binaries run with random
// flag values (negative, zero, huge, nan, inf, garbage), random config files (random bytes, unknown keys,
// wrong types), --out folders that are a file, read-only, or under /proc, and a full file system (a tiny
// tmpfs when the test may mount one, else RLIMIT_FSIZE in the child). Every run must end either with exit
// 0 (uci_regression: or 3, some jobs failed) and a complete output folder (every expected file present
// and parseable, no temporary file left), or with exit 1 or 2 and exactly one line
// "<program>: error: ..." ending stderr; never a signal, never past the time limit. Seeded: the same
// cases every run (in the spirit of tests/data/test_loader_mutation.cpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/random.hpp"
#include "tests/experiments/program_runner.hpp"
#include "tests/data/data_fixture.hpp"

// A named namespace: with unity builds this file shares a translation unit with the other suites.
namespace program_fuzz {

namespace fs = std::filesystem;
using Args = std::vector<std::pair<std::string, std::string>>;  // flag, value ("" after a value-less flag: none)

struct Program {
  std::string name, binary;
  Args base;                                            // a tiny, fast run
  std::vector<std::string> flags;                       // options that take a value, to fuzz
  std::map<std::string, std::vector<std::string>> own;  // values worth trying for particular flags
  std::vector<std::string> csvs, files;                 // what a successful run leaves in --out
  std::vector<std::string> switches = {"--quick", "--resume"};  // value-less flags to add now and then
};

// Values a flag can be given: signs, zero, past 2^64, past double, special values, garbage.
const std::vector<std::string> values = {"-1", "0", "1", "2", "5", "-3", "18446744073709551616", "99999999999999999999",
                                         "1e308", "-1e308", "1e-300", "nan", "inf", "-inf", "abc", "", "3.5", "0x10",
                                         "1e3", " 1", "--", "0.5"};

// Values most flags take: runs that go on to write their files.
const std::vector<std::string> plausible = {"1", "2", "3", "5", "0.5", "0.1", "1e-3"};

std::string pick(const std::vector<std::string>& from, wgflow::Rng& rng) { return from[rng.below(from.size())]; }

std::string slurp(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A tmpfs of `size` mounted at `dir` (read-only if asked) for the life of the object, if this process may.
class TinyFs {
 public:
  TinyFs(const fs::path& dir, const std::string& size, bool read_only) : dir_(dir) {
    fs::create_directories(dir_);
    mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", read_only ? MS_RDONLY : 0, ("size=" + size).c_str()) == 0;
  }
  ~TinyFs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }

 private:
  fs::path dir_;
  bool mounted_ = false;
};

// A CSV is complete: a header and at least one row, every row as wide as the header.
void check_csv(const fs::path& file, const std::string& context) {
  INFO(context << "; file " << file);
  std::ifstream in(file);
  REQUIRE(in.good());
  std::string line;
  REQUIRE(std::getline(in, line));
  const auto width = std::count(line.begin(), line.end(), ',');
  std::size_t rows = 0;
  while (std::getline(in, line)) {
    CHECK(std::count(line.begin(), line.end(), ',') == width);
    ++rows;
  }
  CHECK(rows > 0);
}

void check_complete(const Program& p, const fs::path& out, const std::string& context) {
  INFO(context);
  for (const std::string& csv : p.csvs) check_csv(out / csv, context);
  for (const std::string& file : p.files) CHECK_MESSAGE(fs::exists(out / file), file);
  if (fs::exists(out / "meta.json")) CHECK(nlohmann::json::parse(slurp(out / "meta.json")).contains("results"));
  if (fs::exists(out / "jobs.jsonl")) {
    std::istringstream lines(slurp(out / "jobs.jsonl"));
    for (std::string line; std::getline(lines, line);) CHECK_MESSAGE(nlohmann::json::accept(line), line);
  }
  if (fs::exists(out / "splits.csv")) {  // a failed job shows as failed: NaN metrics, never 0
    std::istringstream lines(slurp(out / "splits.csv"));
    std::string line;
    std::getline(lines, line);
    while (std::getline(lines, line))
      if (line.find(",ok,") == std::string::npos) CHECK_MESSAGE(line.find(",nan,") != std::string::npos, line);
  }
  for (const auto& entry : fs::recursive_directory_iterator(out)) {
    const std::string name = entry.path().filename().string();
    const bool temporary = name.ends_with(".tmp") || name.ends_with(".part") || name.ends_with(".old");
    CHECK_MESSAGE(!temporary, "left behind: " << entry.path());
  }
}

// The one outcome allowed: see the top of the file.
void check_outcome(const Program& p, const wgtest::ProgramRun& r, const fs::path& out, const std::string& context,
                   bool help) {
  INFO(context << "\nstderr: " << r.err);
  CHECK_FALSE(r.timed_out);
  CHECK_FALSE(r.signaled);
  if (!r.exited) return;
  if (r.code == 0 || (r.code == 3 && p.name == "uci_regression")) {
    if (!help && !p.files.empty()) check_complete(p, out, context);
    return;
  }
  CHECK((r.code == 1 || r.code == 2));
  std::vector<std::string> lines;
  std::istringstream in(r.err);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  REQUIRE(!lines.empty());
  const std::string prefix = p.name + ": error: ";
  CHECK(lines.back().rfind(prefix, 0) == 0);
  CHECK(lines.back().find(p.name + ": ", prefix.size()) == std::string::npos);  // the program named once
  std::size_t errors = 0;
  for (const std::string& line : lines) errors += line.rfind(prefix, 0) == 0;
  CHECK(errors == 1);
}

std::vector<std::string> command_line(const Args& args) {
  std::vector<std::string> argv;
  for (const auto& [flag, value] : args) {
    argv.push_back(flag);
    if (!value.empty() || flag.rfind("--", 0) != 0) argv.push_back(value);
  }
  return argv;
}

// Runs `cases` random cases of `p`; returns how many ran, and reports how they ended.
std::size_t fuzz(const Program& p, std::size_t cases, std::uint64_t seed) {
  std::map<int, std::size_t> codes;  // exit code -> runs
  std::map<std::string, std::size_t> kinds;  // kind of case -> runs
  wgtest::TempFolder dir;
  wgflow::Rng rng(seed);
  const bool root = ::geteuid() == 0;
  // Mounted once for the whole program: a full one (refilled per case) and a read-only one.
  std::optional<TinyFs> full, read_only;
  if (root) {
    full.emplace(dir.path() / "full", "256k", false);
    read_only.emplace(dir.path() / "ro", "16k", true);
    if (!full->mounted() || !read_only->mounted()) MESSAGE("cannot mount a tmpfs: using RLIMIT_FSIZE and chmod instead");
  }
  std::size_t ran = 0;
  for (std::size_t c = 0; c < cases; ++c) {
    Args args = p.base;
    fs::path out = dir.path() / ("out" + std::to_string(c));
    std::optional<rlim_t> file_limit;
    std::string kind;
    const auto set = [&](const std::string& flag, const std::string& value) {
      for (auto& [f, v] : args)
        if (f == flag) return void(v = value);
      args.emplace_back(flag, value);
    };
    const std::size_t what = p.flags.empty() ? 0 : rng.below(10);
    if (what < 6) {  // flags: 1 to 3 replaced by random values, sometimes one that does not exist
      kind = "flags";
      for (std::size_t k = 0, n = 1 + rng.below(3); k < n && !p.flags.empty(); ++k) {
        const std::string flag = pick(p.flags, rng);
        const auto own = p.own.find(flag);
        const std::size_t source = rng.below(4);
        set(flag, own != p.own.end() && source == 0 ? pick(own->second, rng)
                  : source == 1                     ? pick(plausible, rng)
                                                    : pick(values, rng));
      }
      if (rng.below(8) == 0) args.emplace_back(pick({"--bogus", "-z", "--particle", "stray"}, rng), "");
      for (const std::string& flag : p.switches)  // value-less flags, now and then
        if (rng.below(6) == 0) set(flag, "");
    } else if (what == 6) {  // a config file
      const fs::path config = dir.path() / ("config" + std::to_string(c) + ".toml");
      std::string text;
      switch (rng.below(3)) {
        case 0:
          for (std::size_t k = 0, n = rng.below(200); k < n; ++k) text += static_cast<char>(rng.below(256));
          kind = "config of random bytes";
          break;
        case 1:
          text = pick({"partcles", "stepz", "eta_", "[section]\nx", "quick"}, rng) + "=" + pick(values, rng) + "\n";
          kind = "config with an unknown key";
          break;
        default:
          for (std::size_t k = 0, n = 1 + rng.below(3); k < n; ++k)
            text += pick(p.flags, rng).substr(2) + "=" + pick(values, rng) + "\n";
          kind = "config with random values";
      }
      wgtest::write_file(config, text);
      // The base flags stay on the command line (they override the file's lines): the run stays tiny.
      args.emplace_back("--config", config.string());
    } else if (what == 7) {  // an --out folder that cannot be one
      switch (rng.below(4)) {
        case 0:
          wgtest::write_file(out, "a file");
          kind = "--out an existing file";
          break;
        case 1:
          out = "/proc/wgflow-fuzz/out";
          kind = "--out under /proc";
          break;
        case 2:
          out = "/proc";
          kind = "--out /proc";
          break;
        default:
          if (read_only && read_only->mounted()) {
            out = dir.path() / "ro" / "out";
            kind = "--out on a read-only file system";
          } else {
            fs::create_directories(out);
            fs::permissions(out, fs::perms::owner_read | fs::perms::owner_exec);
            kind = root ? "--out a 0555 folder (root writes anyway)" : "--out a read-only folder";
          }
      }
    } else {  // a full file system
      if (full && full->mounted()) {
        for (const auto& e : fs::directory_iterator(dir.path() / "full")) fs::remove_all(e.path());
        const std::size_t fill = rng.below(256 * 1024);
        wgtest::write_file(dir.path() / "full" / "fill", std::string(fill, 'x'));
        out = dir.path() / "full" / "out";
        kind = "full file system (" + std::to_string(fill) + " of 256 KiB taken)";
      } else {
        file_limit = rng.below(64 * 1024);
        kind = "RLIMIT_FSIZE (" + std::to_string(*file_limit) + " bytes)";
      }
    }
    if (!p.files.empty()) set("--out", out.string());
    std::vector<std::string> argv = command_line(args);
    bool help = false;
    for (const std::string& a : argv) help = help || a == "--help" || a == "-h";
    std::string context = p.name + " case " + std::to_string(c) + " (" + kind + "):";
    for (const std::string& a : argv) context += " '" + a + "'";
    const auto r = wgtest::run_program(p.binary, argv, dir.path() / "stderr.txt", std::chrono::seconds(60), file_limit);
    check_outcome(p, r, out, context, help);
    ++codes[r.exited ? r.code : -1];
    ++kinds[kind.substr(0, kind.find(" ("))];
    if (fs::exists(out) && out.string().rfind("/proc", 0) != 0) {
      fs::permissions(out, fs::perms::owner_all, fs::perm_options::add);
      fs::remove_all(out);
    }
    ++ran;
  }
  std::string tally;
  for (const auto& [code, n] : codes) tally += " " + std::to_string(n) + " x exit " + std::to_string(code) + ";";
  tally += " by kind:";
  for (const auto& [kind, n] : kinds) tally += " " + kind + " " + std::to_string(n) + ";";
  MESSAGE(p.name << ": " << ran << " cases:" << tally);
  // Cases that only ever fail would test nothing but the parser.
  CHECK(codes[0] + codes[3] >= ran / 10);
  CHECK(codes[1] + codes[2] >= ran / 10);
  return ran;
}

const std::vector<std::string> common_flags = {"--seed", "--threads", "--checkpoint-every"};

std::vector<std::string> with_files(std::vector<std::string> files, const std::vector<std::string>& more) {
  files.insert(files.end(), more.begin(), more.end());
  return files;
}

std::vector<std::string> with_common(std::vector<std::string> flags) {
  flags.insert(flags.end(), common_flags.begin(), common_flags.end());
  return flags;
}

}  // namespace program_fuzz

using namespace program_fuzz;

TEST_CASE("program fuzz: the toy programs end in a complete output folder or one error line, never a signal") {
  const std::vector<std::string> toy_files = {"meta.json", "config.toml"};
  const std::vector<Program> programs = {
      {"optimal_q", WGFLOW_OPTIMAL_Q_BIN, {{"--quick", ""}, {"--particles", "20"}, {"--steps", "40"}},
       with_common({"--particles", "--eta", "--steps", "--lambda", "--lambda1", "--lambda2", "--bandwidth", "--prior-variance"}),
       {{"--steps", {"5", "1"}}, {"--checkpoint-every", {"7", "1"}}},
       {"particles.csv", "density.csv"}, with_files(toy_files, {"particles.layout.json"})},
      {"toy_gmm", WGFLOW_TOY_GMM_BIN, {{"--particles", "16"}, {"--steps", "20"}, {"--lambdas", "0.2"}, {"--prior-samples", "8"}},
       with_common({"--particles", "--eta", "--steps", "--lambdas", "--lambda1", "--lambda2", "--prior-samples", "--prior-variance"}),
       {{"--lambdas", {"0.2 0.3", "0.3,0.4"}}}, {"particles.csv"}, with_files(toy_files, {"particles.layout.json"})},
      {"sin_landscape", WGFLOW_SIN_LANDSCAPE_BIN, {{"--particles", "6"}, {"--steps", "30"}},
       with_common({"--particles", "--eta", "--steps", "--lambda", "--lambda1", "--lambda2", "--bandwidth", "--half-width"}),
       {{"--half-width", {"1e15", "1e16", "3"}}}, {"particles.csv"}, with_files(toy_files, {"particles.layout.json"})},
      {"regression_1d", WGFLOW_REGRESSION_1D_BIN,
       {{"--particles", "3"}, {"--points", "12"}, {"--hidden", "4"}, {"--steps", "10"}, {"--kernel-inputs", "3"}},
       with_common({"--particles", "--points", "--gaps", "--noise", "--frequency", "--hidden", "--eta", "--steps",
                    "--lambda", "--lambda1", "--kernel-inputs", "--vi-eta"}),
       {{"--gaps", {"-13 13", "1 0", "-8 -4 2", "0 1"}}}, {"data.csv", "predictions.csv"},
       with_files(toy_files, {"particles_DE.npy", "particles_DE.layout.json", "particles_MFVI.npy"})},
  };
  std::size_t total = 0;
  for (std::size_t k = 0; k < programs.size(); ++k) total += fuzz(programs[k], 40, 1000 + k);
  MESSAGE(total << " fuzzed runs of the four toy programs");
  CHECK(total == 4 * 40);
}

TEST_CASE("program fuzz: classification ends in a complete output folder or one error line, never a signal") {
  const Program classification{
      "classification", WGFLOW_CLASSIFICATION_BIN,
      {{"--particles", "3"}, {"--train", "20"}, {"--test", "20"}, {"--hidden", "4"}, {"--batch", "8"},
       {"--steps", "10"}, {"--grid", "5"}, {"--kernel-grid", "2"}},
      with_common({"--particles", "--train", "--test", "--noise", "--label-noise", "--hidden", "--batch", "--eta",
                   "--steps", "--lambda", "--lambda1", "--kernel-grid", "--svgd-eta", "--eps", "--grid", "--extent",
                   "--near", "--far"}),
      {{"--eps", {"0.999", "1", "0"}}, {"--label-noise", {"0.5", "0.51"}}, {"--near", {"1", "2"}}},
      {"data.csv", "entropy.csv", "metrics.csv"},
      {"meta.json", "config.toml", "particles_DE.npy", "particles_DE_robust.npy", "particles_DE_robust.layout.json"}};
  CHECK(fuzz(classification, 40, 3000) == 40);
}

TEST_CASE("program fuzz: uci_regression on a synthetic benchmark") {
  wgtest::TempFolder data_dir;
  std::filesystem::create_directories(data_dir.path() / "synthetic");
  wgtest::Synthetic::write(data_dir.path() / "synthetic");
  const Program uci{
      "uci_regression", WGFLOW_UCI_REGRESSION_BIN,
      {{"--data", data_dir.path().string()}, {"--datasets", "synthetic"}, {"--methods", "DE,SVGD"}, {"--epochs", "2"},
       {"--batch-size", "4"}, {"--threads", "1"}},
      with_common({"--splits", "--particles", "--batch-size", "--epochs", "--init", "--init-weight-var",
                   "--init-bias-var", "--de-eta", "--dle-eta", "--dle-lambda", "--drle-eta", "--drle-lambda1",
                   "--drle-lambda2", "--drle-prior-samples", "--svgd-lr", "--svgd-lambda", "--mfvi-lr", "--mfvi-lambda",
                   "--mfvi-initial-sd", "--mfvi-draws", "--max-halvings", "--methods", "--datasets"}),
      {{"--init", {"kaiming_fan_out", "torch_default", "xavier"}},
       {"--methods", {"DE,DLE,DRLE,SVGD,MFVI", "MFVI", "de,DE", "DE,,DLE", "XX"}},
       {"--datasets", {"synthetic,synthetic", "yacht", "synthetic,", "../synthetic"}},
       {"--de-eta", {"1e6", "1e300"}},
       {"--drle-prior-samples", {"3"}}},
      {"splits.csv", "summary.csv"},
      {"meta.json", "config.toml", "table.md", "jobs.jsonl"},
      {"--quick", "--resume", "--full"}};
  const std::size_t total = fuzz(uci, 60, 2000);
  MESSAGE(total << " fuzzed runs of uci_regression");
  CHECK(total == 60);
}

TEST_CASE("program fuzz: the examples take --help and refuse other flags") {
  for (const auto& [name, binary] : std::vector<std::pair<std::string, std::string>>{
           {"example_gradient", WGFLOW_EXAMPLE_GRADIENT_BIN}, {"example_custom_term", WGFLOW_EXAMPLE_CUSTOM_TERM_BIN}}) {
    const Program p{name, binary, {}, {}, {}, {}, {}, {}};
    wgtest::TempFolder dir;
    for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{{"--help"}, {"--bogus"}, {"x"}, {"--help", "--help"}}) {
      const auto r = wgtest::run_program(binary, argv, dir.path() / "stderr.txt", std::chrono::seconds(60));
      check_outcome(p, r, dir.path(), name + " " + argv[0], argv == std::vector<std::string>{"--help"});
      if (argv == std::vector<std::string>{"--help"}) CHECK(r.code == 0);
      else CHECK(r.code == 2);
    }
    // Their report is their output: lost on stdout (a full disk behind `>`, a closed pipe), it is a run error.
    for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{{}, {"--help"}}) {
      const auto r = wgtest::run_program(binary, argv, dir.path() / "stderr.txt", std::chrono::seconds(60), std::nullopt,
                                         wgtest::Stdout::reader_gone);
      CAPTURE(name);
      CAPTURE(r.err);
      CHECK(r.exited);
      CHECK(r.code == 1);
      CHECK(r.err == name + ": error: standard output: Broken pipe; what the program printed there is incomplete\n");
    }
  }
}
