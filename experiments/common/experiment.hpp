#pragma once
// What every experiment program shares: a command line (CLI11) with the paper's settings as defaults,
// overridable by flags or a TOML/INI config file; an output folder; and meta.json recording the
// settings, seed, git revision, machine and wall time next to the results.
//
//   int main(int argc, char** argv) {
//     return wgflow::experiments::run_main("optimal_q", [&] {
//       wgflow::experiments::Experiment ex("optimal_q", "DE, DLE and DRLE on the 1-D double well");
//       std::size_t particles = 300;
//       ex.option("--particles", particles, "number of particles N")->check(count(1, 1000000));
//       ex.option("--steps", steps, "iterations", std::uint64_t{10000});  // the last value: --quick's default
//       ex.outputs({{"particles.csv", "method, particle, theta: the final particles"}});  // for --help
//       if (int rc = ex.parse(argc, argv); rc >= 0) return rc;   // after --help; a bad flag throws UsageError
//       ... run, writing ex.path("particles.csv") through CsvWriter or write_file_atomically ...
//       ex.finish({{"ks_dle", ks}});                               // writes meta.json
//       return exit_ok;
//     });
//   }
//
// --quick has one meaning in every program (quick_help below): a smoke-size run of the same pipeline. A
// program marks what it shrinks by giving option() a fourth argument, the quick value, shown in --help as
// "(--quick: V)". meta.json records every setting as the value in force, typed (numbers as numbers): after
// --quick, the config file and whatever the program chose for a placeholder (--threads 0: the thread
// count; a program states its own choices with in_force()).
//
// --help ends with the files the program writes (outputs(), declared once per program; config.toml,
// meta.json and checkpoints/ are added here) and the exit codes.
//
// Every flag is validated where it is declared (experiments/common/validators.hpp); a --config file is
// read strictly (an unknown key, a line that does not parse or a value of the wrong type is refused,
// naming the file and line: experiments/common/command_line.hpp). Every file is written atomically and
// checked (experiments/common/atomic_file.hpp), so a run that exits 0 left complete files. Exit codes
// (experiments/common/run_main.hpp, and every program's --help): 0 success, 1 run error (divergence, I/O
// failure, bad data), 2 usage error (bad flag, config or --out folder), 3 some jobs failed
// (uci_regression).
//
// Every program also takes --checkpoint-every N (0, the default: off), which saves each flow's state every
// N steps into <out>/checkpoints/<flow>/, and --resume, which continues each flow from its checkpoint there
// (if any) up to --steps, bit-identically to an uninterrupted run. Both act in programs that run their
// flows through experiments/common/checkpointing.hpp (the toy figures and classification).
// uci_regression, whose jobs last seconds, journals finished jobs instead (no_checkpoints(): --resume
// skips them, --checkpoint-every is refused and not listed in --help).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <tbb/global_control.h>

#include "atomic_file.hpp"
#include "command_line.hpp"
#include "machine.hpp"
#include "ranks.hpp"
#include "run_main.hpp"
#include "validators.hpp"

namespace wgflow::experiments {

// The one meaning of --quick, in every program's help (and the README's).
inline const char* quick_help =
    "smoke-size run of the same pipeline, finishing in seconds: each setting marked (--quick: V) takes V "
    "unless given; every output is still written, and meta.json records the values used";

// The source revision of this build (experiments/common/revision.cpp.in; linked into every program).
const char* git_revision();

class Experiment {
 public:
  Experiment(std::string name, std::string description);
  ~Experiment();

  template <class V>
  CLI::Option* option(const std::string& flag, V& value, const std::string& help) {
    record(flag, value);
    return app_.add_option(flag, value, help);
  }
  // An option whose default is the paper's setting and which --quick replaces by `quick_value` unless the
  // flag is given. meta.json and config.toml record the value actually used.
  template <class V>
  CLI::Option* option(const std::string& flag, V& value, const std::string& help, V quick_value) {
    record(flag, value);
    CLI::Option* opt = app_.add_option(flag, value, help + " (--quick: " + CLI::detail::to_string(quick_value) + ")");
    quick_values_.push_back([opt, &value, quick_value] {
      if (opt->count() != 0) return;
      value = quick_value;
      opt->default_str(CLI::detail::to_string(quick_value));
    });
    return opt;
  }
  template <class V>
  CLI::Option* flag(const std::string& flag, V& value, const std::string& help) {
    record(flag, value);
    return app_.add_flag(flag, value, help);
  }
  // The files the program writes into --out, each with what it holds, for the help's "Outputs" section
  // (config.toml, meta.json and, unless no_checkpoints(), checkpoints/ are added). A name may hold a
  // placeholder in angle brackets: "particles_<method>.npy".
  void outputs(std::vector<std::pair<std::string, std::string>> files);
  // An exit code of the program's own, after the common ones (e.g. "3 some jobs failed: ...").
  void add_exit_code(std::string text);
  // For a program that does not checkpoint flows: --checkpoint-every is left out of --help and refused
  // with `why()` (called after parsing, so it may name files in --out).
  void no_checkpoints(std::function<std::string()> why);
  // Records `value` as `flag`'s value in meta.json where the program chose it (a placeholder such as 0 for
  // "all", or a name it resolved): meta.json holds the values in force, not the flags as typed.
  void in_force(const std::string& flag, nlohmann::json value) { in_force_[flag] = std::move(value); }

  // Declares that `flag` (say --steps) does not shape the result a checkpoint holds, so --resume may
  // change it; every other option declared through option() or flag(), and the seed, must match.
  void resume_may_change(const std::string& flag) { resume_free_.push_back(flag); }

  // The settings that shape the result, as values (after --quick and the config file): the seed and
  // every option declared through option() or flag() but those of resume_may_change(). Stored beside
  // checkpoints and compared on --resume (experiments/common/checkpointing.hpp).
  nlohmann::json result_settings() const;
  CLI::App& cli() { return app_; }
  // `check()` runs after the flags are parsed and --quick applied, before the --out folder is created:
  // the place for checks across flags, which throw UsageError.
  void on_parsed(std::function<void()> check) { on_parsed_.push_back(std::move(check)); }

  // Parses the command line and prepares the run: the output folder, config.toml. Returns -1 to go on,
  // or 0 after --help; throws UsageError (exit 2) for a bad flag or config file, or an --out folder that
  // cannot be created or written.
  int parse(int argc, char** argv);

  const std::string& name() const { return name_; }
  std::uint64_t seed() const { return seed_; }
  bool quick() const { return quick_; }
  std::uint64_t checkpoint_every() const { return checkpoint_every_; }
  bool resume() const { return resume_; }
  std::filesystem::path path(const std::string& file) const { return out_ / file; }
  double elapsed_seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

  // Every setting as the value in force, typed: the program's options as their variables hold them after
  // parsing (--quick and the config file applied), the harness's own (--out, --seed, --threads as the
  // thread count used, --quick, ...), and any value the program recorded with in_force().
  nlohmann::json settings_in_force() const;

  // Writes meta.json: settings, seed, revision, machine, wall time, and the run's headline results.
  void finish(const nlohmann::json& results = nlohmann::json::object()) const;

 private:
  // Creates --out and writes config.toml into it, which doubles as the check that the folder takes files.
  void prepare_out();

  // The help's footer: the outputs, then the exit codes.
  void update_footer();

  std::string name_;
  CLI::App app_;
  std::filesystem::path out_;
  std::uint64_t seed_ = 0;
  std::size_t threads_ = 0;
  bool quick_ = false;
  std::uint64_t checkpoint_every_ = 0;
  bool resume_ = false;
  std::vector<std::function<void()>> quick_values_, on_parsed_;
  std::vector<std::pair<std::string, std::function<nlohmann::json()>>> settings_;  // flag, its current value
  std::vector<std::string> resume_free_;
  std::vector<std::pair<std::string, std::string>> outputs_;  // file, what it holds
  std::string extra_exit_codes_;
  bool checkpoints_ = true;
  std::map<std::string, nlohmann::json> in_force_;  // flag -> the value the program chose

  template <class V>
  void record(const std::string& flag, const V& value) {
    settings_.emplace_back(flag, [&value] { return nlohmann::json(value); });
  }
  std::unique_ptr<tbb::global_control> thread_limit_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace wgflow::experiments
