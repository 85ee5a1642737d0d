// The experiment harness's shared part (experiment.hpp): compiled once into libwgflow, not into every
// program.
#include "experiment.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "atomic_file.hpp"
#include "command_line.hpp"
#include "machine.hpp"
#include "ranks.hpp"
#include "run_main.hpp"
#include "validators.hpp"

namespace wgflow::experiments {

Experiment::Experiment(std::string name, std::string description)
    : name_(std::move(name)), app_(std::move(description), name_), out_("results/" + name_) {
  app_.option_defaults()->always_capture_default();
  app_.set_config("--config", "", "read options from a TOML/INI file (as written to <out>/config.toml)");
  app_.allow_config_extras(false);  // a misspelt key is an error, not a silent default
  update_footer();
  app_.add_option("--out", out_, "output folder");
  app_.add_option("--seed", seed_, "random seed (same seed, same numbers, any thread count)")->check(count(0));
  app_.add_option("--threads", threads_, "worker threads (0: all cores, shared among the ranks on one machine under mpirun)")
      ->check(count(0, 4096));
  app_.add_flag("--quick", quick_, quick_help);
  app_.add_option("--checkpoint-every", checkpoint_every_,
                  "save each flow's state every N steps into <out>/checkpoints/ (0: off)")
      ->check(count(0));
  app_.add_flag("--resume", resume_, "continue each flow from its checkpoint in <out>/checkpoints/, if present");
}

Experiment::~Experiment() = default;

void Experiment::outputs(std::vector<std::pair<std::string, std::string>> files) {
  outputs_ = std::move(files);
  update_footer();
}

void Experiment::add_exit_code(std::string text) {
  extra_exit_codes_ += "; " + text;
  update_footer();
}

void Experiment::no_checkpoints(std::function<std::string()> why) {
  checkpoints_ = false;
  app_.get_option("--checkpoint-every")->group("");
  on_parsed([this, why = std::move(why)] {
    if (checkpoint_every_ != 0) throw UsageError("--checkpoint-every is not used here: " + why());
  });
  update_footer();
}

nlohmann::json Experiment::result_settings() const {
  nlohmann::json settings = {{"seed", seed_}};
  for (const auto& [flag, value] : settings_)
    if (std::find(resume_free_.begin(), resume_free_.end(), flag) == resume_free_.end())
      settings[flag.substr(flag.find_first_not_of('-'))] = value();
  return settings;
}

int Experiment::parse(int argc, char** argv) {
  if (int rc = parse_command_line(app_, argc, argv); rc >= 0) return rc;
  if (quick_)
    for (const auto& apply : quick_values_) apply();
  for (const auto& check : on_parsed_) check();
  prepare_out();
  // Under mpirun the ranks on one machine share its cores rather than each taking all of them.
  const std::size_t local_ranks = std::max<std::size_t>(1, launched_ranks("OMPI_COMM_WORLD_LOCAL_SIZE"));
  const std::size_t threads =
      threads_ > 0 ? threads_ : std::max<std::size_t>(1, std::thread::hardware_concurrency() / local_ranks);
  thread_limit_ = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, threads);
  start_ = std::chrono::steady_clock::now();
  return -1;
}

nlohmann::json Experiment::settings_in_force() const {
  nlohmann::json settings = nlohmann::json::object();
  const nlohmann::json harness = {
      {"out", out_.string()},
      {"seed", seed_},
      {"threads", tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism)},
      {"quick", quick_},
      {"checkpoint-every", checkpoint_every_},
      {"resume", resume_}};
  for (const CLI::Option* opt : app_.get_options()) {
    if (opt->get_lnames().empty() || opt->get_lnames()[0] == "help" || opt->get_lnames()[0] == "config") continue;
    const std::string name = opt->get_lnames()[0];
    if (const auto it = in_force_.find("--" + name); it != in_force_.end()) {
      settings[name] = it->second;
    } else if (harness.contains(name)) {
      settings[name] = harness.at(name);
    } else if (const auto value = std::find_if(settings_.begin(), settings_.end(),
                                               [&](const auto& s) { return s.first == "--" + name; });
               value != settings_.end()) {
      settings[name] = value->second();
    } else {  // an option added through cli() directly: its text, as typed or defaulted
      settings[name] = opt->count() ? opt->as<std::string>() : opt->get_default_str();
    }
  }
  return settings;
}

void Experiment::finish(const nlohmann::json& results) const {
  nlohmann::json meta = {{"experiment", name_},
                         {"settings", settings_in_force()},
                         {"seed", seed_},
                         {"git_revision", git_revision()},
                         {"cpu", cpu_model()},
                         {"threads", tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism)},
                         {"ranks", ranks()->size()},
                         {"wall_time_s", elapsed_seconds()},
                         {"results", results}};
  write_file_atomically(path("meta.json"), [&](std::ostream& out) { out << meta.dump(2) << "\n"; });
  if (writes_outputs())
    std::cerr << "[" << name_ << "] done in " << elapsed_seconds() << " s; results in " << out_.string() << "\n";
}

void Experiment::prepare_out() {
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

void Experiment::update_footer() {
  std::vector<std::pair<std::string, std::string>> files = outputs_;
  files.emplace_back("config.toml", "the settings in force, to rerun with --config");
  files.emplace_back("meta.json", "the settings in force, seed, git revision, machine, wall time, headline results");
  if (checkpoints_) files.emplace_back("checkpoints/", "with --checkpoint-every: each flow's state, for --resume");
  std::size_t width = 0;
  for (const auto& f : files) width = std::max(width, f.first.size());
  std::string text = "Outputs (in --out):\n";
  for (const auto& [file, what] : files)
    text += "  " + file + std::string(width + 2 - file.size(), ' ') + what + "\n";
  app_.footer(text + "\n" + exit_codes_help + extra_exit_codes_ + ".");
}

}  // namespace wgflow::experiments
