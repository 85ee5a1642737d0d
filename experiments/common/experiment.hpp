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
//       if (int rc = ex.parse(argc, argv); rc >= 0) return rc;   // after --help; a bad flag throws UsageError
//       ... run, writing ex.path("particles.csv") through CsvWriter or write_file_atomically ...
//       ex.finish({{"ks_dle", ks}});                               // writes meta.json
//       return exit_ok;
//     });
//   }
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
// flows through experiments/common/checkpointing.hpp (the toy figures). uci_regression, whose jobs last
// seconds, journals finished jobs instead: --resume skips them, --checkpoint-every is refused.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <tbb/global_control.h>

#include "atomic_file.hpp"
#include "command_line.hpp"
#include "machine.hpp"
#include "run_main.hpp"
#include "validators.hpp"

namespace wgflow::experiments {

// The source revision of this build (experiments/common/revision.cpp.in; linked into every program).
const char* git_revision();

class Experiment {
 public:
  Experiment(std::string name, std::string description)
      : name_(std::move(name)), app_(std::move(description), name_), out_("results/" + name_) {
    app_.option_defaults()->always_capture_default();
    app_.set_config("--config", "", "read options from a TOML/INI file (as written to <out>/config.toml)");
    app_.allow_config_extras(false);  // a misspelt key is an error, not a silent default
    app_.footer(std::string(exit_codes_help) + ".");
    app_.add_option("--out", out_, "output folder");
    app_.add_option("--seed", seed_, "random seed (same seed, same numbers, any thread count)")->check(count(0));
    app_.add_option("--threads", threads_, "worker threads (0: all cores)")->check(count(0, 4096));
    app_.add_flag("--quick", quick_, "quick mode: fewer iterations, same qualitative result");
    app_.add_option("--checkpoint-every", checkpoint_every_,
                    "save each flow's state every N steps into <out>/checkpoints/ (0: off)")
        ->check(count(0));
    app_.add_flag("--resume", resume_, "continue each flow from its checkpoint in <out>/checkpoints/, if present");
  }

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
  // Declares that `flag` (say --steps) does not shape the result a checkpoint holds, so --resume may
  // change it; every other option declared through option() or flag(), and the seed, must match.
  void resume_may_change(const std::string& flag) { resume_free_.push_back(flag); }

  // The settings that shape the result, as values (after --quick and the config file): the seed and
  // every option declared through option() or flag() but those of resume_may_change(). Stored beside
  // checkpoints and compared on --resume (experiments/common/checkpointing.hpp).
  nlohmann::json result_settings() const {
    nlohmann::json settings = {{"seed", seed_}};
    for (const auto& [flag, value] : settings_)
      if (std::find(resume_free_.begin(), resume_free_.end(), flag) == resume_free_.end())
        settings[flag.substr(flag.find_first_not_of('-'))] = value();
    return settings;
  }
  CLI::App& cli() { return app_; }
  // `check()` runs after the flags are parsed and --quick applied, before the --out folder is created:
  // the place for checks across flags, which throw UsageError.
  void on_parsed(std::function<void()> check) { on_parsed_.push_back(std::move(check)); }

  // Parses the command line and prepares the run: the output folder, config.toml. Returns -1 to go on,
  // or 0 after --help; throws UsageError (exit 2) for a bad flag or config file, or an --out folder that
  // cannot be created or written.
  int parse(int argc, char** argv) {
    if (int rc = parse_command_line(app_, argc, argv); rc >= 0) return rc;
    if (quick_)
      for (const auto& apply : quick_values_) apply();
    for (const auto& check : on_parsed_) check();
    prepare_out();
    const std::size_t threads = threads_ > 0 ? threads_ : std::max(1u, std::thread::hardware_concurrency());
    thread_limit_ = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, threads);
    start_ = std::chrono::steady_clock::now();
    return -1;
  }

  const std::string& name() const { return name_; }
  std::uint64_t seed() const { return seed_; }
  bool quick() const { return quick_; }
  std::uint64_t checkpoint_every() const { return checkpoint_every_; }
  bool resume() const { return resume_; }
  std::filesystem::path path(const std::string& file) const { return out_ / file; }
  double elapsed_seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

  // Writes meta.json: settings, seed, revision, machine, wall time, and the run's headline results.
  void finish(const nlohmann::json& results = nlohmann::json::object()) const {
    nlohmann::json settings;
    for (const CLI::Option* opt : app_.get_options()) {
      if (opt->get_lnames().empty() || opt->get_lnames()[0] == "help" || opt->get_lnames()[0] == "config") continue;
      settings[opt->get_lnames()[0]] = opt->count() ? opt->as<std::string>() : opt->get_default_str();
    }
    nlohmann::json meta = {{"experiment", name_},
                           {"settings", settings},
                           {"seed", seed_},
                           {"git_revision", git_revision()},
                           {"cpu", cpu_model()},
                           {"threads", tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism)},
                           {"wall_time_s", elapsed_seconds()},
                           {"results", results}};
    write_file_atomically(path("meta.json"), [&](std::ostream& out) { out << meta.dump(2) << "\n"; });
    std::cerr << "[" << name_ << "] done in " << elapsed_seconds() << " s; results in " << out_.string() << "\n";
  }

 private:
  // Creates --out and writes config.toml into it, which doubles as the check that the folder takes files.
  void prepare_out() {
    namespace fs = std::filesystem;
    if (out_.empty()) throw UsageError("--out is empty; name an output folder");
    std::error_code ec;
    if (fs::exists(out_, ec) && !fs::is_directory(out_, ec))
      throw UsageError("--out " + out_.string() + " exists and is not a folder");
    fs::create_directories(out_, ec);
    if (ec) throw UsageError("cannot create the --out folder " + out_.string() + ": " + ec.message());
    try {
      write_file_atomically(path("config.toml"), [&](std::ostream& out) { out << app_.config_to_str(true, false); });
    } catch (const IoError& e) {
      throw UsageError(std::string(e.what()) + " (the --out folder " + out_.string() + " does not take files)");
    }
  }

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

  template <class V>
  void record(const std::string& flag, const V& value) {
    settings_.emplace_back(flag, [&value] { return nlohmann::json(value); });
  }
  std::unique_ptr<tbb::global_control> thread_limit_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace wgflow::experiments
