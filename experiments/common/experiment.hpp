#pragma once
// What every experiment program shares: a command line (CLI11) with the paper's settings as defaults,
// overridable by flags or a TOML/INI config file; an output folder; and meta.json recording the
// settings, seed, git revision, machine and wall time next to the results.
//
//   int main(int argc, char** argv) {
//     wgflow::experiments::Experiment ex("optimal_q", "DE, DLE and DRLE on the 1-D double well");
//     int particles = 300;
//     ex.option("--particles", particles, "number of particles N");
//     ex.option("--steps", steps, "iterations", std::uint64_t{10000});  // the last value: --quick's default
//     if (int rc = ex.parse(argc, argv); rc >= 0) return rc;   // --help, or a bad flag
//     ... run, writing ex.path("particles.csv") ...
//     ex.finish({{"ks_dle", ks}});                               // writes meta.json
//   }
//
// Every program also takes --checkpoint-every N (0, the default: off), which saves each flow's state every
// N steps into <out>/checkpoints/<flow>/, and --resume, which continues each flow from its checkpoint there
// (if any) up to --steps, bit-identically to an uninterrupted run. Both act in programs that run their
// flows through experiments/common/checkpointing.hpp (the toy figures). uci_regression, whose jobs last
// seconds, journals finished jobs instead: --resume skips them, --checkpoint-every is refused.
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

#include "experiments/common/machine.hpp"

namespace wgflow::experiments {

// The source revision of this build (experiments/common/revision.cpp.in; linked into every program).
const char* git_revision();

class Experiment {
 public:
  Experiment(std::string name, std::string description)
      : name_(std::move(name)), app_(std::move(description), name_), out_("results/" + name_) {
    app_.option_defaults()->always_capture_default();
    app_.set_config("--config", "", "read options from a TOML/INI file (as written to <out>/config.toml)");
    app_.add_option("--out", out_, "output folder");
    app_.add_option("--seed", seed_, "random seed (same seed, same numbers, any thread count)");
    app_.add_option("--threads", threads_, "worker threads (0: all cores)")->check(CLI::NonNegativeNumber);
    app_.add_flag("--quick", quick_, "quick mode: fewer iterations, same qualitative result");
    app_.add_option("--checkpoint-every", checkpoint_every_,
                    "save each flow's state every N steps into <out>/checkpoints/ (0: off)");
    app_.add_flag("--resume", resume_, "continue each flow from its checkpoint in <out>/checkpoints/, if present");
  }

  template <class V>
  CLI::Option* option(const std::string& flag, V& value, const std::string& help) {
    return app_.add_option(flag, value, help);
  }
  // An option whose default is the paper's setting and which --quick replaces by `quick_value` unless the
  // flag is given. meta.json and config.toml record the value actually used.
  template <class V>
  CLI::Option* option(const std::string& flag, V& value, const std::string& help, V quick_value) {
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
    return app_.add_flag(flag, value, help);
  }
  CLI::App& cli() { return app_; }

  // Parses the command line and prepares the run. Returns -1 to go on, otherwise the exit code main
  // should return (0 after --help, non-zero after a bad flag, with CLI11's message printed).
  int parse(int argc, char** argv) {
    try {
      app_.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      return app_.exit(e);
    }
    if (quick_)
      for (const auto& apply : quick_values_) apply();
    std::filesystem::create_directories(out_);
    const std::size_t threads = threads_ > 0 ? threads_ : std::max(1u, std::thread::hardware_concurrency());
    thread_limit_ = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, threads);
    std::ofstream(path("config.toml")) << app_.config_to_str(true, false);
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
    std::ofstream(path("meta.json")) << meta.dump(2) << "\n";
    std::cerr << "[" << name_ << "] done in " << elapsed_seconds() << " s; results in " << out_.string() << "\n";
  }

 private:
  std::string name_;
  CLI::App app_;
  std::filesystem::path out_;
  std::uint64_t seed_ = 0;
  std::size_t threads_ = 0;
  bool quick_ = false;
  std::uint64_t checkpoint_every_ = 0;
  bool resume_ = false;
  std::vector<std::function<void()>> quick_values_;
  std::unique_ptr<tbb::global_control> thread_limit_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace wgflow::experiments
