#pragma once
// The UCI runner's journal: every finished job (data set x split x method) appended to <out>/jobs.jsonl as
// one JSON line, flushed and fsynced before the next line, so a run killed after hours loses at most
// the jobs in flight. `uci_regression --resume` reads it back and runs only the jobs it lacks. A job's
// result depends only on the settings, the seed and its (data set, split, method) (methods.hpp: Seeds),
// and doubles are written in round-trip form, so a resumed run writes the same tables, bit for bit, as
// an uninterrupted one (only the seconds differ).
//
// Line 1 records the settings and the seed; --resume with other settings is refused, naming the setting,
// since mixing the two runs' jobs would give a table neither run describes. A torn last line (a kill
// mid-write) is dropped and that job is run again; a bad line elsewhere is an error naming its number.
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "experiments/common/atomic_file.hpp"
#include "experiments/common/run_main.hpp"
#include "experiments/uci/methods.hpp"

namespace wgflow::experiments::uci {

// What a job's numbers depend on, besides its (data set, split, method): the settings, the seed, and the
// list of data sets, whose order keys the seeds (Seeds::of).
inline nlohmann::json journal_settings(const Settings& s, std::uint64_t seed, const std::vector<std::string>& datasets) {
  return {{"seed", seed},
          {"datasets", datasets},
          {"particles", s.particles},
          {"batch_size", s.batch_size},
          {"epochs", s.epochs},
          {"init", s.init},
          {"init_weight_var", s.init_weight_var},
          {"init_bias_var", s.init_bias_var},
          {"de_eta", s.de_eta},
          {"dle_eta", s.dle_eta},
          {"dle_lambda", s.dle_lambda},
          {"drle_eta", s.drle_eta},
          {"drle_lambda1", s.drle_lambda1},
          {"drle_lambda2", s.drle_lambda2},
          {"drle_prior_samples", s.drle_prior_samples},
          {"svgd_lr", s.svgd_lr},
          {"svgd_lambda", s.svgd_lambda},
          {"mfvi_lr", s.mfvi_lr},
          {"mfvi_lambda", s.mfvi_lambda},
          {"mfvi_initial_sd", s.mfvi_initial_sd},
          {"mfvi_draws", s.mfvi_draws},
          {"max_halvings", s.max_halvings}};
}

inline nlohmann::json to_json(const RunResult& r) {
  return {{"rmse", r.metrics.rmse},         {"nll_ensemble", r.metrics.nll_ensemble},
          {"nll_noise", r.metrics.nll_noise}, {"noise_sd", r.metrics.noise_sd},
          {"mean_sd", r.metrics.mean_sd},   {"train_rmse", r.train_rmse},
          {"n_train", r.n_train},           {"n_test", r.n_test},
          {"eta", r.eta},                   {"halvings", r.halvings},
          {"steps", r.steps},               {"seconds", r.seconds},
          {"status", r.status},             {"final_loss", r.final_loss}};
}

inline RunResult run_result_from_json(const nlohmann::json& j) {
  RunResult r;
  // nlohmann writes NaN and infinities as null.
  const auto number = [&](const char* key) { return j.at(key).is_null() ? std::nan("") : j.at(key).get<double>(); };
  r.metrics = {number("rmse"), number("nll_ensemble"), number("nll_noise"), number("noise_sd"), number("mean_sd")};
  r.train_rmse = number("train_rmse");
  r.n_train = j.at("n_train").get<std::size_t>();
  r.n_test = j.at("n_test").get<std::size_t>();
  r.eta = number("eta");
  r.halvings = j.at("halvings").get<std::size_t>();
  r.steps = j.at("steps").get<std::uint64_t>();
  r.seconds = number("seconds");
  r.status = j.at("status").get<std::string>();
  r.final_loss = number("final_loss");
  return r;
}

class Journal {
 public:
  using Key = std::tuple<std::string, std::size_t, std::string>;  // data set folder, split, method

  // Opens <file>. With `resume`, reads the jobs it holds (after checking its settings line against
  // `settings`) and appends to it; without, starts it afresh. A missing file under `resume` starts afresh.
  Journal(std::filesystem::path file, const nlohmann::json& settings, bool resume) : file_(std::move(file)) {
    if (resume && std::filesystem::exists(file_) && read(settings)) {
      out_ = std::fopen(file_.c_str(), "a");
    } else {
      out_ = std::fopen(file_.c_str(), "w");
      if (out_ != nullptr) append(nlohmann::json{{"settings", settings}});
    }
    if (out_ == nullptr) throw io_error("write the journal", file_, errno);
  }
  ~Journal() {
    if (out_ != nullptr) std::fclose(out_);
  }
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // The journaled result of a job, if a previous run finished it.
  std::optional<RunResult> find(const Key& key) const {
    const auto it = done_.find(key);
    if (it == done_.end()) return std::nullopt;
    return it->second;
  }
  std::size_t size() const { return done_.size(); }
  bool dropped_torn_line() const { return torn_; }

  // Appends a finished job; safe to call from several threads.
  void record(const Key& key, const RunResult& r) {
    nlohmann::json line = to_json(r);
    line["dataset"] = std::get<0>(key);
    line["split"] = std::get<1>(key);
    line["method"] = std::get<2>(key);
    std::lock_guard lock(mutex_);
    append(line);
  }

 private:
  std::filesystem::path file_;
  std::FILE* out_ = nullptr;
  std::mutex mutex_;
  std::map<Key, RunResult> done_;
  bool torn_ = false;

  void append(const nlohmann::json& line) {
    if (out_ == nullptr) throw IoError("cannot append to the journal " + file_.string() + " after a failed write");
    const std::string text = line.dump() + "\n";
    errno = 0;
    if (std::fwrite(text.data(), 1, text.size(), out_) != text.size() || std::fflush(out_) != 0 ||
        (::fsync(::fileno(out_)) != 0 && errno != EINVAL)) {
      const int errnum = errno != 0 ? errno : EIO;
      // No line is appended after a failed one (a torn line may only be the last: see read()).
      std::fclose(out_);
      out_ = nullptr;
      throw io_error("append to the journal", file_, errnum);
    }
  }

  // Reads the journal; false if it holds not even its settings line (a kill during the first write).
  bool read(const nlohmann::json& settings) {
    std::ifstream in(file_);
    std::string text, kept;  // kept: the whole lines, to rewrite without a torn last one
    std::size_t number = 0;
    bool last_torn = false;
    while (std::getline(in, text)) {
      ++number;
      if (last_torn)  // only the last line may be torn
        throw Error(file_.string() + ":" + std::to_string(number - 1) + ": not a journal line (corrupt journal)");
      nlohmann::json line;
      try {
        line = nlohmann::json::parse(text);
      } catch (const nlohmann::json::exception&) {
        last_torn = true;
        continue;
      }
      kept += text + "\n";
      const std::string where = file_.string() + ":" + std::to_string(number) + ": ";
      if (number == 1) {
        if (!line.contains("settings"))
          throw Error(where + "no settings line: not a uci_regression journal");
        // Compared as text: JSON equality would call a NaN neither equal nor unequal to anything.
        for (const auto& [key, value] : settings.items())
          if (!line["settings"].contains(key) || line["settings"][key].dump() != value.dump())
            throw UsageError(where + "--resume: the journaled run used " + key + " = " +
                             (line["settings"].contains(key) ? line["settings"][key].dump() : "(unset)") +
                             ", this run " + value.dump() + "; resume with the same settings, or use another --out");
        continue;
      }
      try {
        done_[{line.at("dataset").get<std::string>(), line.at("split").get<std::size_t>(),
               line.at("method").get<std::string>()}] = run_result_from_json(line);
      } catch (const nlohmann::json::exception& e) {
        throw Error(where + "not a journal line: " + e.what());
      }
    }
    if (number == 0 || (number == 1 && last_torn)) return false;
    if (last_torn) {
      torn_ = true;
      // Cut the torn line off, so that the lines appended next start on a line of their own.
      in.close();
      write_file_atomically(file_, [&](std::ostream& out) { out << kept; });
    }
    return true;
  }
};

}  // namespace wgflow::experiments::uci
